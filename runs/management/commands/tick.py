"""`manage.py tick [--once]`: the minute tick alone, without the executor (tests, benches,
a second scheduler). `qcluster` runs the same steps beside the executor."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand
from django.utils import timezone

from runs.engine.heartbeats import heartbeat_forget
from runs.engine.tick import tick_run, tick_steps
from taskflow_site.lib.steps import ClusterLoop


class Command(BaseCommand):
    help = "Run the minute tick: fire due jobs at each minute boundary (--once: one pass now)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass now, then exit")

    def handle(self, *args, **options):
        if options["once"]:
            created = tick_run(now=timezone.now())
            self.stdout.write(f"{created} run(s) enqueued")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            ClusterLoop(tick_steps(), stop_event=stop).run_forever()
        finally:
            heartbeat_forget(role="tick")
