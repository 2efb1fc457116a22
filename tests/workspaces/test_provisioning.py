"""Provisioning for real: approval enqueues on commit, a Celery worker process takes it over
Redis, launches the Service Catalog product in the sandbox over HTTP, follows the record and
finds the notebook locked down and tagged."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.utils import timezone

from costs.models import InstancePrice, StoragePrice
from costs.prices import seed_public_prices
from governance.models import AuditEvent, TeamSettings
from tests.conftest import World
from tests.support.sandbox import Sandbox
from tests.support.worker import celery_worker, database_url_for
from workspaces import services
from workspaces.models import Product, ProductVersion, State, Workspace

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
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


def test_an_approved_workspace_comes_up_locked_down_and_tagged(
    world: World, seeded: dict[str, Any], sandbox: Sandbox, worker: Path
) -> None:
    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    workspace = request_and_approve(world, offering, "readmit-eda")
    workspace = wait_for_state(workspace, {State.AVAILABLE, State.FAILED}, worker)
    assert workspace.state == State.AVAILABLE, workspace.state_reason

    notebook = sandbox.client("sagemaker").describe_notebook_instance(
        NotebookInstanceName=workspace.notebook_name
    )
    assert notebook["NotebookInstanceArn"] == workspace.notebook_arn
    assert notebook["InstanceType"] == "ml.t3.medium"
    assert notebook["VolumeSizeInGB"] == 20
    assert notebook["DirectInternetAccess"] == "Disabled"
    assert notebook["RootAccess"] == "Disabled"
    assert notebook["KmsKeyId"] == seeded["kms_key_arn"]
    assert notebook["SubnetId"] == seeded["subnet_id"]
    tags = {
        t["Key"]: t["Value"]
        for t in sandbox.client("sagemaker").list_tags(ResourceArn=workspace.notebook_arn)["Tags"]
    }
    assert {k: v for k, v in tags.items() if k.startswith("portal:")} == {
        "portal:team": world.team.slug,
        "portal:project": world.project.slug,
        "portal:workspace": str(workspace.pk),
        "portal:owner": "analyst",
        "portal:cost-center": world.team.cost_center,
    }
    calls = sandbox.control.calls()
    assert calls["servicecatalog:ProvisionProduct"] == 1
    actions = list(
        AuditEvent.objects.filter(target_id=str(workspace.pk))
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "workspace.request",
        "workspace.approve",
        "workspace.provision",
        "workspace.available",
    ]


def test_a_failed_launch_shows_aws_message(
    world: World, seeded: dict[str, Any], sandbox: Sandbox, worker: Path
) -> None:
    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    sandbox.control.fail_next_provision("The account has reached its notebook instance quota.")
    workspace = request_and_approve(world, offering, "doomed")
    workspace = wait_for_state(workspace, {State.AVAILABLE, State.FAILED}, worker)
    assert workspace.state == State.FAILED
    assert "notebook instance quota" in workspace.state_reason


def test_stop_start_open_and_terminate_through_the_worker(
    world: World, seeded: dict[str, Any], portal_on_sandbox: Sandbox, worker: Path
) -> None:
    sandbox = portal_on_sandbox
    import urllib.request

    from workspaces import lifecycle

    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    workspace = request_and_approve(world, offering, "cycle")
    workspace = wait_for_state(workspace, {State.AVAILABLE}, worker)
    sagemaker = sandbox.client("sagemaker")

    url = lifecycle.workspace_open(actor=world.analyst, workspace=workspace)
    with urllib.request.urlopen(url, timeout=10) as page:  # noqa: S310 (the local sandbox)
        assert page.status == 200
        assert workspace.notebook_name in page.read().decode()
    with pytest.raises(services.PermissionDenied):
        lifecycle.workspace_open(actor=world.approver, workspace=workspace)

    lifecycle.workspace_stop(actor=world.analyst, workspace=workspace)
    workspace = wait_for_state(workspace, {State.STOPPED}, worker)
    status = sagemaker.describe_notebook_instance(NotebookInstanceName=workspace.notebook_name)
    assert status["NotebookInstanceStatus"] == "Stopped"
    with pytest.raises(services.InvalidTransition):
        lifecycle.workspace_stop(actor=world.analyst, workspace=workspace)

    lifecycle.workspace_start(actor=world.analyst, workspace=workspace)
    workspace = wait_for_state(workspace, {State.AVAILABLE}, worker)

    lifecycle.workspace_terminate(actor=world.admin, workspace=workspace)
    workspace = wait_for_state(workspace, {State.TERMINATED}, worker)
    names = [
        n["NotebookInstanceName"] for n in sagemaker.list_notebook_instances()["NotebookInstances"]
    ]
    assert workspace.notebook_name not in names
    actions = list(
        AuditEvent.objects.filter(target_id=str(workspace.pk)).values_list("action", flat=True)
    )
    for expected in (
        "workspace.open",
        "workspace.stop",
        "workspace.stopped",
        "workspace.start",
        "workspace.started",
        "workspace.terminate",
        "workspace.terminated",
    ):
        assert expected in actions


def test_a_failed_workspace_retries_with_a_new_token_and_comes_up(
    world: World, seeded: dict[str, Any], sandbox: Sandbox, worker: Path
) -> None:
    from workspaces import lifecycle

    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    sandbox.control.fail_next_provision("InsufficientCapacity in the zone.")
    workspace = request_and_approve(world, offering, "second-chance")
    workspace = wait_for_state(workspace, {State.FAILED}, worker)
    with pytest.raises(services.PermissionDenied):
        lifecycle.workspace_retry(actor=world.outsider, workspace=workspace)
    lifecycle.workspace_retry(actor=world.analyst, workspace=workspace)
    workspace = wait_for_state(workspace, {State.AVAILABLE, State.FAILED}, worker)
    assert workspace.state == State.AVAILABLE, workspace.state_reason
    assert workspace.provision_attempt == 2
