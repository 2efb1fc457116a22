"""Provisioning through Service Catalog, one step per task run.

``advance`` looks at the workspace and does the next thing: launch the product, or read the
record once and say when to look again. Workers never sleep waiting for AWS; the task
re-enqueues itself with a countdown. Every step is safe to repeat: the ProvisionToken makes
a second ``provision_product`` return the first record, and each state change is a
compare-and-swap.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.urls import reverse

from governance.models import TeamSettings
from portal import aws, metrics
from portal.notifications import notify
from workspaces.models import State, Workspace
from workspaces.services import InvalidTransition, _transition

logger = logging.getLogger(__name__)

# How long to wait before reading the record again, by how many times it was read already.
# The first look is early (small launches, the sandbox); then it backs off so a real
# five-minute launch is read 7 times (2, 10, 30, 70, 130, 220, 340 s): 8 calls with the launch.
POLL_SCHEDULE = (2, 8, 20, 40, 60, 90, 120)


@dataclass(frozen=True)
class Step:
    """What happened, and when (seconds) to look again; None when nothing more is needed."""

    outcome: str
    poll_in: float | None = None


def poll_delay(polls_so_far: int) -> float:
    return POLL_SCHEDULE[min(polls_so_far, len(POLL_SCHEDULE) - 1)]


def tags_for(workspace: Workspace) -> list[dict[str, str]]:
    return [
        {"Key": "portal:team", "Value": workspace.team.slug},
        {"Key": "portal:project", "Value": workspace.project.slug},
        {"Key": "portal:workspace", "Value": str(workspace.pk)},
        {"Key": "portal:owner", "Value": workspace.owner.username},
        {"Key": "portal:cost-center", "Value": workspace.team.cost_center},
    ]


def parameters_for(workspace: Workspace, settings: TeamSettings) -> list[dict[str, str]]:
    """Size from the request; everything about network and encryption from the team's settings;
    internet and root access always disabled."""
    values = {
        "NotebookInstanceName": workspace.notebook_name,
        "InstanceType": workspace.instance_type,
        "VolumeSizeInGB": str(workspace.volume_size_gb),
        "KmsKeyId": settings.kms_key_id,
        "SubnetId": settings.subnet_id,
        "SecurityGroupIds": ",".join(settings.security_groups),
        "DirectInternetAccess": "Disabled",
        "RootAccess": "Disabled",
        "PlatformIdentifier": settings.platform_identifier,
    }
    if settings.lifecycle_config_name:
        values["LifecycleConfigName"] = settings.lifecycle_config_name
    return [{"Key": k, "Value": v} for k, v in values.items()]


def _fail(workspace: Workspace, message: str) -> Step:
    with transaction.atomic():
        workspace = _transition(
            workspace,
            allowed_from=[State.PROVISIONING],
            to=State.FAILED,
            actor=None,
            action="workspace.fail",
            verb="mark failed",
            reason=message,
        )
        notify(
            [workspace.owner],
            subject=f"Workspace {workspace.name} failed to provision",
            body=f"AWS said: {message}\nYou can retry it or terminate it from its page.",
            url=reverse("workspace_detail", args=[workspace.pk]),
        )
    return Step("failed")


def provisioned_product_name(workspace: Workspace) -> str:
    """AWS keeps a failed provisioned product (status ERROR) under its name, so each retry
    launches under its own name; the notebook keeps the workspace's name."""
    if workspace.provision_attempt == 1:
        return workspace.notebook_name
    return f"{workspace.notebook_name}-attempt-{workspace.provision_attempt}"


def _clean_up_failed_launch(workspace: Workspace) -> None:
    """Ask Service Catalog to remove the previous attempt's failed product; best effort,
    since it may already be gone, and it must not block the new launch."""
    try:
        aws.client("servicecatalog").terminate_provisioned_product(
            ProvisionedProductId=workspace.sc_provisioned_product_id,
            TerminateToken=f"{workspace.pk.hex}-cleanup-{workspace.provision_attempt}",
            IgnoreErrors=True,
        )
    except aws.ClientError as exc:
        if aws.is_transient(exc):
            raise
        logger.info("previous launch of %s already gone: %s", workspace.pk, exc)


