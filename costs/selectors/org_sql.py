"""The finance dashboard's three reads, written as SQL with bound values (``portal.sql``).

Built with the ORM, the teams' query (budget, this month's forecast and the highest open
alert of each kind: six correlated subqueries) and the two reads of the per-team rollup (the
series has ten filtered sums) were assembled, resolved and compiled anew on every request:
about 5 ms of Python for 11 ms of SQL on two years of rows. ``FILTER`` on aggregates is
supported by PostgreSQL and by every SQLite Django supports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import QuerySet, Sum

from costs.models import BudgetAlert, TeamBudget, TeamDailyCost, TeamForecast
from portal import sql
from portal.models import Team

_AMOUNT = Sum("amount_usd", output_field=TeamDailyCost._meta.get_field("amount_usd"))


def _rollup_names() -> dict[str, str]:
    return {
        "table": sql.name(TeamDailyCost),
        "day": sql.name(TeamDailyCost, "day"),
        "team": sql.name(TeamDailyCost, "team"),
        "amount": sql.name(TeamDailyCost, "amount_usd"),
    }


def teams_with_month(visible: QuerySet[Team], month: dt.date) -> list[tuple[Team, list[Any]]]:
    """The ``visible`` teams by name, each with (budget, forecast mean, low, high and source
    for ``month``, the highest open alert threshold crossed by actual spend, and by the
    forecast); None where there is none. The teams carry id, name and slug."""
    visible_ids = sql.subquery(visible.values("pk"))
    if visible_ids is None:  # nobody's teams
        return []
    visible_sql, visible_params = visible_ids
    t_id = sql.name(Team, "id")
    # Quoted names from the models; every value is bound (so for every statement here).
    threshold = sql.name(BudgetAlert, "threshold_percent")
    highest_open = (
        f"(SELECT MAX(a.{threshold}) FROM {sql.name(BudgetAlert)} a "  # noqa: S608
        f"WHERE a.{sql.name(BudgetAlert, 'team')} = t.{t_id} "
        f"AND a.{sql.name(BudgetAlert, 'acknowledged_at')} IS NULL "
        f"AND a.{sql.name(BudgetAlert, 'kind')} = %s)"
    )
    forecast_fields = ["mean_usd", "low_usd", "high_usd", "source"]
    statement = (
        f"SELECT t.{t_id}, t.{sql.name(Team, 'name')}, t.{sql.name(Team, 'slug')}, "  # noqa: S608
        f"b.{sql.name(TeamBudget, 'monthly_usd')}, "
        f"{', '.join(f'f.{sql.name(TeamForecast, n)}' for n in forecast_fields)}, "
        f"{highest_open}, {highest_open} "
        f"FROM {sql.name(Team)} t "
        f"LEFT JOIN {sql.name(TeamBudget)} b ON b.{sql.name(TeamBudget, 'team')} = t.{t_id} "
        f"LEFT JOIN {sql.name(TeamForecast)} f ON f.{sql.name(TeamForecast, 'team')} = t.{t_id} "
        f"AND f.{sql.name(TeamForecast, 'month')} = %s "
        f"WHERE t.{t_id} IN ({visible_sql}) ORDER BY t.{sql.name(Team, 'name')}, t.{t_id}"
    )
    params = [BudgetAlert.Kind.ACTUAL.value, BudgetAlert.Kind.FORECAST.value, sql.day(month)]
    outputs = [
        None,
        None,
        None,
        sql.column(TeamBudget, "monthly_usd"),
        *(sql.column(TeamForecast, n) for n in forecast_fields),
        None,
        None,
    ]
    fields = ["id", "name", "slug"]
    return [
        (Team.from_db(connection.alias, fields, row[:3]), row[3:])
        for row in sql.fetch(statement, [*params, *visible_params], outputs)
    ]


def team_month_and_range(
    *, month: dt.date, today: dt.date, start: dt.date, end: dt.date
) -> list[list[Any]]:
    """[team id (None: untagged), sum over [month, today], sum over [start, end]] per team,
    one pass over the rows in either; a sum is None when the team has no row in that span."""
    n = _rollup_names()
    span = f"{n['day']} >= %s AND {n['day']} <= %s"  # bound twice: the month, the range
    statement = (
        f"SELECT {n['team']}, "  # noqa: S608
        f"SUM({n['amount']}) FILTER (WHERE {span}), SUM({n['amount']}) FILTER (WHERE {span}) "
        f"FROM {n['table']} WHERE ({span}) OR ({span}) GROUP BY {n['team']}"
    )
    spans = [sql.day(month), sql.day(today), sql.day(start), sql.day(end)]
    return sql.fetch(statement, [*spans, *spans], [None, _AMOUNT, _AMOUNT])


def daily_columns(
    *,
    start: dt.date,
    end: dt.date,
    teams: Sequence[int],
    other_excludes: Sequence[int] | None,
    untagged_includes: Sequence[int],
) -> list[list[Any]]:
    """[day, sums...] per day with rows in [start, end]: one sum per team in ``teams``;
    then, unless ``other_excludes`` is None, the sum of every other team's rows but those;
    then untagged rows' sum, with the teams in ``untagged_includes`` counted as untagged."""
    n = _rollup_names()
    team, amount = n["team"], n["amount"]
    columns, params = [], []
    for team_id in teams:
        columns.append(f"SUM({amount}) FILTER (WHERE {team} = %s)")
        params.append(team_id)
    if other_excludes is not None:
        other = f"{team} IS NOT NULL"
        if other_excludes:
            other += f" AND {team} NOT IN ({', '.join(['%s'] * len(other_excludes))})"
            params.extend(other_excludes)
        columns.append(f"SUM({amount}) FILTER (WHERE {other})")
    untagged = f"{team} IS NULL"
    if untagged_includes:
        untagged += f" OR {team} IN ({', '.join(['%s'] * len(untagged_includes))})"
        params.extend(untagged_includes)
    columns.append(f"SUM({amount}) FILTER (WHERE {untagged})")
    statement = (
        f"SELECT {n['day']}, {', '.join(columns)} FROM {n['table']} "  # noqa: S608
        f"WHERE {n['day']} >= %s AND {n['day']} <= %s GROUP BY {n['day']}"
    )
    return sql.fetch(
        statement, [*params, sql.day(start), sql.day(end)], [None, *[_AMOUNT] * len(columns)]
    )
