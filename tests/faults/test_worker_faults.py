"""Fault tests with real processes: a worker killed with SIGKILL mid-provisioning, over and
over, and an AWS that throttles a third of all calls. Nothing is lost and nothing is
launched twice."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from governance.models import OfferingConstraint
from tests.conftest import World
from tests.support.provisioning import (
    REDIS_URL,
    offering_from_sandbox,
    request_and_approve,
    stale_now,
    wait_for_state,
)
from tests.support.sandbox import Sandbox
from tests.support.worker import celery_worker, database_url_for
from workspaces import reconcile
from workspaces.models import State, Workspace

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def worker_env(sandbox: Sandbox) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"],
        "DJANGO_DEBUG": "true",
        "AWS_ENDPOINT_URL": sandbox.url,
        "AWS_SANDBOX_CREDENTIALS": "true",
    }


def provisioned_products_by_name(sandbox: Sandbox, prefix: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    client, token = sandbox.client("servicecatalog"), ""
    while True:
        page = client.search_provisioned_products(PageSize=100, PageToken=token)
        for product in page["ProvisionedProducts"]:
            if product["Name"].startswith(prefix):
                counts[product["Name"]] = counts.get(product["Name"], 0) + 1
        token = page.get("NextPageToken", "")
        if not token:
            return counts


def many(world: World, offering: Any, count: int, prefix: str) -> list[Workspace]:
    OfferingConstraint.objects.filter(offering=offering).update(
        max_live_per_user=count + 5, max_live_per_team=count + 5
    )
    return [request_and_approve(world, offering, f"{prefix}-{i:02d}") for i in range(count)]


def test_a_worker_killed_mid_provisioning_ten_times_launches_each_workspace_once(
    world: World, seeded: dict[str, Any], portal_on_sandbox: Sandbox, tmp_path: Path
) -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    workspaces = many(world, offering, 10, "kill")
    rng = random.Random(5)
    for round_ in range(10):
        log = tmp_path / f"worker-{round_}.log"
        with celery_worker(worker_env(portal_on_sandbox), log_path=log, concurrency=2) as proc:
            reconcile.reconcile(now=stale_now())  # what beat does every minute
            time.sleep(rng.uniform(0.3, 1.5))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    log = tmp_path / "worker-final.log"
    with celery_worker(worker_env(portal_on_sandbox), log_path=log, concurrency=2):
        reconcile.reconcile(now=stale_now())
        for workspace in workspaces:
            wait_for_state(workspace, {State.AVAILABLE}, log, timeout=120)
    counts = provisioned_products_by_name(portal_on_sandbox, f"{world.team.slug}-kill")
    assert counts == {w.notebook_name: 1 for w in workspaces}


def test_a_third_of_aws_calls_throttled_still_brings_every_workspace_up_once(
    world: World, seeded: dict[str, Any], portal_on_sandbox: Sandbox, tmp_path: Path
) -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    portal_on_sandbox.control.throttle(rate=0.3)
    try:
        workspaces = many(world, offering, 12, "throttled")
        log = tmp_path / "worker.log"
        with celery_worker(worker_env(portal_on_sandbox), log_path=log, concurrency=2):
            for workspace in workspaces:
                wait_for_state(workspace, {State.AVAILABLE}, log, timeout=180)
        throttled = portal_on_sandbox.control.request("GET", "calls?detail=1")
    finally:
        portal_on_sandbox.control.clear_faults()
    counts = provisioned_products_by_name(portal_on_sandbox, f"{world.team.slug}-throttled")
    assert counts == {w.notebook_name: 1 for w in workspaces}
    assert any("hrottl" in key for key in throttled), throttled  # the fault really fired
