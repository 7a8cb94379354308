"""SMTP: the stored settings (environment defaults overlaid by what an admin saved, the
password Fernet-encrypted at rest and never shown), their validation, sending one message with
bounded timeouts, and the test mail."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_changes, audit_record
from accounts.models import AuditAction, Setting
from notifications.mail import HeaderInjection, header_check
from taskflow_site.lib import netguard
from taskflow_site.lib.formatting import iso
from taskflow_site.lib.secretbox import secret_decrypt, secret_encrypt

logger = logging.getLogger(__name__)

SMTP_SETTING_KEY = "smtp"
SMTP_PASSWORD_PURPOSE = "smtp-password"


class SmtpError(RuntimeError):
    """The SMTP conversation failed; the message is safe to show (password scrubbed)."""


class SmtpSettingsError(ValueError):
    """Field-level validation errors for smtp_settings_update (`errors`: field -> messages)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in errors.items()))
        self.errors = errors


def smtp_config() -> dict:
    """Effective SMTP settings, password included (internal use only, never returned)."""
    config = {
        "server": "",
        "port": 587,
        "username": "",
        "password": "",
        "use_tls": True,
        "use_ssl": False,
        "from_email": "",
        "timeout": 10.0,
    }
    config.update({k: v for k, v in settings.SMTP_DEFAULTS.items() if k in config})
    row = Setting.objects.filter(key=SMTP_SETTING_KEY).first()
    if row and isinstance(row.value, dict):
        config.update({k: v for k, v in row.value.items() if k in config})
        if "password_encrypted" in row.value:
            config["password"] = secret_decrypt(
                row.value["password_encrypted"], purpose=SMTP_PASSWORD_PURPOSE
            )
    return config


def smtp_from_address(config: dict) -> str:
    if config.get("from_email"):
        return config["from_email"]
    if "@" in (config.get("username") or ""):
        return config["username"]
    return f"taskflow@{socket.getfqdn() or 'localhost'}"


def smtp_settings_get() -> dict:
    """Effective SMTP settings for display: the password is never returned, only whether one
    is set. `source` says whether an admin saved settings or env defaults apply."""
    config = smtp_config()
    stored = Setting.objects.filter(key=SMTP_SETTING_KEY).exists()
    return {
        "server": config["server"],
        "port": int(config["port"]),
        "username": config["username"],
        "use_tls": bool(config["use_tls"]),
        "use_ssl": bool(config["use_ssl"]),
        "from_email": config["from_email"],
        "timeout": float(config["timeout"]),
        "has_password": bool(config["password"]),
        "configured": bool(config["server"]),
        "source": "database" if stored else "environment",
    }


_ALIASES = {"fromEmail": "from_email", "useTls": "use_tls", "useSsl": "use_ssl"}
_SMTP_FIELDS = {
    "server",
    "port",
    "username",
    "password",
    "use_tls",
    "use_ssl",
    "from_email",
    "timeout",
    "clear_password",
}


def _valid_host(value: str) -> bool:
    try:
        netguard.allowlist_entry_validate(value)
    except ValueError:
        return False
    return "/" not in value and not value.startswith("*.")


def smtp_settings_update(*, data: dict) -> dict:
    """Validate and store SMTP settings; returns smtp_settings_get().

    Password is write-only: absent, null or "" keeps the stored one; `clear_password: true`
    removes it. Raises SmtpSettingsError with field-level messages.
    """
    data = {_ALIASES.get(key, key): value for key, value in (data or {}).items()}
    errors: dict[str, list[str]] = {}
    for key in data:
        if key not in _SMTP_FIELDS:
            errors.setdefault(key, []).append("Unknown field.")
    current = smtp_config()
    new = dict(current)

    def text(key: str, max_length: int) -> str | None:
        if key not in data or data[key] is None:
            return None
        value = data[key]
        if not isinstance(value, str):
            errors.setdefault(key, []).append("Must be a string.")
            return None
        if "\r" in value or "\n" in value:
            errors.setdefault(key, []).append("Line breaks are not allowed.")
            return None
        if len(value) > max_length:
            errors.setdefault(key, []).append(f"At most {max_length} characters.")
            return None
        return value.strip() if key != "password" else value

    server = text("server", 253)
    if server is not None:
        if server and not _valid_host(server):
            errors.setdefault("server", []).append("Enter a host name or IP address.")
        new["server"] = server
    if "port" in data:
        port = data["port"]
        if isinstance(port, str) and port.strip().isdigit():
            port = int(port)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            errors.setdefault("port", []).append("Enter a port between 1 and 65535.")
        else:
            new["port"] = port
    username = text("username", 254)
    if username is not None:
        new["username"] = username
    from_email = text("from_email", 254)
    if from_email is not None:
        if from_email:
            try:
                validate_email(from_email)
            except ValidationError:
                errors.setdefault("from_email", []).append("Enter a valid e-mail address.")
        new["from_email"] = from_email
    password = text("password", 1000)
    if password:
        new["password"] = password
    if data.get("clear_password") is True:
        new["password"] = ""
    for key in ("use_tls", "use_ssl"):
        if key in data:
            if not isinstance(data[key], bool):
                errors.setdefault(key, []).append("Must be true or false.")
            else:
                new[key] = data[key]
    if new["use_tls"] and new["use_ssl"]:
        errors.setdefault("use_ssl", []).append(
            "Choose STARTTLS (use_tls) or implicit TLS (use_ssl), not both."
        )
    if "timeout" in data:
        timeout = data["timeout"]
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not (1 <= timeout <= 120)
        ):
            errors.setdefault("timeout", []).append("Enter a number of seconds from 1 to 120.")
        else:
            new["timeout"] = float(timeout)
    if errors:
        raise SmtpSettingsError(errors)
    # Encrypted at rest: the row is visible in the generic settings admin, dumps and backups.
    stored = {k: v for k, v in new.items() if k != "password"}
    stored["password_encrypted"] = secret_encrypt(new["password"], purpose=SMTP_PASSWORD_PURPOSE)
    with transaction.atomic():
        Setting.objects.update_or_create(key=SMTP_SETTING_KEY, defaults={"value": stored})
        changes = audit_changes(current, new, secret={"password"})
        if changes:
            audit_record(
                action=AuditAction.SMTP_CHANGE,
                obj_type="setting",
                obj_id=SMTP_SETTING_KEY,
                obj_repr="SMTP settings",
                changes=changes,
            )
    return smtp_settings_get()


