from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save, pre_save


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # sign-ins and failed logins go to the audit trail, a password change revokes every
        # token (however it was made); the receivers need the app registry
        from accounts import services, signals

        user_logged_in.connect(signals.login_recorded, dispatch_uid="accounts.audit_login")
        user_logged_out.connect(signals.logout_recorded, dispatch_uid="accounts.audit_logout")
        user_login_failed.connect(
            signals.login_failure_recorded, dispatch_uid="accounts.audit_login_failed"
        )
        user = self.get_model("User")
        pre_save.connect(services.password_change_noticed, sender=user, dispatch_uid="pw.seen")
        post_save.connect(services.password_change_revokes, sender=user, dispatch_uid="pw.revoke")
