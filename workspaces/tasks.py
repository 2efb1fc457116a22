"""Thin task entry points for workspaces."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from celery import shared_task

from portal import aws
from portal.models import User
from workspaces import lifecycle, provisioning, reconcile
from workspaces.catalog import catalog_sync
from workspaces.provisioning import Step


def backoff(retries: int, base: float = 2.0, cap: float = 120.0) -> float:
    """Exponential backoff with full jitter, so throttled workers spread out."""
    return random.uniform(0, min(cap, base * 2**retries))  # noqa: S311 (not for security)


def _step(task: Any, advance: Callable[[str, int], Step], workspace_id: str, polls: int) -> str:
    """Run one step; transient AWS errors retry with backoff, and a step that must look again
    later re-enqueues the task with a countdown instead of sleeping in the worker."""
    try:
        step = advance(workspace_id, polls)
    except aws.AWS_ERRORS as exc:
        if aws.is_transient(exc):
            raise task.retry(exc=exc, countdown=backoff(task.request.retries)) from exc
        raise
    if step.poll_in is not None:
        task.apply_async((workspace_id, polls + 1), countdown=step.poll_in)
    return step.outcome


@shared_task(bind=True, acks_late=True, max_retries=12, soft_time_limit=60, time_limit=90)
def provision_workspace(self, workspace_id: str, polls: int = 0) -> str:
    """Advance provisioning by one step; re-enqueue to follow the record. Idempotent."""
    return _step(self, provisioning.advance, workspace_id, polls)


@shared_task(bind=True, acks_late=True, max_retries=8, soft_time_limit=240, time_limit=300)
def sync_catalog(self, actor_id: int | None = None) -> dict[str, object]:
    """Bring the catalog up to date (daily, and on an admin's button). Safe to repeat."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    try:
        run = catalog_sync(actor=actor)
    except aws.AWS_ERRORS as exc:
        if aws.is_transient(exc):
            raise self.retry(exc=exc, countdown=backoff(self.request.retries, base=30)) from exc
        raise
    return {
        "run": run.pk,
        "added": len(run.added),
        "changed": len(run.changed),
        "retired": len(run.retired),
        "error": run.error,
    }


@shared_task(bind=True, acks_late=True, max_retries=12, soft_time_limit=60, time_limit=90)
def operate_workspace(self, workspace_id: str, polls: int = 0) -> str:
    """Advance a stop, start or terminate by one step; re-enqueue until it settles."""
    return _step(self, lifecycle.advance, workspace_id, polls)


@shared_task(bind=True, soft_time_limit=50, time_limit=58)
def reconcile_workspaces(self) -> dict[str, int]:
    """Every minute: re-enqueue lost work and record drift. A run that meets a transient AWS
    error is simply skipped; the next minute's run tries again."""
    try:
        report = reconcile.reconcile()
    except aws.AWS_ERRORS as exc:
        if aws.is_transient(exc):
            return {"skipped": 1}
        raise
    return {
        "requeued": len(report.requeued),
        "drifted": len(report.drifted),
        "aws_calls": report.aws_calls,
    }


# --- schedules and expiry (workspaces/schedules.py) --------------------------------------------


def _moment(now: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(now) if now else None


@shared_task(soft_time_limit=240, time_limit=280)
def stop_outside_working_hours(now: str | None = None) -> dict[str, int]:
    """Every few minutes: stop what runs outside its team's working hours. A missed or doubled
    run is harmless: each stop is a compare-and-swap, and the next run catches up."""
    from workspaces import schedules

    return schedules.stop_outside_working_hours(now=_moment(now)).counts()


@shared_task(soft_time_limit=240, time_limit=280)
def enforce_end_dates(now: str | None = None) -> dict[str, int]:
    """Reminders before the end date (each once), stop at it, terminate after the grace."""
    from workspaces import schedules

    return schedules.enforce_end_dates(now=_moment(now)).counts()
