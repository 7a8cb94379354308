"""Configuration layers: flags > environment > config file > defaults, and clear errors."""

import pytest

from taskflow_site.cli import main
from taskflow_site.cli.children import child_environ
from taskflow_site.cli.parser import config_from, parse
from taskflow_site.config import KEYS, ConfigError, load_config


def test_it_uses_defaults_when_nothing_is_set(tmp_path):
    config = load_config(environ={"HOME": str(tmp_path)})
    assert config.port == 8080 and config.sources["port"] == "default"
    assert config.log_level == "info"
    assert config.db_path == str(tmp_path / ".taskflow" / "taskflow.db")


def test_a_yaml_file_beats_the_defaults(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("port: 9001\nlog-level: debug\nallowed_origins: [https://a.example]\n")
    config = load_config(environ={"HOME": str(tmp_path)}, config_file=str(path))
    assert config.port == 9001
    assert config.log_level == "debug"
    assert config.allowed_origins == ["https://a.example"]
    assert config.sources["port"] == f"file {path}"


def test_the_default_config_file_is_read_from_the_home_directory(tmp_path):
    (tmp_path / ".taskflow").mkdir()
    (tmp_path / ".taskflow" / "config.yml").write_text("port: 9010\n")
    config = load_config(environ={"HOME": str(tmp_path)})
    assert config.port == 9010


def test_an_env_file_uses_the_environment_names(tmp_path):
    path = tmp_path / "taskflow.env"
    path.write_text("# comment\nexport PORT=9002\nTASKFLOW_WORKERS='3'\nLOG_LEVEL=warn\n")
    config = load_config(environ={"HOME": str(tmp_path)}, config_file=str(path))
    assert (config.port, config.workers, config.log_level) == (9002, 3, "warn")


def test_the_environment_beats_the_file(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("port: 9001\nworkers: 2\n")
    config = load_config(environ={"HOME": str(tmp_path), "PORT": "9003"}, config_file=str(path))
    assert config.port == 9003 and config.sources["port"] == "environment"
    assert config.workers == 2


def test_taskflow_prefixed_names_beat_the_plain_names(tmp_path):
    environ = {"HOME": str(tmp_path), "PORT": "9003", "TASKFLOW_PORT": "9004"}
    assert load_config(environ=environ).port == 9004


def test_flags_beat_the_environment_and_the_file(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("port: 9001\n")
    config = load_config(
        flags={"port": "9005", "db_path": None},
        environ={"HOME": str(tmp_path), "TASKFLOW_PORT": "9004"},
        config_file=str(path),
    )
    assert config.port == 9005 and config.sources["port"] == "flag"
    assert config.sources["db_path"] == "default"  # a flag left unset does not count


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("config.yml", "prot: 1\n", "unknown setting 'prot'"),
        ("config.yml", "port: [1\n", "not valid YAML"),
        ("config.yml", "- port\n", "expected a mapping"),
        ("taskflow.env", "PROT=1\n", ":1: unknown setting 'PROT'"),
        ("taskflow.env", "just words\n", ":1: expected KEY=VALUE"),
        ("config.yml", "workers: many\n", "bad value for workers (file"),
    ],
)
def test_a_bad_file_is_a_clear_error(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(environ={"HOME": str(tmp_path)}, config_file=str(path))


def test_a_bad_environment_value_names_the_key_and_layer(tmp_path):
    with pytest.raises(ConfigError, match=r"bad value for smtp_port \(environment\)"):
        load_config(environ={"HOME": str(tmp_path), "SMTP_PORT": "lots"})


def test_a_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(environ={"HOME": str(tmp_path)}, config_file=str(tmp_path / "nope.yml"))


def test_the_config_command_shows_values_sources_and_masks_secrets(tmp_path, monkeypatch, capsys):
    path = tmp_path / "config.yml"
    path.write_text("workers: 2\njwt_secret: very-secret-value\n")
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TASKFLOW_LOG_LEVEL", "warn")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    assert main(["config", "--config", str(path), "--port", "9100", "--no-color"]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[0]  # the keys; a note on who jobs run as follows
    rows = {line.split()[0]: line for line in table.splitlines()}
    assert set(rows) == {key.name for key in KEYS}
    assert "9100" in rows["port"] and rows["port"].rstrip().endswith("flag")
    assert rows["log_level"].rstrip().endswith("environment")
    assert rows["workers"].rstrip().endswith(f"file {path}")
    assert rows["host"].rstrip().endswith("default")
    assert "very-secret-value" not in out and "hunter2" not in out
    assert "********" in rows["jwt_secret"] and "********" in rows["smtp_password"]
    assert "\033[" not in out


def test_the_cli_exits_2_on_an_unknown_key_in_the_config_file(tmp_path, capsys):
    path = tmp_path / "config.yml"
    path.write_text("colour: blue\n")
    assert main(["config", "--config", str(path)]) == 2
    assert "unknown setting 'colour'" in capsys.readouterr().err


def test_children_get_flags_as_taskflow_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORT", "9000")
    args = parse(["run", "--port", "9200", "--debug", "--workers", "2"])
    env = child_environ(args, config_from(args))
    assert env["TASKFLOW_PORT"] == "9200"  # beats the plain PORT in the child too
    assert env["TASKFLOW_DEBUG"] == "true"
    assert env["TASKFLOW_WORKERS"] == "2"
    assert env["DJANGO_SETTINGS_MODULE"] == "taskflow_site.settings"
