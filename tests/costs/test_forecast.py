"""Month-end forecasts computed by the portal from its own daily rows (no Cost Explorer
forecast per team): month-to-date plus the team's weekday/weekend profile, with a range."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from costs.calendar import month_start, next_month
from costs.forecast import forecasts_compute, team_forecast
from costs.models import TeamBudget, TeamDailyCost, TeamForecast
from tests.conftest import World
from tests.factories import TeamFactory

TODAY = dt.date(2026, 11, 18)  # a Wednesday
CENT = Decimal("0.01")


def shaped(first: dt.date, last: dt.date, weekday: float = 10.0, weekend: float = 2.0) -> dict:
    out = {}
    day = first
    while day <= last:
        out[day] = weekend if day.weekday() >= 5 else weekday
        day += dt.timedelta(days=1)
    return out


def rest_of_month(weekday: float = 10.0, weekend: float = 2.0) -> float:
    total, day = 0.0, TODAY
    while day < next_month(TODAY):
        total += weekend if day.weekday() >= 5 else weekday
        day += dt.timedelta(days=1)
    return total


def test_a_steady_team_lands_on_month_to_date_plus_its_weekly_shape() -> None:
    daily = shaped(TODAY - dt.timedelta(days=40), TODAY - dt.timedelta(days=1))
    mean, low, high = team_forecast(daily, today=TODAY)
    to_date = sum(v for d, v in daily.items() if d >= month_start(TODAY))
    assert mean == Decimal(str(to_date + rest_of_month())).quantize(Decimal("0.01"))
    assert low == mean == high  # no spread in the history, no range


def test_a_noisy_team_gets_a_range_that_never_falls_below_what_is_spent() -> None:
    daily = shaped(TODAY - dt.timedelta(days=40), TODAY - dt.timedelta(days=1))
    for i, day in enumerate(sorted(daily)):
        daily[day] *= 0.5 if i % 3 == 0 else 1.4
    mean, low, high = team_forecast(daily, today=TODAY)
    to_date = Decimal(str(sum(v for d, v in daily.items() if d >= month_start(TODAY))))
    assert to_date <= low < mean < high


def test_yesterday_still_partial_counts_as_at_least_a_typical_day() -> None:
    daily = shaped(TODAY - dt.timedelta(days=40), TODAY - dt.timedelta(days=1))
    full, _, _ = team_forecast(daily, today=TODAY)
    daily[TODAY - dt.timedelta(days=1)] = 3.0  # Cost Explorer has a third of the day so far
    partial, _, _ = team_forecast(daily, today=TODAY)
    assert partial == full


def test_a_new_team_is_forecast_from_its_own_days_not_diluted_by_days_before_it_existed() -> None:
    daily = shaped(TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1))
    mean, _, _ = team_forecast(daily, today=TODAY)
    to_date = sum(daily.values())
    assert mean == Decimal(str(to_date + rest_of_month())).quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    ("today", "history"),
    [
        # Wednesday: Monday is the only complete day (Tuesday, yesterday, is still partial).
        (TODAY, [TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)]),
        # Monday: Saturday is the only complete day.
        (dt.date(2026, 11, 16), [dt.date(2026, 11, 14), dt.date(2026, 11, 15)]),
        # Friday 1 January 2027: a team that began spending on Tuesday and Wednesday.
        (dt.date(2027, 1, 1), [dt.date(2026, 12, 29), dt.date(2026, 12, 30)]),
    ],
)
def test_a_team_with_one_kind_of_day_so_far_uses_it_for_both(
    today: dt.date, history: list[dt.date]
) -> None:
    """A team whose history holds only weekdays (or only weekends) forecasts every remaining
    day at that mean: the lookup of the missing kind used to raise, failing the whole sync."""
    daily = dict.fromkeys(history, 10.0)
    mean, low, high = team_forecast(daily, today=today)
    month = month_start(today)
    to_date = sum(v for d, v in daily.items() if d >= month)
    remaining = (next_month(today) - max(today, month)).days
    assert (mean, low, high) == (Decimal(str(to_date + 10.0 * remaining)).quantize(CENT),) * 3


def test_no_history_forecasts_what_is_spent() -> None:
    assert team_forecast({}, today=TODAY) == (Decimal("0.00"),) * 3


@pytest.mark.django_db
def test_forecasts_are_stored_for_teams_with_spend_or_a_budget_in_fixed_queries(
    world: World, django_assert_num_queries: Any
) -> None:
    teams = [world.team, world.other_team] + [TeamFactory.create() for _ in range(8)]
    rows = []
    for i, team in enumerate(teams[:-1]):
        for day, amount in shaped(
            TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=1)
        ).items():
            rows.append(TeamDailyCost(day=day, team=team, amount_usd=Decimal(amount * (i + 1))))
    TeamDailyCost.objects.bulk_create(rows)
    TeamBudget.objects.create(team=teams[-1], monthly_usd=Decimal("100"))  # no spend yet
    with django_assert_num_queries(3):  # spend, budgets, one upsert
        assert forecasts_compute(today=TODAY) == 10
    stored = {f.team_id: f for f in TeamForecast.objects.all()}
    assert {f.source for f in stored.values()} == {TeamForecast.Source.PORTAL}
    assert {f.month for f in stored.values()} == {dt.date(2026, 11, 1)}
    assert stored[teams[-1].pk].mean_usd == 0
    assert stored[teams[1].pk].mean_usd == 2 * stored[teams[0].pk].mean_usd
    # A second run replaces the month's forecasts rather than adding to them.
    forecasts_compute(today=TODAY)
    assert TeamForecast.objects.count() == 10
