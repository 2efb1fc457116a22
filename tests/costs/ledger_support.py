"""Helpers for the cost sync tests: workspaces made in bulk, ledger rows for them in the
sandbox, and the truth read straight from the sandbox's Cost Explorer."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from costs.calendar import cost_today
from costs.sync import COST_TAG_KEYS
from portal.models import Project, Team, User
from tests.support.sandbox import Sandbox
from workspaces.models import State, Workspace

COST_TAGS = list(COST_TAG_KEYS)  # the tags the sync checks
SERVICE = "Amazon SageMaker"


def make_workspaces(
    team: Team, project: Project, owner: User, offering: Any, count: int, prefix: str = "ws"
) -> list[Workspace]:
    """Running workspaces created in one insert (no AWS involved)."""
    return Workspace.objects.bulk_create(
        [
            Workspace(
                team=team,
                project=project,
                owner=owner,
                offering=offering,
                name=f"{prefix}-{i}",
                instance_type="ml.t3.medium",
                volume_size_gb=20,
                end_date=dt.date(2099, 1, 1),
                justification="cost test",
                estimated_monthly_usd=Decimal("40"),
                state=State.AVAILABLE,
            )
            for i in range(count)
        ]
    )


def usage(workspace: Workspace, day: dt.date, cost: float, **extra: Any) -> dict[str, Any]:
    """One ledger row for the workspace, tagged as the portal tags its notebooks."""
    return {
        "day": day.isoformat(),
        "cost": cost,
        "tags": {
            "portal:team": workspace.team.slug,
            "portal:project": workspace.project.slug,
            "portal:workspace": str(workspace.pk),
        },
        "resource_id": f"arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/{workspace.pk}",
        **extra,
    }


def unmanaged(
    day: dt.date, cost: float, *, workspace: str, team: str = "", project: str = ""
) -> dict[str, Any]:
    """One ledger row of a notebook made outside the portal: its workspace tag is a name, not
    a portal workspace's id; team and project tags only when given."""
    tags = {"portal:workspace": workspace, "portal:team": team, "portal:project": project}
    return {
        "day": day.isoformat(),
        "cost": cost,
        "tags": {k: v for k, v in tags.items() if v},
        "resource_id": f"arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/{workspace}",
    }


def untagged(day: dt.date, cost: float, resource: str = "untagged-1") -> dict[str, Any]:
    return {"day": day.isoformat(), "cost": cost, "tags": {}, "resource_id": resource}


def days_back(n: int) -> list[dt.date]:
    """The last ``n`` complete days, oldest first."""
    today = cost_today()
    return [today - dt.timedelta(days=k) for k in range(n, 0, -1)]


def ce_truth(sb: Sandbox, start: dt.date, end: dt.date) -> dict[tuple[dt.date, str, str], Decimal]:
    """What Cost Explorer reports for the window, grouped as the sync groups, every page."""
    ce = sb.client("ce")
    out: dict[tuple[dt.date, str, str], Decimal] = defaultdict(Decimal)
    token = None
    while True:
        page = ce.get_cost_and_usage(
            TimePeriod={"Start": start.isoformat(), "End": end.isoformat()},
            Granularity="DAILY",
            Metrics=["UnblendedCost"],
            GroupBy=[
                {"Type": "TAG", "Key": "portal:workspace"},
                {"Type": "DIMENSION", "Key": "SERVICE"},
            ],
            **({"NextPageToken": token} if token else {}),
        )
        for result in page["ResultsByTime"]:
            day = dt.date.fromisoformat(result["TimePeriod"]["Start"])
            for group in result["Groups"]:
                tag = group["Keys"][0].partition("$")[2]
                amount = Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
                if amount:
                    out[(day, tag, group["Keys"][1])] += amount
        token = page.get("NextPageToken")
        if not token:
            return dict(out)


def ce_calls(sb: Sandbox) -> int:
    return sum(n for op, n in sb.control.calls().items() if op.startswith("ce:"))


class CostSequences:
    """Counts the ``get_cost_and_usage`` request sequences the portal's Cost Explorer client
    starts (requests without a NextPageToken), by granularity and grouping, on top of the
    sandbox's own call counter. Use as a context manager in the thread that syncs."""

    def __init__(self) -> None:
        self.started: list[tuple[str, tuple[str, ...]]] = []
        self.requests = 0

    def _seen(self, params: dict[str, Any], **_: Any) -> None:
        self.requests += 1
        if not params.get("NextPageToken"):
            keys = tuple(g["Key"] for g in params.get("GroupBy", []))
            self.started.append((params["Granularity"], keys))

    def __enter__(self) -> CostSequences:
        from portal import aws

        self._events = aws.client("ce").meta.events
        self._events.register("provide-client-params.ce.GetCostAndUsage", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        self._events.unregister("provide-client-params.ce.GetCostAndUsage", self._seen)
