"""Reads for prices, estimates, budget positions and the cost pages.

The organisation dashboard reads the per-team rollup (TeamDailyCost); the drill-down below a
team reads the daily rows (DailyCost). Every page's query count is fixed: one grouped query
per table, whatever the number of teams, workspaces or days.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from django.conf import settings
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone

from costs.forms import Granularity
from costs.models import (
    BudgetAlert,
    CostSyncRun,
    CostTagStatus,
    DailyCost,
    InstancePrice,
    StoragePrice,
    TeamBudget,
    TeamDailyCost,
    TeamForecast,
)
from portal.models import Membership, Project, Team, User
from portal.selectors import teams_visible_to
from workspaces.models import Workspace

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
    """Month-to-date spend against budget for many teams in two queries. The spend is read
    from the per-team rollup (TeamDailyCost), which the sync keeps equal to the daily rows."""
    start = month_start()
    budgets = dict(TeamBudget.objects.filter(team__in=teams).values_list("team_id", "monthly_usd"))
    spent = dict(
        TeamDailyCost.objects.filter(team__in=teams, day__gte=start)
        .values("team_id")
        .annotate(total=Sum("amount_usd"))
        .order_by()
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


# --- freshness and the tag warning ----------------------------------------------------------

PORTAL_TAG_KEYS = (
    "portal:team",
    "portal:project",
    "portal:workspace",
    "portal:owner",
    "portal:cost-center",
)


@dataclass(frozen=True)
class TagWarning:
    """Why cost pages may show too little: tags never checked, or some not active."""

    never_checked: bool
    inactive: list[tuple[str, str]]  # (key, status)
    checked_at: dt.datetime | None


def _warning_from(statuses: list[tuple[str, str, dt.datetime]]) -> TagWarning | None:
    """The warning for these (key, status, checked_at) rows, ordered by key."""
    if not statuses:
        return TagWarning(never_checked=True, inactive=[], checked_at=None)
    inactive = [(key, status) for key, status, _ in statuses if status != "Active"]
    if not inactive:
        return None
    return TagWarning(False, inactive, max(checked for _, _, checked in statuses))


def tag_warning() -> TagWarning | None:
    """None when every cost-allocation tag the portal checked is Active (one query)."""
    return _warning_from(
        list(CostTagStatus.objects.order_by("key").values_list("key", "status", "checked_at"))
    )


@dataclass(frozen=True)
class SyncStamp:
    """When the last successful cost sync finished (what the freshness line shows)."""

    finished_at: dt.datetime | None


def freshness() -> tuple[TagWarning | None, SyncStamp | None]:
    """``tag_warning()`` and the last successful sync's finish in one query: the tag statuses
    by key, with the sync's row added to them (told apart by ``is_sync``)."""
    tags = (
        CostTagStatus.objects.annotate(is_sync=Value(False))
        .values_list("key", "status", "checked_at", "is_sync")
        .order_by()
    )
    sync = (
        CostSyncRun.objects.filter(status=CostSyncRun.Status.SUCCEEDED)
        .order_by("-finished_at")
        .annotate(no_key=Value(""), no_status=Value(""), is_sync=Value(True))
        .values_list("no_key", "no_status", "finished_at", "is_sync")[:1]
    )
    statuses, stamp = [], None
    for key, status, at, is_sync in tags.union(sync, all=True).order_by("key"):
        if is_sync:
            stamp = SyncStamp(at)
        else:
            statuses.append((key, status, at))
    return _warning_from(statuses), stamp


# --- periods and pivot tables ---------------------------------------------------------------

ZERO = Decimal(0)
TOP_COLUMNS = 8


def money(value: Decimal | None) -> Decimal:
    return Decimal(value or 0).quantize(CENT, ROUND_HALF_UP)


def periods_between(start: dt.date, end: dt.date, granularity: str) -> list[dt.date]:
    """Each day, or the first day of each month, from start to end (both included)."""
    if granularity == Granularity.MONTHLY:
        months, month = [], start.replace(day=1)
        while month <= end:
            months.append(month)
            month = (month + dt.timedelta(days=32)).replace(day=1)
        return months
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def period_label(period: dt.date, granularity: str) -> str:
    return period.strftime("%Y-%m") if granularity == Granularity.MONTHLY else period.isoformat()


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    url: str = ""
    kind: str = "usd"  # "usd", "percent" or "text": how its cells are written


Cell = Decimal | str | None


@dataclass
class TableRow:
    key: str
    label: str
    values: list[Cell]
    url: str = ""


