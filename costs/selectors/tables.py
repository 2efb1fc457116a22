"""Periods, money and the tables every cost page shows (and its CSV holds)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncMonth

from costs.forms import Granularity
from costs.models import (
    DailyCost,
    TeamDailyCost,
)

CENT = Decimal("0.01")


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


UNTAGGED = Column("untagged", "Untagged or unknown")

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


def top_columns(
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


def pivot(
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
    shown, rest, fixed = top_columns(totals, labels, fixed, top)
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


def period_expression(granularity: str) -> TruncMonth | F:
    return TruncMonth("day") if granularity == Granularity.MONTHLY else F("day")


def as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def grouped(
    rows: QuerySet[TeamDailyCost] | QuerySet[DailyCost], granularity: str, key: str
) -> list[tuple[dt.date, str, Decimal]]:
    """(period, key, amount) summed by the database: one query."""
    grouped = (
        rows.annotate(period=period_expression(granularity))
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
        out.append((as_date(period), name, total or ZERO))
    return out
