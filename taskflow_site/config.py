"""TaskFlow configuration: flags > environment > config file > defaults.

Pure Python (no Django) so the CLI, settings.py and tests share one definition. Every key has
one canonical name; the environment may use `TASKFLOW_<NAME>` or a plain name such as `PORT`
(docs/configuration.md).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskflow_site.lib.proxies import proxy_entry_validate


class ConfigError(ValueError):
    """A bad key or value; the message is meant for a human."""


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected an integer, got {raw!r}")
    return int(str(raw).strip())


def _positive_int(raw: Any) -> int:
    value = _int(raw)
    if value < 1:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _port(raw: Any) -> int:
    value = _int(raw)
    if not 1 <= value <= 65535:
        raise ValueError(f"expected a port between 1 and 65535, got {raw!r}")
    return value


def _float(raw: Any) -> float:
    value = float(str(raw).strip())
    if value <= 0:
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _list(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [str(item).strip() for item in raw if str(item).strip()]
    return [item.strip() for item in str(raw).split(",") if item.strip()]


def _proxy_list(raw: Any) -> list[str]:
    return [proxy_entry_validate(entry) for entry in _list(raw)]


def _str(raw: Any) -> str:
    return str(raw).strip()


def _path(raw: Any) -> str:
    return str(Path(str(raw).strip()).expanduser())


def _log_level(raw: Any) -> str:
    value = str(raw).strip().lower()
    if value == "warning":
        value = "warn"
    if value not in {"debug", "info", "warn", "error"}:
        raise ValueError(f"expected one of debug, info, warn, error; got {raw!r}")
    return value


@dataclass(frozen=True)
class Key:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    env: tuple[str, ...] = ()
    secret: bool = False

    @property
    def env_names(self) -> tuple[str, ...]:
        return (f"TASKFLOW_{self.name.upper()}", *self.env)


KEYS: tuple[Key, ...] = (
    Key("port", _port, 8080, "HTTP port", env=("PORT",)),
    Key("host", _str, "127.0.0.1", "Address to bind (0.0.0.0 to listen on every interface)"),
    Key("data_dir", _path, "~/.taskflow", "Directory for the SQLite file, secrets, logs, PID"),
    Key("db_path", _path, None, "SQLite file (default <data_dir>/taskflow.db)", env=("DB_PATH",)),
    Key(
        "database_url",
        _str,
        None,
        "postgres://user:pass@host:5432/db selects PostgreSQL",
        env=("DATABASE_URL",),
        secret=True,
    ),
    Key("redis_url", _str, None, "redis://host:6379/0 enables push delivery", env=("REDIS_URL",)),
    Key(
        "jwt_secret",
        _str,
        None,
        "JWT signing key (generated into the data dir when unset)",
        env=("JWT_SECRET",),
        secret=True,
    ),
    Key("secret_key", _str, None, "Django SECRET_KEY (generated when unset)", secret=True),
    Key("debug", _bool, False, "Django debug mode and profiling endpoints (never in production)"),
    Key("log_level", _log_level, "info", "debug, info, warn, error", env=("LOG_LEVEL",)),
    Key("no_color", _bool, False, "Disable coloured CLI output", env=("NO_COLOR",)),
    Key("allowed_hosts", _list, ["localhost", "127.0.0.1", "[::1]"], "Host names served"),
    Key(
        "allowed_origins",
        _list,
        ["*"],
        "CORS origins; '*' allows any origin without credentials",
        env=("ALLOWED_ORIGINS",),
    ),
    Key("csrf_trusted_origins", _list, [], "Origins trusted for CSRF (https://taskflow.example)"),
    Key("public_url", _str, None, "Base URL used in e-mail links (default http://host:port)"),
    Key("trusted_proxies", _int, 0, "Reverse proxies in front of TaskFlow (for X-Forwarded-For)"),
    Key(
        "trusted_proxy_addresses",
        _proxy_list,
        ["unix"],
        "Peers whose X-Forwarded-For/-Proto are believed: IPs/CIDRs, or unix (the socket)",
    ),
    Key("socket", _path, None, "Unix socket to serve on too (nginx in front; mode 0660)"),
    Key(
        "log_retention_days",
        _positive_int,
        30,
        "Runs, logs and samples older than this are deleted",
        env=("LOG_RETENTION_DAYS",),
    ),
    Key("workers", _positive_int, 1, "Runs executed at once (django-q2 workers)"),
    Key("log_max_bytes", _positive_int, 10 * 1024 * 1024, "Stored log cap per run (head + tail)"),
    Key("metrics_interval", _float, 2.0, "Seconds between CPU/memory samples of a run"),
    Key("max_job_timeout", _positive_int, 86400, "Largest timeout_seconds a job may have"),
    Key("max_queued_per_job", _positive_int, 10, "Pending runs one job may have queued"),
    Key(
        "env_allowlist",
        _list,
        ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR"],
        "Server environment variables a job inherits",
    ),
    Key(
        "job_user",
        _str,
        None,
        "OS user (name or uid) jobs run as, apart from the server; needs root or "
        "CAP_SETUID, CAP_SETGID and CAP_KILL",
    ),
    Key("run_as_users", _list, [], "OS users an admin may choose as a job's run-as user"),
    Key("http_allowlist", _list, [], "Private hosts/CIDRs HTTP jobs and webhooks may reach"),
    Key("metrics_token", _str, None, "Bearer token for GET /metrics", secret=True),
    Key(
        "metrics_allowlist",
        _list,
        [],
        "Client IPs/CIDRs that may GET /metrics without a token (loopback always may)",
    ),
    Key("smtp_server", _str, None, "SMTP host", env=("SMTP_SERVER",)),
    Key("smtp_port", _port, 587, "SMTP port", env=("SMTP_PORT",)),
    Key("smtp_username", _str, None, "SMTP user", env=("SMTP_USERNAME",)),
    Key("smtp_password", _str, None, "SMTP password", env=("SMTP_PASSWORD",), secret=True),
    Key("smtp_use_tls", _bool, True, "STARTTLS", env=("SMTP_USE_TLS",)),
    Key("smtp_from_email", _str, None, "From address", env=("SMTP_FROM_EMAIL",)),
    Key("smtp_timeout", _float, 10.0, "Seconds before an SMTP conversation is abandoned"),
    Key(
        "audit_retention_days",
        _positive_int,
        365,
        "Audit trail entries older than this are deleted",
    ),
    Key("oidc_issuer", _str, None, "OpenID Connect issuer URL (enables single sign-on)"),
    Key("oidc_client_id", _str, None, "OpenID Connect client id"),
    Key("oidc_client_secret", _str, None, "OpenID Connect client secret", secret=True),
    Key("oidc_scopes", _str, "openid email profile", "Scopes asked of the provider"),
    Key(
        "oidc_match_claim",
        _str,
        "email",
        "Claim that matches a user: email matches the e-mail address, any other the username",
    ),
    Key("oidc_admin_claim", _str, "groups", "Claim whose values can make a user an admin"),
    Key("oidc_admin_values", _list, [], "Values of oidc_admin_claim that mean admin (a group)"),
    Key("oidc_sso_only", _bool, False, "Refuse password logins (single sign-on and API tokens)"),
)
KEYS_BY_NAME = {key.name: key for key in KEYS}
KEYS_BY_ENV = {env: key for key in KEYS for env in key.env_names}


@dataclass
class Config:
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def describe(self) -> list[tuple[str, str, str]]:
        """(key, shown value, source) rows with secrets masked."""
        rows = []
        for key in KEYS:
            value = self.values.get(key.name)
            if key.secret and value:
                shown = "********"
            elif isinstance(value, list):
                shown = ",".join(value)
            else:
                shown = "" if value is None else str(value)
            rows.append((key.name, shown, self.sources.get(key.name, "default")))
        return rows


def default_config_files(environ: Mapping[str, str]) -> list[Path]:
    home = Path(environ.get("HOME", str(Path.home())))
    return [home / ".taskflow" / "config.yml", Path("/etc/taskflow/taskflow.env")]


def read_config_file(path: Path) -> dict[str, Any]:
    """A YAML mapping of key names, or a KEY=VALUE env file (by suffix)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    raw: dict[str, Any] = {}
    if path.suffix in {".yml", ".yaml"}:
        import yaml

        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        for name, value in loaded.items():
            key = KEYS_BY_NAME.get(str(name).lower().replace("-", "_"))
            if key is None:
                raise ConfigError(f"{path}: unknown setting {name!r}")
            raw[key.name] = value
        return raw
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        name = name.strip()
        key = KEYS_BY_ENV.get(name) or KEYS_BY_NAME.get(name.lower())
        if key is None:
            raise ConfigError(f"{path}:{number}: unknown setting {name!r}")
        raw[key.name] = value.strip().strip("'\"")
    return raw


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Config:
    """Merge the four layers; raise ConfigError naming the key and the layer on bad input."""
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = []
    path = config_file or environ.get("TASKFLOW_CONFIG")
    if path:
        layers.append((f"file {path}", read_config_file(Path(path).expanduser())))
    else:
        for candidate in default_config_files(environ):
            if candidate.is_file():
                layers.append((f"file {candidate}", read_config_file(candidate)))
                break
    env_layer = {}
    for key in KEYS:
        for env_name in key.env_names:
            if env_name in environ and environ[env_name] != "":
                env_layer[key.name] = environ[env_name]
                break
    layers.append(("environment", env_layer))
    layers.append(("flag", {k: v for k, v in (flags or {}).items() if v is not None}))

    config = Config()
    for key in KEYS:
        config.values[key.name] = key.default
        config.sources[key.name] = "default"
    for source, layer in layers:
        for name, raw in layer.items():
            key = KEYS_BY_NAME.get(name)
            if key is None:
                raise ConfigError(f"unknown setting {name!r} ({source})")
            try:
                config.values[name] = key.parse(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"bad value for {name} ({source}): {exc}") from exc
            config.sources[name] = source
    data_dir = str(config.values["data_dir"])
    if data_dir == "~" or data_dir.startswith("~/"):  # the HOME of `environ`, like the files
        data_dir = environ.get("HOME", str(Path.home())) + data_dir[1:]
    config.values["data_dir"] = _path(data_dir)
    if not config.values["db_path"]:
        config.values["db_path"] = str(Path(config.values["data_dir"]) / "taskflow.db")
    if config.values["allowed_origins"] == ["*"] or "*" in config.values["allowed_origins"]:
        config.values["allowed_origins"] = ["*"]
    return config


def ensure_secret(data_dir: str, filename: str, *, warn: bool = True) -> str:
    """Read a generated secret from the data dir, creating it (0600) once with a warning."""
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / filename
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its value
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    if warn:
        print(
            f"taskflow: generated a new {filename.replace('_', ' ')} in {path}; "
            f"set it explicitly to keep it across data directories",
            file=sys.stderr,
        )
    return value