@dataclass
class CostTable:
    """A table of USD amounts as a page shows it; its CSV holds exactly these cells."""

    first_column: str
    columns: list[Column]
    rows: list[TableRow]

    @property
    def header(self) -> list[str]:
        return [self.first_column, *(c.label for c in self.columns)]

    def cells(self, row: TableRow) -> list[str]:
        out = []
        for column, value in zip(self.columns, row.values, strict=True):
            if value is None:
                out.append("")
            elif isinstance(value, str) or column.kind == "percent":
                out.append(str(value))
            else:
                out.append(f"{value:.2f}")
        return out

    @property
    def formatted(self) -> list[tuple[TableRow, list[str]]]:
        return [(r, self.cells(r)) for r in self.rows]

    def csv_rows(self) -> list[list[str]]:
        return [[r.label, *cells] for r, cells in self.formatted]


def _columns(
    totals: dict[str, Decimal], labels: dict[str, Column], fixed: list[Column], top: int
) -> tuple[list[str], list[str], list[Column]]:
    """The keys with their own column (the ``top`` largest, ties by label), the keys summed
    as "Other", and the fixed columns kept. A catch-all column with nothing in it is noise,
    except untagged spend: saying it is zero is the point."""
    ranked = sorted(
        (k for k in labels if totals.get(k)), key=lambda k: (-totals[k], labels[k].label)
    )
    kept = [c for c in fixed if c.key == UNTAGGED.key or totals.get(c.key)]
    return ranked[:top], ranked[top:], kept


def _period_table(
    periods: list[dt.date], granularity: str, columns: list[Column], sums: list[list[Decimal]]
) -> CostTable:
    """One row per period from one list of exact per-period sums per column; adds the total
    column, then rounds every cell to cents."""
    total = (
        [sum(cells, ZERO) for cells in zip(*sums, strict=True)] if sums else [ZERO] * len(periods)
    )
    rows = []
    for period, cells in zip(periods, zip(*sums, total, strict=True), strict=True):
        label = period_label(period, granularity)
        rows.append(TableRow(label, label, [v.quantize(CENT, ROUND_HALF_UP) for v in cells]))
    return CostTable("Period", [*columns, Column("total", "Total")], rows)


def _pivot(
    amounts: Iterable[tuple[dt.date, str, Decimal]],
    periods: list[dt.date],
    granularity: str,
    labels: dict[str, Column],
    fixed: list[Column],
    other_label: str,
    top: int = TOP_COLUMNS,
) -> CostTable:
    """Periods down, the ``top`` largest keys across (then "Other", then the fixed columns,
    then the total). Keys missing from ``labels`` count as the first fixed column.

    One pass over the amounts fills a list of per-period sums for each key; the sums are
    exact, so adding lists up in any order gives the same cents."""
    index = {period: n for n, period in enumerate(periods)}
    fixed_keys = {c.key for c in fixed}
    by_key: dict[str, list[Decimal]] = {}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    canonical: dict[str, str] = {}  # a key as it came -> the column it counts in
    for period, raw_key, amount in amounts:
        key = canonical.get(raw_key)
        if key is None:
            key = raw_key if raw_key in labels or raw_key in fixed_keys else fixed[0].key
            canonical[raw_key] = key
        totals[key] += amount
        n = index.get(period)
        if n is not None:
            per_period = by_key.get(key)
            if per_period is None:
                per_period = by_key[key] = [ZERO] * len(periods)
            per_period[n] += amount
    shown, rest, fixed = _columns(totals, labels, fixed, top)
    empty = [ZERO] * len(periods)
    columns = [labels[k] for k in shown]
    sums = [by_key.get(k, empty) for k in shown]
    if rest:
        columns.append(Column("other", other_label))
        sums.append(
            [sum(cells, ZERO) for cells in zip(*(by_key.get(k, empty) for k in rest), strict=True)]
        )
    columns += fixed
    sums += [by_key.get(c.key, empty) for c in fixed]
    return _period_table(periods, granularity, columns, sums)


def chart_data(table: CostTable, title: str) -> dict[str, object]:
    """What static/portal/cost-chart.js draws: one stacked series per column but the total;
    the data table beside it lists the same numbers."""
    series = [c for c in table.columns if c.key != "total"]
    return {
        "title": title,
        "labels": [r.label for r in table.rows],
        "datasets": [
            {"label": c.label, "values": [float(r.values[i] or 0) for r in table.rows]}
            for i, c in enumerate(series)
        ],
    }


