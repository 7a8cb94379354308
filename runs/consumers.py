"""WebSocket consumers: a run's live log/metric/status stream, and the dashboard's status feed.

Both read the database (replay by line number, then follow by polling every POLL_SECONDS);
with Redis a `runs.changed` nudge from the worker wakes them at once. Auth happens in
connect(): `?ticket=` from POST /api/auth/ws-ticket, an `Authorization: Bearer` header (an API
token or an access token; never a JWT in the URL), or the session cookie — the cookie only from
a browser, which sends an Origin (taskflow_site.wsguard checks it exactly).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.throttles import client_address
from accounts.tickets import (
    bearer_redeem,
    ticket_credential_live,
    ticket_issued_at,
    ticket_redeem,
)
from runs import live, wire
from runs.followers import CATCH_UP_PAUSE, follower_join, follower_read
from runs.models import Run, RunStatus

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.12  # default deployment: how stale a follower may be without Redis
AUTH_RECHECK_SECONDS = 2.0  # revocation/deactivation closes a socket within this (+ a poll)
DASHBOARD_POLL_SECONDS = 1.0
# By default one "log" message per line, as docs/api.md shows (clients written from it know no
# other shape), at most LINES_MODE_MAX per read. `?batch=1` (our own viewer) opts in to
# "log_batch" frames: up to PER_LINE_MAX new lines per read still go out as "log" messages,
# more as frames of BATCH_SIZE.
PER_LINE_MAX = 50
BATCH_SIZE = 500
LINES_MODE_MAX = 200

CLOSE_NORMAL = 1000
_NOTHING, _CLOSED = object(), object()  # RunLogConsumer.next_update's other answers
CLOSE_UNAUTHORIZED = 4401  # not authenticated / revoked / expired: get a new ticket
CLOSE_NOT_FOUND = 4404  # no such run, or not yours


def _db(func):
    # Parallel threads (not the single shared "thread-sensitive" one), so one busy viewer does
    # not delay another's poll; every call closes its connection again (CONN_MAX_AGE rules).
    return database_sync_to_async(func, thread_sensitive=False)


@dataclass
class Viewer:
    """Who is on the socket, how they proved it, and until when that proof holds."""

    user: object
    method: str  # "session" | "ticket" | "bearer"
    since: datetime  # revocations after this instant close the socket
    expires_at: datetime | None
    session_key: str | None = None
    credential: dict | None = None  # the JWT (jti) or API token (id) that let it in


def _encode(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"))


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _authenticate_sync(scope, ticket: str | None) -> Viewer | None:
    now = timezone.now()
    if ticket:
        issued_at = ticket_issued_at(ticket)
        user = ticket_redeem(ticket)
        if user is None or issued_at is None:
            return None
        # A ticket socket lives as long as the access token that obtained it could; then the
        # client fetches a new ticket and reconnects with ?after=<last line>.
        lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
        credential = user.ticket_credential
        return Viewer(user, "ticket", issued_at, issued_at + lifetime, credential=credential)
    bearer = _header(scope, b"authorization")
    if bearer:
        client = scope.get("client") or ("",)
        forwarded = _header(scope, b"x-forwarded-for")
        meta = {"REMOTE_ADDR": client[0], "HTTP_X_FORWARDED_FOR": forwarded}
        found = bearer_redeem(bearer, ip=client_address(SimpleNamespace(META=meta)))
        if found is None:
            return None
        user, credential, expires_at = found
        return Viewer(user, "bearer", now, expires_at, credential=credential)
    if scope.get("tf_no_origin"):
        return None  # not a browser: a cookie alone never opens a socket
    user = scope.get("user")
    session = scope.get("session")
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if session is None or not session.session_key:
        return None
    return Viewer(user, "session", now, session.get_expiry_date(), session.session_key)


def _still_valid_sync(viewer: Viewer, run_id=None) -> bool:
    """Re-read the user (and session) from the database: deactivated, tokens revoked, session
    ended or expired, or the run no longer visible -> False."""
    now = timezone.now()
    if viewer.expires_at is not None and now >= viewer.expires_at:
        return False
    user = User.objects.filter(pk=viewer.user.pk, is_active=True).first()
    if user is None:
        return False
    if user.tokens_valid_after and user.tokens_valid_after >= viewer.since:
        return False
    if viewer.credential and not ticket_credential_live(viewer.credential):
        return False  # logged out (that JWT) or revoked (that API token)
    if viewer.method == "session":
        engine = import_module(settings.SESSION_ENGINE)
        data = engine.SessionStore(session_key=viewer.session_key).load()
        if data.get(SESSION_KEY) != str(user.pk):
            return False  # logged out, flushed or expired (load() returns {} for those)
        if data.get(HASH_SESSION_KEY) != user.get_session_auth_hash():
            return False  # password changed
    if run_id is not None and not Run.objects.visible_to(user).filter(pk=run_id).exists():
        return False
    viewer.user = user
    return True


def _visible_run_id(user, run_id):
    return Run.objects.visible_to(user).filter(pk=run_id).values_list("pk", flat=True).first()


def _query(scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin1")
    return {key: values[-1] for key, values in parse_qs(raw).items()}


class _AuthenticatedConsumer(AsyncWebsocketConsumer):
    viewer: Viewer | None = None
    follow_task: asyncio.Task | None = None
    group: str | None = None

    async def authenticate(self) -> Viewer | None:
        ticket = _query(self.scope).get("ticket")
        return await _db(_authenticate_sync)(self.scope, ticket)

    async def start(self, group: str | None = None) -> None:
        await self.accept()
        self.wake = asyncio.Event()
        if group and self.channel_layer is not None:  # Redis across processes; in-memory
            try:
                await self.channel_layer.group_add(group, self.channel_name)
                self.group = group
            except Exception:  # Redis down: polling still delivers
                logger.warning("live: cannot join group %s", group, exc_info=True)
        self.follow_task = asyncio.create_task(self._guarded_follow())

    async def _guarded_follow(self):
        try:
            await self.follow()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("live stream failed")
            await self.close(code=1011)

    async def disconnect(self, code):
        if self.follow_task is not None:
            self.follow_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.follow_task
        if self.group:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """Clients have nothing to say; incoming frames are ignored."""

    async def runs_changed(self, event):
        """Redis nudge from runs.live.notify_run_changed: read now instead of at the next poll."""
        self.wake.set()

    async def send_json(self, message: dict) -> None:
        await self.send(text_data=_encode(message))

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()


class RunLogConsumer(_AuthenticatedConsumer):
    """/api/runs/<uuid>/logs/live?after=N[&batch=1][&ticket=...]

    Replays lines after N (default 0), then follows: "log" per line, paced at LINES_MODE_MAX
    per read; with `batch=1`, when many lines arrive at once, "log_batch" frames
    ({"type":"log_batch","runId","lines":[<log fields>...]}) of up to BATCH_SIZE lines;
    "metric" per sample; "status" on connect and on each change, the final one last,
    then the socket closes (1000). Refusals close before accept (HTTP 403 handshake).
    Replay and catching up read the database from the socket's own cursor; following is
    the run's shared follower's (runs.followers: one per run per process).
    """

    async def connect(self):
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self.viewer = await self.authenticate()
        if self.viewer is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.run_id = await _db(_visible_run_id)(self.viewer.user, run_id)
        if self.run_id is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        query = _query(self.scope)
        try:
            self.after = max(0, int(query.get("after", "0")))
        except ValueError:
            self.after = 0
        self.per_line_only = query.get("batch") not in {"1", "true", "yes"}
        await self.start()

    async def follow(self):
        self.cursor, self.sample_id, self.last_status = self.after, 0, None
        self.next_auth_check = time.monotonic() + AUTH_RECHECK_SECONDS
        while True:  # a new follower only if the last one failed
            if await self.read_database():
                return
            follower, queue = follower_join(
                self.run_id,
                cursor=self.cursor,
                sample_id=self.sample_id,
                poll_seconds=POLL_SECONDS,
            )
            try:
                if follower.cursor > self.cursor and await self.read_database():
                    return
                while (update := await self.next_update(queue)) is not None:
                    if update is _CLOSED or (update is not _NOTHING and await self.apply(update)):
                        return
            finally:
                follower.leave(queue)

    async def next_update(self, queue: asyncio.Queue):
        """The follower's next Update; None when the follower failed; _NOTHING when the auth
        re-check came due first and passed, _CLOSED when it failed (the socket is closed)."""
        timeout = max(0.0, self.next_auth_check - time.monotonic())
        try:
            return await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            if not await self.recheck_due(self.next_auth_check):
                return _CLOSED
            self.next_auth_check = self.next_check_at(self.next_auth_check)
            return _NOTHING

    async def read_database(self) -> bool:
        """Read from the socket's cursor until caught up with what is stored; True when the
        stream has ended (final status sent, socket closed)."""
        limit = LINES_MODE_MAX if self.per_line_only else live.MAX_LINES_PER_READ
        while True:
            snap = await _db(live.live_snapshot)(
                self.run_id,
                after_line=self.cursor,
                after_sample_id=self.sample_id,
                line_limit=limit,
            )
            if snap.status is None:
                await self.close(code=CLOSE_NOT_FOUND)  # deleted while watched
                return True
            await self.send_status(snap.status, snap.status_message)
            await self.send_lines(snap.lines)
            for message in snap.samples:
                await self.send_json(message)
            self.sample_id = snap.last_sample_id
            if snap.finished and not snap.more_lines:
                return await self.finish(snap.status_message)
            if not snap.more_lines:
                return False
            if not await self.recheck_due(self.next_auth_check):
                return True
            self.next_auth_check = self.next_check_at(self.next_auth_check)
            await asyncio.sleep(CATCH_UP_PAUSE)

    async def apply(self, update) -> bool:
        """One of the follower's reads; True when the stream has ended."""
        if update.status is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return True
        if self.cursor < update.after_line or self.sample_id < update.after_sample_id:
            return await self.read_database()  # behind the follower: the database has it all
        await self.send_status(update.status, update.status_message)
        if update.lines and update.lines[-1].number > self.cursor:
            if update.lines[0].number > self.cursor:  # all of it: the shared encoding
                frames = update.frames.get(self.per_line_only)
                if frames is None:
                    frames = update.frames[self.per_line_only] = self.frames(update.lines)
                for frame in frames:
                    await self.send(text_data=frame)
                self.cursor = update.lines[-1].number
            else:
                await self.send_lines([x for x in update.lines if x.number > self.cursor])
        if self.sample_id == update.after_sample_id:
            for message in update.samples:
                await self.send_json(message)
            self.sample_id = update.last_sample_id
        elif self.sample_id < update.last_sample_id:
            return await self.read_database()  # read some of these samples already
        if update.final:
            return await self.finish(update.status_message)
        return False

    async def send_status(self, status: str, message: dict) -> None:
        """A status change while the run is live (the final status goes last, by finish)."""
        if status != self.last_status and status not in RunStatus.finished():
            await self.send_json(message)
            self.last_status = status

    async def finish(self, message: dict) -> bool:
        await self.send_json(message)
        await self.close(code=CLOSE_NORMAL)
        return True

    async def recheck_due(self, due: float) -> bool:
        """Re-validate the viewer when `due`; False (socket closed) when no longer allowed."""
        if time.monotonic() < due:
            return True
        if await follower_read(_still_valid_sync, self.viewer, self.run_id):
            return True
        await self.close(code=CLOSE_UNAUTHORIZED)
        return False

    @staticmethod
    def next_check_at(due: float) -> float:
        now = time.monotonic()
        return now + AUTH_RECHECK_SECONDS if now >= due else due

    def frames(self, lines) -> list[str]:
        if self.per_line_only or len(lines) <= PER_LINE_MAX:
            return [_encode(wire.log_message(self.run_id, line)) for line in lines]
        return [
            _encode(wire.log_batch(self.run_id, lines[start : start + BATCH_SIZE]))
            for start in range(0, len(lines), BATCH_SIZE)
        ]

    async def send_lines(self, lines) -> None:
        for frame in self.frames(lines):
            await self.send(text_data=frame)
        if lines:
            self.cursor = lines[-1].number


