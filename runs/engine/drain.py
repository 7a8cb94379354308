"""The drain loop a django-q2 worker runs: claim, execute, repeat; linger for wake-ups.

A delivery means "drain": keep a "worker" heartbeat fresh, claim the best pending run, execute
it, and when nothing is due wait on the wake socket (a database look every POLL_SECONDS as a
fallback). Runs due back to back overlap by one commit: the next run is claimed before the
previous one's final commit, which is made once the next has started (drain_claimed).
Shortly before its linger time or delivery budget (Q_CLUSTER timeout) ends it marks itself
retired so the dispatcher queues a successor behind it (no gap). On SIGTERM it ends the
current run as "interrupted" and returns; on HANDOVER_SIGNAL (a new cluster takes over) it
finishes the current run, claims nothing more and returns.
"""

from __future__ import annotations

import contextlib
import logging
import select
import signal
import time

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection
from django.utils import timezone

from jobs.models import Job
from runs.engine import process
from runs.engine.claim import (
    BudgetExceeded,
    finish_is_plain,
    pending_due,
    run_claim,
    run_finish,
    run_mark_lost,
)
from runs.engine.executor import Executor
from runs.engine.heartbeats import executor_lock, heartbeat_beat, process_name
from runs.engine.wake import WakeSocket, wake_cluster
from runs.models import Run, WorkerHeartbeat, WorkerRole
from taskflow_site.lib.diskfull import disk_full_report, is_disk_full

logger = logging.getLogger("taskflow.worker")

POLL_SECONDS = 2.0  # database poll while lingering (other hosts, lost datagrams, retries)
HANDOFF_SECONDS = 3.0  # enqueue the successor this long before returning
BUDGET_MARGIN_SECONDS = 15.0
JOB_CACHE_SECONDS = 2.0
FINISH_RETRY_SECONDS = 120.0
# Claim the next run before the last one's final commit (Drain.drain_claimed)? Only where a
# commit does not wait for the disk: SQLite's WAL with synchronous=NORMAL. A PostgreSQL
# commit waits for its WAL flush, so the look-ahead's own commit cost more than the overlap
# saved (105.8 against 111.8 runs/s, three interleaved pairs); there the finish and the next
# claim share one pipeline and one commit.
CLAIM_AHEAD = {"sqlite": True}
# the look-ahead considers this many due runs, in claim order, and gives up after them: behind
# a backlog of one job (its runs wait for the one that just ended) a full claim would read
# the whole backlog for each run; the finish's own claim, after the commit, finds them
CLAIM_AHEAD_LOOK = 16
# the supervisor's reload tells the old cluster "take nothing new, finish what you hold" with
# this signal, and the cluster passes it on to its drains; after HANDOVER_SECONDS what is
# still running is interrupted as on a stop (taskflow_site/cli/supervisor.py sends the same)
HANDOVER_SIGNAL = signal.SIGUSR2
HANDOVER_SECONDS = 300.0


