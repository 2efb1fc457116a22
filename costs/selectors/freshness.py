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

    finished_at: dt.datetime


@dataclass(frozen=True)
class SyncFailure:
    """The latest sync that failed after the last one that succeeded: the figures may be
    stale or incomplete, and the pages say so with the reason."""

    finished_at: dt.datetime
    error: str


def freshness() -> tuple[TagWarning | None, SyncStamp | None, SyncFailure | None]:
    """``tag_warning()``, the last successful sync's finish and the latest failed sync in one
    statement: the tag statuses by key, with rows added for the syncs (told apart by the last
    column). The sync rows are aggregates and a subquery, not ordered slices: SQLite allows no
    LIMIT inside a compound statement. Every cost page runs this, and the ORM took longer to
    build the union than the database to run it, so it is SQL with bound values
    (``portal.sql``)."""
    tag, run = CostTagStatus, CostSyncRun
    finished, status = sql.name(run, "finished_at"), sql.name(run, "status")
    statement = (
        f"SELECT {sql.name(tag, 'key')}, {sql.name(tag, 'status')}, "  # noqa: S608 (quoted names, bound values)
        f"{sql.name(tag, 'checked_at')}, 0 FROM {sql.name(tag)} "
        f"UNION ALL SELECT '', '', MAX({finished}), 1 FROM {sql.name(run)} WHERE {status} = %s "
        f"UNION ALL SELECT '', {sql.name(run, 'error')}, {finished}, 2 FROM {sql.name(run)} "
        f"WHERE {status} = %s AND {finished} = "
        f"(SELECT MAX({finished}) FROM {sql.name(run)} WHERE {status} = %s) ORDER BY 1"
    )
    failed = CostSyncRun.Status.FAILED.value
    rows = sql.fetch(
        statement,
        [CostSyncRun.Status.SUCCEEDED.value, failed, failed],
        [None, None, sql.column(tag, "checked_at"), None],
    )
    statuses, stamp, failure = [], None, None
    for key, text, at, kind in rows:
        if kind == 0:
            statuses.append((key, text, at))
        elif kind == 1 and at is not None:  # None: no sync has succeeded yet
            stamp = SyncStamp(at)
        elif kind == 2:
            failure = SyncFailure(at, text.rstrip(". "))
    if failure and stamp and failure.finished_at <= stamp.finished_at:
        failure = None  # a later sync succeeded
    return _warning_from(statuses), stamp, failure
