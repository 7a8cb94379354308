from django.apps import AppConfig

from jobs.seams import job_deleting


class RunsConfig(AppConfig):
    name = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # both modules need the app registry: importing them is registering them
        from runs import checks  # noqa: F401 (registers the system checks)
        from runs.services import active_runs_cancel

        job_deleting.connect(active_runs_cancel, dispatch_uid="runs.active_runs_cancel")
