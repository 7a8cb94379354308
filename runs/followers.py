"""One database follower per run per web process, shared by every live viewer of that run.

A viewer (runs.consumers.RunLogConsumer) replays from the database by line number, then joins
the run's follower: the follower alone polls (or, with Redis, wakes when a nudge names its
run: one subscription per process for all followers) and hands each read to its viewers as
an Update. A viewer that finds itself behind an update (it joined late, or fell behind and
its queue was cut) reads the database from its own cursor, so no line is skipped or
repeated. The follower stops when its last viewer leaves or the run ends
(docs/architecture.md, "Log chunks and live viewers (issue 14)").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection

from runs import live

logger = logging.getLogger(__name__)

CATCH_UP_PAUSE = 0.05  # between reads while behind a flood
# at most one read per this many seconds however often Redis nudges: a line-by-line stream
# reaches 100 viewers as a few frames per socket per read, not one send per line each
READ_EVERY_MIN = 0.025
QUEUE_MAX = 64  # updates a viewer may have waiting; past that it re-reads the database

# The followers' reads run on one thread that keeps its database connection (a fresh SQLite
# connection per poll cost daphne most of its CPU); the connection is closed when the
# process has no follower left.
_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-follow")


_running = 0  # followers in this process; with none, the thread keeps no connection


def _keep_connection(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except Exception:
        connection.close()  # the next read reconnects
        raise
    finally:
        if not _running:
            connection.close()


async def follower_read(func, *args, **kwargs):
    """func(*args, **kwargs) on the followers' thread, with its kept database connection."""
    call = sync_to_async(_keep_connection, thread_sensitive=False, executor=_reader)
    return await call(func, *args, **kwargs)


@dataclass(eq=False)
class Update:
    """One read of the follower: lines after `after_line`, samples after `after_sample_id`
    up to `last_sample_id`, the status; `final` when the stream ends with it (the run finished
    and every line is read, or the run is gone: status None)."""

    after_line: int
    lines: list
    after_sample_id: int
    samples: list
    last_sample_id: int
    status: str | None
    status_message: dict | None
    final: bool
    frames: dict = field(default_factory=dict)  # encoded messages, shared by the viewers


class Follower:
    def __init__(self, hub: dict, run_id, *, cursor: int, sample_id: int, poll_seconds: float):
        self.hub = hub
        self.run_id = run_id
        self.cursor = cursor
        self.sample_id = sample_id
        self.poll_seconds = poll_seconds
        self.viewers: set[asyncio.Queue] = set()
        self.wake = asyncio.Event()
        self.stopped = asyncio.Event()
        self.listening = asyncio.Event()  # subscribed to the nudges (or given up on them)
        global _running
        _running += 1
        self.task = asyncio.create_task(self._run())

    def leave(self, queue: asyncio.Queue) -> None:
        self.viewers.discard(queue)
        if not self.viewers:
            self._forget()
            self.wake.set()

    def _forget(self) -> None:
        if self.hub.get(self.run_id) is self:
            del self.hub[self.run_id]

    def _broadcast(self, update: Update) -> None:
        for queue in self.viewers:
            if queue.qsize() >= QUEUE_MAX:  # a slow viewer: it catches up from the database
                while not queue.empty():
                    queue.get_nowait()
            queue.put_nowait(update)

    async def _run(self) -> None:
        subscription = _subscription_join()
        await subscription.ready.wait()
        self.listening.set()
        try:
            probe = None
            while self.viewers:
                probe, snap = await follower_read(
                    live.live_poll,
                    self.run_id,
                    after_line=self.cursor,
                    after_sample_id=self.sample_id,
                    line_limit=live.MAX_LINES_PER_READ,
                    last_probe=probe,
                )
                behind = False
                if snap is not None:
                    behind = snap.more_lines
                    if behind:
                        probe = None  # read again whatever the probe says
                    update = Update(
                        after_line=self.cursor,
                        lines=snap.lines,
                        after_sample_id=self.sample_id,
                        samples=snap.samples,
                        last_sample_id=snap.last_sample_id,
                        status=snap.status,
                        status_message=snap.status_message,
                        final=snap.status is None or (snap.finished and not snap.more_lines),
                    )
                    if snap.lines:
                        self.cursor = snap.lines[-1].number
                    self.sample_id = snap.last_sample_id
                    self._broadcast(update)
                    if update.final:
                        break
                read_at = asyncio.get_running_loop().time()
                await self._wait(CATCH_UP_PAUSE if behind else self.poll_seconds)
                rest = read_at + READ_EVERY_MIN - asyncio.get_running_loop().time()
                if rest > 0 and self.viewers:
                    await asyncio.sleep(rest)
        except Exception:
            logger.exception("live follower of run %s failed", self.run_id)
            self._forget()
            for queue in self.viewers:  # they read the database and join a new follower
                queue.put_nowait(None)
        finally:
            self._forget()
            await _subscription_leave(subscription)
            global _running
            _running -= 1
            if not _running:
                with contextlib.suppress(Exception):
                    await sync_to_async(
                        connection.close, thread_sensitive=False, executor=_reader
                    )()
            self.stopped.set()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()


