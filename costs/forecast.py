"""Month-end forecasts per team, computed from the portal's own daily rows.

Cost Explorer's ``get_cost_forecast`` costs USD 0.01 per call, and a per-team forecast needs one
call per team; the portal already holds every team's daily spend, so it forecasts itself
(``TeamForecast.Source.PORTAL``): month-to-date spend plus, for each remaining day, the team's
mean spend on that kind of day (weekday or weekend) over the last four complete weeks, with an
80 % range from the spread of those days.

Yesterday is still partial in Cost Explorer (its data lags a day), so it is counted as at
least what a typical day of its kind costs.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum
from django.utils import timezone

from costs.calendar import month_start, next_month
from costs.models import TeamBudget, TeamDailyCost, TeamForecast

HISTORY_DAYS = 28
# The 80 % prediction interval, as Cost Explorer's default.
Z_80 = statistics.NormalDist().inv_cdf(0.9)
CENT = Decimal("0.01")


def _cents(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def _profile(daily: dict[dt.date, float], first: dt.date, last: dt.date) -> dict[bool, tuple]:
    """(mean, spread) of daily spend for weekdays (False) and weekends (True) over
    ``[first, last]``, from the team's first day with spend on (new teams are not diluted)."""
    spent_days = [d for d in daily if first <= d <= last]
    if not spent_days:
        return {}
    day = max(first, min(spent_days))
    values: dict[bool, list[float]] = {False: [], True: []}
    while day <= last:
        values[day.weekday() >= 5].append(daily.get(day, 0.0))
        day += dt.timedelta(days=1)
    profile = {
        weekend: (statistics.fmean(v), statistics.pstdev(v)) for weekend, v in values.items() if v
    }
    # A team with only weekdays (or only weekends) of history so far: use what there is for
    # both. (Not ``setdefault``, which would look up the missing kind before checking.)
    for weekend in (False, True):
        if weekend not in profile:
            profile[weekend] = profile[not weekend]
    return profile


def team_forecast(
    daily: dict[dt.date, float], *, today: dt.date
) -> tuple[Decimal, Decimal, Decimal]:
    """(mean, low, high) month-end spend for one team's daily amounts."""
    month, end = month_start(today), next_month(today)
    yesterday = today - dt.timedelta(days=1)
    to_date = sum(v for d, v in daily.items() if month <= d < today)
    profile = _profile(
        daily, today - dt.timedelta(days=HISTORY_DAYS + 1), yesterday - dt.timedelta(days=1)
    )
    if not profile:
        return _cents(to_date), _cents(to_date), _cents(to_date)
    mean, variance = to_date, 0.0
    day = max(month, yesterday)
    while day < end:
        typical, spread = profile[day.weekday() >= 5]
        if day == yesterday:
            mean += max(typical - daily.get(day, 0.0), 0.0)
        else:
            mean += typical
        variance += spread**2
        day += dt.timedelta(days=1)
    margin = Z_80 * math.sqrt(variance)
    return _cents(mean), _cents(max(to_date, mean - margin)), _cents(mean + margin)


def forecasts_compute(*, today: dt.date) -> int:
    """Replace this month's forecast of every team with spend in the last weeks or a budget.
    Two queries and one upsert, whatever the number of teams."""
    month = month_start(today)
    first = min(month, today - dt.timedelta(days=HISTORY_DAYS + 1))
    daily: dict[int, dict[dt.date, float]] = defaultdict(dict)
    for row in (
        TeamDailyCost.objects.filter(team__isnull=False, day__gte=first, day__lt=today)
        .values("team_id", "day")
        .annotate(total=Sum("amount_usd"))
        .order_by()
    ):
        daily[row["team_id"]][row["day"]] = float(row["total"])
    team_ids = set(daily) | set(TeamBudget.objects.values_list("team_id", flat=True))
    now = timezone.now()
    forecasts = []
    for team_id in sorted(team_ids):
        mean, low, high = team_forecast(daily.get(team_id, {}), today=today)
        forecasts.append(
            TeamForecast(
                team_id=team_id,
                month=month,
                mean_usd=mean,
                low_usd=low,
                high_usd=high,
                source=TeamForecast.Source.PORTAL,
                computed_at=now,
            )
        )
    TeamForecast.objects.bulk_create(
        forecasts,
        update_conflicts=True,
        unique_fields=["team", "month"],
        update_fields=["mean_usd", "low_usd", "high_usd", "source", "computed_at"],
    )
    return len(forecasts)
