"""Thin task entry points for costs: the scheduled Cost Explorer sync and budget pushes."""

from __future__ import annotations

from celery import shared_task

from portal import aws
from workspaces.tasks import backoff


@shared_task(bind=True, acks_late=True, max_retries=5, soft_time_limit=600, time_limit=660)
def sync_costs(self) -> dict[str, object]:
    """Every six hours: costs, tag status, forecasts, budgets and alerts. A transient AWS
    error retries the whole run later (each run re-reads its window, so that is safe)."""
    from costs.models import CostSyncRun
    from costs.sync import cost_sync

    try:
        run = cost_sync(kind=CostSyncRun.Kind.SCHEDULED, raise_transient=True)
    except aws.AWS_ERRORS as exc:
        # The failed run is already recorded with AWS's reason.
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, base=60)) from exc
    return {
        "run": run.pk,
        "status": run.status,
        "ce_requests": run.ce_requests,
        "pages": run.pages,
        "rows": run.rows_upserted,
        "error": run.error,
    }


@shared_task(bind=True, acks_late=True, max_retries=8, soft_time_limit=120, time_limit=150)
def push_team_budget(self, team_id: int) -> str:
    """Create or update the team's AWS Budget after a change in the portal. A failure is
    recorded on the budget (``aws_error``); transient ones retry with backoff."""
    from costs.budgets import budget_push
    from costs.models import TeamBudget

    budget = TeamBudget.objects.select_related("team").filter(team_id=team_id).first()
    if budget is None:
        return "no budget"
    try:
        budget_push(budget)
    except aws.AWS_ERRORS as exc:
        if aws.is_transient(exc):
            raise self.retry(exc=exc, countdown=backoff(self.request.retries, base=10)) from exc
        return f"failed: {aws.error_message(exc)}"
    return "pushed"
