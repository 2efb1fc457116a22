"""Budget positions (what the request flow checks), and budgets and alerts as users see them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from django.db.models import QuerySet, Sum

from costs.calendar import month_start
from costs.models import (
    BudgetAlert,
    TeamBudget,
    TeamDailyCost,
    TeamForecast,
)
from costs.selectors.tables import CENT, money
from portal.models import Membership, Team, User
from portal.selectors import teams_visible_to


class BudgetStatus(StrEnum):
    NONE = "none"  # no budget set
    HEALTHY = "healthy"
    WARNING = "warning"  # at or above 80 %
    EXHAUSTED = "exhausted"  # at or above 100 %: new requests are refused


@dataclass(frozen=True)
class BudgetPosition:
    budget_usd: Decimal | None
    spent_usd: Decimal
    percent: int | None
    status: BudgetStatus

    @property
    def exhausted(self) -> bool:
        return self.status is BudgetStatus.EXHAUSTED


def spend_per_team(team_ids: list[int], *, since: dt.date) -> dict[int, Decimal]:
    """Each of these teams' spend from ``since`` on, from the rollup (teams without rows are
    missing): one query."""
    return dict(
        TeamDailyCost.objects.filter(team_id__in=team_ids, day__gte=since)
        .values("team_id")
        .annotate(total=Sum("amount_usd"))
        .order_by()
        .values_list("team_id", "total")
    )


def budget_positions(teams: list[Team]) -> dict[int, BudgetPosition]:
    """Month-to-date spend against budget for many teams in two queries. The spend is read
    from the per-team rollup (TeamDailyCost), which the sync keeps equal to the daily rows."""
    start = month_start()
    budgets = dict(TeamBudget.objects.filter(team__in=teams).values_list("team_id", "monthly_usd"))
    spent = spend_per_team([t.pk for t in teams], since=start)
    positions = {}
    for team in teams:
        budget = budgets.get(team.pk)
        total = Decimal(spent.get(team.pk) or 0).quantize(CENT, ROUND_HALF_UP)
        if not budget:
            positions[team.pk] = BudgetPosition(None, total, None, BudgetStatus.NONE)
            continue
        percent = int(total * 100 / budget)
        status = (
            BudgetStatus.EXHAUSTED
            if percent >= 100
            else BudgetStatus.WARNING
            if percent >= 80
            else BudgetStatus.HEALTHY
        )
        positions[team.pk] = BudgetPosition(budget, total, percent, status)
    return positions


def budget_position(team: Team) -> BudgetPosition:
    return budget_positions([team])[team.pk]


def budgets_visible_to(user: User) -> QuerySet[TeamBudget]:
    return TeamBudget.objects.filter(team__in=teams_visible_to(user)).select_related("team")


def alerts_visible_to(user: User) -> QuerySet[BudgetAlert]:
    """Every alert for finance, admins and auditors; members see their teams' alerts."""
    alerts = BudgetAlert.objects.select_related("team", "acknowledged_by")
    if not user.is_authenticated:
        return alerts.none()
    if user.sees_every_team:
        return alerts
    return alerts.filter(team_id__in=Membership.objects.filter(user=user).values("team_id"))


def banner_alerts_for(user: User) -> QuerySet[BudgetAlert]:
    """Open alerts the banner announces: finance and admins see every team's, members their
    teams'. Auditors are not nagged (they never acknowledge), unless they are members."""
    open_alerts = BudgetAlert.objects.filter(acknowledged_at__isnull=True)
    if user.is_portal_admin or user.is_finance:
        return open_alerts
    return open_alerts.filter(team_id__in=Membership.objects.filter(user=user).values("team_id"))


ALERT_STATES = [("open", "Open"), ("acknowledged", "Acknowledged"), ("all", "All")]


def alerts_filtered(alerts: QuerySet[BudgetAlert], state: str) -> QuerySet[BudgetAlert]:
    if state == "open":
        alerts = alerts.filter(acknowledged_at__isnull=True)
    elif state == "acknowledged":
        alerts = alerts.filter(acknowledged_at__isnull=False)
    return alerts.order_by("-raised_at", "-pk")


@dataclass
class BudgetRow:
    budget: TeamBudget
    month_to_date: Decimal
    forecast: TeamForecast | None

    @property
    def percent_used(self) -> int:
        return int(self.month_to_date * 100 / self.budget.monthly_usd)


def budget_rows(user: User, today: dt.date | None = None) -> list[BudgetRow]:
    """Budgets of the teams the user sees, with this month's spend and forecast: 3 queries."""
    month = month_start(today)
    budgets = list(budgets_visible_to(user).order_by("team__name"))
    team_ids = [b.team_id for b in budgets]
    spent = spend_per_team(team_ids, since=month)
    forecasts = {
        f.team_id: f for f in TeamForecast.objects.filter(team_id__in=team_ids, month=month)
    }
    return [BudgetRow(b, money(spent.get(b.team_id)), forecasts.get(b.team_id)) for b in budgets]
