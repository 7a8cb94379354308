"""README and deploy/ stay true to the code: the config table, the env example, the unit."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from taskflow_site import cli
from taskflow_site.config import KEYS, load_config

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_configuration_table_matches_the_keys():
    marks = r"<!-- config-table:start[^\n]*-->\n(.*?)<!-- config-table:end -->"
    table = re.search(marks, README, re.S)
    assert table, "README.md lost its config-table markers"
    assert table.group(1).strip() == cli.config_reference_markdown(), "run `make readme`"
    for key in KEYS:
        assert f"`{key.env_names[0]}`" in table.group(1)


def test_the_readme_shows_the_two_commands_and_every_cli_command():
    assert "make run" in README and "make test" in README
    for command in cli.COMMANDS:
        assert f"  {command} " in README


def test_the_example_env_file_is_a_valid_config_file(tmp_path):
    config = load_config(
        environ={"HOME": str(tmp_path)}, config_file=str(ROOT / "deploy/taskflow.env.example")
    )
    assert config.trusted_proxies == 1
    assert config.data_dir == "/var/lib/taskflow"


def test_the_systemd_unit_is_hardened_and_outwaits_the_stop_grace():
    unit = (ROOT / "deploy/taskflow.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#"
    )
    for name in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert settings[name] == "true"
    assert settings["ProtectSystem"] == "strict"
    assert settings["ReadWritePaths"] == settings["Environment"].split("=")[1].split()[0]
    assert settings["Restart"] == "on-failure"
    assert settings["ExecStart"].endswith("taskflow run")
    assert int(settings["TimeoutStopSec"].rstrip("s")) > cli.STOP_TIMEOUT
    assert int(settings["TimeoutStopSec"].rstrip("s")) > cli.CHILD_GRACE + 5


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path):
    unit = (ROOT / "deploy/taskflow.service").read_text()
    unit = unit.replace("/opt/taskflow/.venv/bin/taskflow run", "/bin/true")
    unit = unit.replace("EnvironmentFile=/", "EnvironmentFile=-/")
    (tmp_path / "taskflow.service").write_text(unit)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "taskflow.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "taskflow.service:" not in done.stderr, done.stderr


def test_nginx_upgrades_both_websocket_paths_and_rate_limits_login():
    site = (ROOT / "deploy/nginx-taskflow.conf").read_text()
    blocks = re.findall(r"location ([^{]+)\{([^}]*)\}", site)
    websockets = {path.strip(): body for path, body in blocks if "Upgrade" in body}
    assert set(websockets) == {r"~ ^/api/runs/[^/]+/logs/live$", "/ws/"}
    login = {path.strip(): body for path, body in blocks}["= /api/auth/login"]
    assert "zone=taskflow_login" in login
    assert "rate=5r/m" in site and "rate=10r/m" in site and "rate=100r/m" in site


def test_the_dockerfile_runs_taskflow_as_a_non_root_user_with_a_healthcheck():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in dockerfile
    assert re.search(r"^USER taskflow$", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile and '"taskflow", "health"' in dockerfile
    assert 'VOLUME ["/data"]' in dockerfile and "TASKFLOW_DATA_DIR=/data" in dockerfile
    assert dockerfile.rstrip().endswith('CMD ["taskflow", "run"]')
