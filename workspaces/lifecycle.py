"""Stop, start, terminate, retry and open a workspace.

Each action is a compare-and-swap into a transitional state (``stopping``, ``starting``,
``terminating``) written with its audit event, and a task enqueued on commit. The task's
``advance`` looks at AWS and does the next thing, so a redelivered or re-enqueued task (the
reconciler does that) repeats nothing harmful: it asks SageMaker what the notebook is doing
before telling it anything.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from governance.services import audit_record
from portal import aws
from portal.models import User
from workspaces.models import State, Workspace
from workspaces.provisioning import Step, poll_delay
from workspaces.services import (
    InvalidTransition,
    _enqueue_provisioning,
    _transition,
    can_decide,
)

PRESIGNED_URL_SECONDS = 1800  # the notebook session; the link itself must be used at once


def _require_operator(actor: User, workspace: Workspace) -> None:
    if workspace.owner_id != actor.pk and not actor.is_portal_admin:
        raise PermissionDenied("Only the workspace's owner and admins operate it.")


def _enqueue(workspace: Workspace) -> None:
    from workspaces.tasks import operate_workspace

    operate_workspace.delay_on_commit(str(workspace.pk))  # type: ignore[attr-defined]


def _operate(
    actor: User | None,
    workspace: Workspace,
    *,
    allowed_from: list[State],
    to: State,
    verb: str,
    reason: str = "",
) -> Workspace:
    """Owner or admin (or the system, ``actor=None``): into the transitional state, with its
    audit event, and the task that does the work enqueued on commit."""
    if actor is not None:
        _require_operator(actor, workspace)
    workspace = _transition(
        workspace,
        allowed_from=allowed_from,
        to=to,
        actor=actor,
        action=f"workspace.{verb}",
        verb=verb,
        reason=reason,
    )
    _enqueue(workspace)
    return workspace


@transaction.atomic
def workspace_stop(*, actor: User | None, workspace: Workspace, reason: str = "") -> Workspace:
    return _operate(
        actor,
        workspace,
        allowed_from=[State.AVAILABLE],
        to=State.STOPPING,
        verb="stop",
        reason=reason,
    )


@transaction.atomic
def workspace_start(*, actor: User, workspace: Workspace) -> Workspace:
    return _operate(actor, workspace, allowed_from=[State.STOPPED], to=State.STARTING, verb="start")


@transaction.atomic
def workspace_terminate(*, actor: User | None, workspace: Workspace, reason: str = "") -> Workspace:
    return _operate(
        actor,
        workspace,
        allowed_from=[State.AVAILABLE, State.STOPPED, State.FAILED],
        to=State.TERMINATING,
        verb="terminate",
        reason=reason,
    )


@transaction.atomic
def workspace_retry(*, actor: User, workspace: Workspace) -> Workspace:
    """A failed workspace goes back to ``approved`` with a new ProvisionToken, so Service
    Catalog treats the retry as a new launch rather than returning the failed record. The
    failed provisioned product's id is kept so the launch can clean it up first."""
    if workspace.owner_id != actor.pk and not can_decide(actor, workspace):
        raise PermissionDenied("The requester, the team's approvers and admins can retry.")
    workspace = _transition(
        workspace,
        allowed_from=[State.FAILED],
        to=State.APPROVED,
        actor=actor,
        action="workspace.retry",
        verb="retry",
        provision_attempt=workspace.provision_attempt + 1,
        sc_record_id="",
        notebook_arn="",
    )
    _enqueue_provisioning(workspace)
    return workspace


@transaction.atomic
def workspace_open(*, actor: User, workspace: Workspace) -> str:
    """A short-lived notebook URL for the owner or an admin; every opening is audited."""
    _require_operator(actor, workspace)
    if workspace.state != State.AVAILABLE:
        raise InvalidTransition(
            f"Cannot open {workspace.name}: it is {workspace.get_state_display().lower()}."
        )
    url: str = aws.client("sagemaker").create_presigned_notebook_instance_url(
        NotebookInstanceName=workspace.notebook_name,
        SessionExpirationDurationInSeconds=PRESIGNED_URL_SECONDS,
    )["AuthorizedUrl"]
    audit_record(
        actor=actor,
        action="workspace.open",
        target=workspace,
        team=workspace.team,
        after={"session_seconds": PRESIGNED_URL_SECONDS},
    )
    return url


