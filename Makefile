# TaskFlow: `make run` starts it, `make test` runs everything CI runs.
SHELL := /bin/bash
PYTHON ?= python3
UV := .tools/bin/uv
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=
# The end-to-end tests mostly wait on real processes (daphne, qcluster, bash, Chromium), so
# four test processes keep both cores busy; override with `make test XDIST=0`.
XDIST ?= 4
XDIST_ARGS := $(if $(filter 0,$(XDIST)),,-n $(XDIST))

.PHONY: run test lint test-sqlite test-postgres install bench clean browser-deps nginx-deps readme

$(UV):
	$(PYTHON) -m venv .tools && .tools/bin/pip install -q uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen -q
	@touch $@

install: .venv/.synced

run: install ## install, migrate and start TaskFlow on SQLite (~/.taskflow)
	$(UV) run taskflow run

lint: install ## ruff, and the package order (tests/support/layers.py, docs/architecture.md)
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run python -m tests.support.layers

browser-deps: ## Debian's Chromium for the browser tests (installed when missing)
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; \
	  else echo "chromium missing: apt-get install chromium fonts-liberation (browser tests will skip)"; fi; \
	fi

nginx-deps: ## Debian's nginx for the deploy tests (installed when missing, never started)
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && RUNLEVEL=1 apt-get install -y -qq --no-install-recommends nginx >/dev/null; \
	  else echo "nginx missing: apt-get install nginx (the nginx tests will skip)"; fi; \
	fi

test-sqlite: install browser-deps nginx-deps
	$(UV) run pytest $(XDIST_ARGS) $(PYTEST_ARGS)

# The PostgreSQL pass leaves out what does not touch the database's behaviour: the browser
# journeys and the CLI's process supervision (both run in the SQLite pass).
test-postgres: install ## the suite again on PostgreSQL, when the server answers
	@if $(UV) run python -c "import psycopg,sys; psycopg.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  DATABASE_URL=$(PG_URL) $(UV) run pytest $(XDIST_ARGS) -m "not browser" --ignore=tests/cli $(PYTEST_ARGS); \
	else echo "PostgreSQL not reachable at $(PG_URL): skipping the PostgreSQL pass"; fi

test: lint test-sqlite test-postgres ## ruff + the whole suite on SQLite, then on PostgreSQL

bench: install
	$(UV) run python bench/run_all.py

readme: install ## regenerate the configuration table of docs/configuration.md from taskflow_site.config.KEYS
	$(UV) run python -c "import re, pathlib; from taskflow_site.cli.commands import config_reference_markdown as t; p = pathlib.Path('docs/configuration.md'); s = p.read_text(); p.write_text(re.sub(r'(<!-- config-table:start[^\n]*-->\n).*?(<!-- config-table:end -->)', lambda m: m.group(1) + t() + '\n' + m.group(2), s, flags=re.S))"

clean:
	rm -rf .venv .tools .ruff_cache
