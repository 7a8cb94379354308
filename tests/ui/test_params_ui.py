"""Run parameters and chains in the admin: the editor's tables (saving, per-row errors from the
job rules, follow-ups only to jobs the editor can see, parameters locked like what runs), the Run
now form (typed inputs, defaults, errors beside the inputs, plain Run now unchanged), the run
page (values with secrets masked, where it came from, what it started) and the job page."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.messages import get_messages

from jobs.models import JobFollowup
from jobs.params import MASK, params_seal
from runs.models import Run, RunStatus, TriggerType
from tests.factories import JobFactory, RunFactory
from tests.jobs.test_admin_scope import job_form

pytestmark = pytest.mark.django_db

DECLARED = [
    {
        "name": "TARGET",
        "type": "choice",
        "default": "staging",
        "required": False,
        "choices": ["staging", "production"],
        "secret": False,
        "help": "Where to deploy <b>first</b>",
    },
    {
        "name": "COUNT",
        "type": "integer",
        "default": 3,
        "required": False,
        "choices": [],
        "secret": False,
        "help": "",
    },
    {
        "name": "DRY_RUN",
        "type": "boolean",
        "default": True,
        "required": False,
        "choices": [],
        "secret": False,
        "help": "",
    },
    {
        "name": "TOKEN",
        "type": "string",
        "default": None,
        "required": False,
        "choices": [],
        "secret": True,
        "help": "",
    },
]


def rows(prefix: str, *items: dict) -> dict:
    """The editor table's inputs for `items` (as the page posts them)."""
    data = {f"{prefix}-present": "1"}
    for index, item in enumerate(items):
        for key, value in item.items():
            if value is True:
                data[f"{prefix}-{index}-{key}"] = "on"
            elif value not in (False, None):
                data[f"{prefix}-{index}-{key}"] = value
    return data


def save(client, job, **extra):
    return client.post(f"/admin/jobs/job/{job.pk}/change/", job_form(job, **extra))


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def row_errors(response) -> list[str]:
    html = response.content.decode()
    found = re.findall(r'<tr class="tf-row-errors">.*?<li>(.*?)</li>', html, re.S)
    return [unescape(text) for text in found]


# ---- the editor ----


def test_the_editor_saves_parameters_typed_from_the_table(admin_client, admin_user):
    job = JobFactory(created_by=admin_user)
    params = rows(
        "params_table",
        {
            "name": "target",
            "type": "choice",
            "choices": "staging, production",
            "default": "staging",
        },
        {"name": "COUNT", "type": "integer", "default": "3", "required": True, "help": "How many"},
        {"name": "DRY_RUN", "type": "boolean", "default": "yes"},
        {"name": "TOKEN", "type": "string", "secret": True},
    )
    response = save(admin_client, job, **params)
    assert response.status_code == 302, row_errors(response)
    job.refresh_from_db()
    assert [p["name"] for p in job.params] == ["TARGET", "COUNT", "DRY_RUN", "TOKEN"]
    assert job.params[0]["choices"] == ["staging", "production"]
    assert job.params[1] == {
        "name": "COUNT",
        "type": "integer",
        "default": 3,
        "required": True,
        "choices": [],
        "secret": False,
        "help": "How many",
    }
    assert job.params[2]["default"] is True and job.params[3]["secret"] is True

    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert 'name="params_table-1-default" value="3"' in page  # shown again as typed
    assert 'name="params_table-2-default" value="yes"' in page
    assert 'value="staging, production"' in page


def test_a_removed_row_and_a_blank_row_are_dropped(admin_client, admin_user):
    job = JobFactory(created_by=admin_user, params=DECLARED[:2])
    params = rows(
        "params_table",
        {"name": "TARGET", "type": "choice", "choices": "staging, production", "remove": True},
        {"name": "COUNT", "type": "integer", "default": "3"},
        {"name": "", "type": "string"},
    )
    assert save(admin_client, job, **params).status_code == 302
    job.refresh_from_db()
    assert [p["name"] for p in job.params] == ["COUNT"]


def test_a_post_without_the_table_leaves_the_parameters_alone(admin_client, admin_user):
    job = JobFactory(created_by=admin_user, params=DECLARED)
    assert save(admin_client, job).status_code == 302
    job.refresh_from_db()
    assert job.params == DECLARED


