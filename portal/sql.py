"""Reads written as SQL with bound values, for the few pages where building the query with
the ORM on every request costs more than running it (each such read says why).

A statement is a string of the models' quoted table and column names (``name``) and ``%s``
placeholders; every value is bound as a parameter, never put into the string. Its results
are converted as the ORM would convert the columns it names (``fetch``): psycopg already
gives ``Decimal`` and aware datetimes; on SQLite, the demo's database, the backend's
converters turn floats and text into them as the ORM does. So a page reads the same on
either database, and tests run those reads on both. They read the default database, as every
query of the portal does (it configures no database routers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Model, QuerySet
from django.db.models.expressions import Col, Expression


def name(model: type[Model], field: str | None = None) -> str:
    """A table's (or, with ``field``, its column's) name, quoted for this database."""
    meta = model._meta
    if field is None:
        return connection.ops.quote_name(meta.db_table)
    columns = {f.name: f.column for f in meta.concrete_fields if f.column}
    return connection.ops.quote_name(columns[field])


def column(model: type[Model], field: str) -> Col:
    """The expression ``fetch`` converts a column of ``model.field`` as."""
    return Col(model._meta.db_table, model._meta.get_field(field))  # type: ignore[arg-type]


def day(value: dt.date) -> Any:
    """A date as this database takes it as a parameter."""
    return connection.ops.adapt_datefield_value(value)


def subquery(rows: QuerySet[Any]) -> tuple[str, tuple[Any, ...]] | None:
    """A queryset's SQL and parameters, unordered, to put inside a statement (``IN (...)``,
    ``FROM (...)``); None when it can match nothing (Django raises rather than write it)."""
    try:
        return rows.order_by().query.sql_with_params()
    except EmptyResultSet:
        return None


def fetch(sql: str, params: Sequence[Any], outputs: Sequence[Expression | None]) -> list[list[Any]]:
    """The rows, each column converted as the ORM converts ``outputs[n]`` (None: kept as the
    database gives it)."""
    converters = [  # what Django's compiler applies: the backend's, then the expression's
        [*connection.ops.get_db_converters(e), *e.get_db_converters(connection)]
        if e is not None
        else []
        for e in outputs
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not any(converters):
        return [list(row) for row in rows]
    out = []
    for row in rows:
        values = list(row)
        for n, column_converters in enumerate(converters):
            for convert in column_converters:
                values[n] = convert(values[n], outputs[n], connection)
        out.append(values)
    return out
