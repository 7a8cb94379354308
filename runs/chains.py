"""Chains: when a run's final attempt ends, runs of its job's follow-ups are queued.

Called where a run ends, inside that transaction (runs.engine.claim.run_finish and
run_mark_lost, runs.services.run_cancel), so a follow-up is queued exactly once: with the
status that ended its parent, or not at all. The links are the ones frozen in the parent's
spec when it was queued (runs.spec): a run without links costs nothing here.

A follow-up (trigger "chain") is triggered by the parent job's owner and gets the parent's
values for the parameters it declares (a secret value only into a secret parameter), the
link's fixed values over them, TASKFLOW_PARENT_RUN_ID and TASKFLOW_PARENT_STATUS. It is
recorded as skipped, with the reason as its system line, when the owner may no longer run the
target (RBAC holds along the chain), when its values do not fit, or past the depth cap
(settings.TASKFLOW["CHAIN_MAX_DEPTH"] follow-ups after the first run).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from accounts.models import User
from jobs.models import FollowupOn, Job
from jobs.params import ParamsInvalid, param_secret_names, param_values_clean, params_open
from runs.models import Run, RunStatus, TriggerType
from runs.services import run_enqueue

logger = logging.getLogger("taskflow.queue")

# a parent's final status -> the links it starts
FOLLOWS = {
    RunStatus.SUCCESS: {FollowupOn.SUCCESS, FollowupOn.ALWAYS},
    RunStatus.FAILURE: {FollowupOn.FAILURE, FollowupOn.ALWAYS},
    RunStatus.TIMEOUT: {FollowupOn.FAILURE, FollowupOn.ALWAYS},
    RunStatus.CANCELLED: {FollowupOn.ALWAYS},
}


def followups_start(run: Run, *, status: str) -> list[Run]:
    """Queue the follow-ups of `run`, whose final attempt ended as `status` (no retry follows);
    returns the runs made (skipped ones included)."""
    links = (run.spec or {}).get("followups")
    if not links:
        return []
    wanted = FOLLOWS.get(status, set())
    chosen = [(index, link) for index, link in enumerate(links) if link.get("on") in wanted]
    if not chosen:
        return []
    run.status = status  # the follow-ups' TASKFLOW_PARENT_STATUS (runs.services._chain)
    owner = User.objects.filter(jobs__pk=run.job_id).first()
    targets = {
        str(job.pk): job for job in Job.objects.filter(pk__in=[ln["job"] for _, ln in chosen])
    }
    visible = Job.objects.visible_to(owner).filter(pk__in=list(targets))
    may_run = {str(pk) for pk in visible.values_list("pk", flat=True)}
    depth = int(((run.spec or {}).get("chain") or {}).get("depth", 0)) + 1
    limit = settings.TASKFLOW["CHAIN_MAX_DEPTH"]
    given = params_open(run.params) if run.params else {}
    secret = param_secret_names(run.job.params) if given else set()
    made = []
    for index, link in chosen:
        target = targets.get(str(link["job"]))
        if target is None:
            logger.info("run %s: follow-up job %s no longer exists", run.pk, link["job"])
            continue
        reason, values = None, None
        if depth > limit:
            reason = f"not run: the chain is {limit} follow-ups deep (CHAIN_MAX_DEPTH)"
        elif str(target.pk) not in may_run:
            who = owner.get_username() if owner is not None else "nobody"
            reason = f"not run: {who} (the owner of the job whose run started it) may not run it"
        else:
            values, reason = _values(target, given, secret, link.get("params") or {})
        try:
            with transaction.atomic():
                follower, _ = run_enqueue(
                    job=target,
                    trigger_type=TriggerType.CHAIN,
                    triggered_by=owner,
                    idempotency_key=f"chain:{run.pk}:{index}",
                    skip_reason=reason,
                    params=values,
                    chained_from=run,
                )
        except Exception:  # a broken follow-up must never undo its parent's end
            logger.exception("run %s: follow-up %s could not be queued", run.pk, target.pk)
            continue
        made.append(follower)
    return made


def _values(target: Job, given: dict, secret: set, fixed: dict) -> tuple[dict | None, str | None]:
    """(values, None) for the follow-up, or (None, why not): the parent's values for the names
    the target declares (a secret one only into a secret parameter), the link's over them."""
    declared = {item.get("name"): item for item in target.params or [] if isinstance(item, dict)}
    values = {
        name: value
        for name, value in given.items()
        if name in declared and (name not in secret or declared[name].get("secret"))
    }
    values.update(fixed)
    try:
        return param_values_clean(target.params, values), None
    except ParamsInvalid as exc:
        return None, f"not run: parameters: {exc}"
