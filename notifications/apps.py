from django.apps import AppConfig

from runs.seams import cluster_steps_wanted, run_finished


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # the engine's seams (docs/architecture.md, record 14); receivers need the app registry
        from notifications.policy import run_finished_notify
        from notifications.steps import notification_steps

        run_finished.connect(run_finished_notify, dispatch_uid="notifications.run_notify")
        cluster_steps_wanted.connect(notification_steps, dispatch_uid="notifications.steps")