class _Subscription:
    """This event loop's one subscription to the followers' nudges (RUNS_GROUP; with Redis:
    from the workers), kept while it has followers: a nudge names the runs that changed, and
    the followers of those among them read now. `ready` is set once subscribed (or given up
    on: Redis down, polling still delivers)."""

    def __init__(self, hub: dict):
        self.hub = hub
        self.followers = 0
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        layer, channel = get_channel_layer(), None
        try:
            if layer is not None:
                try:
                    channel = await layer.new_channel()
                    await layer.group_add(live.RUNS_GROUP, channel)
                except Exception:  # Redis down: polling still delivers
                    logger.warning("live: cannot subscribe to the runs' nudges", exc_info=True)
                    channel = None
            self.ready.set()
            while channel is not None:
                message = await layer.receive(channel)
                for run_id in message.get("runs", ()):
                    follower = self.hub.get(run_id)
                    if follower is not None:
                        follower.wake.set()
        finally:
            self.ready.set()
            if channel is not None:
                with contextlib.suppress(Exception):
                    await layer.group_discard(live.RUNS_GROUP, channel)


_subscriptions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> _Subscription


def _subscription_join() -> _Subscription:
    loop = asyncio.get_running_loop()
    subscription = _subscriptions.get(loop)
    if subscription is None or subscription.task.done():  # none yet, or it gave up
        subscription = _subscriptions[loop] = _Subscription(_hubs.setdefault(loop, {}))
    subscription.followers += 1
    return subscription


async def _subscription_leave(subscription: _Subscription) -> None:
    subscription.followers -= 1
    if subscription.followers:
        return
    loop = asyncio.get_running_loop()
    if _subscriptions.get(loop) is subscription:
        del _subscriptions[loop]
    subscription.task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await subscription.task


_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> {run id: ...}


def follower_join(run_id, *, cursor: int, sample_id: int, poll_seconds: float):
    """(the run's follower, the viewer's queue of Updates); starts the follower at the
    viewer's position when the run has none in this process."""
    hub = _hubs.setdefault(asyncio.get_running_loop(), {})
    run_id = str(run_id)  # as nudges name it
    follower = hub.get(run_id)
    if follower is None:
        follower = hub[run_id] = Follower(
            hub, run_id, cursor=cursor, sample_id=sample_id, poll_seconds=poll_seconds
        )
    queue: asyncio.Queue = asyncio.Queue()
    follower.viewers.add(queue)
    return follower, queue


def follower_of(run_id) -> Follower | None:
    """The run's follower in this process (on this event loop), if one runs."""
    return _hubs.get(asyncio.get_running_loop(), {}).get(str(run_id))
