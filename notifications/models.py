"""A record of every notification decided for a run: sent, failed or suppressed."""

from __future__ import annotations

from django.db import models

from accounts.models import Setting


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"  # claimed by one deliverer; never sent twice
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed"


class NotificationQuerySet(models.QuerySet):
    def suppressed_run_count(self, *, job, before_run=None) -> int:
        """Runs of this job whose notifications were suppressed since the last notification that
        went out (rows are compared by id: creation order, immune to clock ties)."""
        sent = self.filter(job=job, status=DeliveryStatus.SENT)
        if before_run is not None:
            sent = sent.exclude(run=before_run)
        last_sent_id = sent.order_by("-pk").values_list("pk", flat=True).first() or 0
        suppressed = self.filter(job=job, status=DeliveryStatus.SUPPRESSED, pk__gt=last_sent_id)
        if before_run is not None:
            suppressed = suppressed.exclude(run=before_run)
        return suppressed.values("run_id").distinct().count()


class Notification(models.Model):
    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="notifications")
    job = models.ForeignKey(
        "jobs.Job", on_delete=models.CASCADE, related_name="notifications", null=True
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=2000)
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    reason = models.CharField(max_length=200, blank=True)  # why suppressed
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "channel", "target"], name="notification_once_per_target"
            ),
        ]
        indexes = [models.Index(fields=["job", "created_at"], name="notification_job_time_idx")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.target} ({self.status})"


class SmtpSettings(Setting):
    """Admin entry point for the SMTP settings page (the row accounts.Setting key "smtp")."""

    class Meta:
        proxy = True
        verbose_name = "SMTP settings"
        verbose_name_plural = "SMTP settings"
