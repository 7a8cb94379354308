from django.apps import AppConfig

from runs.seams import cluster_steps_wanted, samples_taken, samples_wanted


class MetricsConfig(AppConfig):
    name = "metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # the engine's seams (docs/architecture.md, record 14); receivers need the app registry
        from metrics.services import samples_after, samples_store
        from metrics.steps import metrics_steps

        samples_taken.connect(samples_store, dispatch_uid="metrics.samples_store")
        samples_wanted.connect(samples_after, dispatch_uid="metrics.samples_after")
        cluster_steps_wanted.connect(metrics_steps, dispatch_uid="metrics.steps")
