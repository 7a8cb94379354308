"""POST /api/jobs/<id>/webhook-secret: a new signing secret for the job's webhooks, returned
this once as `webhookSecret` (a body {"secret": "..."} sets one of the owner's choosing); the
secret made with a job is returned once by POST /api/jobs (JobCreatedOutput)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.views import APIView

from jobs.models import Job
from jobs.serializers import JobOutput
from jobs.webhook_secrets import MAX_CHARS, job_webhook_secret_rotate
from taskflow_site.lib.api import Input, envelope, validation_details


class WebhookSecretInput(Input):
    secret = serializers.CharField(
        required=False,
        max_length=MAX_CHARS,
        trim_whitespace=False,
        help_text="Left out: a new random secret is generated.",
    )


class JobCreatedOutput(JobOutput):
    webhookSecret = serializers.CharField(help_text="The webhooks' signing secret, shown once.")


class WebhookSecretOutput(serializers.Serializer):
    jobId = serializers.UUIDField()
    webhookSecret = serializers.CharField(help_text="Shown in this response only.")


class JobWebhookSecretApi(APIView):
    @extend_schema(request=WebhookSecretInput, responses=WebhookSecretOutput, tags=["jobs"])
    def post(self, request, pk):
        job = get_object_or_404(Job.objects.visible_to(request.user), pk=pk)
        serializer = WebhookSecretInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            secret = job_webhook_secret_rotate(
                job=job, secret=serializer.validated_data.get("secret")
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(validation_details(exc)) from None
        return envelope(WebhookSecretOutput({"jobId": job.pk, "webhookSecret": secret}).data)
