"""`manage.py createadmin`: the first admin from a terminal (what /setup does in a browser)."""

from __future__ import annotations

import getpass
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.audit import audit_context
from accounts.models import Role, Surface, User


class Command(BaseCommand):
    help = (
        "Create the first TaskFlow administrator (closes the /setup page). Refuses when an admin "
        "exists already, unless --force is given to add another admin. The password is read "
        'from standard input with --password-stdin (e.g. `echo "$PW" | python manage.py '
        "createadmin --username root --password-stdin`) or asked twice at a prompt; Django's "
        "password validators apply."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", help="Login name (asked when omitted on a terminal)")
        parser.add_argument("--email", default="", help="E-mail address (optional)")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of standard input (for scripts)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Create an additional admin even though one exists already",
        )

    def handle(self, *args, **options):
        interactive = sys.stdin.isatty() and not options["password_stdin"]
        if not options["force"] and User.objects.filter(role=Role.ADMIN).exists():
            raise CommandError("An admin exists already; use --force to add another admin.")
        username = options["username"] or (input("Username: ").strip() if interactive else "")
        if not username:
            raise CommandError("--username is required.")
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(f"A user named {username!r} exists already.")
        password = self._password(interactive=interactive, stdin=options["password_stdin"])
        try:
            with audit_context(surface=Surface.CLI):
                user = self._create(username=username, password=password, email=options["email"])
        except services.SetupClosed:
            raise CommandError(
                "Setup was completed meanwhile; use --force to add an admin."
            ) from None
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Admin {user.username!r} created."))

    def _create(self, *, username: str, password: str, email: str) -> User:
        if services.setup_needed():
            return services.setup_admin_create(username=username, password=password, email=email)
        return services.user_create(
            username=username, password=password, email=email, role=Role.ADMIN
        )

    def _password(self, *, interactive: bool, stdin: bool) -> str:
        if stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("No password on standard input.")
            return password
        if not interactive:
            raise CommandError("No terminal to ask for a password: use --password-stdin.")
        for _ in range(3):
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                self.stderr.write("The two passwords differ; try again.")
                continue
            try:
                from django.contrib.auth.password_validation import validate_password

                validate_password(password)
            except ValidationError as exc:
                self.stderr.write(_messages(exc))
                continue
            return password
        raise CommandError("No acceptable password after three tries.")


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "\n".join(
            f"{field}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        )
    return "\n".join(f"password: {message}" for message in exc.messages)
