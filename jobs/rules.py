"""Rules about groups of a job's fields (jobs.services.job_errors calls them): the HTTP request,
the notifications and the run parameters. Each adds field -> messages to `errors`."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from jobs.models import HTTP_METHODS, Job, JobKind
from jobs.params import params_declaration_errors, params_references_errors

HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token
HEADER_VALUE_MAX = 8000
WEBHOOKS_MAX = 20
URL_MAX = 2000


def add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def http_errors(errors: dict, job: Job) -> None:
    if job.kind == JobKind.HTTP:
        if not job.http_url:
            add(errors, "http_url", "An HTTP job needs a URL.")
        elif not str(job.http_url).lower().startswith(("http://", "https://")):
            add(errors, "http_url", "Only http:// and https:// URLs.")
    if "http_method" not in errors and job.http_method not in HTTP_METHODS:
        add(errors, "http_method", f"One of {', '.join(HTTP_METHODS)}.")
    headers = job.http_headers
    if not isinstance(headers, dict) or not all(
        isinstance(key, str) and isinstance(val, str) for key, val in headers.items()
    ):
        add(errors, "http_headers", "Must be an object of header: text.")
        return
    for key, val in headers.items():
        if any(ch in key + val for ch in "\r\n\x00"):
            add(errors, "http_headers", "Header names and values must be one line of text.")
        elif not HEADER_NAME.fullmatch(key):
            add(errors, "http_headers", f"{key!r} is not a valid header name.")
        elif len(val) > HEADER_VALUE_MAX:
            add(errors, "http_headers", f"{key}: at most {HEADER_VALUE_MAX} characters.")


def notify_errors(errors: dict, job: Job) -> None:
    if isinstance(job.notify_emails, str):
        for address in job.notify_email_list:
            try:
                validate_email(address)
            except ValidationError:
                add(errors, "notify_emails", f"{address!r} is not a valid e-mail address.")
    urls = job.webhook_urls
    if not isinstance(urls, list):
        add(errors, "webhook_urls", "Must be a list of URLs.")
        return
    if len(urls) > WEBHOOKS_MAX:
        add(errors, "webhook_urls", f"At most {WEBHOOKS_MAX} URLs.")
    check_url = URLValidator(schemes=["http", "https"])
    for url in urls:
        try:
            check_url(url)
            if len(url) > URL_MAX:
                raise ValidationError("too long")
        except (ValidationError, TypeError):
            add(errors, "webhook_urls", f"{url!r} is not an http(s) URL.")


def params_errors(errors: dict, job: Job) -> None:
    """The declaration (jobs.params); an HTTP job's {{params.NAME}} must name declared ones."""
    messages = params_declaration_errors(job.params)
    if not messages and job.kind == JobKind.HTTP:
        headers = job.http_headers.values() if isinstance(job.http_headers, dict) else []
        messages = params_references_errors(job.params, [job.http_url, job.http_body, *headers])
    for message in messages:
        add(errors, "params", message)
