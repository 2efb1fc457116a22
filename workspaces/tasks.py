"""Thin task entry points for workspaces."""

from __future__ import annotations

import random

from celery import shared_task

from portal import aws
from workspaces import provisioning


def backoff(retries: int, base: float = 2.0, cap: float = 120.0) -> float:
    """Exponential backoff with full jitter, so throttled workers spread out."""
    return random.uniform(0, min(cap, base * 2**retries))  # noqa: S311 (not for security)


@shared_task(bind=True, acks_late=True, max_retries=12, soft_time_limit=60, time_limit=90)
def provision_workspace(self, workspace_id: str, polls: int = 0) -> str:
    """Advance provisioning by one step; re-enqueue to follow the record. Idempotent."""
    try:
        step = provisioning.advance(workspace_id, polls)
    except aws.AWS_ERRORS as exc:
        if aws.is_transient(exc):
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        raise
    if step.poll_in is not None:
        provision_workspace.apply_async((workspace_id, polls + 1), countdown=step.poll_in)
    return step.outcome
