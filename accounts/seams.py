"""Where accounts asks the layers above it (docs/architecture.md, record 14).

accounts may not import jobs; jobs connects a receiver here in its `AppConfig.ready()`.
"""

from __future__ import annotations

from django.dispatch import Signal

#: Which audit entries a user may read besides those by or about themselves. kwargs: user.
#: A receiver returns a Q over accounts.AuditEntry (jobs: entries about the jobs they own).
audit_scope_wanted = Signal()