def test_the_rules_messages_land_on_their_rows(admin_client, admin_user):
    job = JobFactory(created_by=admin_user)
    params = rows(
        "params_table",
        {"name": "OK", "type": "string"},
        {"name": "COUNT", "type": "integer", "default": "many"},
        {"name": "1BAD", "type": "string"},
        {"name": "PICK", "type": "choice"},
    )
    response = save(admin_client, job, **params)
    assert response.status_code == 200
    errors = row_errors(response)
    assert "COUNT: the default must be a whole number." in errors
    assert any("upper-case identifier" in e for e in errors)
    assert any("needs a non-empty list of choices" in e for e in errors)
    html = response.content.decode()
    assert "Please correct the rows marked below." in html
    assert html.count("tf-row-invalid") == 3  # OK's row is fine
    assert 'name="params_table-1-default" value="many"' in html  # kept as typed
    job.refresh_from_db()
    assert job.params == []


def test_the_editor_saves_follow_ups_to_jobs_the_user_can_see(owner_client, owner, jobs_apart):
    job = JobFactory(created_by=owner, name="build")
    deploy = JobFactory(created_by=owner, name="deploy", params=DECLARED[:1])
    page = owner_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert f'<option value="{deploy.pk}">deploy</option>' in page
    links = rows(
        "followups", {"on": "success", "job": str(deploy.pk), "params": "TARGET=production"}
    )
    response = save(owner_client, job, **links)
    assert response.status_code == 302, row_errors(response)
    link = JobFollowup.objects.get(job=job)
    assert (link.target, link.on, link.params) == (deploy, "success", {"TARGET": "production"})
    page = owner_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert f'<option value="{deploy.pk}" selected>deploy</option>' in page
    assert "TARGET=production</textarea>" in page


def test_a_user_cannot_pick_a_job_they_cannot_see(owner_client, owner, outsider):
    job = JobFactory(created_by=owner)
    theirs = JobFactory(created_by=outsider, name="outsiders-job")
    page = owner_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "outsiders-job" not in page and str(theirs.pk) not in page
    response = save(owner_client, job, **rows("followups", {"on": "always", "job": str(theirs.pk)}))
    assert response.status_code == 200
    assert any("chain only to jobs you can see" in e for e in row_errors(response))
    assert "outsiders-job" not in response.content.decode()
    assert not JobFollowup.objects.exists()


def test_the_service_refusal_of_an_admins_link_lands_on_its_row(admin_client, owner, admin_user):
    """An admin sees every job, but a user's job may only start jobs its owner can run."""
    job = JobFactory(created_by=owner)
    admins = JobFactory(created_by=admin_user, name="admins-job")
    response = save(
        admin_client, job, **rows("followups", {"on": "success", "job": str(admins.pk)})
    )
    assert response.status_code == 200
    assert any("this job's owner may run" in e for e in row_errors(response))
    assert not JobFollowup.objects.exists()


def test_a_loop_is_refused_with_the_chain_named(admin_client, admin_user):
    first = JobFactory(created_by=admin_user, name="first")
    second = JobFactory(created_by=admin_user, name="second")
    JobFollowup.objects.create(job=second, target=first, on="success")
    response = save(
        admin_client, first, **rows("followups", {"on": "success", "job": str(second.pk)})
    )
    assert response.status_code == 200
    assert "A chain would loop: first -&gt; second -&gt; first." in response.content.decode()
    assert not JobFollowup.objects.filter(job=first).exists()


def test_a_fixed_value_that_does_not_fit_the_target_is_shown_on_its_row(admin_client, admin_user):
    job = JobFactory(created_by=admin_user)
    deploy = JobFactory(created_by=admin_user, name="deploy", params=DECLARED[:2])
    links = rows(
        "followups",
        {"on": "failure", "job": str(deploy.pk), "params": "TARGET=moon\nCOUNT=2"},
        {"on": "always", "job": str(deploy.pk), "params": "no equals sign"},
    )
    response = save(admin_client, job, **links)
    errors = row_errors(response)
    assert any("write NAME=value" in e for e in errors)
    assert not JobFollowup.objects.exists()
    links = rows("followups", {"on": "failure", "job": str(deploy.pk), "params": "TARGET=moon"})
    errors = row_errors(save(admin_client, job, **links))
    assert any("TARGET: The value must be one of staging, production" in e for e in errors)