def _period_expression(granularity: str) -> TruncMonth | F:
    return TruncMonth("day") if granularity == Granularity.MONTHLY else F("day")


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _grouped(
    rows: QuerySet[TeamDailyCost] | QuerySet[DailyCost], granularity: str, key: str
) -> list[tuple[dt.date, str, Decimal]]:
    """(period, key, amount) summed by the database: one query."""
    grouped = (
        rows.annotate(period=_period_expression(granularity))
        .values("period", key)
        .annotate(total=Sum("amount_usd"))
        .order_by()
        .values_list("period", key, "total")
    )
    keys: dict[object, str] = {}  # str() once per team, project, workspace or service
    out = []
    for period, key, total in grouped:
        name = keys.get(key)
        if name is None:
            name = keys[key] = "" if key is None else str(key)
        out.append((_as_date(period), name, total or ZERO))
    return out


# --- the organisation dashboard -------------------------------------------------------------

UNTAGGED = Column("untagged", "Untagged or unknown")


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
    in_range: dict[int | None, Decimal],
    labels: dict[str, Column],
    *,
    start: dt.date,
    end: dt.date,
    granularity: str,
) -> CostTable:
    """Spend per period: the eight teams with most spend in the range, "Other teams", then
    untagged spend (with any team's the user cannot see), and the total; one query.

    The columns are chosen from ``in_range``, the range's total of every team with spend in
    it (None: untagged), of which ``labels`` are the visible teams; then the database
    pivots: one row per period, one filtered sum per column (90 x 10 sums for the default
    view), where pivoting every team-day sum here would take 5,490 rows. The total and the
    rounding to cents are done here, as ``_pivot`` does them, which gives the same table."""
    periods = periods_between(start, end, granularity)
    totals = {str(k): v for k, v in in_range.items() if k is not None and str(k) in labels}
    shown, rest, fixed = _columns(totals, labels, [UNTAGGED], TOP_COLUMNS)
    # Every team with spend in the range is shown, other, hidden (the user cannot see it:
    # counted as untagged) or silent (visible, its spend adds up to zero: in no column and
    # not in the total, as in ``_pivot``). "Other" is written as what it is not: fewer ids.
    hidden = [k for k in in_range if k is not None and str(k) not in labels]
    not_other = [*(int(k) for k in shown), *hidden, *(int(k) for k, v in totals.items() if not v)]
    columns = [labels[k] for k in shown]
    sums = {f"c{n}": Sum("amount_usd", filter=Q(team_id=int(k))) for n, k in enumerate(shown)}
    if rest:
        columns.append(Column("other", "Other teams"))
        other = Q(team_id__isnull=False)
        if not_other:
            other &= ~Q(team_id__in=not_other)
        sums["other"] = Sum("amount_usd", filter=other)
    columns += fixed
    untagged = Q(team_id__isnull=True)
    if hidden:
        untagged |= Q(team_id__in=hidden)
    sums["untagged"] = Sum("amount_usd", filter=untagged)
    by_period: dict[dt.date, list[Decimal]] = {
        _as_date(period): [v or ZERO for v in cells]
        for period, *cells in TeamDailyCost.objects.filter(day__gte=start, day__lte=end)
        .annotate(period=_period_expression(granularity))
        .values("period")
        .annotate(**sums)
        .order_by()
        .values_list("period", *sums)
    }
    nothing = [ZERO] * len(sums)
    rows = []
    for period in periods:
        cells = by_period.get(period, nothing)
        label = period_label(period, granularity)
        # ``money`` without its conversion: every cell is a Decimal already.
        values: list[Cell] = [v.quantize(CENT, ROUND_HALF_UP) for v in cells]
        values.append(sum(cells, ZERO).quantize(CENT, ROUND_HALF_UP))
        rows.append(TableRow(label, label, values))
    first = "Day" if granularity == Granularity.DAILY else "Month"
    return CostTable(first, [*columns, Column("total", "Total")], rows)


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
        amounts = _grouped(TeamDailyCost.objects.filter(in_the_range), granularity, "team_id")
        for _, key, amount in amounts:
            team_id = int(key) if key else None
            in_range[team_id] = in_range.get(team_id, ZERO) + amount
        periods = periods_between(start, end, granularity)
        series = _pivot(amounts, periods, granularity, labels, [UNTAGGED], "Other teams")
        series.first_column = "Month"
        return mtd, in_range, series
    for team_id, month_total, range_total in (
        TeamDailyCost.objects.filter(this_month | in_the_range)
        .values("team_id")
        .annotate(
            month_total=Sum("amount_usd", filter=this_month),
            range_total=Sum("amount_usd", filter=in_the_range),
        )
        .order_by()
        .values_list("team_id", "month_total", "range_total")
    ):
        if month_total is not None:  # the team has rows this month
            mtd[team_id] = month_total
        if range_total is not None:
            in_range[team_id] = range_total
    series = _org_series(in_range, labels, start=start, end=end, granularity=granularity)
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
    of each kind; then two for the month-to-date and range totals per team and the series)."""
    today = today or timezone.localdate()
    month = month_start(today)
    forecast = TeamForecast.objects.filter(team_id=OuterRef("pk"), month=month)
    alerts_open = BudgetAlert.objects.filter(team_id=OuterRef("pk"), acknowledged_at__isnull=True)
    actual = alerts_open.filter(kind=BudgetAlert.Kind.ACTUAL).order_by("-threshold_percent")
    ahead = alerts_open.filter(kind=BudgetAlert.Kind.FORECAST).order_by("-threshold_percent")
    teams = list(
        teams_visible_to(user)
        .annotate(
            budget_usd=F("budget__monthly_usd"),
            forecast_mean_usd=Subquery(forecast.values("mean_usd")[:1]),
            forecast_low_usd=Subquery(forecast.values("low_usd")[:1]),
            forecast_high_usd=Subquery(forecast.values("high_usd")[:1]),
            forecast_source=Subquery(forecast.values("source")[:1]),
            alert_actual=Subquery(actual.values("threshold_percent")[:1]),
            alert_forecast=Subquery(ahead.values("threshold_percent")[:1]),
        )
        .order_by("name")
    )
    by_id = {t.pk: t for t in teams}
    urls = _team_cost_urls(teams)
    labels = {str(t.pk): Column(str(t.pk), t.name, urls[t.pk]) for t in teams}
    mtd, in_range, series = _team_totals_and_series(
        labels, month=month, today=today, start=start, end=end, granularity=granularity
    )
    forecasts = {
        t.pk: ForecastFigures(
            mean_usd=t.forecast_mean_usd,
            low_usd=t.forecast_low_usd,
            high_usd=t.forecast_high_usd,
            source=t.forecast_source,
        )
        for t in teams
        if t.forecast_source is not None
    }
    alerts = {t.pk: AlertState(t.alert_actual, t.alert_forecast) for t in teams}
    rows = [
        TeamCostRow(
            team=t,
            month_to_date=money(mtd.get(t.pk)),
            in_range=money(in_range.get(t.pk)),
            budget_usd=t.budget_usd,
            forecast=forecasts.get(t.pk),
            alert=alerts[t.pk],
            url=urls[t.pk],
        )
        for t in teams
    ]
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
        budgets_total=money(sum((t.budget_usd for t in teams if t.budget_usd is not None), ZERO)),
        forecast_total=money(forecast_total),
        forecast_low=money(forecast_low),
        forecast_high=money(forecast_high),
        teams_without_forecast=sum(1 for r in rows if r.forecast is None),
        series=series,
    )


# --- drill-down: team -> project -> workspace -> service ------------------------------------

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
    series = _pivot(
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
    amounts = _grouped(
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


def project_drill(
    user: User, project: Project, *, start: dt.date, end: dt.date, granularity: str
) -> Drill:
    """A project's workspaces over the range from the daily rows; workspaces the user may not
    open are summed in one row, so the totals still match: two queries."""
    from workspaces.selectors import workspaces_visible_to

    amounts = _grouped(
        DailyCost.objects.filter(project=project, day__gte=start, day__lte=end),
        granularity,
        "workspace_id",
    )
    ids = {k for _, k, _ in amounts if k}
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
        fixed=[HIDDEN_WORKSPACES],
        other_label="Other workspaces",
    )


def workspace_drill(
    workspace: Workspace, *, start: dt.date, end: dt.date, granularity: str
) -> Drill:
    """A workspace's AWS services over the range: one query."""
    amounts = _grouped(
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
    today = today or timezone.localdate()
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


# --- budgets and alerts ---------------------------------------------------------------------


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
    spent = dict(
        TeamDailyCost.objects.filter(team_id__in=team_ids, day__gte=month)
        .values("team_id")
        .annotate(total=Sum("amount_usd"))
        .order_by()
        .values_list("team_id", "total")
    )
    forecasts = {
        f.team_id: f for f in TeamForecast.objects.filter(team_id__in=team_ids, month=month)
    }
    return [BudgetRow(b, money(spent.get(b.team_id)), forecasts.get(b.team_id)) for b in budgets]
