"""Django settings, all driven by taskflow_site.config (flags > env > file > defaults)."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

from taskflow_site import VERSION as RELEASE
from taskflow_site.config import ConfigError, ensure_secret, load_config
from taskflow_site.lib.jobuser import job_user_error
from taskflow_site.lib.private import private_dir

BASE_DIR = Path(__file__).resolve().parent.parent
TESTING = "pytest" in sys.modules or os.environ.get("TASKFLOW_TESTING") == "1"
if TESTING:
    # tests never read the developer's ~/.taskflow; child processes inherit the temp data dir
    os.environ.setdefault("TASKFLOW_CONFIG", os.devnull)
    os.environ.setdefault("TASKFLOW_DATA_DIR", tempfile.mkdtemp(prefix="taskflow-test-"))
    os.environ["TASKFLOW_TESTING"] = "1"
    if not os.environ.get("DATABASE_URL") and not os.environ.get("TASKFLOW_DATABASE_URL"):
        # a file, not :memory:, so real daphne/qcluster processes started by tests share it
        os.environ.setdefault(
            "TASKFLOW_TEST_DB_NAME",
            str(Path(os.environ["TASKFLOW_DATA_DIR"]) / "test.sqlite3"),
        )

try:
    CONFIG = load_config()
except ConfigError as exc:  # a readable message instead of a traceback
    sys.exit(f"taskflow: configuration error: {exc}")
if job_user_error(CONFIG.job_user):  # never run jobs as the server instead of a missing user
    sys.exit(f"taskflow: configuration error: job_user: {job_user_error(CONFIG.job_user)}")

DATA_DIR = Path(CONFIG.data_dir)
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
private_dir(DATA_DIR)  # an older, wider directory too: jobs may run as another user

SECRET_KEY = CONFIG.secret_key or ensure_secret(CONFIG.data_dir, "secret_key", warn=not TESTING)
JWT_SECRET = CONFIG.jwt_secret or ensure_secret(CONFIG.data_dir, "jwt_secret", warn=not TESTING)
DEBUG = CONFIG.debug
if DEBUG:  # `kill -USR1 <pid>` dumps every thread's stack to the log (taskflow_site.debugtools)
    from taskflow_site.debugtools import install_stack_dump_signal

    install_stack_dump_signal()
ALLOWED_HOSTS = CONFIG.allowed_hosts
CSRF_TRUSTED_ORIGINS = CONFIG.csrf_trusted_origins
VERSION = RELEASE

INSTALLED_APPS = [
    # runserver's ASGI server; it imports Twisted, autobahn and pyOpenSSL (~14 MB a process),
    # which the cluster never uses (docs/architecture.md, "Read paths and idle")
    *([] if sys.argv[1:2] == ["qcluster"] else ["daphne"]),
    # our apps come before django_q so `manage.py qcluster` is ours (cluster + minute tick)
    "accounts",
    "jobs",
    "runs",
    "metrics",
    "notifications",
    "taskflow_site.apps.TaskFlowAdminConfig",  # admin.site = TaskFlowAdminSite (RBAC)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "channels",
    "django_q",
]

MIDDLEWARE = [
    # X-Forwarded-Proto only from a trusted proxy address (before anything asks is_secure)
    "taskflow_site.security.proxy_headers",
    "django.middleware.security.SecurityMiddleware",
    # the Content-Security-Policy on every page; Secure cookies over HTTPS
    "taskflow_site.security.browser_hardening",
    # /health from loopback answers any Host: the CLI's and supervisor's own probes
    "taskflow_site.views.loopback_health",
    # a write that failed for want of disk space: 507 naming it, logged once per interval
    "taskflow_site.lib.api.DiskFullMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # who acts, from which address and surface, for the audit trail (accounts.audit)
    "accounts.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # admin-only ?profile=1 in debug mode; a no-op (one attribute check) otherwise
    "taskflow_site.debugtools.ProfileMiddleware",
]

ROOT_URLCONF = "taskflow_site.urls"
ASGI_APPLICATION = "taskflow_site.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.oidc.sso_context",  # the login page's single sign-on button
            ],
        },
    },
]


def _database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "pgsql"}:
        sys.exit(
            f"taskflow: configuration error: DATABASE_URL scheme {parsed.scheme!r} unsupported"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "taskflow",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": os.environ.get("TASKFLOW_TEST_DB_NAME") or None},
    }


# SQLite: WAL so readers never wait for the writer, IMMEDIATE so a write transaction takes the
# lock at BEGIN (no "database is locked" on lock upgrade), busy timeout so writers queue.
SQLITE_BUSY_TIMEOUT_MS = 10_000
if CONFIG.database_url:
    DATABASES = {"default": _database_from_url(CONFIG.database_url)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": CONFIG.db_path,
            # kept open: the cluster's steps and django-q2's pusher closed and reopened the file
            # (init_command and all) on every turn, the most of their idle CPU (issue 14)
            "CONN_MAX_AGE": 60,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS};"
                ),
            },
            "TEST": {"NAME": os.environ.get("TASKFLOW_TEST_DB_NAME") or None},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:  # hashing cost is not what tests measure
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/admin/login/"
LOGIN_REDIRECT_URL = "/admin/"
AUTHENTICATION_BACKENDS = [
    "accounts.oidc.PasswordGate",  # refuses passwords in SSO-only mode
    "django.contrib.auth.backends.ModelBackend",
]

# Single sign-on with OpenID Connect (accounts.oidc, on mozilla-django-oidc): off unless an
# issuer and client id are configured; endpoints come from the issuer's discovery document.
OIDC_ISSUER = CONFIG.oidc_issuer or ""
OIDC_RP_CLIENT_ID = CONFIG.oidc_client_id or ""
OIDC_RP_CLIENT_SECRET = CONFIG.oidc_client_secret or ""
OIDC_RP_SCOPES = CONFIG.oidc_scopes
OIDC_MATCH_CLAIM = CONFIG.oidc_match_claim
OIDC_ADMIN_CLAIM = CONFIG.oidc_admin_claim
OIDC_ADMIN_VALUES = CONFIG.oidc_admin_values
OIDC_SSO_ONLY = bool(CONFIG.oidc_sso_only and OIDC_ISSUER and OIDC_RP_CLIENT_ID)
if OIDC_ISSUER and OIDC_RP_CLIENT_ID:  # only then: Django imports each backend at every sign-in,
    # and this one loads `requests` (accounts/oidc_backend.py)
    AUTHENTICATION_BACKENDS.append("accounts.oidc_backend.OidcBackend")
OIDC_TIMEOUT = 10
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/?sso=failed"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without a collectstatic step
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# believed only from trusted proxy addresses: taskflow_site.security.proxy_headers drops it
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31_536_000  # sent by SecurityMiddleware over HTTPS only

# CORS: '*' means any origin but never with credentials (cookies); a list allows credentials.
if CONFIG.allowed_origins == ["*"]:
    CORS_ALLOW_ALL_ORIGINS = True
    CORS_ALLOW_CREDENTIALS = False
else:
    CORS_ALLOWED_ORIGINS = CONFIG.allowed_origins
    CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/(api|setup|health)(/.*)?$"
CORS_ALLOW_HEADERS = ["authorization", "content-type", "idempotency-key", "x-csrftoken"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",  # Bearer tf_... (scripts, CI)
        "accounts.authentication.JWTAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["taskflow_site.lib.jsonparser.JSONParser"],  # depth-limited
    "EXCEPTION_HANDLER": "taskflow_site.lib.api.exception_handler",
    # 2xx bodies documented inside the envelope, errors as the error body (docs/api.md)
    "DEFAULT_SCHEMA_CLASS": "taskflow_site.lib.openapi.EnvelopeAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttles.UserThrottle"],
    "NUM_PROXIES": CONFIG.trusted_proxies,
    "DEFAULT_THROTTLE_RATES": {"login": "5/min", "run": "10/min", "user": "100/min"},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TaskFlow API",
    "DESCRIPTION": "Jobs, schedules, runs, live logs and metrics.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # one name per choice set used by several serializers
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "runs.models.RunStatus",
        "TaskTypeEnum": ["shell", "http"],
        "TaskStatusEnum": "runs.serializers.TASK_STATUS_CHOICES",
    },
}
SIMPLE_JWT = {
    "SIGNING_KEY": JWT_SECRET,
    "ALGORITHM": "HS256",
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# Cache: per-process memory (throttles are per process; the login throttle lives in the web
# process, which is the only one that serves logins). Redis when configured.
if CONFIG.redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CONFIG.redis_url,
        }
    }
    # nudges only (runs.live): Redis pub/sub, one PUBLISH per group_send; a nudge nobody is
    # subscribed to is dropped (docs/architecture.md, "Log chunks and live viewers (issue 14)").
    # Pub/sub channels ignore database numbers: the prefix names ours, so installs sharing a
    # Redis on databases of their own do not hear each other's nudges.
    _REDIS_DB = urlparse(CONFIG.redis_url).path.strip("/") or "0"
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [CONFIG.redis_url], "prefix": f"taskflow-db{_REDIS_DB}"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# ---- Execution (docs/architecture.md, records 1, 5, 6) ----


def _engine_timing(name: str, default: float) -> float:
    """Engine timings; end-to-end tests shorten them with TASKFLOW_<NAME> (seconds)."""
    return float(os.environ.get(f"TASKFLOW_{name}", default))


TASKFLOW = {
    "WORKERS": CONFIG.workers,
    "KILL_GRACE_SECONDS": _engine_timing("KILL_GRACE_SECONDS", 5),
    "MAX_JOB_TIMEOUT": CONFIG.max_job_timeout,
    "LOG_MAX_BYTES": CONFIG.log_max_bytes,
    "METRICS_INTERVAL": CONFIG.metrics_interval,
    "MAX_QUEUED_PER_JOB": CONFIG.max_queued_per_job,
    "ENV_ALLOWLIST": CONFIG.env_allowlist,
    # peers whose X-Forwarded-* headers are believed (taskflow_site.lib.proxies)
    "TRUSTED_PROXY_ADDRESSES": CONFIG.trusted_proxy_addresses,
    # who jobs run as (taskflow_site.lib.jobuser; docs/architecture.md, record 12)
    "JOB_USER": CONFIG.job_user,
    "RUN_AS_USERS": CONFIG.run_as_users,
    "HTTP_ALLOWLIST": CONFIG.http_allowlist,
    "LOG_RETENTION_DAYS": CONFIG.log_retention_days,
    "METRICS_TOKEN": CONFIG.metrics_token,
    "METRICS_ALLOWLIST": CONFIG.metrics_allowlist,  # used when METRICS_TOKEN is unset
    "PUBLIC_URL": CONFIG.public_url or f"http://{CONFIG.host}:{CONFIG.port}",
    # one write per process role per beat; /health calls a role stale after STALE_AFTER (3 beats)
    "HEARTBEAT_SECONDS": _engine_timing("HEARTBEAT_SECONDS", 5),
    "STALE_AFTER_SECONDS": _engine_timing("STALE_AFTER_SECONDS", 15),
    "RECONCILE_SECONDS": _engine_timing("RECONCILE_SECONDS", 5),
    # an idle drain waits this long for wake-ups before a fresh delivery replaces it
    "DRAIN_LINGER_SECONDS": _engine_timing("DRAIN_LINGER_SECONDS", 600),
    "HTTP_ALLOWLIST_SETTING": "http_allowlist",
    "AUDIT_RETENTION_DAYS": CONFIG.audit_retention_days,
    # follow-ups queued one after another from one run before a chain stops (runs.chains)
    "CHAIN_MAX_DEPTH": 10,
}

# django-q2 only delivers "drain" tasks; our Run table is the queue of record. The timings keep
# a delivery alive longer than the longest job (plus SIGTERM grace and the idle linger), and
# `retry` above `timeout`, so django-q2 never redelivers a task that is still running.
_Q_TIMEOUT = int(  # whole seconds: django-q2 arms signal.alarm() with it
    CONFIG.max_job_timeout + TASKFLOW["KILL_GRACE_SECONDS"] + TASKFLOW["DRAIN_LINGER_SECONDS"] + 60
)
Q_CLUSTER = {
    # one delivery queue per host: a drain queued by this host's dispatcher is taken by this
    # host's workers, never hoarded by another host's (docs/scale-out.md)
    "name": f"taskflow-{socket.gethostname()}",
    "workers": CONFIG.workers,
    "timeout": _Q_TIMEOUT,
    "retry": _Q_TIMEOUT + 120,
    "max_attempts": 1,
    "ack_failures": True,
    "save_limit": 200,
    "catch_up": False,
    # idle costs (docs/architecture.md, "Read paths and idle"): the ORM broker's pusher waits
    # for a wake-up sent with each delivery, not django-q2's poll (0: the library's dequeue
    # returns at once, runs/engine/sentinel.py waits), the Sentinel checks its processes every
    # 2 s, and runs no django-q2 schedules (the minute tick is TaskFlow's own)
    "poll": 0,
    "guard_cycle": 2.0,
    "scheduler": False,
    "recycle": 1000,
    "label": "Task queue",
    "log_level": CONFIG.log_level.upper().replace("WARN", "WARNING"),
}
if CONFIG.redis_url:
    Q_CLUSTER["redis"] = CONFIG.redis_url
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["broker_class"] = "runs.engine.sentinel.OrmBroker"

SMTP_DEFAULTS = {
    "server": CONFIG.smtp_server or "",
    "port": CONFIG.smtp_port,
    "username": CONFIG.smtp_username or "",
    "password": CONFIG.smtp_password or "",
    "use_tls": CONFIG.smtp_use_tls,
    "from_email": CONFIG.smtp_from_email or "",
    "timeout": CONFIG.smtp_timeout,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {"no_traceback": {"()": "taskflow_site.lib.logs.NoTraceback"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "console_one_line": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["no_traceback"],
        },
    },
    "root": {
        "handlers": ["console"],
        "level": CONFIG.log_level.upper().replace("WARN", "WARNING"),
    },
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # a request with a Host TASKFLOW_ALLOWED_HOSTS does not list: one line, no traceback
        "django.security.DisallowedHost": {"handlers": ["console_one_line"], "propagate": False},
    },
}

# /health requires a fresh heartbeat from each of these process roles (runs.WorkerHeartbeat).
# "worker": the cluster keeps TASKFLOW workers' drain loops alive even when idle (they linger
# and beat), so a stale worker beat means runs are not being executed.
TASKFLOW_HEALTH_ROLES = ["cluster", "tick", "worker"]
