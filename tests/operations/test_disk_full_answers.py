"""A full disk is named: recognised in each form it takes, answered 507 with the error body
under /api/, reported by /health, and logged once per interval (the end-to-end version on a
real full file system is test_disk_full.py)."""

from __future__ import annotations

import errno
import logging
import sqlite3

import pytest
from django.db import OperationalError
from rest_framework.test import APIRequestFactory

from taskflow_site import views
from taskflow_site.lib import diskfull
from taskflow_site.lib.api import DiskFullMiddleware, exception_handler
from taskflow_site.lib.logs import OncePerInterval


def full_sqlite_error() -> OperationalError:
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as exc:
            raise OperationalError(*exc.args) from exc
    except OperationalError as wrapped:
        return wrapped


class DiskFull(Exception):
    sqlstate = "53100"


def test_every_form_of_a_full_disk_is_recognised():
    assert diskfull.is_disk_full(full_sqlite_error())
    assert diskfull.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert diskfull.is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert diskfull.is_disk_full(DiskFull("could not extend file"))  # PostgreSQL's SQLSTATE
    assert not diskfull.is_disk_full(OperationalError("database is locked"))
    assert not diskfull.is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_the_api_answers_507_with_the_error_body():
    request = APIRequestFactory().post("/api/jobs")
    response = exception_handler(full_sqlite_error(), {"request": request})
    assert response.status_code == 507
    assert response["Content-Type"] == "application/json"
    assert response.content == (
        b'{"error": "the data directory\'s disk is full", "code": "DISK_FULL", "details": null}'
    )
    assert response._has_been_logged  # reported once per interval instead


def test_pages_outside_the_api_answer_507_in_plain_text():
    request = APIRequestFactory().post("/admin/jobs/job/add/")
    middleware = DiskFullMiddleware(lambda request: None)
    response = middleware.process_exception(request, full_sqlite_error())
    assert response.status_code == 507
    assert b"the data directory's disk is full" in response.content
    assert middleware.process_exception(request, ValueError("a bug")) is None


@pytest.mark.django_db
def test_health_names_a_full_disk(client, monkeypatch):
    monkeypatch.setattr(views, "free_bytes", lambda path: 4096)
    body = client.get("/health").json()
    assert "the data directory's disk is full" in body["problems"]
    assert body["checks"]["disk"].startswith("full (4096 bytes free in ")
    monkeypatch.setattr(views, "free_bytes", lambda path: 10 * 1024 * 1024)
    assert "disk" not in client.get("/health").json()["checks"]


def test_a_repeated_condition_is_logged_once_per_interval(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("taskflow_site.lib.logs.time.monotonic", lambda: clock[0])
    reports = OncePerInterval(logging.getLogger("taskflow.test"), interval=60)
    with caplog.at_level(logging.ERROR, logger="taskflow.test"):
        results = [reports.log("full", "disk full") for _ in range(500)]
        clock[0] += 61
        reports.log("full", "disk full")
    assert results.count(True) == 1
    assert [record.getMessage() for record in caplog.records] == [
        "disk full",
        "disk full (499 more since the last report)",
    ]
