"""TaskFlow's project package: settings, URLs, ASGI, the CLI and the shared lib."""

# the release: pyproject.toml's [project] version says the same (tests/cli/test_arguments.py).
# A constant rather than importlib.metadata: that module alone is ~5 MiB in the supervisor,
# which runs for the server's whole life (docs/architecture.md, "Idle ≈ 0")
VERSION = "0.1.0"
