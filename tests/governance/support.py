"""Helpers shared by the governance tests: the portal pointed at the sandbox, notebooks made
behind the portal's back with plain boto3, and managed workspaces set up through services."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from governance.models import (
    CheckStatus,
    ComplianceResult,
    ComplianceSummary,
    Control,
    EvaluationRun,
)
from portal import aws
from portal.models import Team
from tests.conftest import World
from tests.factories import published_offering
from tests.support.sandbox import Sandbox
from workspaces.models import State, Workspace
from workspaces.provisioning import tags_for
from workspaces.services import workspace_approve, workspace_request

TEAM_KEY = "arn:aws:kms:us-east-1:123456789012:key/test"  # what published_offering sets
TEAM_SUBNET = "subnet-0a1b2c3d4e5f60718"
ROLE = "arn:aws:iam::123456789012:role/notebook"


@pytest.fixture
def portal_aws(sandbox_clean: Sandbox, settings: Any) -> Iterator[Sandbox]:
    """The demo seed (its Config rules and two teams' notebooks), with the portal's gateway
    pointed at it."""
    sandbox_clean.control.seed("demo")
    settings.AWS_ENDPOINT_URL = sandbox_clean.url
    settings.AWS_SANDBOX_CREDENTIALS = True
    aws.reset_clients()
    yield sandbox_clean
    aws.reset_clients()


def wait_for(sagemaker: Any, name: str, status: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sagemaker.describe_notebook_instance(NotebookInstanceName=name)
        if found["NotebookInstanceStatus"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never became {status}")


def create_notebook(
    sandbox: Sandbox, name: str, tags: list[dict[str, str]], **overrides: str
) -> None:
    """A notebook created straight in SageMaker, as someone with console access would."""
    sagemaker = sandbox.client("sagemaker")
    params: dict[str, Any] = {
        "NotebookInstanceName": name,
        "InstanceType": "ml.t3.medium",
        "RoleArn": ROLE,
        "KmsKeyId": TEAM_KEY,
        "SubnetId": TEAM_SUBNET,
        "SecurityGroupIds": ["sg-0a1b2c3d4e5f60719"],
        "DirectInternetAccess": "Disabled",
        "RootAccess": "Disabled",
        "PlatformIdentifier": "notebook-al2-v3",
        "Tags": tags,
    }
    params.update(overrides)
    sagemaker.create_notebook_instance(**params)
    wait_for(sagemaker, name, "InService")


def team_tags(team: Team, **values: str) -> list[dict[str, str]]:
    tags = {
        "portal:team": team.slug,
        "portal:project": "side-project",
        "portal:workspace": "none",
        "portal:owner": "someone",
        "portal:cost-center": team.cost_center,
        **values,
    }
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def approved_workspace(world: World, name: str = "claims-eda") -> Workspace:
    offering = published_offering(world.team)
    workspace = workspace_request(
        actor=world.analyst,
        offering=offering,
        team=world.team,
        project=world.project,
        name=name,
        instance_type="ml.t3.medium",
        volume_size_gb=20,
        end_date=dt.date.today() + dt.timedelta(days=30),
        justification="Exploring claims data.",
    )
    return workspace_approve(actor=world.approver, workspace=workspace)


def managed_workspace(world: World, sandbox: Sandbox, name: str = "claims-eda") -> Workspace:
    """An approved workspace whose notebook runs in the sandbox as provisioning leaves it."""
    workspace = approved_workspace(world, name)
    create_notebook(sandbox, workspace.notebook_name, tags_for(workspace))
    arn = sandbox.client("sagemaker").describe_notebook_instance(
        NotebookInstanceName=workspace.notebook_name
    )["NotebookInstanceArn"]
    # Provisioning's own steps need Service Catalog; only their outcome matters here.
    Workspace.objects.filter(pk=workspace.pk).update(state=State.AVAILABLE, notebook_arn=arn)
    workspace.refresh_from_db()
    return workspace


def bulk_history(
    world: World, team: Team, workspaces: int, days: int = 3, prefix: str = "ws"
) -> None:
    """``workspaces`` live workspaces of ``team`` and one evaluation a day for the last
    ``days`` days, today included, each failing root access on every third notebook. Rows are
    bulk-created: going through the sandbox for 2,000 notebooks would test the sandbox, not
    the page."""
    offering = published_offering(team)
    project = world.project if team == world.team else world.other_project
    now = timezone.now()
    rows = Workspace.objects.bulk_create(
        Workspace(
            team=team,
            project=project,
            owner=world.analyst,
            offering=offering,
            name=f"{prefix}-{i:05d}",
            instance_type="ml.t3.medium",
            volume_size_gb=20,
            end_date=now.date() + dt.timedelta(days=30),
            justification="bulk",
            estimated_monthly_usd=10,
            state=State.AVAILABLE,
        )
        for i in range(workspaces)
    )
    # The newest run is earlier today, between the portal's midnight and now, so that the runs
    # fall on exactly ``days`` calendar days whatever the hour; an hour back from just after
    # midnight would land on yesterday, and a run made by the test today would add a day.
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    earlier_today = (now - midnight) / 2
    for day in range(days, 0, -1):
        at = now - dt.timedelta(days=day - 1) - earlier_today
        run = EvaluationRun.objects.create(
            started_at=at, status=EvaluationRun.Status.SUCCEEDED, resources=workspaces
        )
        results = [
            ComplianceResult(
                run=run,
                team=team,
                evaluated_at=at,
                workspace=w,
                resource_name=f"{team.slug}-{w.name}",
                control=control,
                status=CheckStatus.FAIL
                if control == Control.NO_ROOT and i % 3 == 0
                else CheckStatus.PASS,
                detail="bulk",
                config_rule="sagemaker-notebook-instance-root-access-check",
                config_status="COMPLIANT",
            )
            for i, w in enumerate(rows)
            for control in Control.values
        ]
        ComplianceResult.objects.bulk_create(results, batch_size=5000)
        failed = sum(1 for r in results if r.status == CheckStatus.FAIL)
        ComplianceSummary.objects.create(
            run=run,
            team=team,
            evaluated_at=at,
            resources=workspaces,
            noncompliant_resources=failed,
            checks_passed=len(results) - failed,
            checks_failed=failed,
            score=round(100 * (len(results) - failed) / len(results), 1) if results else None,
        )


def recorded_run(
    at: dt.datetime,
    notebooks: dict[Team, list[str]],
    *,
    team: Team | None = None,
    status: str = EvaluationRun.Status.SUCCEEDED,
) -> EvaluationRun:
    """An evaluation that finished at ``at``, stored as ``evaluate_compliance`` stores one: a
    result per notebook and control (all passing) for the teams it evaluated (every team, or
    ``team`` alone) and a summary per evaluated team, notebooks or not; a failed run has
    neither. Written by hand because the service takes its time from the clock, and a year of
    hourly runs through the sandbox would test the sandbox."""
    run = EvaluationRun.objects.create(
        started_at=at - dt.timedelta(minutes=2),
        finished_at=at,
        team=team,
        status=status,
        resources=sum(len(names) for t, names in notebooks.items() if team in (None, t)),
    )
    if status != EvaluationRun.Status.SUCCEEDED:
        return run
    teams = [team] if team is not None else list(Team.objects.order_by("pk"))
    ComplianceResult.objects.bulk_create(
        ComplianceResult(
            run=run,
            team=t,
            evaluated_at=at,
            resource_name=name,
            control=control,
            status=CheckStatus.PASS,
            detail="recorded",
        )
        for t in teams
        for name in notebooks.get(t, [])
        for control in Control.values
    )
    ComplianceSummary.objects.bulk_create(
        ComplianceSummary(
            run=run,
            team=t,
            evaluated_at=at,
            resources=len(notebooks.get(t, [])),
            checks_passed=len(Control.values) * len(notebooks.get(t, [])),
            score=100 if notebooks.get(t) else None,
        )
        for t in teams
    )
    return run