class Drain:
    def __init__(self, *, linger: float | None = None, budget: float | None = None):
        conf = settings.TASKFLOW
        self.linger = conf["DRAIN_LINGER_SECONDS"] if linger is None else linger
        q_timeout = settings.Q_CLUSTER.get("timeout")
        self.budget = budget if budget is not None else (q_timeout or 0) - BUDGET_MARGIN_SECONDS
        self.worker = process_name()
        self.heartbeat_name = f"{WorkerRole.WORKER}@{self.worker}"
        self.beat_every = conf["HEARTBEAT_SECONDS"]
        self.stopping = False
        self.handing_over = False
        self.started = time.monotonic()
        self.executed = 0
        self.retired = False
        self.over_budget = False
        self.registered = False
        self.held_error: Exception | None = None  # a held run's final commit failed
        self.jobs: dict = {}
        self.next_beat = 0.0
        self.wake: WakeSocket | None = None
        self.lock = None  # this process's executor lock (runs.engine.heartbeats)

    # ---- lifecycle ----

    def _on_sigterm(self, *_):
        self.stopping = True
        self._wake_up()

    def _on_handover(self, *_):
        self.handing_over = True
        self._wake_up()

    def _wake_up(self) -> None:
        if self.wake is not None:  # end a lingering select() at once
            with contextlib.suppress(OSError):
                self.wake.sock.sendto(b"!", str(self.wake.path))

    def budget_left(self) -> float | None:
        if self.budget <= 0:
            return None
        return self.budget - (time.monotonic() - self.started)

    def register(self) -> None:
        now = timezone.now()
        updated = WorkerHeartbeat.objects.filter(name=self.heartbeat_name).update(
            heartbeat_at=now, retired_at=None, busy_run=None
        )
        if not updated:
            heartbeat_beat(role=WorkerRole.WORKER, name=self.heartbeat_name)
        self.registered = True
        self.next_beat = time.monotonic() + self.beat_every

    def beat(self) -> None:
        self.next_beat = time.monotonic() + self.beat_every
        try:
            WorkerHeartbeat.objects.filter(name=self.heartbeat_name).update(
                heartbeat_at=timezone.now()
            )
        except DatabaseError as exc:
            if not is_disk_full(exc):
                raise
            disk_full_report("drain heartbeat")

    def retire(self) -> None:
        """From now on the dispatcher may deliver our successor; we finish what we hold and
        return (a replacement queued behind us then starts with no gap)."""
        if self.retired:
            return
        self.retired = True
        WorkerHeartbeat.objects.filter(name=self.heartbeat_name).update(retired_at=timezone.now())
        wake_cluster()

    def run(self) -> int:
        """Drain until idle for `linger` seconds (or stopped); returns runs executed."""
        previous = previous_handover = None
        with contextlib.suppress(ValueError):  # not the main thread: no signal handling
            previous = signal.signal(signal.SIGTERM, self._on_sigterm)
            previous_handover = signal.signal(HANDOVER_SIGNAL, self._on_handover)
        process.become_subreaper()
        wake = self.wake = WakeSocket()
        try:
            self.register()
            self._loop(wake)
        finally:
            wake.close()
            if self.retired:  # while executing a run: it counted as live until now
                wake_cluster()
            self.retire()  # (which wakes the dispatcher)
            WorkerHeartbeat.objects.filter(name=self.heartbeat_name).update(busy_run=None)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
                signal.signal(HANDOVER_SIGNAL, previous_handover)
        return self.executed

    def _loop(self, wake: WakeSocket) -> None:
        idle_since = time.monotonic()
        idle = False
        while not (self.stopping or self.handing_over):
            left = self.budget_left()
            try:
                # idle polls read first: no write lock (IMMEDIATE) unless something is due
                run = None
                if not idle or pending_due():
                    run = run_claim(worker=self.worker, budget_seconds=left)
            except BudgetExceeded:
                return  # a fresh delivery (full budget) takes it
            except DatabaseError as exc:  # a full disk: wait for space as for work
                if not is_disk_full(exc):
                    raise
                disk_full_report("claiming a run")
            idle = run is None
            if run is not None:
                self.drain_claimed(run)
                if self.retired or self.over_budget or self.handing_over:
                    return  # over budget: a fresh delivery (full budget) takes it
                idle = True  # the last finish found nothing due: read before claiming again
                idle_since = time.monotonic()
                continue
            now = time.monotonic()
            idle_for = now - idle_since
            if idle_for >= self.linger:
                return
            if left is not None and left < BUDGET_MARGIN_SECONDS:
                return
            if self.linger - idle_for <= HANDOFF_SECONDS or (
                left is not None and left < BUDGET_MARGIN_SECONDS + HANDOFF_SECONDS
            ):
                self.retire()
            if now >= self.next_beat:
                self.beat()
            wait = min(POLL_SECONDS, self.linger - idle_for, max(0.0, self.next_beat - now))
            ready = select.select([wake], [], [], max(0.0, wait))[0]
            if ready:
                wake.drain()

    def execute(self, run: Run, on_block=None) -> None:
        """Execute one claimed run to its final commit."""
        outcome = self._execute(run, on_block=on_block)
        if outcome is not None:
            self._finish(run, outcome, claim=False)
            self.lock.mark(None)

    def drain_claimed(self, run: Run) -> None:
        """Execute `run` and every run due after it, back to back.

        The next run is claimed in a short transaction of its own before this one's final
        commit, and that commit is made once the next run has started, while its child runs:
        no run waits on the previous one's commit. Where the next run has to come after this
        commit (a run of the same job queued behind this one, a retry or follow-up this
        finish creates), nothing else is due, or commits wait for the disk (CLAIM_AHEAD), the
        finish claims the next run in its own transaction instead (one commit for both)."""
        held = None  # (run, outcome): executed; committed once the next run has started
        while run is not None:
            outcome = self._execute(run, held=held)
            held = None
            if self.held_error is not None:  # the previous commit failed: as a finish fails
                error, self.held_error = self.held_error, None
                if outcome is not None:
                    self._finish(run, outcome, claim=False)
                raise error
            if outcome is None:
                return
            ahead = self._claim_ahead(run, outcome)
            if ahead is not None:
                held, run = (run, outcome), ahead
                continue
            run = self._finish(run, outcome, claim=True).next_run
            if run is None:
                self.lock.mark(None)

    @property
    def takes_more(self) -> bool:
        """May this drain claim another run (not retired, stopping, handing over, over budget)?"""
        return not (self.retired or self.stopping or self.handing_over or self.over_budget)

    def _claim_ahead(self, run: Run, outcome) -> Run | None:
        """The next run, claimed before `run`'s final commit when that commit can wait."""
        if not self.takes_more or not CLAIM_AHEAD.get(connection.vendor, False):
            return None
        if not finish_is_plain(run, outcome):  # what the finish queues may be the next run
            return None
        try:
            return run_claim(
                worker=self.worker, budget_seconds=self.budget_left(), look=CLAIM_AHEAD_LOOK
            )
        except BudgetExceeded:
            self.over_budget = True
        except OperationalError:  # busy past the timeout, disk full: the finish retries
            pass
        return None

    def _execute(self, run: Run, *, on_block=None, held=None):
        """Execute a claimed run to its Outcome (None when the executor failed: the run is
        marked lost). `held`'s final commit is made as soon as this run has started."""
        waiting = [held] if held is not None else []

        def finish_held() -> None:
            if waiting:
                self._finish_held(*waiting.pop(), current=run)

        # this process's lock (held for its life) names the runs until their final commits:
        # the local reconciler never calls one lost while we are alive, however stale the
        # heartbeat gets (busy machine, long write lock)
        self.lock = self.lock or executor_lock(self.worker)
        self.lock.mark(run.pk, held[0].pk if held else None)
        try:
            self._attach_job(run)  # before the executor reads run.job (the job's secrets)
            executor = Executor(
                run,
                worker=self.worker,
                stop_requested=lambda: self.stopping,
                on_block=on_block,
                worker_beat=self.beat_if_due,
                on_started=finish_held,
            )
            try:
                outcome = executor.execute()
            except Exception:
                logger.exception("executor failed on run %s", run.pk)
                run_mark_lost(run=run, reason="executor error (see the worker log)")
                outcome = None
            finally:
                if self.registered:  # a drain worker's children are all runs': no zombie stays
                    process.reap_zombies()
        finally:
            finish_held()  # the executor failed before the run started
        if outcome is None:
            self.lock.mark(None)
        return outcome

    def _finish_held(self, run: Run, outcome, *, current: Run) -> None:
        """The held run's final commit; an error is raised after the current run's end."""
        try:
            self._finish(run, outcome, claim=False)
        except Exception as exc:
            logger.exception("run %s: its final commit failed", run.pk)
            self.held_error = exc
        self.lock.mark(current.pk)

    def _finish(self, run: Run, outcome, *, claim: bool):
        """run_finish (with `claim`, of the next run too unless we take nothing more),
        retried while SQLite stays locked past its busy timeout (a run that ended is never
        left "running" because another process held the write lock)."""
        claim_next = None
        if claim and self.takes_more:
            claim_next = {"worker": self.worker, "budget_seconds": self.budget_left()}
        started = time.monotonic()
        while True:
            try:
                finished = run_finish(
                    run=run, outcome=outcome, worker=self.worker, claim_next=claim_next
                )
                break
            except OperationalError as exc:
                if is_disk_full(exc) and not self.stopping:  # held until space returns
                    disk_full_report(f"run {run.pk} final status")
                    time.sleep(1.0)
                    continue
                if time.monotonic() - started > FINISH_RETRY_SECONDS:
                    raise
                logger.warning("run %s: database busy while finishing; retrying", run.pk)
                time.sleep(0.2)
        self.executed += 1
        self.over_budget = self.over_budget or finished.over_budget
        return finished

    def _attach_job(self, run: Run) -> None:
        """Runs of one job in a row share its row for a second or two (notifications read it
        after each run; a query per run is measurable at hundreds of runs a second)."""
        if run.job_id is None:
            return
        now = time.monotonic()
        cached = self.jobs.get(run.job_id)
        if cached is None or now - cached[0] > JOB_CACHE_SECONDS:
            job = Job.objects.filter(pk=run.job_id).first()
            if job is None:
                return
            cached = self.jobs[run.job_id] = (now, job)
        run.job = cached[1]

    def beat_if_due(self) -> None:
        if self.registered and time.monotonic() >= self.next_beat:
            self.beat()