def test_parameters_are_locked_like_what_runs_while_jobs_run_as_the_server(owner_client, owner):
    job = JobFactory(created_by=owner, params=DECLARED[:1])
    page = owner_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert 'name="params_table-present"' not in page
    assert "data-tf-params-list" in page  # shown read-only
    assert 'name="followups-present"' in page  # follow-ups stay the owner's to set
    response = save(owner_client, job, **rows("params_table", {"name": "LOOSE", "type": "string"}))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.params == DECLARED[:1]


def test_the_api_holds_the_same_rule(owner_api, owner):
    job = JobFactory(created_by=owner, params=DECLARED[:1])
    loose = [{**DECLARED[0], "type": "string", "choices": [], "default": None}]
    response = owner_api.patch(f"/api/jobs/{job.pk}", {"params": loose}, format="json")
    assert response.status_code == 403
    assert "params" in response.json()["details"]
    job.refresh_from_db()
    assert job.params == DECLARED[:1]


def test_a_user_edits_parameters_when_jobs_run_apart(owner_client, owner, jobs_apart):
    job = JobFactory(created_by=owner)
    response = save(owner_client, job, **rows("params_table", {"name": "WHO", "type": "string"}))
    assert response.status_code == 302
    job.refresh_from_db()
    assert [p["name"] for p in job.params] == ["WHO"]


# ---- Run now ----


def test_the_run_form_has_typed_inputs_with_the_defaults(owner_client, owner):
    job = JobFactory(created_by=owner, params=DECLARED)
    page = owner_client.get(f"/admin/jobs/job/{job.pk}/run/").content.decode()
    assert re.search(r'<select name="TARGET"[^>]*data-tf-type="choice"', page)
    assert '<option value="staging" selected>staging</option>' in page
    assert re.search(
        r'<input type="number" name="COUNT" value="3"[^>]*data-tf-type="integer"', page
    )
    assert re.search(r'<input type="checkbox" name="DRY_RUN"[^>]*checked', page)
    assert re.search(r'<input type="password" name="TOKEN"', page)
    assert "Where to deploy &lt;b&gt;first&lt;/b&gt;" in page  # help text escaped
    assert f'data-api-url="/api/jobs/{job.pk}/run"' in page


def test_the_run_form_queues_a_run_with_the_values(owner_client, owner):
    job = JobFactory(created_by=owner, params=DECLARED)
    form = {"_params": "1", "TARGET": "production", "COUNT": "7", "TOKEN": "s3cret"}
    response = owner_client.post(f"/admin/jobs/job/{job.pk}/run/", form)
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/runs/run/{run.pk}/change/"
    page = owner_client.get(response["Location"]).content.decode()
    cells = r'<tr data-param="(\w+)"><th scope="row"><code>\w+</code></th><td><code>(.*?)</code>'
    shown = dict(re.findall(cells, page))
    assert shown == {"TARGET": "production", "COUNT": "7", "DRY_RUN": "false", "TOKEN": MASK}
    assert "s3cret" not in page


def test_a_bad_value_is_shown_beside_its_input(owner_client, owner):
    job = JobFactory(created_by=owner, params=DECLARED)
    form = {"_params": "1", "TARGET": "moon", "COUNT": "lots"}
    response = owner_client.post(f"/admin/jobs/job/{job.pk}/run/", form)
    assert response.status_code == 400
    assert not Run.objects.exists()
    html = response.content.decode()
    assert re.search(r'data-tf-param-errors="TARGET"><li>The value must be one of', html)
    assert re.search(r'data-tf-param-errors="COUNT"><li>The value must be a whole number', html)
    assert 'value="lots"' in html  # kept as typed


def test_plain_run_now_uses_the_defaults(owner_client, owner):
    job = JobFactory(created_by=owner, params=DECLARED[:3])
    response = owner_client.post(f"/admin/jobs/job/{job.pk}/run/")
    run = Run.objects.get()
    assert response.status_code == 302
    assert run.params == {"TARGET": "staging", "COUNT": 3, "DRY_RUN": True}


def test_run_now_of_a_job_needing_a_value_asks_for_it(owner_client, owner):
    needs = {**DECLARED[1], "default": None, "required": True}
    job = JobFactory(created_by=owner, name="needs-count", params=[needs])
    response = owner_client.post(f"/admin/jobs/job/{job.pk}/run/")
    assert response.status_code == 302 and response["Location"] == f"/admin/jobs/job/{job.pk}/run/"
    listing = owner_client.post(
        "/admin/jobs/job/",
        {"action": "run_now", "_selected_action": [str(job.pk)], "index": "0"},
        follow=True,
    )
    assert any(
        "needs-count: not started" in t and "Run it with values" in t for t in texts(listing)
    )
    assert not Run.objects.exists()


