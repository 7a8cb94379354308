"""Plumbing every app stands on; imports no app (docs/architecture.md)."""
