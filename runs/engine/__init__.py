"""The engine: claim, drain loop, executor and its outcome, processes, log buffering, HTTP jobs,
reconciler, heartbeats and the minute tick (docs/architecture.md, "The engine")."""
