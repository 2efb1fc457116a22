"""The reconciler: the database row is the outbox, and this makes sure nothing is lost.

Once a minute it (1) re-enqueues workspaces that have sat in a transitional state longer than
their work should take (a lost message, a flushed broker, a killed worker), and (2) compares
live workspaces with what SageMaker reports, recording drift (stopped, deleted, failed or
resized behind the portal's back) as an audit event and moving the workspace to the truth.
SageMaker is read with its list call, a page per 100 notebooks, never one call per workspace.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from governance.services import audit_record
from portal import aws
from workspaces.models import State, Workspace
from workspaces.services import InvalidTransition, _transition

logger = logging.getLogger(__name__)

# How long a state may last before its work is presumed lost and enqueued again. Enqueueing
# twice is harmless (every step is idempotent), so these err on the short side.
STALE_AFTER = {
    State.APPROVED: dt.timedelta(minutes=2),
    State.PROVISIONING: dt.timedelta(minutes=5),
    State.STOPPING: dt.timedelta(minutes=3),
    State.STARTING: dt.timedelta(minutes=3),
    State.TERMINATING: dt.timedelta(minutes=5),
}
PROVISIONING_STATES = {State.APPROVED, State.PROVISIONING}


@dataclass
class Report:
    requeued: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    aws_calls: int = 0


def requeue_stale(now: dt.datetime, report: Report) -> None:
    from workspaces.tasks import operate_workspace, provision_workspace

    for state, limit in STALE_AFTER.items():
        stale = Workspace.objects.filter(state=state, state_changed_at__lt=now - limit)
        for workspace_id in stale.values_list("pk", flat=True).iterator():
            task = provision_workspace if state in PROVISIONING_STATES else operate_workspace
            task.delay(str(workspace_id))
            report.requeued.append(str(workspace_id))


def list_notebooks(report: Report) -> dict[str, dict[str, Any]]:
    """Every notebook in the account and region, by name."""
    notebooks: dict[str, dict[str, Any]] = {}
    paginator = aws.client("sagemaker").get_paginator("list_notebook_instances")
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        report.aws_calls += 1
        for notebook in page["NotebookInstances"]:
            notebooks[notebook["NotebookInstanceName"]] = notebook
    return notebooks


def _drift(workspace: Workspace, *, to: State, reason: str, report: Report) -> None:
    try:
        with transaction.atomic():
            _transition(
                workspace,
                allowed_from=[State(workspace.state)],
                to=to,
                actor=None,
                action="workspace.drift",
                verb="reconcile",
                reason=reason,
            )
    except InvalidTransition:
        return  # it moved meanwhile; the next run looks again
    report.drifted.append(str(workspace.pk))


def record_drift(report: Report) -> None:
    live = list(
        Workspace.objects.filter(state__in=[State.AVAILABLE, State.STOPPED])
        .exclude(notebook_arn="")
        .select_related("team")
    )
    if not live:
        return
    notebooks = list_notebooks(report)
    for workspace in live:
        notebook = notebooks.get(workspace.notebook_name)
        status = notebook["NotebookInstanceStatus"] if notebook else None
        if status is None:
            _drift(
                workspace,
                to=State.FAILED,
                report=report,
                reason="The notebook was deleted outside the portal. Terminate the "
                "workspace to clean up, or ask for a new one.",
            )
        elif status == "Failed":
            _drift(
                workspace,
                to=State.FAILED,
                report=report,
                reason="SageMaker reports the notebook as failed.",
            )
        elif workspace.state == State.AVAILABLE and status in {"Stopped", "Stopping"}:
            _drift(
                workspace,
                to=State.STOPPED,
                report=report,
                reason="The notebook was stopped outside the portal.",
            )
        elif workspace.state == State.STOPPED and status in {"InService", "Pending"}:
            _drift(
                workspace,
                to=State.AVAILABLE,
                report=report,
                reason="The notebook was started outside the portal.",
            )
        elif notebook and notebook.get("InstanceType") not in (None, workspace.instance_type):
            with transaction.atomic():
                before = {"instance_type": workspace.instance_type}
                Workspace.objects.filter(pk=workspace.pk).update(
                    instance_type=notebook["InstanceType"]
                )
                audit_record(
                    actor=None,
                    action="workspace.drift",
                    target=workspace,
                    team=workspace.team,
                    before=before,
                    after={"instance_type": notebook["InstanceType"]},
                    reason="The instance type was changed outside the portal.",
                )
            report.drifted.append(str(workspace.pk))


def reconcile(now: dt.datetime | None = None) -> Report:
    report = Report()
    requeue_stale(now or timezone.now(), report)
    record_drift(report)
    if report.requeued or report.drifted:
        logger.info(
            "reconcile: requeued %d, drift %d, %d AWS calls",
            len(report.requeued),
            len(report.drifted),
            report.aws_calls,
        )
    return report
