"""Thin task entry points for governance."""

from __future__ import annotations

import random

from celery import shared_task

from governance.compliance import evaluate_compliance
from portal import aws
from portal.models import Team, User


def _backoff(retries: int, base: float = 10.0, cap: float = 600.0) -> float:
    """Exponential backoff with full jitter: throttled evaluations spread out, never align."""
    return random.uniform(0, min(cap, base * 2**retries))  # noqa: S311 (not for security)


@shared_task(bind=True, acks_late=True, max_retries=6, soft_time_limit=240, time_limit=300)
def evaluate_compliance_task(
    self, team_id: int | None = None, actor_id: int | None = None
) -> dict[str, object]:
    """Evaluate every team (hourly), or one team (after a provision, start or reconcile).

    Safe to repeat: a repeated run only adds another point of history.
    """
    team = Team.objects.filter(pk=team_id).first() if team_id is not None else None
    if team_id is not None and team is None:
        return {"skipped": f"team {team_id} no longer exists"}
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    try:
        run = evaluate_compliance(actor=actor, team=team)
    except aws.AWS_ERRORS as exc:
        if aws.is_transient(exc):
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
        raise
    return {"run": run.pk, "resources": run.resources, "aws_calls": run.aws_calls}
