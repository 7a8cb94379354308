"""Where runs tells the layers above it what happened (docs/architecture.md, record 14).

runs may not import metrics or notifications; those apps connect receivers here in their
`AppConfig.ready()`. Django signals are the seam: synchronous, in the sender's transaction,
and explicit (each receiver is listed in the subscribing app's apps.py).
"""

from __future__ import annotations

from django.dispatch import Signal

#: A run's final attempt is committed (success, failure, timeout, cancelled, lost...).
#: kwargs: run. Sent with send_robust: a receiver can never fail or block the engine.
run_finished = Signal()

#: The executor took resource samples of a run. kwargs: run_id (the database value of the
#: run's key), samples: [(at, cpu_percent, rss_bytes, memory_percent)]. Sent inside the
#: executor's write transaction, so samples and log lines are stored together or not at all.
samples_taken = Signal()

#: A live viewer reads a run's samples. kwargs: run_id, after_id, limit. A receiver returns
#: (messages, last_id): the samples' wire messages with id > after_id, ascending.
samples_wanted = Signal()

#: qcluster builds its loop. A receiver returns the list of taskflow_site.lib.steps.Step that
#: its app runs beside the engine's own steps (rollups, retention, notification sweeps).
cluster_steps_wanted = Signal()
