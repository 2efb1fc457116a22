"""The Cost Explorer sync: daily costs per workspace tag and service, then tag status,
forecasts, AWS Budgets and the portal's own budget alerts.

Every sync makes the same four Cost Explorer request sequences whatever the number of teams
or workspaces: one ``list_cost_allocation_tags`` call checks the tags; one monthly
``get_cost_and_usage`` grouped by the ``portal:workspace`` and ``portal:team`` tags, and one
grouped by the ``portal:workspace`` and ``portal:project`` tags, say which team and project
each workspace tag was spent under (``fetch_tag_owners``); one daily ``get_cost_and_usage``
grouped by the ``portal:workspace`` tag and by service (one per month for a backfill) gives
the amounts. The number of requests (USD 0.01 each) is ``1 + pages``: four when each answer
fits one page. Forecasts are computed from the portal's own rows (``costs.forecast``), not
with ``get_cost_forecast`` per team.

A workspace tag that is a portal workspace's id takes that workspace's team and project. Any
other non-empty workspace tag (a notebook made outside the portal, or one whose workspace was
deleted) takes the team its ``portal:team`` tag names, when that is a portal team, and the
project its ``portal:project`` tag names, when that is a project of that team; otherwise it has
no team. Untagged spend (an empty workspace tag) never has one. Totals stay equal to AWS's.

Days are UTC dates, as Cost Explorer's are. Its data lags about a day, so a sync reads up to
yesterday (``End`` is today, exclusive) and re-reads the last ``COST_SYNC_LOOKBACK_DAYS`` days
every time, because AWS revises them. Rows are upserted on their natural key (day, tag,
service); rows of the window that AWS no longer reports are removed, and the per-team rollup
of the window's days is rebuilt in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from costs.calendar import cost_today, next_month, previous_month
from costs.models import CostSyncRun, CostTagStatus, DailyCost, TeamDailyCost
from portal import aws
from portal.models import Project, Team
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

WORKSPACE_TAG = "portal:workspace"
TEAM_TAG = "portal:team"
PROJECT_TAG = "portal:project"
# The tags cost pages depend on: the sync groups by the workspace tag, AWS Budgets filter on
# the team tag, and the project tag lets AWS's own console show the same split.
COST_TAG_KEYS = (TEAM_TAG, PROJECT_TAG, WORKSPACE_TAG)
METRIC = "UnblendedCost"
MICRO = Decimal("0.000001")
# A window longer than this is read one calendar month at a time (backfills), each month in
# its own transaction; a scheduled sync's window is always one request sequence.
SINGLE_WINDOW_DAYS = 62
# Cost Explorer keeps 13 months (14 with a setting); never reach further back than a year
# when catching up after an outage.
CATCH_UP_DAYS = 365
BATCH = 5000
ADVISORY_LOCK = 7_007_001  # "issue 7, cost rows": any constant no other code uses

Key = tuple[dt.date, str, str]
# Workspace tag -> (team id, project id) for spend not on a portal workspace.
Owners = dict[str, tuple[int, int | None]]


def default_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last few days; the current and previous month on a first run; back to the last
    successful run's window when the sync has not run for a while."""
    if not DailyCost.objects.exists():
        return previous_month(today), today
    start = today - dt.timedelta(days=settings.COST_SYNC_LOOKBACK_DAYS)
    last_end = (
        CostSyncRun.objects.filter(status=CostSyncRun.Status.SUCCEEDED)
        .order_by("-end_day")
        .values_list("end_day", flat=True)
        .first()
    )
    if last_end is not None:
        catch_up = last_end - dt.timedelta(days=settings.COST_SYNC_LOOKBACK_DAYS)
        start = max(min(start, catch_up), today - dt.timedelta(days=CATCH_UP_DAYS))
    return start, today


