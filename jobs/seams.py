"""Where jobs tells the layers above it what happened (docs/architecture.md, record 14)."""

from __future__ import annotations

from django.dispatch import Signal

#: A job is about to be deleted. kwargs: job. runs cancels the job's active runs first, so
#: the engine stops their processes before the rows go.
job_deleting = Signal()
