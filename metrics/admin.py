"""Raw samples and rollups: read-only, administrators only (everyone has the metrics page)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from metrics.models import MetricAggregate, MetricSample
from runs.admin.run_admin import LookaheadPaginated
from taskflow_site.lib.admin import RoleScopedAdmin, bytes_text, time_tag


class ReadOnlyAdminOnly(LookaheadPaginated, RoleScopedAdmin):
    admin_only = True

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MetricAggregate)
class MetricAggregateAdmin(ReadOnlyAdminOnly):
    list_display = [
        "job",
        "period_type",
        "period",
        "run_count",
        "success_count",
        "failure_count",
        "avg_cpu_percent",
        "memory",
    ]
    list_filter = ["period_type"]
    list_select_related = ["job"]
    search_fields = ["job__name"]

    @admin.display(description="Period start", ordering="period_start")
    def period(self, row):
        return time_tag(row.period_start)

    @admin.display(description="Avg memory")
    def memory(self, row):
        return bytes_text(row.avg_memory_bytes)


@admin.register(MetricSample)
class MetricSampleAdmin(ReadOnlyAdminOnly):
    list_display = ["run_link", "at", "cpu_percent", "memory", "memory_percent"]
    list_select_related = ["run"]

    @admin.display(description="Run")
    def run_link(self, sample):
        url = reverse("admin:runs_run_change", args=[sample.run_id])
        return format_html('<a href="{}">{}</a>', url, str(sample.run_id)[:8])

    @admin.display(description="Time", ordering="timestamp")
    def at(self, sample):
        return time_tag(sample.timestamp)

    @admin.display(description="Memory")
    def memory(self, sample):
        return bytes_text(sample.memory_bytes)
