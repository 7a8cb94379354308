from django.apps import AppConfig

from accounts.seams import audit_scope_wanted


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # accounts' seam (docs/architecture.md, record 14); the receiver needs the app registry
        from jobs.audit import audit_scope_for_jobs

        audit_scope_wanted.connect(audit_scope_for_jobs, dispatch_uid="jobs.audit_scope")
