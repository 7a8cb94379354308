"""`manage.py pragmas`: print, as JSON, what this process's database connection runs with."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from taskflow_site.lib.dbcheck import database_pragmas


class Command(BaseCommand):
    help = (
        "Print the database settings in force for a management command's connection "
        "(SQLite: journal_mode, foreign_keys, busy_timeout) as JSON; exit 1 when they are "
        "not WAL / foreign keys on / busy timeout >= 5 s."
    )

    def handle(self, *args, **options):
        pragmas = database_pragmas()
        self.stdout.write(json.dumps(pragmas, sort_keys=True))
        if not pragmas["ok"]:
            raise SystemExit(1)
