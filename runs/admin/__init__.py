"""The run pages (history, live log viewer, heartbeats) and the job pages with their runs."""

from runs.admin import job_admin, run_admin  # noqa: F401 (importing registers them)
