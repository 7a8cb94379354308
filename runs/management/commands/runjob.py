"""`manage.py runjob <job id or name> [--param NAME=value ...] [--no-wait]`: run a job now.

Runs it in this process, printing each line as it is stored, and exits with the run's status:
0 success, 1 failure, 2 usage (unknown/ambiguous job, a parameter value the job refuses), 3
skipped by the job's overlap/queue policy, 124 timeout, 130 cancelled. --no-wait only queues
it for the cluster (exit 0). Each --param sets one of the job's parameters (the others take
their defaults); the run's follow-ups, if any, are queued for the cluster.
"""

from __future__ import annotations

import signal
import sys
import uuid

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.audit import audit_context
from accounts.models import Surface
from jobs.models import Job
from jobs.params import ParamsInvalid
from runs.engine.claim import run_claim
from runs.engine.drain import Drain
from runs.engine.heartbeats import process_name
from runs.engine.process import become_subreaper
from runs.models import RunStatus, TriggerType
from runs.services import run_enqueue

EXIT_CODES = {
    RunStatus.SUCCESS: 0,
    RunStatus.FAILURE: 1,
    RunStatus.SKIPPED: 3,
    RunStatus.TIMEOUT: 124,
    RunStatus.CANCELLED: 130,
}


class Command(BaseCommand):
    help = "Run a job now (in this process) and print its log; exit code = the run's status."

    def add_arguments(self, parser):
        parser.add_argument("job", help="job id or exact name")
        parser.add_argument(
            "--no-wait", action="store_true", help="only queue the run for the cluster"
        )
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=value",
            help="a parameter value (repeatable); the job's defaults fill the rest",
        )

    def _params(self, pairs: list[str]) -> dict:
        params = {}
        for pair in pairs:
            name, equals, value = pair.partition("=")
            if not equals or not name:
                self.stderr.write(f"runjob: --param {pair!r}: expected NAME=value")
                sys.exit(2)
            params[name] = value
        return params

    def _job(self, ref: str):

        try:
            return Job.objects.get(pk=uuid.UUID(ref))
        except (ValueError, Job.DoesNotExist):
            pass
        matches = list(Job.objects.filter(name=ref)[:2])
        if len(matches) == 1:
            return matches[0]
        problem = "several jobs are" if matches else "no job is"
        self.stderr.write(f"runjob: {problem} called {ref!r}")
        sys.exit(2)

    def handle(self, *args, **options):

        job = self._job(options["job"])
        params = self._params(options["param"])
        try:
            with transaction.atomic(), audit_context(surface=Surface.CLI):
                run, claimed = self._enqueue(job, params, queue_only=options["no_wait"])
        except ParamsInvalid as exc:
            for name, message in exc.errors.items():
                self.stderr.write(f"runjob: parameter {name}: {message}")
            sys.exit(2)
        self.stdout.write(f"run {run.pk} of job {job.name!r}: {run.status}")
        if options["no_wait"]:
            return
        if claimed is None:
            self.stderr.write(run.error_message or "the run was taken by another worker")
            sys.exit(EXIT_CODES.get(run.status, 1))

        become_subreaper()  # escaped descendants of the job come back to us to be killed
        drain = Drain(linger=0, budget=0)
        # Ctrl-C / SIGTERM: the run's tree is stopped and recorded as interrupted, never lost
        signal.signal(signal.SIGINT, drain._on_sigterm)
        signal.signal(signal.SIGTERM, drain._on_sigterm)
        drain.execute(claimed, on_block=self._print_block)
        claimed.refresh_from_db()
        sys.exit(EXIT_CODES.get(claimed.status, 1))

    def _enqueue(self, job, params: dict, *, queue_only: bool):
        run, _ = run_enqueue(job=job, trigger_type=TriggerType.MANUAL, params=params)
        if queue_only or run.status != RunStatus.PENDING:
            return run, None
        # claimed in the enqueue's transaction: a woken cluster drain finds nothing
        return run, run_claim(worker=process_name(), run_id=run.pk)

    def _print_block(self, block) -> None:
        out = self.stderr if block.stream == "stderr" else self.stdout
        prefix = "[taskflow] " if block.stream == "system" else ""
        for line in block.text.split("\n"):
            out.write(f"{prefix}{line}")
        out.flush()
