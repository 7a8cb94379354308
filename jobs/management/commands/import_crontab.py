"""`manage.py import_crontab [--dry-run] [--owner USER] [--format auto|user|system] [FILE|-]`
(what `taskflow import-crontab` runs): a crontab as jobs, through jobs.crontab_import.

Prints each job with its next 3 runs, then the reported lines (stderr). Exit 0 when read (the
jobs made, or with --dry-run shown), 1 when the crontab is refused, 2 on a usage error (no such
file or owner, several admins and no --owner).
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from accounts.audit import audit_context
from accounts.models import Role, Surface, User
from jobs.crontab import FORMATS
from jobs.crontab_import import CrontabRefused, crontab_import

VERBS = {"new": "would create", "created": "created", "exists": "exists"}


class Command(BaseCommand):
    help = "Import a crontab as jobs (each entry a job; --dry-run shows them and saves nothing)."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default="-", help="crontab file; - = stdin")
        parser.add_argument("--dry-run", action="store_true", help="show, save nothing")
        parser.add_argument("--owner", help="username owning the jobs (default: the one admin)")
        parser.add_argument(
            "--format", choices=FORMATS, default="auto", help="system = /etc/crontab's user field"
        )

    def _fail(self, message: str, code: int = 2):
        self.stderr.write(f"import-crontab: {message}")
        sys.exit(code)

    def _owner(self, name: str | None) -> User:
        if name:
            owner = User.objects.filter(username=name, is_active=True).first()
            if owner is None:
                self._fail(f"no active user is called {name!r}")
            return owner
        admins = list(User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk")[:2])
        if len(admins) != 1:
            self._fail("name the jobs' owner with --owner USER")
        return admins[0]

    def _read(self, path: str) -> str:
        if path == "-":
            return sys.stdin.read()
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            self._fail(f"cannot read {path}: {exc}")

    def handle(self, *args, **options):
        owner = self._owner(options["owner"])
        text = self._read(options["file"])
        try:
            with audit_context(surface=Surface.CLI):
                result = crontab_import(
                    text=text, owner=owner, dry_run=options["dry_run"], format=options["format"]
                )
        except CrontabRefused as exc:
            self._fail(str(exc), 1)
        for job in result["jobs"]:
            self.stdout.write(
                f"line {job['line']}: {VERBS[job['status']]} {job['name']!r}: "
                f"{job['cron_expr']} ({job['timezone']})"
                + (f", runs as {job['run_as']}" if job["run_as"] else "")
            )
            self.stdout.write(f"    next: {', '.join(job['nextRuns'])}")
        for line in result["reported"]:
            kept = "imported; " if line["imported"] else "not imported: "
            self.stderr.write(f"line {line['line']}: {kept}{line['reason']}\n    {line['text']}")
        new = sum(1 for job in result["jobs"] if job["status"] == "new")
        skipped = sum(1 for line in result["reported"] if not line["imported"])
        if options["dry_run"]:
            summary = f"dry run: {new} job(s) would be created"
        else:
            summary = f"created {result['created']} job(s)"
        self.stdout.write(
            f"{summary} for {owner.get_username()}, {result['existing']} already there, "
            f"{skipped} line(s) not imported ({result['format']} crontab)"
        )
