"""`manage.py testmail <address>`: send a real test mail with the effective SMTP settings."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from notifications.smtp import smtp_send_test, smtp_settings_get


class Command(BaseCommand):
    help = (
        "Send a test e-mail with the effective SMTP settings (environment, overlaid by what an "
        "admin saved) and print the SMTP server's answer. Exit code 0 when it was accepted."
    )

    def add_arguments(self, parser):
        parser.add_argument("to", help="recipient address")

    def handle(self, *args, **options):
        current = smtp_settings_get()
        password = "set" if current["has_password"] else "not set"
        self.stdout.write(
            f"SMTP {current['server'] or '(no server)'}:{current['port']} "
            f"(settings from {current['source']}, password {password})"
        )
        result = smtp_send_test(to=options["to"])
        if result["ok"]:
            self.stdout.write(self.style.SUCCESS(f"accepted: {result['message']}"))
            return
        self.stderr.write(self.style.ERROR(f"failed: {result['message']}"))
        sys.exit(1)
