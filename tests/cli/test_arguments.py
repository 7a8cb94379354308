"""`taskflow help | version`, unknown commands and bad flags (exit 2), the console script."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from taskflow_site import VERSION
from taskflow_site.cli import main
from taskflow_site.cli.parser import COMMANDS


def test_it_prints_every_command_in_help(capsys):
    assert main(["help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out
    for flag in ("--port", "--db-path", "--config", "--log-level", "--no-color", "--version"):
        assert flag in out


def test_it_prints_help_for_one_command(capsys):
    assert main(["help", "start"]) == 0
    out = capsys.readouterr().out
    assert "usage: taskflow start" in out
    assert "daemon" in out


def test_it_refuses_help_for_an_unknown_command(capsys):
    assert main(["help", "launch"]) == 2
    assert "unknown command 'launch'" in capsys.readouterr().err


def test_it_prints_the_version(capsys):
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith(f"taskflow {VERSION}")
    assert main(["--version"]) == 0
    assert VERSION in capsys.readouterr().out


def test_the_version_is_the_release_pyproject_names():
    with open(Path(__file__).resolve().parents[2] / "pyproject.toml", "rb") as handle:
        assert tomllib.load(handle)["project"]["version"] == VERSION


@pytest.mark.parametrize(
    "argv",
    [["launch"], ["run", "--colour"], ["status", "--port"], ["help", "start", "extra"]],
)
def test_it_exits_2_with_usage_on_bad_arguments(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: taskflow" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["config", "--port", "http"], "bad value for port (flag)"),
        (["config", "--port", "70000"], "port between 1 and 65535"),
        (["config", "--log-level", "loud"], "bad value for log_level (flag)"),
        (["config", "--workers", "0"], "bad value for workers (flag)"),
    ],
)
def test_it_exits_2_on_a_bad_flag_value(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_console_script_runs_version_and_rejects_unknown_commands():
    script = [sys.executable, "-m", "taskflow_site.cli"]
    done = subprocess.run([*script, "version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.startswith("taskflow ")
    done = subprocess.run([*script, "frobnicate"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "invalid choice: 'frobnicate'" in done.stderr
