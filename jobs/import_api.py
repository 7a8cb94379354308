"""POST /api/jobs/import: a crontab as jobs (admin only; jobs.crontab_import does the work)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from jobs.api import _owner
from jobs.crontab import FORMATS
from jobs.crontab_import import TEXT_MAX, CrontabRefused, crontab_import
from taskflow_site.lib.api import Input, envelope


class CrontabImportInput(Input):
    crontab = serializers.CharField(
        allow_blank=True, trim_whitespace=False, max_length=TEXT_MAX, help_text="The crontab text."
    )
    dryRun = serializers.BooleanField(
        default=True, help_text="true (the default): show what would be made, save nothing."
    )
    owner = serializers.CharField(
        required=False, allow_blank=True, help_text="Who owns the jobs (username or id); you."
    )
    format = serializers.ChoiceField(
        choices=FORMATS,
        default="auto",
        help_text="system: /etc/crontab's user field after the schedule; auto: guessed.",
    )


class CrontabJobOutput(serializers.Serializer):
    line = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["new", "created", "exists"],
        help_text="new: would be made (dry run); exists: the same job is there already.",
    )
    jobId = serializers.UUIDField(allow_null=True)
    name = serializers.CharField()
    cron_expr = serializers.CharField()
    timezone = serializers.CharField()
    command = serializers.CharField()
    script = serializers.CharField()
    shell = serializers.CharField()
    env_vars = serializers.DictField(child=serializers.CharField())
    notify_emails = serializers.CharField()
    run_as = serializers.CharField()
    nextRuns = serializers.ListField(child=serializers.DateTimeField())


class CrontabReportedOutput(serializers.Serializer):
    line = serializers.IntegerField()
    text = serializers.CharField()
    reason = serializers.CharField()
    imported = serializers.BooleanField(help_text="true: a note on a line that became a job.")


class CrontabImportOutput(serializers.Serializer):
    dryRun = serializers.BooleanField()
    format = serializers.ChoiceField(choices=["user", "system"])
    owner = serializers.CharField()
    jobs = CrontabJobOutput(many=True)
    reported = CrontabReportedOutput(many=True)
    created = serializers.IntegerField()
    existing = serializers.IntegerField()


class JobImportApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        request=CrontabImportInput,
        responses={200: CrontabImportOutput, 201: CrontabImportOutput},
        tags=["jobs"],
    )
    def post(self, request):
        serializer = CrontabImportInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner = request.user
        if data.get("owner"):
            try:
                owner = _owner(data["owner"])
            except exceptions.ValidationError:
                raise exceptions.ValidationError({"owner": ["No such user."]}) from None
        if not owner.is_active:
            raise exceptions.ValidationError({"owner": ["The owner must be an active user."]})
        try:
            result = crontab_import(
                text=data["crontab"], owner=owner, dry_run=data["dryRun"], format=data["format"]
            )
        except CrontabRefused as exc:
            raise exceptions.ValidationError({"crontab": [str(exc)]}) from None
        code = status.HTTP_201_CREATED if result["created"] else status.HTTP_200_OK
        return envelope(result, code)