def chunks(
    start: dt.date, end: dt.date, *, by_month: bool = False
) -> Iterator[tuple[dt.date, dt.date]]:
    """The window as one piece, or month by month when it is long (or ``by_month``)."""
    if not by_month and (end - start).days <= SINGLE_WINDOW_DAYS:
        yield start, end
        return
    cursor = start
    while cursor < end:
        stop = min(next_month(cursor), end)
        yield cursor, stop
        cursor = stop


def cost_sync(
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    kind: str = CostSyncRun.Kind.SCHEDULED,
    raise_transient: bool = False,
) -> CostSyncRun:
    """Load ``[start, end)`` (default: see ``default_window``), then check tags, forecast,
    push and read back budgets and raise alerts. Always returns the recorded run; a failure
    marks it failed with the reason and keeps every row written before it. With
    ``raise_transient`` a throttle or outage is re-raised after being recorded, so a task can
    retry."""
    today = cost_today()
    default_start, default_end = default_window(today)
    start = start or default_start
    end = min(end or default_end, today)
    if start >= end:
        raise ValueError(
            f"Nothing to sync from {start} to {end}: the start must be before the end, and "
            "Cost Explorer has no complete data for today."
        )
    run = CostSyncRun.objects.create(kind=kind, start_day=start, end_day=end)
    try:
        tag_statuses_check(run)
        # Once for the whole window, even when a backfill loads it month by month.
        owners = fetch_tag_owners(run, start, end)
        for chunk_start, chunk_end in chunks(
            start, end, by_month=kind == CostSyncRun.Kind.BACKFILL
        ):
            groups = fetch_costs(run, chunk_start, chunk_end)
            with transaction.atomic():
                run.rows_upserted += store_costs(chunk_start, chunk_end, groups, owners)
            run.save(update_fields=["ce_requests", "pages", "rows_upserted"])
        _after_costs(today)
    except Exception as exc:
        run.status = CostSyncRun.Status.FAILED
        if isinstance(exc, aws.AWS_ERRORS):
            reason = aws.error_message(exc)
        elif isinstance(exc, AfterCostsFailed):
            reason = str(exc)  # each step's error, already logged with its traceback
        else:
            reason = f"{type(exc).__name__}: {exc}"
        run.error = reason[:2000]
        run.finished_at = timezone.now()
        run.save()
        logger.warning("cost sync %s failed: %s", run.pk, run.error)
        if raise_transient and isinstance(exc, aws.AWS_ERRORS) and aws.is_transient(exc):
            raise
        if not isinstance(exc, (*aws.AWS_ERRORS, AfterCostsFailed)):
            logger.exception("cost sync %s failed unexpectedly", run.pk)
        return run
    run.status = CostSyncRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save()
    return run


class AfterCostsFailed(Exception):
    """One or more of the steps after the cost rows failed; the message names each."""


def _after_costs(today: dt.date) -> None:
    """Forecasts, AWS Budgets, then the portal's alerts. Each step runs even when one before
    it failed, so a fault in forecasting cannot also silence the alerts on actual spend (they
    then compare against the last forecasts stored); the run fails naming every failed step."""
    from costs.alerts import alerts_raise
    from costs.budgets import budgets_sync
    from costs.forecast import forecasts_compute

    steps = (
        ("forecasts", lambda: forecasts_compute(today=today)),
        # AWS Budgets failures are recorded on each budget (aws_error) and never fail the run.
        ("AWS Budgets", budgets_sync),
        ("alerts", lambda: alerts_raise(today=today)),
    )
    failed = []
    for name, step in steps:
        try:
            step()
        except Exception as exc:
            logger.exception("cost sync step %s failed", name)
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    if failed:
        raise AfterCostsFailed("The cost rows are stored, but " + "; ".join(failed))


# --- Cost Explorer ------------------------------------------------------------------------


