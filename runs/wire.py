"""What a run looks like on the wire: one builder per message, used by the WebSocket stream,
the API and (through the API) the admin pages (docs/architecture.md, record 15; docs/api.md).

A sample's message belongs to metrics (metrics.services.sample_message), which stores samples.
"""

from __future__ import annotations

from taskflow_site.lib.formatting import iso


def log_line(line) -> dict:
    """One stored log line (runs.logformat.LogLine): a "log_batch" entry, and the fields of a
    "log" message and of a line of GET /api/runs/<id>/logs."""
    return {
        "timestamp": iso(line.timestamp),
        "stream": line.stream,
        "content": line.content,
        "lineNumber": line.number,
    }


def log_message(run_id, line) -> dict:
    return {"type": "log", "runId": str(run_id), **log_line(line)}


def log_batch(run_id, lines) -> dict:
    return {"type": "log_batch", "runId": str(run_id), "lines": [log_line(x) for x in lines]}


def status_message(run_id, *, status, exit_code, duration_ms, at) -> dict:
    return {
        "type": "status",
        "runId": str(run_id),
        "timestamp": iso(at),
        "status": status,
        "exitCode": exit_code,
        "duration": duration_ms,
    }
