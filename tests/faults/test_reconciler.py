"""Fault tests with real processes: what the reconciler recovers from. Each is bounded in
time by wait_for_state's deadline and pytest-timeout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import redis

from governance.models import AuditEvent
from tests.conftest import World
from tests.support.provisioning import (
    REDIS_URL,
    offering_from_sandbox,
    request_and_approve,
    stale_now,
    wait_for_state,
)
from tests.support.sandbox import Sandbox
from workspaces import reconcile
from workspaces.models import State, Workspace

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_notebook_stopped_behind_the_portals_back_is_recorded_as_drift(
    world: World, seeded: dict[str, Any], portal_on_sandbox: Sandbox, worker: Path
) -> None:
    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    workspace = wait_for_state(
        request_and_approve(world, offering, "drifty"), {State.AVAILABLE}, worker
    )
    portal_on_sandbox.control.notebook_fault(workspace.notebook_name, "stop")
    portal_on_sandbox.control.advance_clock(600)
    portal_on_sandbox.control.reset_calls()

    report = reconcile.reconcile()

    workspace.refresh_from_db()
    assert workspace.state == State.STOPPED
    assert "stopped outside the portal" in workspace.state_reason
    event = AuditEvent.objects.get(target_id=str(workspace.pk), action="workspace.drift")
    assert (event.before, event.after["state"]) == ({"state": "available"}, "stopped")
    assert report.drifted == [str(workspace.pk)]
    # One list call for all notebooks, not one describe per workspace. (The compliance
    # evaluation it asks for runs later on the worker and counts its own calls.)
    assert report.aws_calls == 1
    assert portal_on_sandbox.control.calls()["sagemaker:ListNotebookInstances"] == 1


def test_a_deleted_notebook_fails_the_workspace_with_a_way_out(
    world: World, seeded: dict[str, Any], portal_on_sandbox: Sandbox, worker: Path
) -> None:
    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    workspace = wait_for_state(
        request_and_approve(world, offering, "gone-soon"), {State.AVAILABLE}, worker
    )
    portal_on_sandbox.control.notebook_fault(workspace.notebook_name, "delete")
    portal_on_sandbox.control.advance_clock(600)
    reconcile.reconcile()
    workspace.refresh_from_db()
    assert workspace.state == State.FAILED
    assert "deleted outside the portal" in workspace.state_reason


def test_a_flushed_broker_loses_nothing_the_reconciler_brings_all_50_up(
    world: World, seeded: dict[str, Any], portal_on_sandbox: Sandbox, tmp_path: Path
) -> None:
    from django.db import connection

    from tests.support.worker import celery_worker, database_url_for

    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    from governance.models import OfferingConstraint

    OfferingConstraint.objects.filter(offering=offering).update(
        max_live_per_user=60, max_live_per_team=60
    )
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    workspaces = [request_and_approve(world, offering, f"bulk-{i:02d}") for i in range(50)]
    assert broker.llen("celery") == 50  # queued on commit, no worker yet
    broker.flushdb()  # the broker loses every message

    report = reconcile.reconcile(now=stale_now())
    assert len(report.requeued) == 50

    env = {
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"],
        "DJANGO_DEBUG": "true",
        "AWS_ENDPOINT_URL": portal_on_sandbox.url,
        "AWS_SANDBOX_CREDENTIALS": "true",
    }
    log = tmp_path / "worker.log"
    with celery_worker(env, log_path=log, concurrency=4):
        for workspace in workspaces:
            wait_for_state(workspace, {State.AVAILABLE}, log, timeout=180)
    products = portal_on_sandbox.client("servicecatalog").search_provisioned_products(PageSize=100)[
        "ProvisionedProducts"
    ]
    names = sorted(p["Name"] for p in products if p["Name"].startswith(world.team.slug))
    assert names == sorted(w.notebook_name for w in workspaces)  # exactly one each
    assert Workspace.objects.filter(state=State.AVAILABLE).count() == 50
