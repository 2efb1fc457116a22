"""The organisation's cost dashboard: every visible team's month and the spend over a range."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, Sum
from django.urls import reverse

from costs.calendar import cost_today, month_start
from costs.forms import Granularity
from costs.models import (
    TeamDailyCost,
    TeamForecast,
)
from costs.selectors import org_sql
from costs.selectors.tables import (
    CENT,
    TOP_COLUMNS,
    UNTAGGED,
    ZERO,
    Cell,
    Column,
    CostTable,
    TableRow,
    as_date,
    grouped,
    money,
    periods_between,
    pivot,
    top_columns,
)
from portal.models import Team, User
from portal.selectors import teams_visible_to


@dataclass
class AlertState:
    actual: int | None = None  # highest open threshold crossed by actual spend
    forecast: int | None = None

    @property
    def level(self) -> str:
        highest = max(self.actual or 0, self.forecast or 0)
        return "exhausted" if (self.actual or 0) >= 100 else "warning" if highest else "none"

    @property
    def label(self) -> str:
        parts = []
        if self.actual:
            parts.append(f"actual ≥ {self.actual} %")
        if self.forecast:
            parts.append(f"forecast ≥ {self.forecast} %")
        return ", ".join(parts).capitalize() if parts else "No open alert"


FORECAST_SOURCES: dict[str, str] = {
    value: str(label) for value, label in TeamForecast.Source.choices
}


@dataclass(frozen=True)
class ForecastFigures:
    """A team's forecast for the month as the dashboard shows it (read with the teams)."""

    mean_usd: Decimal
    low_usd: Decimal
    high_usd: Decimal
    source: str

    def get_source_display(self) -> str:
        return FORECAST_SOURCES.get(self.source, self.source)


@dataclass
class TeamCostRow:
    team: Team | None  # None: spend no team's workspace carries
    month_to_date: Decimal
    in_range: Decimal
    budget_usd: Decimal | None = None  # None: no budget
    forecast: ForecastFigures | None = None
    alert: AlertState = field(default_factory=AlertState)
    url: str = ""  # the team's cost page

    @property
    def label(self) -> str:
        return self.team.name if self.team else UNTAGGED.label

    @property
    def percent_used(self) -> int | None:
        if not self.budget_usd:
            return None
        return int(self.month_to_date * 100 / self.budget_usd)

    @property
    def forecast_usd(self) -> Decimal | None:
        return self.forecast.mean_usd if self.forecast else None


TEAM_SORTS: dict[str, str] = {
    "team": "Team",
    "mtd": "Month to date",
    "forecast": "Forecast",
    "budget": "Budget",
    "used": "% of budget used",
    "range": "Selected range",
}  # in the order of the page's columns
_MISSING_LAST = Decimal("-1e18")


def _sort_value(row: TeamCostRow, key: str) -> tuple[object, ...]:
    name = row.label.lower()
    if key == "team":
        return (name,)
    number = {
        "mtd": row.month_to_date,
        "forecast": row.forecast_usd,
        "budget": row.budget_usd,
        "used": row.percent_used,
        "range": row.in_range,
    }[key]
    return (_MISSING_LAST if number is None else Decimal(number), name)


def parse_sort(value: str | None, default: str = "-mtd") -> tuple[str, bool]:
    """("mtd", True) for "-mtd"; unknown keys give the default (descending month to date)."""
    value = value or default
    key = value.lstrip("-")
    if key not in TEAM_SORTS:
        return parse_sort(default)
    return key, value.startswith("-")


@dataclass
class OrgCosts:
    month: dt.date
    rows: list[TeamCostRow]  # the teams, sorted; the untagged row is separate
    untagged: TeamCostRow
    month_to_date: Decimal
    budgets_total: Decimal
    forecast_total: Decimal
    forecast_low: Decimal
    forecast_high: Decimal
    teams_without_forecast: int
    series: CostTable

    @property
    def percent_of_budgets(self) -> int | None:
        if not self.budgets_total:
            return None
        return int(self.month_to_date * 100 / self.budgets_total)


