"""Drill-down (team -> project -> workspace -> service), and the cost summaries of the team
and workspace pages."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum
from django.urls import reverse

from costs.calendar import cost_today, month_start
from costs.forms import Granularity
from costs.models import (
    BudgetAlert,
    DailyCost,
    TeamBudget,
    TeamDailyCost,
    TeamForecast,
)
from costs.selectors.tables import (
    ZERO,
    Column,
    CostTable,
    TableRow,
    grouped,
    money,
    periods_between,
    pivot,
)
from portal.models import Project, Team, User
from workspaces.models import Workspace

NO_PROJECT = Column("none", "No project")


@dataclass
class Drill:
    """One drill-down level: what the children cost over the range, and per period."""

    breakdown: CostTable
    series: CostTable
    total: Decimal


def _breakdown(
    first_column: str, labels: dict[str, Column], totals: dict[str, Decimal], extra: list[Column]
) -> CostTable:
    grand = sum(totals.values(), ZERO)
    keys = sorted(
        (k for k in labels if k not in {c.key for c in extra}),
        key=lambda k: (-totals.get(k, ZERO), labels[k].label.lower()),
    )
    rows = []
    for column in [*(labels[k] for k in keys), *extra]:
        amount = totals.get(column.key, ZERO)
        if column in extra and not amount:
            continue
        share = (amount * 100 / grand).quantize(Decimal("0.1")) if grand else ZERO
        rows.append(TableRow(column.key, column.label, [money(amount), share], url=column.url))
    rows.append(TableRow("total", "Total", [money(grand), Decimal("100.0") if grand else ZERO]))
    columns = [Column("usd", "Spend (USD)"), Column("share", "Share (%)", kind="percent")]
    return CostTable(first_column, columns, rows)


def _drill(
    amounts: list[tuple[dt.date, str, Decimal]],
    *,
    start: dt.date,
    end: dt.date,
    granularity: str,
    first_column: str,
    labels: dict[str, Column],
    fixed: list[Column],
    other_label: str,
) -> Drill:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    fixed_keys = {c.key for c in fixed}
    for _, key, amount in amounts:
        totals[key if key in labels or key in fixed_keys else fixed[0].key] += amount
    series = pivot(
        amounts, periods_between(start, end, granularity), granularity, labels, fixed, other_label
    )
    series.first_column = "Day" if granularity == Granularity.DAILY else "Month"
    breakdown = _breakdown(first_column, {**labels, **{c.key: c for c in fixed}}, totals, fixed)
    return Drill(breakdown, series, money(sum(totals.values(), ZERO)))


def team_drill(team: Team, *, start: dt.date, end: dt.date, granularity: str) -> Drill:
    """A team's projects over the range, from the rollup: two queries."""
    projects = {
        str(p.pk): Column(str(p.pk), p.name, reverse("project_costs", args=[team.slug, p.slug]))
        for p in Project.objects.filter(team=team)
    }
    amounts = grouped(
        TeamDailyCost.objects.filter(team=team, day__gte=start, day__lte=end),
        granularity,
        "project_id",
    )
    return _drill(
        amounts,
        start=start,
        end=end,
        granularity=granularity,
        first_column="Project",
        labels=projects,
        fixed=[NO_PROJECT],
        other_label="Other projects",
    )


HIDDEN_WORKSPACES = Column("hidden", "Other people's workspaces")
# Spend tagged with the project by a notebook the portal did not make (its workspace tag
# names no portal workspace): not a person's workspace, so not summed with theirs.
OUTSIDE_PORTAL = Column("outside", "Notebooks made outside the portal")


def project_drill(
    user: User, project: Project, *, start: dt.date, end: dt.date, granularity: str
) -> Drill:
    """A project's workspaces over the range from the daily rows; workspaces the user may not
    open are summed in one row, and spend of notebooks made outside the portal in another, so
    the totals still match: two queries."""
    from workspaces.selectors import workspaces_visible_to

    amounts = [
        (period, key or OUTSIDE_PORTAL.key, amount)
        for period, key, amount in grouped(
            DailyCost.objects.filter(project=project, day__gte=start, day__lte=end),
            granularity,
            "workspace_id",
        )
    ]
    ids = {k for _, k, _ in amounts if k != OUTSIDE_PORTAL.key}
    visible = {
        str(w.pk): Column(str(w.pk), w.name, reverse("workspace_costs", args=[w.pk]))
        for w in workspaces_visible_to(user).filter(pk__in=ids).select_related(None).only("name")
    }
    return _drill(
        amounts,
        start=start,
        end=end,
        granularity=granularity,
        first_column="Workspace",
        labels=visible,
        fixed=[HIDDEN_WORKSPACES, OUTSIDE_PORTAL],
        other_label="Other workspaces",
    )


def workspace_drill(
    workspace: Workspace, *, start: dt.date, end: dt.date, granularity: str
) -> Drill:
    """A workspace's AWS services over the range: one query."""
    amounts = grouped(
        DailyCost.objects.filter(workspace=workspace, day__gte=start, day__lte=end),
        granularity,
        "service",
    )
    services = {k: Column(k, k) for _, k, _ in amounts}
    return _drill(
        amounts,
        start=start,
        end=end,
        granularity=granularity,
        first_column="AWS service",
        labels=services,
        fixed=[Column("unknown", "Unknown service")],
        other_label="Other services",
    )


# --- team and workspace summaries (the team page, the workspace page) -----------------------


@dataclass
class TeamMonth:
    month: dt.date
    month_to_date: Decimal
    budget: TeamBudget | None
    forecast: TeamForecast | None
    alerts: list[BudgetAlert]

    @property
    def percent_used(self) -> int | None:
        if not self.budget:
            return None
        return int(self.month_to_date * 100 / self.budget.monthly_usd)


def team_month(team: Team, today: dt.date | None = None) -> TeamMonth:
    """Month-to-date spend (rollup), budget, forecast and open alerts: four queries."""
    month = month_start(today)
    spent = TeamDailyCost.objects.filter(team=team, day__gte=month).aggregate(t=Sum("amount_usd"))
    return TeamMonth(
        month=month,
        month_to_date=money(spent["t"]),
        budget=TeamBudget.objects.filter(team=team).first(),
        forecast=TeamForecast.objects.filter(team=team, month=month).first(),
        alerts=list(
            BudgetAlert.objects.filter(team=team, acknowledged_at__isnull=True).order_by(
                "-raised_at"
            )
        ),
    )


@dataclass
class WorkspaceCosts:
    month_to_date: Decimal
    last_30_days: Decimal
    services: list[tuple[str, Decimal, Decimal]]  # (service, month to date, last 30 days)


def workspace_costs(workspace: Workspace, today: dt.date | None = None) -> WorkspaceCosts:
    """Month to date and the last 30 days, by service: one query."""
    today = today or cost_today()
    month, since = month_start(today), today - dt.timedelta(days=29)
    rows = list(
        DailyCost.objects.filter(workspace=workspace, day__gte=min(month, since), day__lte=today)
        .values("service")
        .annotate(
            mtd=Sum("amount_usd", filter=Q(day__gte=month)),
            last30=Sum("amount_usd", filter=Q(day__gte=since)),
        )
        .order_by("service")
        .values_list("service", "mtd", "last30")
    )
    services = sorted(
        ((s, money(m), money(t)) for s, m, t in rows), key=lambda r: (-r[2], -r[1], r[0])
    )
    return WorkspaceCosts(
        month_to_date=money(sum((m for _, m, _ in services), ZERO)),
        last_30_days=money(sum((t for _, _, t in services), ZERO)),
        services=services,
    )
