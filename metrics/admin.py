from django.contrib import admin

from metrics.models import MetricAggregate, MetricSample

admin.site.register(MetricSample)
admin.site.register(MetricAggregate)