def team_rows_table(org: OrgCosts) -> CostTable:
    """The per-team table (in its sort order, the untagged row last) as the CSV holds it."""
    columns = [
        Column("mtd", "Month to date (USD)"),
        Column("forecast", "Forecast (USD)"),
        Column("forecast_low", "Forecast low (USD)"),
        Column("forecast_high", "Forecast high (USD)"),
        Column("forecast_source", "Forecast source", kind="text"),
        Column("budget", "Budget (USD)"),
        Column("used", "% of budget used", kind="percent"),
        Column("range", "Selected range (USD)"),
        Column("alert", "Alert state", kind="text"),
    ]
    rows = []
    for r in [*org.rows, org.untagged]:
        f = r.forecast
        values: list[Cell] = [
            r.month_to_date,
            f.mean_usd if f else None,
            f.low_usd if f else None,
            f.high_usd if f else None,
            f.get_source_display() if f else None,
            r.budget_usd,
            Decimal(r.percent_used) if r.percent_used is not None else None,
            r.in_range,
            r.alert.label if r.team else None,
        ]
        key = r.team.slug if r.team else UNTAGGED.key
        rows.append(TableRow(key, r.label, values, url=r.url))
    return CostTable("Team", columns, rows)


def _org_series(
    in_range: dict[int | None, Decimal], labels: dict[str, Column], *, start: dt.date, end: dt.date
) -> CostTable:
    """Spend per day: the eight teams with most spend in the range, "Other teams", then
    untagged spend (with any team's the user cannot see), and the total; one query.

    The columns are chosen from ``in_range``, the range's total of every team with spend in
    it (None: untagged), of which ``labels`` are the visible teams; then the database
    pivots: one row per day, one filtered sum per column (90 x 10 sums for the default
    view), where pivoting every team-day sum here would take 5,490 rows. The total and the
    rounding to cents are done here, as ``pivot`` does them, which gives the same table."""
    totals = {str(k): v for k, v in in_range.items() if k is not None and str(k) in labels}
    shown, rest, fixed = top_columns(totals, labels, [UNTAGGED], TOP_COLUMNS)
    # Every team with spend in the range is shown, other, hidden (the user cannot see it:
    # counted as untagged) or silent (visible, its spend adds up to zero: in no column and
    # not in the total, as in ``pivot``). "Other" is written as what it is not: fewer ids.
    hidden = [k for k in in_range if k is not None and str(k) not in labels]
    not_other = [*(int(k) for k in shown), *hidden, *(int(k) for k, v in totals.items() if not v)]
    columns = [labels[k] for k in shown]
    if rest:
        columns.append(Column("other", "Other teams"))
    columns += fixed
    by_day = {
        as_date(day): [v or ZERO for v in sums]
        for day, *sums in org_sql.daily_columns(
            start=start,
            end=end,
            teams=[int(k) for k in shown],
            other_excludes=not_other if rest else None,
            untagged_includes=hidden,
        )
    }
    nothing = [ZERO] * (len(shown) + bool(rest) + 1)
    rows = []
    for day in periods_between(start, end, Granularity.DAILY):
        cells = by_day.get(day, nothing)
        label = day.isoformat()
        # ``money`` without its conversion: every cell is a Decimal already.
        values: list[Cell] = [v.quantize(CENT, ROUND_HALF_UP) for v in cells]
        values.append(sum(cells, ZERO).quantize(CENT, ROUND_HALF_UP))
        rows.append(TableRow(label, label, values))
    return CostTable("Day", [*columns, Column("total", "Total")], rows)


def _team_totals_and_series(
    labels: dict[str, Column],
    *,
    month: dt.date,
    today: dt.date,
    start: dt.date,
    end: dt.date,
    granularity: str,
) -> tuple[dict[int | None, Decimal], dict[int | None, Decimal], CostTable]:
    """Each team's month to date and range total (None: untagged; only teams with rows) and
    the series: two queries, reading the range once.

    Daily: the month and range totals in one pass, then the database pivots the range into
    the series' columns (``_org_series``): 90 rows instead of 5,490 team-days. Monthly: the
    database sums per team and month (at most 25 rows a team), pivoted here and added up
    into the range totals; the month is summed apart, so two years are not read twice."""
    this_month = Q(day__gte=month, day__lte=today)
    in_the_range = Q(day__gte=start, day__lte=end)
    mtd: dict[int | None, Decimal] = {}
    in_range: dict[int | None, Decimal] = {}
    if granularity == Granularity.MONTHLY:
        mtd.update(
            TeamDailyCost.objects.filter(this_month)
            .values("team_id")
            .annotate(total=Sum("amount_usd"))
            .order_by()
            .values_list("team_id", "total")
        )
        amounts = grouped(TeamDailyCost.objects.filter(in_the_range), granularity, "team_id")
        for _, key, amount in amounts:
            team_id = int(key) if key else None
            in_range[team_id] = in_range.get(team_id, ZERO) + amount
        periods = periods_between(start, end, granularity)
        series = pivot(amounts, periods, granularity, labels, [UNTAGGED], "Other teams")
        series.first_column = "Month"
        return mtd, in_range, series
    for team_id, month_total, range_total in org_sql.team_month_and_range(
        month=month, today=today, start=start, end=end
    ):
        if month_total is not None:  # the team has rows this month
            mtd[team_id] = month_total
        if range_total is not None:
            in_range[team_id] = range_total
    series = _org_series(in_range, labels, start=start, end=end)
    return mtd, in_range, series