def tag_statuses_check(run: CostSyncRun) -> dict[str, str]:
    """Whether the portal's cost-allocation tags are active (one request): rows the cost pages
    read to warn instead of showing zero."""
    ce = aws.client("ce")
    found: dict[str, str] = {}
    token: str | None = None
    while True:
        run.ce_requests += 1
        page = ce.list_cost_allocation_tags(
            TagKeys=list(COST_TAG_KEYS),
            Type="UserDefined",
            MaxResults=100,
            **({"NextToken": token} if token else {}),
        )
        for tag in page.get("CostAllocationTags", []):
            found[tag["TagKey"]] = tag["Status"]
        token = page.get("NextToken")
        if not token:
            break
    now = timezone.now()
    statuses = {key: found.get(key, "Missing") for key in COST_TAG_KEYS}
    CostTagStatus.objects.bulk_create(
        [CostTagStatus(key=k, status=v, checked_at=now) for k, v in statuses.items()],
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=["status", "checked_at"],
    )
    return statuses


def _tag_value(group_key: str) -> str:
    """``portal:workspace$<value>`` -> ``<value>``; ``portal:workspace$`` (untagged) -> ""."""
    return group_key.partition("$")[2][:64]


def _cost_pages(run: CostSyncRun, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page of one ``get_cost_and_usage`` request sequence, each request counted."""
    ce = aws.client("ce")
    token: str | None = None
    while True:
        run.ce_requests += 1
        page = ce.get_cost_and_usage(**params, **({"NextPageToken": token} if token else {}))
        run.pages += 1
        yield page
        token = page.get("NextPageToken")
        if not token:
            return


def fetch_costs(run: CostSyncRun, start: dt.date, end: dt.date) -> dict[Key, Decimal]:
    """Every (day, workspace tag, service) amount of ``[start, end)``, all pages."""
    params: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": [METRIC],
        "GroupBy": [
            {"Type": "TAG", "Key": WORKSPACE_TAG},
            {"Type": "DIMENSION", "Key": "SERVICE"},
        ],
    }
    groups: dict[Key, Decimal] = defaultdict(Decimal)
    for page in _cost_pages(run, params):
        for result in page.get("ResultsByTime", []):
            day = dt.date.fromisoformat(result["TimePeriod"]["Start"])
            for group in result.get("Groups", []):
                keys = group["Keys"]
                service = keys[1][:128] if len(keys) > 1 else ""
                amount = Decimal(group["Metrics"][METRIC]["Amount"])
                groups[(day, _tag_value(keys[0]), service)] += amount
    return {key: value.quantize(MICRO) for key, value in groups.items() if value}


def fetch_tag_values(
    run: CostSyncRun, start: dt.date, end: dt.date, tag_key: str
) -> dict[str, str]:
    """Workspace tag -> the value of ``tag_key`` that carried most of its spend in
    ``[start, end)`` (ties go to the first value in alphabetical order): one monthly request
    sequence, whatever the number of teams. Untagged spend on either side is left out."""
    params: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": [METRIC],
        "GroupBy": [{"Type": "TAG", "Key": WORKSPACE_TAG}, {"Type": "TAG", "Key": tag_key}],
    }
    spent: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for page in _cost_pages(run, params):
        for result in page.get("ResultsByTime", []):
            for group in result.get("Groups", []):
                keys = group["Keys"]
                workspace_tag = _tag_value(keys[0])
                value = keys[1].partition("$")[2] if len(keys) > 1 else ""
                if workspace_tag and value:
                    spent[(workspace_tag, value)] += Decimal(group["Metrics"][METRIC]["Amount"])
    best: dict[str, str] = {}
    for (workspace_tag, value), _amount in sorted(spent.items(), key=lambda i: (-i[1], i[0][1])):
        best.setdefault(workspace_tag, value)
    return best


def fetch_tag_owners(run: CostSyncRun, start: dt.date, end: dt.date) -> Owners:
    """Workspace tag -> (team, project) from the spend's own ``portal:team`` and
    ``portal:project`` tags, for tags naming a portal team (two request sequences, two
    queries). The project is kept only when it is one of that team's."""
    team_slugs = fetch_tag_values(run, start, end, TEAM_TAG)
    project_slugs = fetch_tag_values(run, start, end, PROJECT_TAG)
    team_ids = dict(
        Team.objects.filter(slug__in=set(team_slugs.values())).values_list("slug", "pk")
    )
    project_ids = {
        (team_id, slug): pk
        for pk, team_id, slug in Project.objects.filter(
            team_id__in=team_ids.values(), slug__in=set(project_slugs.values())
        ).values_list("pk", "team_id", "slug")
    }
    owners: Owners = {}
    for workspace_tag, team_slug in team_slugs.items():
        team_id = team_ids.get(team_slug)
        if team_id is not None:
            project = project_slugs.get(workspace_tag, "")
            owners[workspace_tag] = (team_id, project_ids.get((team_id, project)))
    return owners


def _workspaces_by_tag(tags: set[str]) -> dict[str, tuple[uuid.UUID, int, int | None]]:
    ids = {}
    for tag in tags:
        try:
            ids[tag] = uuid.UUID(tag)
        except ValueError:
            continue  # not one of the portal's workspaces
    found: dict[str, tuple[uuid.UUID, int, int | None]] = {}
    values = list(ids.values())
    for i in range(0, len(values), BATCH):
        for pk, team_id, project_id in Workspace.objects.filter(
            pk__in=values[i : i + BATCH]
        ).values_list("pk", "team_id", "project_id"):
            found[str(pk)] = (pk, team_id, project_id)
    # Tags are written as str(uuid); match them however AWS spelled them.
    return {tag: found[str(pk)] for tag, pk in ids.items() if str(pk) in found}


def store_costs(
    start: dt.date, end: dt.date, groups: dict[Key, Decimal], owners: Owners | None = None
) -> int:
    """Make the window's rows exactly ``groups``; rebuild the per-team rollup of its days.
    A portal workspace's rows take its team and project; other non-empty workspace tags take
    theirs from ``owners`` (``fetch_tag_owners``). Call inside a transaction."""
    owners = owners or {}
    if connection.vendor == "postgresql":
        # Two syncs at once (the schedule and a backfill) would each delete and re-insert the
        # rollup of the same days and leave both copies; one writer at a time.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
    window = DailyCost.objects.filter(day__gte=start, day__lt=end)
    stale = [
        pk
        for pk, day, tag, service in window.values_list("pk", "day", "workspace_tag", "service")
        if (day, tag, service) not in groups
    ]
    for i in range(0, len(stale), BATCH):
        DailyCost.objects.filter(pk__in=stale[i : i + BATCH]).delete()
    known = _workspaces_by_tag({tag for _, tag, _ in groups})
    rows = []
    for (day, tag, service), amount in groups.items():
        workspace_id, team_id, project_id = known.get(tag, (None, None, None))
        if workspace_id is None and tag in owners:
            team_id, project_id = owners[tag]
        rows.append(
            DailyCost(
                day=day,
                workspace_tag=tag,
                service=service,
                workspace_id=workspace_id,
                team_id=team_id,
                project_id=project_id,
                amount_usd=amount,
            )
        )
    DailyCost.objects.bulk_create(
        rows,
        batch_size=BATCH,
        update_conflicts=True,
        unique_fields=["day", "workspace_tag", "service"],
        update_fields=["amount_usd", "team", "project", "workspace"],
    )
    rollup_rebuild(start, end)
    return len(rows)


def rollup_rebuild(start: dt.date, end: dt.date) -> None:
    """Replace the ``TeamDailyCost`` rows of the days from ``start`` up to ``end`` (exclusive)
    with the sums of their ``DailyCost`` rows. Call inside a transaction."""
    TeamDailyCost.objects.filter(day__gte=start, day__lt=end).delete()
    sums = (
        DailyCost.objects.filter(day__gte=start, day__lt=end)
        .values("day", "team_id", "project_id")
        .annotate(total=Sum("amount_usd"))
        .order_by()
    )
    TeamDailyCost.objects.bulk_create(
        [
            TeamDailyCost(
                day=s["day"],
                team_id=s["team_id"],
                project_id=s["project_id"],
                amount_usd=s["total"],
            )
            for s in sums
        ],
        batch_size=BATCH,
    )
