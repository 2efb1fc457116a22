"""Fixtures and helpers for tests that provision for real: a Celery worker process on Redis
against the test database, and the sandbox seeded with the demo catalog."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from django.db import connection
from django.utils import timezone

from costs.models import InstancePrice, StoragePrice
from costs.prices import seed_public_prices
from governance.models import TeamSettings
from tests.support.sandbox import Sandbox
from tests.support.worker import celery_worker, database_url_for
from workspaces import services
from workspaces.models import Product, ProductVersion, Workspace

if TYPE_CHECKING:
    from tests.conftest import World

REDIS_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def seeded(sandbox_clean: Sandbox) -> dict[str, Any]:
    summary: dict[str, Any] = sandbox_clean.control.seed("demo")
    return summary


@pytest.fixture
def worker(sandbox: Sandbox, tmp_path: Path) -> Iterator[Path]:
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        pytest.fail("these tests need CELERY_BROKER_URL pointing at Redis (bin/test sets it)")
    redis.Redis.from_url(REDIS_URL).flushdb()
    log = tmp_path / "worker.log"
    env = {
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"],
        "DJANGO_DEBUG": "true",
        "AWS_ENDPOINT_URL": sandbox.url,
        "AWS_SANDBOX_CREDENTIALS": "true",
    }
    with celery_worker(env, log_path=log, concurrency=2):
        yield log


def stale_now() -> Any:
    """A moment far enough ahead that every transitional workspace counts as stale."""
    return timezone.now() + dt.timedelta(hours=1)


def offering_from_sandbox(world: World, seeded: dict[str, Any], product: str) -> Any:
    """The sandbox's product as the catalog sync records it, published for the team."""
    spec = next(p for p in seeded["products"] if p["name"] == product)
    seed_public_prices(InstancePrice, StoragePrice)  # transactional tests flush them
    now = timezone.now()
    record = Product.objects.create(product_id=spec["product_id"], name=spec["name"], synced_at=now)
    version = ProductVersion.objects.create(
        product=record,
        artifact_id=spec["artifacts"]["v2"],
        name="v2",
        launch_path_id=spec["path_id"],
        allowed_instance_types=spec["instance_types"],
        synced_at=now,
    )
    TeamSettings.objects.create(
        team=world.team,
        subnet_id=seeded["subnet_id"],
        security_group_ids=",".join(seeded["security_group_ids"]),
        kms_key_id=seeded["kms_key_arn"],
        lifecycle_config_name=seeded["lifecycle_config_name"],
    )
    return services.offering_publish(
        actor=None,
        version=version,
        title=product,
        summary="x",
        teams=[world.team],
        allowed_instance_types=spec["instance_types"][:2],
        max_live_per_user=10,
        max_live_per_team=50,
    )


def request_and_approve(world: World, offering: Any, name: str) -> Workspace:
    workspace = services.workspace_request(
        actor=world.analyst,
        offering=offering,
        team=world.team,
        project=world.project,
        name=name,
        instance_type=offering.constraint.allowed_instance_types[0],
        volume_size_gb=20,
        end_date=timezone.localdate() + dt.timedelta(days=10),
        justification="Provisioning test workspace.",
    )
    return services.workspace_approve(actor=world.approver, workspace=workspace)


def wait_for_state(
    workspace: Workspace, states: set[str], log: Path, timeout: float = 60
) -> Workspace:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workspace.refresh_from_db()
        if workspace.state in states:
            return workspace
        time.sleep(0.25)
    raise AssertionError(
        f"{workspace.name} stuck in {workspace.state}\n" + log.read_text(errors="replace")[-4000:]
    )
