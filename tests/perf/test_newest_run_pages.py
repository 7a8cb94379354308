"""Newest-first run pages (API list, admin changelist, admin dashboard) read a bounded window
first and give exactly the rows the plain sorted slice gives, in a constant number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from runs import recent
from runs.models import Run, RunStatus
from runs.recent import newest_page
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db


def make_runs(*, owner, other, count):
    """Runs alternating between owner's and another user's jobs, one minute apart."""
    mine, theirs = JobFactory(created_by=owner), JobFactory(created_by=other)
    now = timezone.now()
    for index in range(count):
        job = mine if index % 3 == 0 else theirs
        RunFactory(job=job, status=RunStatus.SUCCESS)
    # created_at is auto_now_add: spread the rows out afterwards
    for index, run in enumerate(Run.objects.order_by("created_at", "id")):
        Run.objects.filter(pk=run.pk).update(created_at=now - timedelta(minutes=count - index))
    return mine


@pytest.mark.parametrize(("offset", "limit"), [(0, 3), (2, 3), (0, 10), (5, 10), (30, 5)])
def test_it_gives_the_same_rows_as_the_plain_slice(owner, outsider, monkeypatch, offset, limit):
    make_runs(owner=owner, other=outsider, count=30)
    monkeypatch.setattr(recent, "RECENT_WINDOW", 9)  # owner has 3 runs in the window
    runs = Run.objects.visible_to(owner).order_by("-created_at")

    page = newest_page(runs, offset=offset, limit=limit)

    assert [run.pk for run in page] == [run.pk for run in runs[offset : offset + limit]]


def test_it_lists_a_users_runs_in_constant_queries(
    owner, outsider, owner_api, django_assert_max_num_queries
):
    make_runs(owner=owner, other=outsider, count=60)
    expected = [str(pk) for pk in Run.objects.visible_to(owner).values_list("pk", flat=True)[:5]]

    with django_assert_max_num_queries(8):  # auth + cutoff + page + capped count
        response = owner_api.get("/api/runs?limit=5")

    assert [run["id"] for run in response.json()["data"]["runs"]] == expected


def test_the_admin_changelist_pages_a_users_runs_newest_first(
    owner, outsider, monkeypatch, django_assert_max_num_queries
):
    make_runs(owner=owner, other=outsider, count=30)
    monkeypatch.setattr(recent, "RECENT_WINDOW", 9)
    expected = [str(pk)[:8] for pk in Run.objects.visible_to(owner).values_list("pk", flat=True)]
    client = Client()
    client.force_login(owner)

    with django_assert_max_num_queries(15):
        first = client.get("/admin/runs/run/")
    assert first.status_code == 200
    shown = [run.pk for run in first.context["cl"].result_list]
    assert [str(pk)[:8] for pk in shown] == expected
    assert first.context["cl"].result_count == len(expected)


def test_the_window_bound_lets_sqlite_read_a_users_runs_by_job_and_time(owner, outsider):
    make_runs(owner=owner, other=outsider, count=10)
    cutoff = timezone.now() - timedelta(days=1)
    query = Run.objects.visible_to(owner).filter(created_at__gte=cutoff).order_by("-created_at")
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL plans the owner join itself")
    plan = query[:20].explain()
    # the created_at bound is an index range per job, not a read of every run of the job
    assert "run_job_time_idx" in plan and "created_at>?" in plan, plan


def test_a_users_status_filter_reads_only_the_recent_window(owner, outsider):
    make_runs(owner=owner, other=outsider, count=10)
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL plans the owner filter itself")
    from jobs.models import Job

    mine = Run.objects.filter(job__in=Job.objects.visible_to(owner).values("id"))
    cutoff = timezone.now() - timedelta(days=1)
    query = mine.filter(status__in=[RunStatus.FAILURE], created_at__gte=cutoff)
    plan = query.order_by("-created_at")[:20].explain()
    # an index range bounded by the window (by status or by job and status), not a read of
    # every failed run in the table
    assert "status=? AND created_at>?" in plan, plan


def test_a_users_filtered_list_matches_the_visible_runs(owner, outsider, owner_api):
    make_runs(owner=owner, other=outsider, count=12)
    Run.objects.filter(job__created_by=owner).update(status=RunStatus.FAILURE)
    expected = [
        str(pk)
        for pk in Run.objects.visible_to(owner)
        .filter(status=RunStatus.FAILURE)
        .values_list("pk", flat=True)
    ]

    data = owner_api.get("/api/runs?status=failure").json()["data"]

    assert [run["id"] for run in data["runs"]] == expected
    assert data["total"] == len(expected) == 4


def test_the_admins_status_filter_reads_that_status_newest_first(owner, outsider):
    make_runs(owner=owner, other=outsider, count=10)
    if connection.vendor != "sqlite":
        pytest.skip("SQLite plan text")
    plan = Run.objects.filter(status__in=[RunStatus.FAILURE]).order_by("-created_at")[:50].explain()
    # in index order with no sort: not every failed run read and sorted
    assert "run_status_time_idx" in plan and "TEMP B-TREE" not in plan, plan
