"""The portal's own budget alerts, raised after each sync from its own rows.

AWS Budgets e-mails too, but an e-mail can be lost or filtered; these alerts live in the portal
(banner, dashboard) until finance acknowledges them. Each (team, month, kind, threshold) is
raised once; the team's approvers and every finance user get one notification per team and
sync, in the portal and by e-mail after the commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from costs.calendar import month_start, next_month, previous_month
from costs.models import BudgetAlert, TeamBudget, TeamDailyCost, TeamForecast
from governance.services import audit_record
from portal.models import Team, User
from portal.notifications import notify
from portal.selectors import approvers_of

CENT = Decimal("0.01")


def crossed(amount: Decimal, budget: Decimal, thresholds: list[int]) -> list[int]:
    """The thresholds (percent of ``budget``) that ``amount`` has reached."""
    return [t for t in thresholds if amount * 100 >= Decimal(t) * budget]


def _spend(month: dt.date) -> dict[int, Decimal]:
    return {
        row["team_id"]: row["total"]
        for row in TeamDailyCost.objects.filter(
            team__isnull=False, day__gte=month, day__lt=next_month(month)
        )
        .values("team_id")
        .annotate(total=Sum("amount_usd"))
        .order_by()
    }


@transaction.atomic
def alerts_raise(*, today: dt.date) -> list[BudgetAlert]:
    """Raise the alerts the month's spend and forecast have crossed. This month's actual and
    forecast thresholds; in the first days of a month also last month's actual ones (its last
    days are still being revised). A fixed number of queries plus a few per new alert."""
    months = [month_start(today)]
    if today.day <= settings.COST_SYNC_LOOKBACK_DAYS + 1:
        months.append(previous_month(today))
    budgets = list(TeamBudget.objects.select_related("team"))
    if not budgets:
        return []
    existing = set(
        BudgetAlert.objects.filter(month__in=months).values_list(
            "team_id", "month", "kind", "threshold_percent"
        )
    )
    forecasts = dict(
        TeamForecast.objects.filter(month=months[0]).values_list("team_id", "mean_usd")
    )
    now = timezone.now()
    raised: dict[int, list[BudgetAlert]] = defaultdict(list)
    for month in months:
        spend = _spend(month)
        for budget in budgets:
            candidates = [
                (BudgetAlert.Kind.ACTUAL, t, spend.get(budget.team_id, Decimal(0)))
                for t in crossed(
                    spend.get(budget.team_id, Decimal(0)),
                    budget.monthly_usd,
                    budget.actual_thresholds,
                )
            ]
            forecast = forecasts.get(budget.team_id)
            if month == months[0] and forecast is not None:
                candidates += [
                    (BudgetAlert.Kind.FORECAST, t, forecast)
                    for t in crossed(forecast, budget.monthly_usd, budget.forecast_thresholds)
                ]
            for kind, threshold, amount in candidates:
                if (budget.team_id, month, str(kind), threshold) in existing:
                    continue
                alert, created = BudgetAlert.objects.get_or_create(
                    team_id=budget.team_id,
                    month=month,
                    kind=kind,
                    threshold_percent=threshold,
                    defaults={
                        "budget_usd": budget.monthly_usd,
                        "amount_usd": Decimal(amount).quantize(CENT, ROUND_HALF_UP),
                        "raised_at": now,
                    },
                )
                if created:
                    raised[budget.team_id].append(alert)
                    audit_record(
                        actor=None,
                        action="budget.alert_raise",
                        target=alert,
                        team=budget.team,
                        after={
                            "month": month.isoformat(),
                            "kind": str(kind),
                            "threshold_percent": threshold,
                            "amount_usd": str(alert.amount_usd),
                            "budget_usd": str(budget.monthly_usd),
                        },
                    )
    finance = list(User.objects.filter(is_finance=True, is_active=True))
    teams = {b.team_id: b.team for b in budgets}
    for team_id, alerts in raised.items():
        _notify(teams[team_id], alerts, finance)
    return [a for alerts in raised.values() for a in alerts]


def describe(alert: BudgetAlert, team: Team) -> str:
    percent = (
        int(alert.amount_usd * 100 / alert.budget_usd)
        if alert.budget_usd
        else alert.threshold_percent
    )
    if alert.kind == BudgetAlert.Kind.ACTUAL:
        return (
            f"{team.name} has spent ${alert.amount_usd:,} in {alert.month:%B %Y}, {percent} % of "
            f"its ${alert.budget_usd:,} budget (threshold {alert.threshold_percent} %)."
        )
    return (
        f"{team.name} is forecast to spend ${alert.amount_usd:,} in {alert.month:%B %Y}, "
        f"{percent} % of its ${alert.budget_usd:,} budget (threshold {alert.threshold_percent} %)."
    )


def _notify(team: Team, alerts: list[BudgetAlert], finance: list[User]) -> None:
    top = max(alerts, key=lambda a: (a.kind == BudgetAlert.Kind.ACTUAL, a.threshold_percent))
    what = "spent" if top.kind == BudgetAlert.Kind.ACTUAL else "is forecast to spend"
    subject = (
        f"Budget alert: {team.name} {what} {top.threshold_percent} % or more of its "
        f"{top.month:%B} budget"
    )
    lines = [describe(a, team) for a in alerts]
    lines.append(
        "At 100 % of actual spend the team's new workspace requests are refused unless an "
        "approver overrides with a reason. Finance can acknowledge the alert in the portal."
    )
    notify(
        [*approvers_of(team), *finance],
        subject=subject,
        body="\n\n".join(lines),
        url=reverse("team_costs", args=[team.slug]),
    )
