"""Log hygiene: one line where a traceback tells nothing new, and a condition that repeats on
every write logged once per interval instead of per occurrence."""

from __future__ import annotations

import logging
import threading
import time


class NoTraceback(logging.Filter):
    """Keeps the record's message, drops its traceback: a refused Host header or a probe from
    the wrong address is one line in the log, not twenty."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


class OncePerInterval:
    """`log(key, message)` writes at most once per `interval` seconds per key in this process,
    saying how many repeats it held back since the last line."""

    def __init__(self, logger: logging.Logger, interval: float):
        self.logger = logger
        self.interval = interval
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}

    def log(self, key: str, message: str, *, level: int = logging.ERROR) -> bool:
        now = time.monotonic()
        with self.lock:
            last = self.last.get(key)
            if last is not None and now - last < self.interval:
                self.held[key] = self.held.get(key, 0) + 1
                return False
            held = self.held.pop(key, 0)
            self.last[key] = now
        if held:
            message += f" ({held} more since the last report)"
        self.logger.log(level, message)
        return True