# --- the worker's side ------------------------------------------------------------------------


def _notebook_status(workspace: Workspace) -> str | None:
    """SageMaker's status for the notebook, or None when it does not exist."""
    try:
        response: dict[str, Any] = aws.client("sagemaker").describe_notebook_instance(
            NotebookInstanceName=workspace.notebook_name
        )
    except aws.ClientError as exc:
        if aws.error_code(exc) == "ValidationException" and "RecordNotFound" in str(exc):
            return None
        raise
    return str(response["NotebookInstanceStatus"])


def _settle(workspace: Workspace, *, to: State, action: str, reason: str = "") -> Step:
    with transaction.atomic():
        _transition(
            workspace,
            allowed_from=[State(workspace.state)],
            to=to,
            actor=None,
            action=action,
            verb=action.split(".")[-1],
            reason=reason,
        )
    return Step(str(to))


def _advance_stop(workspace: Workspace, polls: int) -> Step:
    status = _notebook_status(workspace)
    if status is None:
        return _settle(
            workspace,
            to=State.FAILED,
            action="workspace.lost",
            reason="The notebook no longer exists in SageMaker.",
        )
    if status == "Stopped":
        return _settle(workspace, to=State.STOPPED, action="workspace.stopped")
    if status == "InService":
        aws.client("sagemaker").stop_notebook_instance(NotebookInstanceName=workspace.notebook_name)
    return Step("stopping", poll_in=poll_delay(polls))


def _advance_start(workspace: Workspace, polls: int) -> Step:
    status = _notebook_status(workspace)
    if status is None:
        return _settle(
            workspace,
            to=State.FAILED,
            action="workspace.lost",
            reason="The notebook no longer exists in SageMaker.",
        )
    if status == "InService":
        return _settle(workspace, to=State.AVAILABLE, action="workspace.started")
    if status == "Failed":
        return _settle(
            workspace,
            to=State.FAILED,
            action="workspace.fail",
            reason="SageMaker could not start the notebook.",
        )
    if status == "Stopped":
        aws.client("sagemaker").start_notebook_instance(
            NotebookInstanceName=workspace.notebook_name
        )
    return Step("starting", poll_in=poll_delay(polls))


def _advance_terminate(workspace: Workspace, polls: int) -> Step:
    if not workspace.sc_provisioned_product_id:
        # Nothing was ever launched (it failed before Service Catalog accepted it).
        return _settle(workspace, to=State.TERMINATED, action="workspace.terminated")
    sc = aws.client("servicecatalog")
    try:
        record = sc.terminate_provisioned_product(
            ProvisionedProductId=workspace.sc_provisioned_product_id,
            TerminateToken=f"{workspace.pk.hex}-terminate-{workspace.provision_attempt}",
        )["RecordDetail"]
    except aws.ClientError as exc:
        if aws.error_code(exc) == "ResourceNotFoundException":
            return _settle(workspace, to=State.TERMINATED, action="workspace.terminated")
        raise
    detail = sc.describe_record(Id=record["RecordId"])["RecordDetail"]
    if detail["Status"] == "SUCCEEDED":
        return _settle(workspace, to=State.TERMINATED, action="workspace.terminated")
    if detail["Status"] == "FAILED":
        errors = "; ".join(e.get("Description", "") for e in detail.get("RecordErrors", []))
        return _settle(
            workspace,
            to=State.FAILED,
            action="workspace.fail",
            reason=f"Termination failed: {errors}",
        )
    return Step("terminating", poll_in=poll_delay(polls))


def advance(workspace_id: str, polls: int = 0) -> Step:
    workspace = (
        Workspace.objects.select_related("team", "owner").filter(pk=uuid.UUID(workspace_id)).first()
    )
    if workspace is None:
        return Step("gone")
    if workspace.state == State.STOPPING:
        return _advance_stop(workspace, polls)
    if workspace.state == State.STARTING:
        return _advance_start(workspace, polls)
    if workspace.state == State.TERMINATING:
        return _advance_terminate(workspace, polls)
    return Step(f"nothing to do in state {workspace.state}")
