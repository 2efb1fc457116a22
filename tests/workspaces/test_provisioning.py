"""Provisioning for real: approval enqueues on commit, a Celery worker process takes it over
Redis, launches the Service Catalog product in the sandbox over HTTP, follows the record and
finds the notebook locked down and tagged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from governance.models import AuditEvent
from tests.conftest import World
from tests.support.provisioning import offering_from_sandbox, request_and_approve, wait_for_state
from tests.support.sandbox import Sandbox
from workspaces import services
from workspaces.models import State

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


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
    client = Client()
    client.force_login(world.analyst)
    page = client.get(reverse("workspace_detail", args=[workspace.pk])).content.decode()
    assert "InsufficientCapacity in the zone." in page  # AWS's own words, on the page
    assert ">Retry</button>" in page
    assert ">Terminate</button>" in page
    with pytest.raises(services.PermissionDenied):
        lifecycle.workspace_retry(actor=world.outsider, workspace=workspace)
    lifecycle.workspace_retry(actor=world.analyst, workspace=workspace)
    workspace = wait_for_state(workspace, {State.AVAILABLE, State.FAILED}, worker)
    assert workspace.state == State.AVAILABLE, workspace.state_reason
    assert workspace.provision_attempt == 2
