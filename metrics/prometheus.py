"""GET /metrics in Prometheus' text format, read from the database at scrape time.

The worker and the web server are separate processes, so in-process counters would only see
half the picture: every figure here is read from the tables, none by reading the history
(finished runs come from metrics.counters; the rest are small indexed reads). Access: with
TASKFLOW_METRICS_TOKEN set, only `Authorization: Bearer <token>`; without it, only loopback
clients (or TASKFLOW_METRICS_ALLOWLIST addresses/CIDRs) that did not come through a proxy.
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from jobs.models import Job
from metrics.counters import DURATION_BUCKETS, FINISHED, counters_totals
from metrics.services import cluster_uptime_ms
from runs.models import Run, RunStatus, TriggerType, WorkerHeartbeat

# the newest scheduled run is looked for among this many newest runs (an index walk, bounded)
LAST_SLOT_SCAN = 1000
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def metrics_access_allowed(request: HttpRequest) -> bool:
    token = settings.TASKFLOW.get("METRICS_TOKEN")
    if token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), token.encode()
        )
    # A reverse proxy on this host connects from 127.0.0.1: a proxied request is not local.
    if any(header in request.META for header in PROXY_HEADERS):
        return False
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if client.is_loopback:
        return True
    for entry in settings.TASKFLOW.get("METRICS_ALLOWLIST") or []:
        try:
            if client in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


class TaskflowCollector:
    """Collects every TaskFlow metric with a handful of aggregate queries."""

    def collect(self):
        now = timezone.now()
        totals = counters_totals()
        finished = CounterMetricFamily(
            "taskflow_runs_finished",
            "Runs finished since the install, by final status (never lowered by retention)",
            labels=["status"],
        )
        for status in FINISHED:
            finished.add_metric([status], totals[status])
        yield finished

        yield GaugeMetricFamily(
            "taskflow_runs_running",
            "Runs executing now",
            value=Run.objects.filter(status=RunStatus.RUNNING).count(),
        )
        pending = Run.objects.filter(status=RunStatus.PENDING)
        yield GaugeMetricFamily(
            "taskflow_queue_depth",
            "Pending runs whose start time has come",
            value=pending.filter(available_at__lte=now).count(),
        )
        yield GaugeMetricFamily(
            "taskflow_runs_pending",
            "All pending runs (incl. delayed retries)",
            value=pending.count(),
        )

        yield self._durations(totals)

        jobs = GaugeMetricFamily("taskflow_jobs", "Jobs by enabled state", labels=["enabled"])
        enabled = dict(Job.objects.order_by().values_list("enabled").annotate(c=Count("id")))
        jobs.add_metric(["true"], enabled.get(True, 0))
        jobs.add_metric(["false"], enabled.get(False, 0))
        yield jobs

        heartbeat_age = GaugeMetricFamily(
            "taskflow_heartbeat_age_seconds",
            "Seconds since the freshest heartbeat of each process role (tick = scheduler lag)",
            labels=["role"],
        )
        for role, last in (
            WorkerHeartbeat.objects.order_by()
            .values_list("role")
            .annotate(last=Max("heartbeat_at"))
        ):
            heartbeat_age.add_metric([role], max(0.0, (now - last).total_seconds()))
        yield heartbeat_age

        lateness = GaugeMetricFamily(
            "taskflow_scheduler_last_slot_lateness_seconds",
            "For the newest scheduled run: seconds from its slot to its insertion, and to start",
            labels=["stage"],
        )
        newest = Run.objects.order_by("-created_at").values("pk")[:LAST_SLOT_SCAN]
        last_slot = (
            Run.objects.filter(
                pk__in=newest,
                trigger_type=TriggerType.SCHEDULED,
                scheduled_for__isnull=False,
                created_at__gte=now - timedelta(days=1),
            )
            .order_by("-created_at")
            .values("scheduled_for", "created_at", "started_at")
            .first()
        )
        if last_slot:
            slot = last_slot["scheduled_for"]
            lateness.add_metric(["enqueued"], (last_slot["created_at"] - slot).total_seconds())
            if last_slot["started_at"]:
                lateness.add_metric(["started"], (last_slot["started_at"] - slot).total_seconds())
        yield lateness

        yield GaugeMetricFamily(
            "taskflow_cluster_uptime_seconds",
            "Seconds since the oldest live cluster process started (0: no cluster)",
            value=cluster_uptime_ms(now=now) / 1000,
        )

    def _durations(self, totals: dict) -> HistogramMetricFamily:
        """Cumulative buckets over every finished run that has a duration."""
        buckets = [(str(float(bound)), totals[f"le_{bound}"]) for bound in DURATION_BUCKETS]
        buckets.append(("+Inf", totals["timed"]))
        return HistogramMetricFamily(
            "taskflow_run_duration_seconds",
            "Duration of finished runs",
            buckets=buckets,
            sum_value=totals["sum_ms"] / 1000,
        )


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        # 404 rather than 401/403 for strangers: nothing to learn from probing
        response = HttpResponse("Not found\n", status=404, content_type="text/plain")
        if settings.TASKFLOW.get("METRICS_TOKEN"):
            response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TaskflowCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
