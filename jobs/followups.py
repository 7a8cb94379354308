"""Chain links between jobs (JobFollowup): when a run of a job ends, runs of its follow-ups are
queued (runs.chains does that). Here: the links' rules (the job's owner may run the target;
no loop of any length; the fixed values fit the target's parameters, secret ones excluded) and
their one stored form, rows in `position` order.
"""

from __future__ import annotations

import uuid

from jobs.models import FollowupOn, Job, JobFollowup
from jobs.params import ParamsInvalid, param_secret_names, param_values_clean

FOLLOWUPS_MAX = 20
LINK_KEYS = {"job", "on", "params"}


def _target_id(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def followups_clean(job: Job, followups) -> tuple[list[dict], list[str]]:
    """(links ready to store, messages for the "followups" field). A link is {"job": target id,
    "on": success|failure|always, "params": fixed values}; the target must be a job the
    owner of `job` can see (Job.objects.visible_to) and no chain may lead back to `job`."""
    if not isinstance(followups, list):
        return [], ["Must be a list of {job, on, params}."]
    if len(followups) > FOLLOWUPS_MAX:
        return [], [f"At most {FOLLOWUPS_MAX} follow-ups."]
    errors: list[str] = []
    wanted = []
    for index, link in enumerate(followups, start=1):
        if not isinstance(link, dict) or set(link) - LINK_KEYS:
            errors.append(f"#{index}: must be an object of job, on and params.")
            continue
        target = _target_id(link.get("job"))
        if target is None:
            errors.append(f"#{index}: job must be a job id.")
            continue
        on = link.get("on", FollowupOn.SUCCESS)
        if on not in FollowupOn.values:
            errors.append(f"#{index}: on must be one of {', '.join(FollowupOn.values)}.")
            continue
        wanted.append((index, target, on, link.get("params") or {}))
    owner = job.created_by if job.created_by_id else None
    visible = {
        target.pk: target
        for target in Job.objects.visible_to(owner).filter(pk__in={w[1] for w in wanted})
    }
    links = []
    for index, target_id, on, params in wanted:
        target = visible.get(target_id)
        if target is None:
            errors.append(f"#{index}: no job {target_id} that this job's owner may run.")
            continue
        problems = []
        try:
            values = param_values_clean(target.params, params, complete=False)
        except ParamsInvalid as exc:
            values = {}
            problems = [f"{name}: {message}" for name, message in exc.errors.items()]
        problems += [
            f"{name}: a secret value is given at run time, never stored on a link."
            for name in sorted(param_secret_names(target.params) & set(values))
        ]
        if problems:
            errors.append(f"#{index} ({target.name}): {'; '.join(problems)}")
            continue
        links.append({"job": target_id, "on": on, "params": values})
    if not errors and job.pk is not None:
        loop = followups_loop(job, [link["job"] for link in links])
        if loop:
            errors.append("A chain would loop: " + " -> ".join(loop) + ".")
    return links, errors


def followups_loop(job: Job, targets) -> list[str]:
    """The names along a chain from `job` through `targets` back to `job` (the other jobs'
    stored links), [] when there is none. Breadth-first, one query per level."""
    came_from: dict = dict.fromkeys(targets, job.pk)
    frontier = set(targets)
    while frontier:
        if job.pk in frontier:
            return _path_names(job, came_from)
        edges = JobFollowup.objects.filter(job__in=frontier).exclude(job=job.pk)
        frontier = set()
        for source, target in edges.values_list("job_id", "target_id"):
            if target not in came_from:
                came_from[target] = source
                frontier.add(target)
    return []


def _path_names(job: Job, came_from: dict) -> list[str]:
    path = [job.pk]
    node = came_from[job.pk]
    while node != job.pk and len(path) <= len(came_from):
        path.append(node)
        node = came_from[node]
    path.append(job.pk)
    names = dict(Job.objects.filter(pk__in=path).values_list("pk", "name"))
    return [names.get(pk, str(pk)) for pk in reversed(path)]


def followups_save(job: Job, links: list[dict]) -> dict:
    """Replace the job's links with `links` (cleaned), in their order; returns the audit
    trail's change ({"followups": {"from", "to"}}, {} when nothing changed)."""
    before = job_followups(job)
    JobFollowup.objects.filter(job=job).delete()
    JobFollowup.objects.bulk_create(
        JobFollowup(
            job=job, target_id=link["job"], on=link["on"], params=link["params"], position=i
        )
        for i, link in enumerate(links)
    )
    job._prefetched_objects_cache = {}
    after = job_followups(job)
    return {"followups": {"from": before, "to": after}} if after != before else {}


def job_followups(job: Job) -> list[dict]:
    """The job's links as the API shows them (with the target's name; prefetch
    "followup_links__target" for many jobs)."""
    rows = sorted(job.followup_links.all(), key=lambda row: (row.position, row.pk))
    return [
        {"job": str(row.target_id), "jobName": row.target.name, "on": row.on, "params": row.params}
        for row in rows
    ]