_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


def _team_cost_urls(teams: Sequence[Team]) -> dict[int, str]:
    """Each team's cost page: the URL pattern reversed once, the slug put in (a slug is
    written in a URL as it is); anything else is reversed on its own."""
    marker = "team-slug"
    pattern = reverse("team_costs", args=[marker])
    return {
        t.pk: pattern.replace(marker, t.slug)
        if _SLUG.fullmatch(t.slug)
        else reverse("team_costs", args=[t.slug])
        for t in teams
    }


def org_costs(
    user: User,
    *,
    start: dt.date,
    end: dt.date,
    granularity: str,
    sort: str = "-mtd",
    today: dt.date | None = None,
) -> OrgCosts:
    """Every visible team's month, the org's totals and the spend over the range: three
    queries (the teams with their budgets, this month's forecasts and the highest open alert
    of each kind; then two for the month-to-date and range totals per team and the series),
    written as SQL in ``org_sql`` (monthly, the series is read with the ORM)."""
    today = today or cost_today()
    month = month_start(today)
    facts = org_sql.teams_with_month(teams_visible_to(user), month)
    teams = [t for t, _ in facts]
    by_id = {t.pk: t for t in teams}
    urls = _team_cost_urls(teams)
    labels = {str(t.pk): Column(str(t.pk), t.name, urls[t.pk]) for t in teams}
    mtd, in_range, series = _team_totals_and_series(
        labels, month=month, today=today, start=start, end=end, granularity=granularity
    )
    rows = []
    for t, (budget_usd, mean, low, high, source, alert_actual, alert_forecast) in facts:
        rows.append(
            TeamCostRow(
                team=t,
                month_to_date=money(mtd.get(t.pk)),
                in_range=money(in_range.get(t.pk)),
                budget_usd=budget_usd,
                forecast=ForecastFigures(mean, low, high, source) if source is not None else None,
                alert=AlertState(alert_actual, alert_forecast),
                url=urls[t.pk],
            )
        )
    key, descending = parse_sort(sort)
    rows.sort(key=lambda r: _sort_value(r, key), reverse=descending)
    untagged = TeamCostRow(None, money(mtd.get(None)), money(in_range.get(None)))
    # Spend of a team the user cannot see (never for the org roles) stays in the totals.
    hidden = [k for k in mtd if k is not None and k not in by_id]
    org_mtd = money(sum((Decimal(v or 0) for v in mtd.values()), ZERO))
    forecast_total = forecast_low = forecast_high = ZERO
    for r in rows:
        if r.forecast:
            forecast_total += r.forecast.mean_usd
            forecast_low += r.forecast.low_usd
            forecast_high += r.forecast.high_usd
        else:
            forecast_total += r.month_to_date
            forecast_low += r.month_to_date
            forecast_high += r.month_to_date
    for extra in [untagged.month_to_date, *(money(mtd[k]) for k in hidden)]:
        forecast_total += extra
        forecast_low += extra
        forecast_high += extra
    return OrgCosts(
        month=month,
        rows=rows,
        untagged=untagged,
        month_to_date=org_mtd,
        budgets_total=money(sum((r.budget_usd for r in rows if r.budget_usd is not None), ZERO)),
        forecast_total=money(forecast_total),
        forecast_low=money(forecast_low),
        forecast_high=money(forecast_high),
        teams_without_forecast=sum(1 for r in rows if r.forecast is None),
        series=series,
    )
