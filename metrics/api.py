"""Thin views over metrics.services and metrics.activity: job trends, one run's samples, the
dashboard's KPIs, upcoming jobs and activity, a job's activity. The admin pages read these too
(with the session cookie)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from jobs.models import Job
from jobs.serializers import JobOutput
from metrics import activity, services
from metrics.serializers import (
    ActivityQuery,
    DashboardActivityOutput,
    DashboardStatsOutput,
    JobActivityOutput,
    JobMetricsOutput,
    JobsMetricsOutput,
    MetricsRangeQuery,
    RunMetricsOutput,
    UpcomingOutput,
    UpcomingQuery,
)
from runs.models import Run
from taskflow_site.lib.api import envelope, parse_query

RANGE_DAYS = {"7d": 7, "30d": 30, "90d": 90}


class JobMetricsApi(APIView):
    @extend_schema(parameters=[MetricsRangeQuery], responses=JobMetricsOutput, tags=["metrics"])
    def get(self, request, pk):
        job = get_object_or_404(Job.objects.visible_to(request.user), pk=pk)
        range_days = RANGE_DAYS[parse_query(MetricsRangeQuery, request)["range"]]
        return envelope(services.job_metrics(job=job, range_days=range_days))


class JobsMetricsApi(APIView):
    @extend_schema(parameters=[MetricsRangeQuery], responses=JobsMetricsOutput, tags=["metrics"])
    def get(self, request):
        range_days = RANGE_DAYS[parse_query(MetricsRangeQuery, request)["range"]]
        return envelope(services.jobs_metrics(user=request.user, range_days=range_days))


class RunMetricsApi(APIView):
    @extend_schema(responses=RunMetricsOutput, tags=["metrics"])
    def get(self, request, pk):
        run = get_object_or_404(Run.objects.visible_to(request.user), pk=pk)
        return envelope(services.run_metrics(run=run))


class DashboardStatsApi(APIView):
    @extend_schema(responses=DashboardStatsOutput, tags=["metrics"])
    def get(self, request):
        return envelope(services.dashboard_stats(user=request.user))


class UpcomingJobsApi(APIView):
    @extend_schema(parameters=[UpcomingQuery], responses=UpcomingOutput, tags=["metrics"])
    def get(self, request):
        limit = parse_query(UpcomingQuery, request)["limit"]
        jobs = services.upcoming_jobs(user=request.user, limit=limit)
        return envelope({"jobs": JobOutput(jobs, many=True).data})


class DashboardActivityApi(APIView):
    @extend_schema(parameters=[ActivityQuery], responses=DashboardActivityOutput, tags=["metrics"])
    def get(self, request):
        hours = parse_query(ActivityQuery, request)["hours"]
        return envelope(activity.dashboard_activity(user=request.user, hours=hours))


class JobActivityApi(APIView):
    @extend_schema(responses=JobActivityOutput, tags=["metrics"])
    def get(self, request, pk):
        job = get_object_or_404(Job.objects.visible_to(request.user), pk=pk)
        return envelope(activity.job_activity(job=job))
