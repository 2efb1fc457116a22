"""Thin task entry points for governance."""

from __future__ import annotations

import datetime as dt
import random

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from governance.compliance import evaluate_compliance
from governance.models import EvaluationRun
from governance.retention import compliance_history_prune
from portal import aws
from portal.models import Team, User


def _backoff(retries: int, base: float = 10.0, cap: float = 600.0) -> float:
    """Exponential backoff with full jitter: throttled evaluations spread out, never align."""
    return random.uniform(0, min(cap, base * 2**retries))  # noqa: S311 (not for security)


@shared_task(bind=True, acks_late=True, max_retries=6, soft_time_limit=240, time_limit=300)
def evaluate_compliance_task(
    self,
    team_id: int | None = None,
    actor_id: int | None = None,
    requested_at: str | None = None,
) -> dict[str, object]:
    """Evaluate every team (hourly), or one team (after a provision, start or reconcile).

    Safe to repeat: a repeated run only adds another point of history. A request made at
    ``requested_at`` is already served by any run for the team that started after it, so a
    burst of provisions costs a few evaluations, not one each.
    """
    team = Team.objects.filter(pk=team_id).first() if team_id is not None else None
    if team_id is not None and team is None:
        return {"skipped": f"team {team_id} no longer exists"}
    if requested_at is not None and team is not None:
        since = dt.datetime.fromisoformat(requested_at)
        if EvaluationRun.objects.filter(
            Q(team=team) | Q(team__isnull=True), started_at__gte=since
        ).exists():
            return {"skipped": "a later evaluation covers this request"}
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    try:
        run = evaluate_compliance(actor=actor, team=team)
    except aws.AWS_ERRORS as exc:
        if aws.is_transient(exc):
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
        raise
    return {"run": run.pk, "resources": run.resources, "aws_calls": run.aws_calls}


# A pass stops between batches after this long, well inside the task's soft limit; the next
# day's pass continues where it stopped (a first pass over a year of hourly history needs
# several, or one ``manage.py compliance_prune`` run).
PRUNE_BUDGET = dt.timedelta(minutes=20)


@shared_task(acks_late=True, soft_time_limit=25 * 60, time_limit=30 * 60)
def prune_compliance_history() -> dict[str, object]:
    """Daily: apply the compliance history retention policy (governance/retention.py).

    Safe to repeat: a second pass finds nothing more to delete.
    """
    prune = compliance_history_prune(time_budget=PRUNE_BUDGET)
    return {"prune": prune.pk, "deleted": prune.deleted, "complete": prune.complete}


# Long enough for a burst of launches in one team to share one evaluation.
SOON_SECONDS = 20


def evaluate_team_soon(team_id: int) -> None:
    """After a workspace changes (provisioned, started, drifted): evaluate its team shortly,
    once the change is committed."""
    from django.db import transaction

    requested_at = timezone.now().isoformat()
    transaction.on_commit(
        lambda: evaluate_compliance_task.apply_async(
            kwargs={"team_id": team_id, "requested_at": requested_at}, countdown=SOON_SECONDS
        )
    )
