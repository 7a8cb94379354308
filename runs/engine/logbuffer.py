"""A run's output on its way to LogChunk rows: line splitting, numbering, the head+tail cap.

No Django. Lines travel in blocks (many lines joined by "\\n", one stream, one timestamp) so a
chatty script costs a few C-level string operations per 64 KiB read, not Python per line.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from runs.logformat import STREAM_CODES, clean_text

LINE_MAX = 64 * 1024  # longer lines are stored in pieces of this size (memory stays bounded)
CHUNK_DATA = 128 * 1024  # target size of one LogChunk row
# A stored chunk smaller than this takes the next flush's lines in place (one UPDATE of a row
# that fits a database page) instead of a new row: a trickling stream flushed line by line
# still fills chunks (docs/architecture.md, "Log chunks and live viewers (issue 14)").
GROW_BELOW = 3500


class ChunkRow(NamedTuple):
    """Lines first..last for LogChunk: a new row, or (extends = the first_line of the stored
    chunk that ends at first - 1) records appended to that chunk; `at` is the chunk's
    created_at, the records' offsets count from it."""

    first: int
    last: int
    at: datetime
    data: str
    extends: int = 0


@dataclass
class Block:
    stream: str
    at: float  # epoch seconds
    text: str  # lines joined by "\n"
    count: int
    nbytes: int  # raw bytes these lines took (with their newlines)


class StreamSplitter:
    """Raw bytes of one stream -> cleaned blocks of complete lines; keeps the partial line."""

    def __init__(self, stream: str, secrets: list[str]):
        self.stream = stream
        self.secrets = secrets
        self.partial = b""

    def _block(self, raw: bytes, at: float, nbytes: int) -> Block:
        text = clean_text(raw, self.secrets)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
            if text.endswith("\r"):
                text = text[:-1]
        return Block(self.stream, at, text, text.count("\n") + 1, nbytes)

    def feed(self, data: bytes, at: float) -> list[Block]:
        blocks = []
        buf = self.partial + data if self.partial else data
        end = buf.rfind(b"\n")
        if end >= 0:
            blocks.append(self._block(buf[:end], at, end + 1))
            buf = buf[end + 1 :]
        while len(buf) > LINE_MAX:  # one enormous line: store it in pieces
            blocks.append(self._block(buf[:LINE_MAX], at, LINE_MAX))
            buf = buf[LINE_MAX:]
        self.partial = buf
        return blocks

    def finish(self, at: float) -> list[Block]:
        """The final unterminated line, if any."""
        if not self.partial:
            return []
        raw, self.partial = self.partial, b""
        return [self._block(raw, at, len(raw))]


