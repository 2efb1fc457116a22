"""Reads for prices, estimates and budget positions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from costs.models import DailyCost, InstancePrice, StoragePrice, TeamBudget
from portal.models import Team

HOURS_PER_MONTH = Decimal("730")
# Weekdays in an average month (365.25 / 12 * 5 / 7).
WEEKDAYS_PER_MONTH = Decimal("21.74")
CENT = Decimal("0.01")


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


@dataclass(frozen=True)
class Estimate:
    monthly_usd: Decimal
    hourly_usd: Decimal
    hours_per_month: Decimal
    storage_usd: Decimal


class PriceUnknown(LookupError):
    pass


def month_start(today: dt.date | None = None) -> dt.date:
    return (today or timezone.localdate()).replace(day=1)


def budget_positions(teams: list[Team]) -> dict[int, BudgetPosition]:
    """Month-to-date spend against budget for many teams in two queries."""
    start = month_start()
    budgets = dict(TeamBudget.objects.filter(team__in=teams).values_list("team_id", "monthly_usd"))
    spent = dict(
        DailyCost.objects.filter(team__in=teams, day__gte=start)
        .values("team_id")
        .annotate(total=Sum("amount_usd"))
        .values_list("team_id", "total")
    )
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


def estimate_monthly(
    *,
    instance_type: str,
    volume_size_gb: int,
    stop_outside_working_hours: bool,
    working_hours_per_day: Decimal = Decimal("12"),
    region: str | None = None,
) -> Estimate:
    """A month of running this instance (on weekdays' working hours when scheduled) plus its
    volume, at the price table's on-demand prices."""
    region = region or settings.AWS_REGION
    price = InstancePrice.objects.filter(region=region, instance_type=instance_type).first()
    if price is None:
        raise PriceUnknown(
            f"No price is known for {instance_type} in {region}; an admin can add it to the "
            "price table."
        )
    storage = StoragePrice.objects.filter(region=region).first()
    gb_month = storage.gb_month_usd if storage else Decimal("0.14")
    hours = (
        working_hours_per_day * WEEKDAYS_PER_MONTH
        if stop_outside_working_hours
        else HOURS_PER_MONTH
    )
    storage_usd = gb_month * volume_size_gb
    monthly = (price.hourly_usd * hours + storage_usd).quantize(CENT, ROUND_HALF_UP)
    return Estimate(monthly, price.hourly_usd, hours, storage_usd.quantize(CENT))