def test_the_api_answers_the_run_form_with_per_parameter_details(owner_client, owner):
    """What static/taskflow/runform.js posts, with the session and the CSRF token."""
    job = JobFactory(created_by=owner, params=DECLARED)
    response = owner_client.post(
        f"/api/jobs/{job.pk}/run",
        {"params": {"TARGET": "moon", "COUNT": 2, "DRY_RUN": False}},
        content_type="application/json",
    )
    assert response.status_code == 400
    details = response.json()["details"]
    flat = details.get("params", details)
    assert "TARGET" in flat and "COUNT" not in flat
    response = owner_client.post(
        f"/api/jobs/{job.pk}/run",
        {"params": {"TARGET": "production", "COUNT": 2, "DRY_RUN": False, "TOKEN": "x"}},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert Run.objects.get().params["TARGET"] == "production"


# ---- the job page and the run page ----


def test_the_job_page_opens_the_run_form_and_shows_the_chain(owner_client, owner, outsider):
    job = JobFactory(created_by=owner, name="build", params=DECLARED[:1])
    deploy = JobFactory(created_by=owner, name="deploy")
    upstream = JobFactory(created_by=owner, name="fetch")
    hidden = JobFactory(created_by=outsider, name="outsiders-job")
    JobFollowup.objects.create(job=job, target=deploy, on="success", params={"TARGET": "x"})
    JobFollowup.objects.create(job=upstream, target=job, on="failure")
    JobFollowup.objects.create(job=hidden, target=job, on="always")
    page = owner_client.get(f"/admin/jobs/job/{job.pk}/").content.decode()
    assert "data-tf-run-open" in page and "data-tf-run-dialog" in page
    assert 'data-tf-param="TARGET"' in page
    assert f'On success → <a href="/admin/jobs/job/{deploy.pk}/">deploy</a>' in page
    assert f'<a href="/admin/jobs/job/{upstream.pk}/">fetch</a> (on failure or timeout)' in page
    assert "outsiders-job" not in page

    plain = owner_client.get(f"/admin/jobs/job/{deploy.pk}/").content.decode()
    assert "data-tf-run-open" not in plain and "data-tf-run-form" in plain  # as before


def test_the_run_page_shows_where_a_run_came_from_and_what_it_started(owner_client, owner):
    build = JobFactory(created_by=owner, name="build", params=DECLARED[3:])
    deploy = JobFactory(created_by=owner, name="deploy")
    parent = RunFactory(
        job=build,
        status=RunStatus.SUCCESS,
        params=params_seal(DECLARED[3:], {"TOKEN": "hunter2"}),
    )
    child = RunFactory(
        job=deploy, status=RunStatus.RUNNING, trigger_type=TriggerType.CHAIN, chained_from=parent
    )
    page = owner_client.get(f"/admin/runs/run/{parent.pk}/change/").content.decode()
    assert "hunter2" not in page and f"<code>{MASK}</code>" in page
    link = f'<a href="/admin/runs/run/{child.pk}/change/">deploy · run {str(child.pk)[:8]}</a>'
    assert f'<span class="tf-badge tf-running">Running</span> {link}' in page
    page = owner_client.get(f"/admin/runs/run/{child.pk}/change/").content.decode()
    assert f'<a href="/admin/runs/run/{parent.pk}/change/">run {str(parent.pk)[:8]}</a> of' in page
    listing = owner_client.get("/admin/runs/run/?trigger_type=chain").content.decode()
    assert re.search(
        rf'href="/admin/runs/run/{parent.pk}/change/"[^>]*>← {str(parent.pk)[:8]}<', listing
    )


def test_a_run_started_by_a_run_the_viewer_cannot_see_does_not_name_it(
    owner_client, owner, admin_user
):
    parent = RunFactory(job=JobFactory(created_by=admin_user, name="admins-job"))
    child = RunFactory(
        job=JobFactory(created_by=owner), trigger_type=TriggerType.CHAIN, chained_from=parent
    )
    page = owner_client.get(f"/admin/runs/run/{child.pk}/change/").content.decode()
    assert "a run you cannot see" in page and "admins-job" not in page
