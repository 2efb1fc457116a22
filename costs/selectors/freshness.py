"""How fresh the cost data is, and whether AWS has the portal's tags active."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from costs.models import CostSyncRun, CostTagStatus
from portal import sql


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
    """``tag_warning()`` and the last successful sync's finish in one statement: the tag
    statuses by key, with one row added for the syncs (told apart by the last column). That
    row is an aggregate, not an ordered slice: SQLite allows no LIMIT inside a compound
    statement. Every cost page runs this, and the ORM took longer to build the union than
    the database to run it, so it is SQL with bound values (``portal.sql``)."""
    tag, run = CostTagStatus, CostSyncRun
    statement = (
        f"SELECT {sql.name(tag, 'key')}, {sql.name(tag, 'status')}, "  # noqa: S608 (quoted names, bound values)
        f"{sql.name(tag, 'checked_at')}, 0 FROM {sql.name(tag)} "
        f"UNION ALL SELECT '', '', MAX({sql.name(run, 'finished_at')}), 1 FROM {sql.name(run)} "
        f"WHERE {sql.name(run, 'status')} = %s ORDER BY 1"
    )
    rows = sql.fetch(
        statement,
        [CostSyncRun.Status.SUCCEEDED.value],
        [None, None, sql.column(tag, "checked_at"), None],
    )
    statuses, stamp = [], None
    for key, status, at, is_sync in rows:
        if not is_sync:
            statuses.append((key, status, at))
        elif at is not None:  # None: no sync has succeeded yet
            stamp = SyncStamp(at)
    return _warning_from(statuses), stamp