def smtp_password_scrub(text: str, config: dict | None = None) -> str:
    """Remove the SMTP password from any text bound for logs, rows or API output."""
    try:
        password = (config or smtp_config()).get("password") or ""
    except Exception:
        password = ""
    return text.replace(password, "***") if password else text


def smtp_deliver(*, config: dict, message: EmailMessage) -> str:
    """Send one message; returns the server's reply to DATA (e.g. "250 2.0.0 Ok: queued").

    Every socket operation is bounded by config["timeout"], so a hung server fails fast.
    Raises HeaderInjection, smtplib/OS errors (messages scrubbed of the password).
    """
    try:
        mime = message.message()
    except BadHeaderError as exc:
        raise HeaderInjection(f"refused: {exc}") from exc
    recipients = message.recipients()
    for address in [message.from_email, *recipients]:
        header_check("address", address)
    timeout = float(config.get("timeout") or 10)
    smtp_class = smtplib.SMTP_SSL if config.get("use_ssl") else smtplib.SMTP
    kwargs = {"context": ssl.create_default_context()} if config.get("use_ssl") else {}
    try:
        with smtp_class(config["server"], int(config["port"]), timeout=timeout, **kwargs) as smtp:
            smtp.ehlo()
            if config.get("use_tls") and not config.get("use_ssl"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if config.get("username") and config.get("password"):
                smtp.login(config["username"], config["password"])
            code, reply = smtp.mail(message.from_email)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, message.from_email)
            for address in recipients:
                code, reply = smtp.rcpt(address)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({address: (code, reply)})
            code, reply = smtp.data(mime.as_bytes(linesep="\r\n"))
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
    except TimeoutError as exc:
        raise SmtpError(
            f"timeout: SMTP server {config['server']}:{config['port']} did not answer within "
            f"{timeout:g} s"
        ) from exc
    except smtplib.SMTPServerDisconnected as exc:
        if "timed out" not in str(exc):  # smtplib reports a read timeout as a disconnect
            raise SmtpError(smtp_password_scrub(_smtp_error_text(exc), config)) from None
        raise SmtpError(
            f"timeout: SMTP server {config['server']}:{config['port']} did not answer within "
            f"{timeout:g} s"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpError(smtp_password_scrub(_smtp_error_text(exc), config)) from None
    return f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"


def _smtp_error_text(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return f"SMTP {exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{address} refused: {code} {reply.decode(errors='replace')}"
            for address, (code, reply) in exc.recipients.items()
        )
    return f"{type(exc).__name__}: {exc}"


def smtp_send_test(*, to: str) -> dict:
    """Send a real test mail with the effective settings. Returns {"ok": bool, "message": the
    SMTP server's answer or the error}; never raises, never includes the password."""
    config = smtp_config()
    to = (to or "").strip()
    try:
        header_check("To", to)
        validate_email(to)
    except (HeaderInjection, ValidationError):
        return {"ok": False, "message": f"invalid recipient address {to!r}"}
    if not config["server"]:
        return {"ok": False, "message": "SMTP is not configured (no server)"}
    message = EmailMessage(
        subject="[TaskFlow] Test e-mail",
        body=(
            "This is a test e-mail from TaskFlow.\n\n"
            f"Server: {config['server']}:{config['port']}\n"
            f"Sent at: {iso(timezone.now())}\n"
        ),
        from_email=smtp_from_address(config),
        to=[to],
    )
    try:
        answer = smtp_deliver(config=config, message=message)
    except Exception as exc:
        text = smtp_password_scrub(str(exc) or type(exc).__name__, config)
        logger.warning("SMTP test mail to %s failed: %s", to, text)
        return {"ok": False, "message": text}
    return {"ok": True, "message": answer}