class LogBuffer:
    """Numbers lines and batches them into chunk rows. Past half the cap, lines go to a tail
    ring that keeps only the last half; at close a system line reports what was dropped."""

    def __init__(self, *, first_line: int = 1, cap: int = 10 * 1024 * 1024):
        self.next_line = first_line
        self.head_budget = cap // 2
        self.tail_budget = cap - self.head_budget
        self.pending: list[tuple[int, Block]] = []  # (first line number, block)
        self.pending_bytes = 0
        self.bytes_total = 0  # everything the process printed (plus system lines)
        self.bytes_kept = 0
        self.dropped = 0
        self.in_tail = False
        self.tail: deque[Block] = deque()
        self.tail_bytes = 0
        self.first_pending_at: float | None = None
        # the last chunk written while it is small: (first_line, created_at epoch, size)
        self.open_chunk: tuple[int, float, int] | None = None

    @property
    def lines(self) -> int:
        return self.next_line - 1

    def _store(self, block: Block) -> None:
        if self.first_pending_at is None:
            self.first_pending_at = block.at
        self.pending.append((self.next_line, block))
        self.next_line += block.count
        self.pending_bytes += len(block.text) + block.count
        self.bytes_kept += block.nbytes

    def system(self, text: str, at: float) -> None:
        """System lines are always kept (they are few and say what happened)."""
        text = text.replace("\n", " ")
        self.bytes_total += len(text) + 1
        self._store(Block("system", at, text, 1, len(text) + 1))

    def add(self, block: Block) -> None:
        self.bytes_total += block.nbytes
        if not self.in_tail:
            room = self.head_budget - self.bytes_kept
            if block.nbytes <= room:
                self._store(block)
                return
            self.in_tail = True
            lines = block.text.split("\n")
            keep = []
            for line in lines:
                if len(line) + 1 > room:
                    break
                keep.append(line)
                room -= len(line) + 1
            if keep:
                used = sum(len(line) + 1 for line in keep)
                self._store(Block(block.stream, block.at, "\n".join(keep), len(keep), used))
                rest = lines[len(keep) :]
                block = Block(
                    block.stream, block.at, "\n".join(rest), len(rest), block.nbytes - used
                )
        self.tail.append(block)
        self.tail_bytes += block.nbytes
        self._trim_tail()

    def _trim_tail(self) -> None:
        while self.tail_bytes > self.tail_budget and self.tail:
            first = self.tail[0]
            excess = self.tail_bytes - self.tail_budget
            if first.nbytes <= excess or first.count == 1:
                self.tail.popleft()
                self.tail_bytes -= first.nbytes
                self.dropped += first.nbytes
                continue
            lines = first.text.split("\n")
            cut = 0
            removed = 0
            while cut < len(lines) - 1 and removed < excess:
                removed += len(lines[cut]) + 1
                cut += 1
            removed = min(removed, first.nbytes)
            rest = lines[cut:]
            self.tail[0] = Block(
                first.stream, first.at, "\n".join(rest), len(rest), first.nbytes - removed
            )
            self.tail_bytes -= removed
            self.dropped += removed
            if removed < excess:
                continue
            break

    def close(self, at: float) -> None:
        """Move the tail behind a "N bytes dropped" line (call once, before the final lines)."""
        if self.dropped:
            self.system(f"{self.dropped} bytes dropped (log cap: kept the head and the tail)", at)
        while self.tail:
            block = self.tail.popleft()
            self._store(block)
        self.tail_bytes = 0
        self.in_tail = False
        self.head_budget = 1 << 62  # after close, the final system lines always go through

    def take_rows(self) -> list[ChunkRow]:
        """Pending lines as LogChunk rows; the first one extends the last chunk written when
        that one is still small (then the caller updates it in place)."""
        rows: list[ChunkRow] = []
        current: list[str] = []
        size = 0
        first = start_at = None
        extends = 0
        if self.open_chunk is not None and self.pending:
            extends, start_at, size = self.open_chunk
        last = 0
        for number, block in self.pending:
            if first is None:
                first = number
                start_at = block.at if start_at is None else start_at
            prefix = f"{STREAM_CODES[block.stream]}{max(0, int((block.at - start_at) * 1000))}\t"
            current.append(prefix + block.text.replace("\n", "\n" + prefix))
            size += len(block.text) + block.count * len(prefix)
            last = number + block.count - 1
            if size >= CHUNK_DATA:
                rows.append(ChunkRow(first, last, _dt(start_at), "\n".join(current), extends))
                current, size, first, start_at, extends = [], 0, None, None, 0
        if current:
            rows.append(ChunkRow(first, last, _dt(start_at), "\n".join(current), extends))
        if rows:
            self.open_chunk = None
            if current and size < GROW_BELOW:
                self.open_chunk = (extends or first, start_at, size)
        self.pending = []
        self.pending_bytes = 0
        self.first_pending_at = None
        return rows

    def forget_open_chunk(self) -> None:
        """The last rows were not stored (a failed flush): the next lines start a new chunk."""
        self.open_chunk = None

    def pending_blocks(self) -> list[Block]:
        return [block for _, block in self.pending]


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
