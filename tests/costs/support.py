"""Cost rows for the cost page tests, written the way the cost sync leaves them: DailyCost
per day, workspace tag and service, and the TeamDailyCost rollup summed from those rows.

The end-to-end tests use the real sync against the sandbox; these helpers exist so the pages'
own rules (sorting, filters, drill-down, query counts at scale) can be tested on chosen
numbers without a ledger."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from decimal import Decimal
from html.parser import HTMLParser

from django.utils import timezone

from costs.models import (
    BudgetAlert,
    CostSyncRun,
    CostTagStatus,
    DailyCost,
    TeamForecast,
)
from costs.sync import COST_TAG_KEYS, rollup_rebuild
from portal.models import Project, Team, User
from tests.factories import ProjectFactory, TeamFactory, published_offering
from workspaces.models import State, Workspace

SAGEMAKER = "Amazon SageMaker"
STORAGE = "Amazon Simple Storage Service"


def make_workspaces(
    team: Team, project: Project, owner: User, count: int, prefix: str = "ws"
) -> list[Workspace]:
    offering = published_offering(team)
    today = timezone.localdate()
    return Workspace.objects.bulk_create(
        Workspace(
            team=team,
            project=project,
            owner=owner,
            offering=offering,
            name=f"{prefix}-{i:05d}",
            instance_type="ml.t3.medium",
            volume_size_gb=20,
            end_date=today + dt.timedelta(days=60),
            justification="cost tests",
            estimated_monthly_usd=Decimal("40.00"),
            state=State.AVAILABLE,
        )
        for i in range(count)
    )


Row = tuple[dt.date, Workspace | None, str, Decimal]


def add_costs(rows: Iterable[Row], *, untagged_tag: str = "") -> None:
    """DailyCost rows (day, workspace or None for untagged, service, amount) and the rollup
    of their days, replaced as the sync replaces them."""
    daily = []
    for day, workspace, service, amount in rows:
        daily.append(
            DailyCost(
                day=day,
                workspace_tag=str(workspace.pk) if workspace else untagged_tag,
                service=service,
                team_id=workspace.team_id if workspace else None,
                project_id=workspace.project_id if workspace else None,
                workspace=workspace,
                amount_usd=amount,
            )
        )
    DailyCost.objects.bulk_create(daily, batch_size=5000)
    rebuild_rollup({d.day for d in daily})


def rebuild_rollup(days: set[dt.date]) -> None:
    """The sync's own rollup over the span of ``days`` (rows written by hand in a test)."""
    if days:
        rollup_rebuild(min(days), max(days) + dt.timedelta(days=1))


def team_spent(team: Team, amount: str, *, day: dt.date | None = None) -> None:
    """This month's spend of ``team`` as the sync would leave it: one daily row (the first of
    the month unless ``day`` is given) and the rollup the budget position reads."""
    day = day or timezone.localdate().replace(day=1)
    DailyCost.objects.create(
        day=day,
        workspace_tag="x",
        service="Amazon SageMaker",
        team=team,
        amount_usd=Decimal(amount),
    )
    rebuild_rollup({day})


def tags_active(*, active: bool = True) -> None:
    now = timezone.now()
    for key in COST_TAG_KEYS:  # the tags the sync checks
        CostTagStatus.objects.update_or_create(
            key=key,
            defaults={"status": "Active" if active else "Inactive", "checked_at": now},
        )


def finished_sync(days: int = 3) -> CostSyncRun:
    today = timezone.localdate()
    return CostSyncRun.objects.create(
        kind=CostSyncRun.Kind.SCHEDULED,
        status=CostSyncRun.Status.SUCCEEDED,
        start_day=today - dt.timedelta(days=days),
        end_day=today + dt.timedelta(days=1),
        finished_at=timezone.now(),
        ce_requests=1,
        pages=1,
    )


def forecast(team: Team, mean: str, low: str, high: str, portal: bool = False) -> TeamForecast:
    month = timezone.localdate().replace(day=1)
    return TeamForecast.objects.create(
        team=team,
        month=month,
        mean_usd=Decimal(mean),
        low_usd=Decimal(low),
        high_usd=Decimal(high),
        source=TeamForecast.Source.PORTAL if portal else TeamForecast.Source.COST_EXPLORER,
        computed_at=timezone.now(),
    )


def alert(
    team: Team, threshold: int, kind: str = "actual", budget: str = "100", amount: str = "85"
) -> BudgetAlert:
    return BudgetAlert.objects.create(
        team=team,
        month=timezone.localdate().replace(day=1),
        kind=kind,
        threshold_percent=threshold,
        budget_usd=Decimal(budget),
        amount_usd=Decimal(amount),
        raised_at=timezone.now(),
    )


def bulk_org(
    owner: User,
    teams: int,
    workspaces_per_team: int,
    days: int,
    prefix: str = "bulk",
    *,
    with_untagged: bool = True,
) -> list[Team]:
    """``teams`` teams with one project and ``workspaces_per_team`` workspaces each, every
    workspace costing on each of the last ``days`` days, plus untagged spend each day."""
    today = timezone.localdate()
    made: list[Team] = []
    rows: list[Row] = []
    for t in range(teams):
        team = TeamFactory.create(
            name=f"{prefix} team {t:03d}", slug=f"{prefix}-team-{t:03d}", cost_center=f"CC-{t}"
        )
        project = ProjectFactory.create(team=team, name="Main", slug="main")
        for n, workspace in enumerate(
            make_workspaces(team, project, owner, workspaces_per_team, prefix=f"{prefix}{t}")
        ):
            for d in range(days):
                amount = Decimal(1 + (t * 7 + n + d) % 13) / 4
                rows.append((today - dt.timedelta(days=d), workspace, SAGEMAKER, amount))
        made.append(team)
    for d in range(days if with_untagged else 0):
        rows.append((today - dt.timedelta(days=d), None, SAGEMAKER, Decimal("0.50")))
    add_costs(rows)
    return made


class _Tables(HTMLParser):
    """Rows of the <table data-testid=...> tables of a page: each row's header and cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        testid = found.get("data-testid")
        if tag == "table" and testid:
            self._table = testid
            self.tables[testid] = []
        elif self._table and tag == "tr":
            self._row = []
        elif self._row is not None and tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page_tables(html: str) -> dict[str, list[list[str]]]:
    """Every table with a data-testid, header row first, as the text a reader sees."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def csv_tables(body: str) -> list[list[list[str]]]:
    """The tables of a cost CSV export (separated by an empty line), header rows included."""
    tables: list[list[list[str]]] = [[]]
    for row in csv.reader(io.StringIO(body)):
        if not row:
            tables.append([])
        else:
            tables[-1].append(row)
    return tables