def _dashboard_changes(user, since: datetime) -> list[dict]:
    rows = (
        Run.objects.visible_to(user)
        .filter(Q(created_at__gte=since) | Q(started_at__gte=since) | Q(finished_at__gte=since))
        .order_by("created_at")
        .values(
            "id",
            "job_id",
            "job__name",
            "status",
            "exit_code",
            "duration_ms",
            "created_at",
            "started_at",
            "finished_at",
        )[:500]
    )
    changes = []
    for row in rows:
        message = wire.status_message(
            row["id"],
            status=row["status"],
            exit_code=row["exit_code"],
            duration_ms=row["duration_ms"],
            at=row["finished_at"] or row["started_at"] or row["created_at"],
        )
        message["jobId"] = str(row["job_id"]) if row["job_id"] else None
        message["jobName"] = row["job__name"]
        changes.append(message)
    return changes


class DashboardConsumer(_AuthenticatedConsumer):
    """/ws/dashboard: a "status" message (plus jobId, jobName) whenever a visible run is
    created, starts or finishes. Polls every DASHBOARD_POLL_SECONDS, or at once on a Redis nudge.
    """

    # rows become visible a little after their timestamps (commit delay, other processes)
    OVERLAP = timedelta(seconds=5)

    async def connect(self):
        self.viewer = await self.authenticate()
        if self.viewer is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        await self.start(live.DASHBOARD_GROUP)

    async def follow(self):
        since = timezone.now()
        sent: dict[str, str] = {}  # run id -> last status sent, within the overlap window
        next_auth_check = time.monotonic() + AUTH_RECHECK_SECONDS
        while True:
            polled_at = timezone.now()
            for message in await _db(_dashboard_changes)(self.viewer.user, since - self.OVERLAP):
                if sent.get(message["runId"]) != message["status"]:
                    sent[message["runId"]] = message["status"]
                    await self.send_json(message)
            since = polled_at
            if len(sent) > 5000:
                sent.clear()  # rare; at worst a few repeated statuses
            if time.monotonic() >= next_auth_check:
                if not await _db(_still_valid_sync)(self.viewer):
                    await self.close(code=CLOSE_UNAUTHORIZED)
                    return
                next_auth_check = time.monotonic() + AUTH_RECHECK_SECONDS
            await self.wait(DASHBOARD_POLL_SECONDS)