def _launch(workspace: Workspace) -> Step:
    settings = TeamSettings.objects.filter(team=workspace.team).first()
    if settings is None:
        return _fail(workspace, f"{workspace.team.name} has no network and encryption settings.")
    offering = workspace.offering
    sc = aws.client("servicecatalog")
    if workspace.provision_attempt > 1 and workspace.sc_provisioned_product_id:
        _clean_up_failed_launch(workspace)
    try:
        response = sc.provision_product(
            ProductId=offering.version.product.product_id,
            ProvisioningArtifactId=offering.version.artifact_id,
            PathId=offering.version.launch_path_id,
            ProvisionedProductName=provisioned_product_name(workspace),
            ProvisioningParameters=parameters_for(workspace, settings),
            Tags=tags_for(workspace),
            ProvisionToken=workspace.provision_token,
        )
    except aws.ClientError as exc:
        if aws.is_transient(exc):
            raise
        # AWS refused the request itself (a parameter, a duplicate name): not worth retrying.
        return _fail(workspace, aws.error_message(exc))
    detail: dict[str, Any] = response["RecordDetail"]
    Workspace.objects.filter(pk=workspace.pk).update(
        sc_record_id=detail["RecordId"],
        sc_provisioned_product_id=detail.get("ProvisionedProductId", ""),
    )
    return Step("launched", poll_in=poll_delay(0))


def _follow(workspace: Workspace, polls: int) -> Step:
    record = aws.client("servicecatalog").describe_record(Id=workspace.sc_record_id)
    detail = record["RecordDetail"]
    status = detail["Status"]
    if status in {"CREATED", "IN_PROGRESS", "IN_PROGRESS_IN_ERROR"}:
        return Step("waiting", poll_in=poll_delay(polls))
    if status == "FAILED":
        errors = "; ".join(e.get("Description", "") for e in detail.get("RecordErrors", []))
        return _fail(workspace, errors or "Service Catalog reported the launch as failed.")
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in record.get("RecordOutputs", [])}
    with transaction.atomic():
        workspace = _transition(
            workspace,
            allowed_from=[State.PROVISIONING],
            to=State.AVAILABLE,
            actor=None,
            action="workspace.available",
            verb="mark available",
            reason="",
            notebook_arn=outputs.get("NotebookInstanceArn", ""),
            sc_provisioned_product_id=detail.get("ProvisionedProductId", "")
            or workspace.sc_provisioned_product_id,
        )
        notify(
            [workspace.owner],
            subject=f"Workspace {workspace.name} is ready",
            body="Your notebook is running. Open it from the workspace page.",
            url=reverse("workspace_detail", args=[workspace.pk]),
        )
    metrics.workspace_became_available(workspace)
    return Step("available")


def advance(workspace_id: str, polls: int = 0) -> Step:
    """Do the next provisioning step for this workspace, whatever state it is found in."""
    workspace = (
        Workspace.objects.select_related("team", "project", "owner", "offering__version__product")
        .filter(pk=uuid.UUID(workspace_id))
        .first()
    )
    if workspace is None:
        return Step("gone")
    if workspace.state == State.APPROVED:
        try:
            workspace = _transition(
                workspace,
                allowed_from=[State.APPROVED],
                to=State.PROVISIONING,
                actor=None,
                action="workspace.provision",
                verb="provision",
            )
        except InvalidTransition:
            return Step("taken")  # another delivery of this task got there first
        return _launch(workspace)
    if workspace.state == State.PROVISIONING:
        if not workspace.sc_record_id:
            # A worker died between the state change and the launch: launch again. The same
            # ProvisionToken returns the first launch's record if there was one.
            return _launch(workspace)
        return _follow(workspace, polls)
    return Step(f"nothing to do in state {workspace.state}")
