"""Execute one claimed run: the child process, its output, timeout/cancel, samples, status.

One thread, one select() loop over stdout, stderr and a pidfd. Lines are written in batches
(never a transaction per line, never one held while waiting on the child); heartbeat, cancel
check and the monitor (samples, job limits: runs.engine.monitor) ride on the same loop.
runs.engine.claim claims before and finishes after.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction

from jobs.secrets import job_secret_values
from runs.engine import process
from runs.engine.httpjob import http_run
from runs.engine.logbuffer import Block, LogBuffer, StreamSplitter
from runs.engine.monitor import Usage
from runs.engine.outcome import Outcome, final_status, with_lines_lost, write_rows
from runs.live import notify_run_changed
from runs.models import Run, RunStatus
from runs.spec import RunSpec
from taskflow_site.lib import jobuser
from taskflow_site.lib.diskfull import DISK_FULL_MESSAGE, disk_full_report, is_disk_full

logger = logging.getLogger("taskflow.executor")

READ_SIZE = 64 * 1024
# Adaptive flush: output after a quiet spell is written IDLE_FLUSH_SECONDS after the previous
# flush at the latest (a single print reaches viewers in milliseconds); sustained output is
# batched for up to FLUSH_SECONDS or FLUSH_BYTES (a few large transactions, not many small).
FLUSH_SECONDS = 0.15
IDLE_FLUSH_SECONDS = 0.015
IDLE_FLUSH_BYTES = 64 * 1024
FLUSH_BYTES = 1024 * 1024
CHECK_SECONDS = 0.4  # cancel requested? still ours?
QUIET_SECONDS = 0.3  # after the script exited, stop reading once its pipes are this quiet
AFTER_EXIT_MAX_SECONDS = 1.5  # ...or this long after the exit, whoever holds the pipes
LEFTOVER_GRACE_SECONDS = 0.5


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


class Executor:
    """Runs `run` (already claimed: status running) to its end and returns an Outcome; the
    caller (runs.engine.claim.run_finish) writes the final rows and status in one transaction."""

    def __init__(
        self,
        run: Run,
        *,
        worker: str,
        stop_requested: Callable[[], bool] = lambda: False,
        on_block: Callable[[Block], None] | None = None,
        worker_beat: Callable[[], None] | None = None,
        on_started: Callable[[], None] | None = None,
    ):
        self.run = run
        self.on_started = on_started
        self.run_id = str(run.pk)
        self.start_error = ""
        try:
            self.spec = RunSpec.from_json(run.spec or {})
        except ValueError as exc:  # a malformed row fails its run, never the executor
            self.spec = RunSpec(kind="")
            self.start_error = f"invalid run spec: {exc}"
        self.worker = worker
        self.stop_requested = stop_requested
        self.on_block = on_block
        self.worker_beat = worker_beat
        conf = settings.TASKFLOW
        self.grace = float(conf["KILL_GRACE_SECONDS"])
        self.heartbeat_every = float(conf["HEARTBEAT_SECONDS"])
        self.sample_every = float(conf["METRICS_INTERVAL"])
        self.timeout = min(self.spec.timeout_seconds, int(conf["MAX_JOB_TIMEOUT"]))
        self.log = LogBuffer(first_line=run.log_lines + 1, cap=int(conf["LOG_MAX_BYTES"]))
        self.spec = self.spec.opened(run)  # with its secret parameters' values (Run.params)
        self.secret_env = job_secret_values(run.job, self.spec.secret_names)
        self.secret_env.update(self.spec.secret_param_env())
        # longest first, so a secret containing another is masked whole
        self.secrets = sorted({v for v in self.secret_env.values() if v}, key=len, reverse=True)
        self.uid: int | None = None  # the job user's, when the run runs as one
        self.samples: list = []
        self.usage = Usage(self.run_id, every=self.sample_every, limits=self.spec.limits)
        self.breach = ""  # the job limit the run broke (reason "limit")
        self.pgid: int | None = None
        self.reason: str | None = None  # timeout | cancel | shutdown | lost | limit
        self.pid_saved = False
        self.disk_full_lines = 0  # lines that could not be stored: the disk was full
        self.disk_full_unsaid = 0  # ...of which the log does not say so yet
        now = time.monotonic()
        self.last_flush = now  # the "started" line rides with the first real flush
        self.next_beat = now + self.heartbeat_every
        self.next_check = now + CHECK_SECONDS

    # ---- log and database plumbing ----

    def system(self, text: str) -> None:
        self.log.system(text, time.time())

    def add(self, block: Block) -> None:
        self.log.add(block)

    def flush(self) -> None:
        """Write buffered lines and samples plus the run's heartbeat, in one short transaction."""

        blocks = self.log.pending_blocks() if self.on_block else []
        rows = self.log.take_rows()
        samples, self.samples = self.samples, []
        now = time.time()
        fields = {
            "log_lines": self.log.lines,
            "log_bytes": self.log.bytes_total,
            "log_dropped_bytes": self.log.dropped,
            "heartbeat_at": _dt(now),
        }
        if self.pgid and not self.pid_saved:
            fields["pid"] = self.pgid
        try:
            with transaction.atomic():
                write_rows(self.run.pk, rows, samples)
                Run.objects.filter(pk=self.run.pk).update(**fields)
                if self.worker_beat is not None:
                    self.worker_beat()
        except IntegrityError:  # the reconciler wrote to this run: it is no longer ours
            logger.warning("run %s was taken over; its newest lines were not stored", self.run_id)
            self.log.forget_open_chunk()
            self.reason = self.reason or "lost"
            return
        except DatabaseError as exc:
            if not is_disk_full(exc):
                raise
            return self._lost_to_full_disk(rows)
        self._say_lines_lost()  # space is back: the log says what is missing
        self.pid_saved = self.pid_saved or "pid" in fields
        self.last_flush = time.monotonic()
        self.next_beat = self.last_flush + self.heartbeat_every
        for block in blocks:
            self.on_block(block)
        if rows:
            notify_run_changed(self.run.pk, kind="log")
        if samples:
            notify_run_changed(self.run.pk, kind="metric")

    def _lost_to_full_disk(self, rows) -> None:
        """Nothing of this flush was stored (rolled back whole): count its lines, report the
        full disk once per interval, and try again within a second."""
        lost = sum(row.last - row.first + 1 for row in rows)
        self.log.forget_open_chunk()
        self.disk_full_lines += lost
        self.disk_full_unsaid += lost
        disk_full_report(f"run {self.run_id}")
        self.last_flush = time.monotonic()
        self.next_beat = self.last_flush + min(1.0, self.heartbeat_every)

    def _say_lines_lost(self) -> None:
        if self.disk_full_unsaid:
            self.system(f"{DISK_FULL_MESSAGE}: {self.disk_full_unsaid} log lines were not stored")
            self.disk_full_unsaid = 0

    def check(self) -> str | None:
        """Cancel requested, or the run no longer ours (reconciled as lost)?"""
        self.next_check = time.monotonic() + CHECK_SECONDS
        row = Run.objects.filter(pk=self.run.pk).values("status", "cancel_requested_at").first()
        if row is None or row["status"] != RunStatus.RUNNING:
            return "lost"
        if row["cancel_requested_at"] is not None:
            return "cancel"
        return None

    def observe(self, now: float) -> None:
        """The monitor's read, when due: a sample to store, a job limit broken."""
        sample, breach = self.usage.monitor.tick(now)
        if sample is not None:
            self.samples.append((_dt(time.time()), *sample))
        if breach and self.reason is None:
            self.reason, self.breach = "limit", breach

    # ---- execution ----

    def execute(self) -> Outcome:
        self.started = time.time()
        attempts = max(self.spec.retry.count + 1, self.run.attempt)
        self.system(
            f"run {self.run_id} started on {self.worker} (attempt {self.run.attempt}/{attempts})"
        )
        kind, code = self.spec.kind, None
        try:
            if self.start_error:
                self.system(f"cannot start: {self.start_error}")
            elif kind == "http":
                code = self._execute_http()
            elif kind in {"shell", "command"}:
                code = self._execute_process()
            else:
                self.system(f"unknown run kind {kind!r}: nothing executed")
                self.start_error = f"unknown run kind {kind!r}"
        finally:
            self._started()  # a run that never started: at its end
        return self._outcome(code)

    def _started(self) -> None:
        """Under way (child spawned, request about to go): the drain's previous commit goes."""
        if hook := self.on_started:
            self.on_started = None
            hook()

    def _tick(self) -> None:
        """Periodic work shared by the process loop and HTTP runs."""
        now = time.monotonic()
        if self.reason is None:
            if self.stop_requested():
                self.reason = "shutdown"
            elif now >= self.next_check:
                self.reason = self.check()
        if self.flush_in(now) <= 0 or now >= self.next_beat or len(self.samples) >= 10:
            self.flush()

    def flush_in(self, now: float) -> float:
        """Seconds until the pending lines are due (inf when nothing is pending)."""
        log = self.log
        if not log.pending:
            return float("inf")
        if log.pending_bytes >= FLUSH_BYTES:
            return 0.0
        batched = FLUSH_SECONDS - (time.time() - (log.first_pending_at or 0))
        if log.pending_bytes < IDLE_FLUSH_BYTES:  # idle stream: a few lines, write them soon
            return min(batched, self.last_flush + IDLE_FLUSH_SECONDS - now)
        return batched

    def _execute_http(self) -> int | None:
        self._started()
        started = time.monotonic()

        def emit(stream: str, text: str) -> None:
            if stream == "system":
                for line in str(text).split("\n"):
                    self.system(line)
                return
            splitter = StreamSplitter("stderr" if stream == "stderr" else "stdout", self.secrets)
            for block in splitter.feed(str(text).encode("utf-8", "replace") + b"\n", time.time()):
                self.add(block)

        def should_stop() -> bool:
            self._tick()
            if self.reason is None and time.monotonic() - started > self.timeout:
                self.reason = "timeout"
            return self.reason is not None

        return http_run(
            spec=self.spec, emit=emit, deadline=started + self.timeout, should_stop=should_stop
        )

    def _execute_process(self) -> int | None:
        spec = self.spec
        if not os.path.isdir(spec.working_dir):
            self.start_error = f"working directory {spec.working_dir} does not exist"
            self.system(f"cannot start: {self.start_error}")
            return None
        argv = spec.command_line()
        if not argv:
            self.start_error = "empty command"
            self.system("cannot start: empty command")
            return None
        try:
            identity = jobuser.run_identity(spec.run_as, conf=settings.TASKFLOW)
        except LookupError as exc:
            self.start_error = str(exc)
            self.system(f"cannot start: {self.start_error}")
            return None
        env = process.environment(
            settings.TASKFLOW["ENV_ALLOWLIST"],
            env=spec.run_env(),
            secret_env=self.secret_env,
            run_id=self.run_id,
            job_id=str(self.run.job_id or ""),
            identity=identity,
        )
        if identity is not None:
            self.uid = identity.uid
            self.system(f"running as {identity.label()}")
        try:
            with self.usage.spawning():
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=spec.working_dir,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                    **jobuser.spawn_options(identity),
                )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.start_error = f"cannot start {argv[0]}: {reason}"
            self.system(self.start_error)
            return None
        self.pgid = proc.pid
        self.usage.started(proc.pid)
        try:
            self._started()  # while the child runs (its output waits in the pipes)
            return self._supervise(proc)
        finally:
            for stream in (proc.stdout, proc.stderr):
                with contextlib.suppress(OSError):
                    stream.close()

    def _supervise(self, proc: subprocess.Popen) -> int | None:
        m0 = time.monotonic()
        deadline = m0 + self.timeout
        splitters = {
            proc.stdout.fileno(): StreamSplitter("stdout", self.secrets),
            proc.stderr.fileno(): StreamSplitter("stderr", self.secrets),
        }
        open_fds = set(splitters)
        try:
            pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        returncode = None
        exited_at = None
        last_data = m0
        term_at = None
        killed = False
        try:
            while True:
                now = time.monotonic()
                if returncode is None:
                    returncode, rusage = process.try_reap(proc)
                    if returncode is not None:
                        exited_at = now
                        self.usage.child_exited(rusage)
                if returncode is not None and not open_fds:
                    break
                if returncode is not None and (
                    now - last_data >= QUIET_SECONDS or now - exited_at >= AFTER_EXIT_MAX_SECONDS
                ):
                    break  # something in the background holds the pipes: leftover, killed below
                if self.reason is None and now >= deadline:
                    self.reason = "timeout"
                self._tick()
                if self.reason is not None and term_at is None:
                    term_at = now
                    self._terminate()
                if term_at is not None and not killed and now >= term_at + self.grace:
                    killed = True
                    self._kill()
                if returncode is None:
                    self.observe(now)
                wait = min(self.usage.next_read, self.next_check, self.next_beat) - now
                wait = min(wait, self.flush_in(now))
                if self.reason is None:
                    wait = min(wait, deadline - now)
                if term_at is not None and not killed:
                    wait = min(wait, term_at + self.grace - now)
                if returncode is not None:
                    wait = min(wait, QUIET_SECONDS / 3)
                watch = list(open_fds)
                if pidfd is not None and returncode is None:
                    watch.append(pidfd)
                elif returncode is None:
                    wait = min(wait, 0.05)  # no pidfd: poll the child
                wait = max(0.0, min(wait, 1.0))
                ready = select.select(watch, [], [], wait)[0] if watch else _sleep(wait)
                for fd in ready:
                    if fd == pidfd:
                        continue  # reaped at the top of the loop
                    data = os.read(fd, READ_SIZE)
                    at = time.time()
                    if not data:
                        open_fds.discard(fd)
                        for block in splitters[fd].finish(at):
                            self.add(block)
                        continue
                    last_data = time.monotonic()
                    for block in splitters[fd].feed(data, at):
                        self.add(block)
            # stopped reading: the last partial lines, then anything the script left behind
            at = time.time()
            for fd in list(open_fds):
                with contextlib.suppress(OSError, BlockingIOError):
                    os.set_blocking(fd, False)
                    while data := os.read(fd, READ_SIZE):
                        for block in splitters[fd].feed(data, at):
                            self.add(block)
            for splitter in splitters.values():
                for block in splitter.finish(at):
                    self.add(block)
            self._kill_leftovers(term_at is not None)
        finally:
            if pidfd is not None:
                os.close(pidfd)
            if returncode is None:  # an exception above: never leave the child behind
                process.signal_group(proc.pid, signal.SIGKILL)
                returncode, rusage = process.reap_wait(proc)
                self.usage.child_exited(rusage)
            self.usage.finish()
        return returncode

    def _escapees(self) -> list[int]:
        return process.escapees(self.pgid, self.run_id, self.uid)

    def _terminate(self) -> None:
        what = {
            "timeout": f"timeout after {self.timeout} s",
            "cancel": "cancel requested",
            "shutdown": "TaskFlow is stopping",
            "lost": "this run was taken over (marked lost)",
            "limit": self.breach,
        }[self.reason]
        # a run over a limit gets no grace: it would keep taking what it may not have
        sig = signal.SIGKILL if self.reason == "limit" else signal.SIGTERM
        self.system(f"{what}: sending {sig.name} to the process group")
        process.signal_group(self.pgid, sig)
        for proc in process.marker_processes(self.run_id, exclude={self.pgid}):
            with contextlib.suppress(Exception):
                proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.usage.kill()

    def _kill(self) -> None:
        alive = process.group_alive(self.pgid) or bool(process.marker_processes(self.run_id))
        if not alive:
            return
        self.system(f"still running {self.grace:g} s after SIGTERM: sending SIGKILL")
        process.signal_group(self.pgid, signal.SIGKILL)
        for proc in process.marker_processes(self.run_id):
            with contextlib.suppress(Exception):
                proc.kill()

    def _kill_leftovers(self, scan_markers: bool) -> None:
        """Whatever the script left running (background jobs, escapees) is killed."""
        escapees = self._escapees()
        if not (process.group_alive(self.pgid) or escapees or scan_markers):
            return
        self.usage.leftovers()
        found = process.kill_run_processes(self.run_id, self.pgid, grace=LEFTOVER_GRACE_SECONDS)
        for pid in escapees:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.usage.account.reap(pid, wait=True)
        if found:
            self.system(
                f"killed {len(found)} leftover process(es) still running after the script "
                f"ended: {process.describe(found)}"
            )

    def _outcome(self, code: int | None) -> Outcome:
        finished = time.time()
        duration = finished - self.started
        status, message = final_status(
            self.reason, code, start_error=self.start_error, timeout=self.timeout, limit=self.breach
        )
        status, message = with_lines_lost(status, message, self.disk_full_lines)
        self._say_lines_lost()
        self.log.close(finished)
        if code is not None and code < 0:
            self.system(f"process killed by {process.signal_name(-code)} after {duration:.3f} s")
        elif code is not None:
            self.system(f"exit code {code} after {duration:.3f} s")
        self.system(f"finished: {status}" + (f" ({message})" if message else ""))
        if self.on_block:
            for block in self.log.pending_blocks():
                self.on_block(block)
        figures = self.usage.summary()
        if short := self.usage.only_sample(figures):  # ended before its first sample
            self.samples.append((_dt(finished), *short))
        return Outcome(
            status=status,
            exit_code=code if code is None or code >= 0 else 128 - code,
            error_message=message,
            started=self.started,
            finished=finished,
            rows=self.log.take_rows(),
            samples=self.samples,
            lines=self.log.lines,
            bytes_total=self.log.bytes_total,
            dropped=self.log.dropped,
            lost=self.reason == "lost",
            **figures,
        )


def _sleep(seconds: float) -> list:
    time.sleep(seconds)
    return []
