"""README, docs/ and deploy/ stay true to the code: the config table, the CLI reference, the
links, the env example, the unit."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from taskflow_site.cli.commands import config_reference_markdown
from taskflow_site.cli.daemon import STOP_TIMEOUT
from taskflow_site.cli.parser import COMMANDS
from taskflow_site.cli.supervisor import CHILD_GRACE
from taskflow_site.config import KEYS, load_config

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text()


def test_the_configuration_table_matches_the_keys():
    marks = r"<!-- config-table:start[^\n]*-->\n(.*?)<!-- config-table:end -->"
    table = re.search(marks, doc("configuration.md"), re.S)
    assert table, "docs/configuration.md lost its config-table markers"
    assert table.group(1).strip() == config_reference_markdown(), "run `make readme`"
    for key in KEYS:
        assert f"`{key.env_names[0]}`" in table.group(1)


def test_the_readme_shows_the_two_commands_and_the_cli_doc_every_command():
    assert "make run" in README and "make test" in README
    for command in COMMANDS:
        assert f"  {command} " in doc("cli.md")


def test_the_readme_never_shows_a_bare_uv_command():
    """uv lives in .tools/bin on a fresh clone: every command must run as printed."""
    assert not re.search(r"(^|[\s`(])uv (run|sync)", README, re.M)


def test_every_link_between_the_docs_names_a_file_that_exists():
    pages = {"README.md": README} | {
        f"docs/{path.name}": path.read_text() for path in (ROOT / "docs").glob("*.md")
    }
    for name, text in pages.items():
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", text):
            assert (ROOT / name).parent.joinpath(target).resolve().exists(), (name, target)


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
    assert int(settings["TimeoutStopSec"].rstrip("s")) > STOP_TIMEOUT
    assert int(settings["TimeoutStopSec"].rstrip("s")) > CHILD_GRACE + 5


@pytest.mark.skipif(
    not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed (no systemd)"
)
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
    # the server drops to 10001 with only the capabilities that switch a job to taskflow-job
    assert '"--reuid=10001", "--regid=10001"' in dockerfile
    assert '"--ambient-caps=-all,+setuid,+setgid,+kill"' in dockerfile
    assert "--uid 10001 --gid 10001" in dockerfile
    assert "TASKFLOW_JOB_USER=taskflow-job" in dockerfile
    assert "HEALTHCHECK" in dockerfile and '"taskflow", "health"' in dockerfile
    assert 'VOLUME ["/data"]' in dockerfile and "TASKFLOW_DATA_DIR=/data" in dockerfile
    assert dockerfile.rstrip().endswith('"--", "taskflow", "run"]')
