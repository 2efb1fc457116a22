"""The Cost Explorer sync against the sandbox ledger over HTTP: totals equal AWS's per
workspace, team and day (the untagged row included), notebooks made outside the portal land in
the team their tag names, re-running changes nothing, revisions are corrected, tag status is
recorded, failures keep earlier rows, and the number of Cost Explorer request sequences does not
grow with teams or workspaces."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum

from costs.calendar import cost_today, previous_month
from costs.models import CostSyncRun, CostTagStatus, DailyCost, TeamDailyCost
from costs.services import team_budget_set
from costs.sync import cost_sync, default_window
from portal import aws
from portal.models import Team
from tests.conftest import World
from tests.costs.ledger_support import (
    COST_TAGS,
    SERVICE,
    CostSequences,
    ce_calls,
    ce_truth,
    days_back,
    make_workspaces,
    unmanaged,
    untagged,
    usage,
)
from tests.factories import ProjectFactory, TeamFactory, published_offering
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def sb(sandbox_clean: Sandbox, portal_on_sandbox: Sandbox) -> Sandbox:
    sandbox_clean.control.cost_tags(active=COST_TAGS)
    return sandbox_clean


def stored() -> dict[tuple[dt.date, str, str], Decimal]:
    return {(r.day, r.workspace_tag, r.service): r.amount_usd for r in DailyCost.objects.all()}


def assert_equals_ledger(sb: Sandbox, run: CostSyncRun) -> dict[Any, Decimal]:
    truth = ce_truth(sb, run.start_day, run.end_day)
    rows = {k: v for k, v in stored().items() if run.start_day <= k[0] < run.end_day}
    assert rows.keys() == truth.keys()
    for key, amount in truth.items():
        assert abs(rows[key] - amount) < Decimal("0.000001"), key
    return truth


def test_sync_equals_the_ledger_per_workspace_team_and_day_with_the_untagged_row(
    world: World, sb: Sandbox
) -> None:
    offering = published_offering(world.team, world.other_team)
    ours = make_workspaces(world.team, world.project, world.analyst, offering, 3)
    theirs = make_workspaces(
        world.other_team, world.other_project, world.outsider, offering, 2, prefix="ph"
    )
    days = days_back(10)
    rows = [usage(ws, day, 1.5 + i + day.day / 100) for day in days for i, ws in enumerate(ours)]
    rows += [usage(ws, day, 0.75 * (i + 1)) for day in days for i, ws in enumerate(theirs)]
    rows += [untagged(day, 0.33) for day in days]
    # A tag the portal does not know (a workspace deleted from its database, or a typo).
    rows.append(
        {"day": days[-1].isoformat(), "cost": 2.0, "tags": {"portal:workspace": "not-ours"}}
    )
    sb.control.ledger(rows)
    sb.control.reset_calls()

    started = time.monotonic()
    with CostSequences() as sequences:
        run = cost_sync()
    elapsed = time.monotonic() - started

    assert run.status == CostSyncRun.Status.SUCCEEDED, run.error
    # The requests it says it made are the ones AWS (the sandbox) received: the tag check, the
    # two monthly tag maps and the daily costs, one page each here.
    assert run.ce_requests == ce_calls(sb) == 1 + run.pages == 4
    assert sequences.started == [
        ("MONTHLY", ("portal:workspace", "portal:team")),
        ("MONTHLY", ("portal:workspace", "portal:project")),
        ("DAILY", ("portal:workspace", "SERVICE")),
    ]
    assert sb.control.calls().get("ce:GetCostForecast", 0) == 0
    assert (run.start_day, run.end_day) == (previous_month(cost_today()), cost_today())
    truth = assert_equals_ledger(sb, run)
    assert run.rows_upserted == len(truth)

    # Per team and day, the rollup equals the ledger; untagged and unknown spend has no team.
    team_of = {str(ws.pk): ws.team_id for ws in ours + theirs}
    expected: dict[tuple[dt.date, int | None], Decimal] = defaultdict(Decimal)
    for (day, tag, _service), amount in truth.items():
        expected[(day, team_of.get(tag))] += amount
    rollup: dict[tuple[dt.date, int | None], Decimal] = {
        (r["day"], r["team_id"]): r["total"]
        for r in TeamDailyCost.objects.values("day", "team_id").annotate(total=Sum("amount_usd"))
    }
    assert rollup.keys() == expected.keys()
    for key, amount in expected.items():
        assert abs(rollup[key] - amount) < Decimal("0.00001"), key
    assert expected[(days[0], None)] == Decimal("0.33")
    untagged_row = DailyCost.objects.get(day=days[0], workspace_tag="")
    assert (untagged_row.team_id, untagged_row.workspace_id, untagged_row.service) == (
        None,
        None,
        SERVICE,
    )
    unknown = DailyCost.objects.get(workspace_tag="not-ours")
    assert unknown.team_id is None
    assert unknown.amount_usd == Decimal("2.000000")
    one = DailyCost.objects.get(day=days[3], workspace_tag=str(ours[0].pk))
    assert (one.team_id, one.project_id, one.workspace_id) == (
        world.team.pk,
        world.project.pk,
        ours[0].pk,
    )
    # Organisation total equals AWS's total.
    assert DailyCost.objects.aggregate(t=Sum("amount_usd"))["t"] == sum(truth.values())
    print(f"\nfirst sync: {run.ce_requests} CE requests, {run.pages} pages, {elapsed:.2f}s")


def test_an_unmanaged_notebooks_spend_lands_in_the_team_and_project_its_tags_name(
    world: World, sb: Sandbox
) -> None:
    offering = published_offering(world.team)
    (ours,) = make_workspaces(world.team, world.project, world.analyst, offering, 1)
    team, other = world.team.slug, world.other_team.slug
    days = days_back(5)
    rows = []
    for day in days:
        # A portal workspace keeps its own team, whatever its team tag says.
        mislabelled = usage(ours, day, 1.0)
        mislabelled["tags"]["portal:team"] = other
        rows.append(mislabelled)
        # Made outside the portal, tagged with the team and one of its projects.
        rows.append(
            unmanaged(day, 2.0, workspace="legacy-eda", team=team, project=world.project.slug)
        )
        # The project tag names another team's project: the team only.
        rows.append(
            unmanaged(day, 4.0, workspace="legacy-gpu", team=team, project=world.other_project.slug)
        )
        # A team the portal does not know.
        rows.append(unmanaged(day, 8.0, workspace="stray", team="no-such-team", project="x"))
        # A team tag without a workspace tag is untagged spend.
        rows.append({"day": day.isoformat(), "cost": 0.5, "tags": {"portal:team": team}})
    # Moved from the other team after one day: most of its spend names this team.
    rows.append(unmanaged(days[0], 1.0, workspace="moved", team=other))
    rows += [unmanaged(day, 3.0, workspace="moved", team=team) for day in days[1:]]
    sb.control.ledger(rows)
    sb.control.reset_calls()

    run = cost_sync()

    assert run.status == CostSyncRun.Status.SUCCEEDED, run.error
    assert run.ce_requests == ce_calls(sb) == 1 + run.pages == 4
    truth = assert_equals_ledger(sb, run)

    def owner(tag: str) -> set[tuple[int | None, int | None, Any]]:
        return set(
            DailyCost.objects.filter(workspace_tag=tag).values_list(
                "team_id", "project_id", "workspace_id"
            )
        )

    assert owner(str(ours.pk)) == {(world.team.pk, world.project.pk, ours.pk)}
    assert owner("legacy-eda") == {(world.team.pk, world.project.pk, None)}
    assert owner("legacy-gpu") == {(world.team.pk, None, None)}
    assert owner("stray") == {(None, None, None)}
    assert owner("") == {(None, None, None)}
    assert owner("moved") == {(world.team.pk, None, None)}

    # The rollup: each team's spend, and the rest with no team, adding up to AWS's total. A
    # workspace tag has one owner: all of "moved" (its first day too) is this team's.
    rollup = dict(
        TeamDailyCost.objects.values_list("team_id")
        .annotate(total=Sum("amount_usd"))
        .values_list("team_id", "total")
    )
    assert rollup == {
        world.team.pk: Decimal(5 * (1 + 2 + 4) + 1 + 4 * 3),
        None: Decimal(5 * (8 + 0.5)),
    }
    assert sum(rollup.values()) == sum(truth.values())
    by_project = dict(
        TeamDailyCost.objects.filter(team=world.team)
        .values_list("project_id")
        .annotate(total=Sum("amount_usd"))
        .values_list("project_id", "total")
    )
    assert by_project == {world.project.pk: Decimal(5 * 3), None: Decimal(5 * 4 + 1 + 4 * 3)}

    # A team created later with that slug takes the spend on the next sync of those days.
    TeamFactory.create(slug="no-such-team")
    again = cost_sync(start=days[0], end=cost_today())
    assert again.status == CostSyncRun.Status.SUCCEEDED, again.error
    assert DailyCost.objects.filter(workspace_tag="stray", team__slug="no-such-team").count() == 5


def test_rerunning_is_idempotent_and_a_revised_day_is_corrected(world: World, sb: Sandbox) -> None:
    offering = published_offering(world.team)
    ws = make_workspaces(world.team, world.project, world.analyst, offering, 2)
    days = days_back(6)
    sb.control.ledger([usage(w, d, 3.0) for d in days for w in ws] + [untagged(days[0], 1.0)])
    first = cost_sync()
    assert first.status == CostSyncRun.Status.SUCCEEDED, first.error
    before = stored()
    rollup_before = list(
        TeamDailyCost.objects.order_by("day", "team_id").values_list(
            "day", "team_id", "project_id", "amount_usd"
        )
    )

    again = cost_sync()
    assert again.status == CostSyncRun.Status.SUCCEEDED, again.error
    # A scheduled run re-reads the last few days only.
    assert again.end_day - again.start_day == dt.timedelta(days=4)
    assert stored() == before
    assert (
        list(
            TeamDailyCost.objects.order_by("day", "team_id").values_list(
                "day", "team_id", "project_id", "amount_usd"
            )
        )
        == rollup_before
    )

    # AWS revises yesterday's cost of one workspace, and re-attributes the other's usage the
    # day before to untagged spend (its tag was missing): both are corrected, nothing doubles.
    revised = usage(ws[0], days[-1], 4.25)
    moved = usage(ws[1], days[-2], 3.0)
    moved["tags"] = {}
    sb.control.ledger([revised, moved], revise=True)
    third = cost_sync()
    assert third.status == CostSyncRun.Status.SUCCEEDED, third.error
    assert_equals_ledger(sb, third)
    now = stored()
    assert now[(days[-1], str(ws[0].pk), SERVICE)] == Decimal("4.25")
    assert (days[-2], str(ws[1].pk), SERVICE) not in now
    assert now[(days[-2], "", SERVICE)] == Decimal("3")
    assert TeamDailyCost.objects.filter(day=days[-2], team=world.team).get().amount_usd == 3
    assert TeamDailyCost.objects.filter(day=days[-2], team=None).get().amount_usd == 3
    # Days outside the re-read window were not touched.
    assert now[(days[0], "", SERVICE)] == Decimal("1")


def test_tag_status_says_inactive_when_the_workspace_tag_is_not_active(
    world: World, sb: Sandbox
) -> None:
    offering = published_offering(world.team)
    (ws,) = make_workspaces(world.team, world.project, world.analyst, offering, 1)
    sb.control.ledger([usage(ws, d, 2.0) for d in days_back(3)])
    sb.control.cost_tags(active=["portal:team"], inactive=["portal:workspace"])
    run = cost_sync()
    assert run.status == CostSyncRun.Status.SUCCEEDED, run.error
    statuses = dict(CostTagStatus.objects.values_list("key", "status"))
    assert statuses == {
        "portal:team": "Active",
        "portal:project": "Active",
        "portal:workspace": "Inactive",
    }
    # With the tag inactive AWS reports the spend untagged; the totals still match.
    assert set(DailyCost.objects.values_list("workspace_tag", flat=True)) == {""}
    assert DailyCost.objects.aggregate(t=Sum("amount_usd"))["t"] == Decimal("6")


def test_a_tag_aws_has_never_seen_is_missing(
    world: World, sandbox_clean: Sandbox, portal_on_sandbox: Sandbox
) -> None:
    run = cost_sync()
    assert run.status == CostSyncRun.Status.SUCCEEDED, run.error
    assert set(CostTagStatus.objects.values_list("status", flat=True)) == {"Missing"}
    assert DailyCost.objects.count() == 0


def test_a_failed_sync_records_why_and_keeps_the_rows_it_had(
    world: World, sb: Sandbox, settings: Any
) -> None:
    offering = published_offering(world.team)
    (ws,) = make_workspaces(world.team, world.project, world.analyst, offering, 1)
    days = days_back(5)
    sb.control.ledger([usage(ws, d, 5.0) for d in days])
    assert cost_sync().status == CostSyncRun.Status.SUCCEEDED
    before = stored()
    rollup = TeamDailyCost.objects.aggregate(t=Sum("amount_usd"))["t"]
    sb.control.ledger([usage(ws, days[-1], 50.0)], revise=True)

    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    sb.control.throttle(operations=["ce:GetCostAndUsage"])
    run = cost_sync()
    assert run.status == CostSyncRun.Status.FAILED
    assert run.error.startswith("ThrottlingException")
    assert run.finished_at is not None
    assert run.ce_requests == 2  # the tag check, and the page that was refused
    assert stored() == before
    assert TeamDailyCost.objects.aggregate(t=Sum("amount_usd"))["t"] == rollup
    # A task asks for the transient error back, after it is recorded, to retry later.
    with pytest.raises(aws.ClientError):
        cost_sync(raise_transient=True)
    assert CostSyncRun.objects.filter(status=CostSyncRun.Status.FAILED).count() == 2

    sb.control.clear_faults()
    recovered = cost_sync()
    assert recovered.status == CostSyncRun.Status.SUCCEEDED, recovered.error
    assert stored()[(days[-1], str(ws.pk), SERVICE)] == Decimal("50")


def test_the_default_window(db: None, settings: Any) -> None:
    settings.COST_SYNC_LOOKBACK_DAYS = 3
    today = dt.date(2026, 3, 10)
    # First run: last month and this month so far.
    assert default_window(today) == (dt.date(2026, 2, 1), today)
    DailyCost.objects.create(day=dt.date(2026, 3, 1), workspace_tag="", service=SERVICE)
    assert default_window(today) == (dt.date(2026, 3, 7), today)
    # After an outage, back to where the last successful run stopped (less the look-back).
    CostSyncRun.objects.create(
        start_day=dt.date(2026, 2, 20),
        end_day=dt.date(2026, 2, 25),
        status=CostSyncRun.Status.SUCCEEDED,
    )
    assert default_window(today) == (dt.date(2026, 2, 22), today)
    with pytest.raises(ValueError, match="start must be before the end"):
        cost_sync(start=cost_today(), end=cost_today())


# --- the request count does not grow with teams or workspaces ---------------------------------


def _grow(
    sb: Sandbox, offering: Any, teams: int, workspaces: int, days: list[dt.date]
) -> list[Team]:
    """Add teams (each with a project) and workspaces spread over them, with ledger usage for
    every workspace on every day, and one notebook per team made outside the portal (tagged
    with the team and its project), sent to the sandbox in a few bulk requests."""
    from tests.factories import UserFactory

    owner = UserFactory.create()
    made, new_teams = [], []
    for t in range(teams):
        team = TeamFactory.create()
        project = ProjectFactory.create(team=team)
        new_teams.append(team)
        share = workspaces // teams + (1 if t < workspaces % teams else 0)
        made += make_workspaces(team, project, owner, offering, share)
    rows = [usage(ws, d, 0.5 + (i % 7) / 10) for i, ws in enumerate(made) for d in days]
    rows += [
        unmanaged(d, 1.25, workspace=f"legacy-{team.slug}", team=team.slug, project=slug)
        for team in new_teams
        for slug in team.projects.values_list("slug", flat=True)
        for d in days
    ]
    for i in range(0, len(rows), 5000):
        sb.control.ledger(rows[i : i + 5000])
    return new_teams


def _daily_sync(sb: Sandbox) -> tuple[CostSyncRun, int, CostSequences, float]:
    sb.control.reset_calls()
    started = time.monotonic()
    with CostSequences() as sequences:
        run = cost_sync()
    elapsed = time.monotonic() - started
    assert run.status == CostSyncRun.Status.SUCCEEDED, run.error
    assert sb.control.calls().get("ce:ListCostAllocationTags") == 1
    return run, ce_calls(sb), sequences, elapsed


@pytest.mark.slow
def test_a_daily_sync_makes_a_fixed_number_of_requests_for_6_or_60_teams(
    world: World, sb: Sandbox
) -> None:
    offering = published_offering(world.team)
    days = days_back(6)
    # 6 teams and 20 workspaces, each team with a budget (pushed to AWS Budgets, read back).
    for team in _grow(sb, offering, teams=6, workspaces=20, days=days):
        team_budget_set(actor=None, team=team, monthly_usd=Decimal("500"))
    assert cost_sync().status == CostSyncRun.Status.SUCCEEDED  # the first run: two months
    small, small_calls, small_seq, small_time = _daily_sync(sb)

    # 60 teams and 2,000 workspaces (and 60 notebooks made outside the portal).
    _grow(sb, offering, teams=54, workspaces=1980, days=days)
    large, large_calls, large_seq, large_time = _daily_sync(sb)

    assert DailyCost.objects.filter(day=days[-1], team__isnull=False).count() == 2060
    unmanaged_rows = DailyCost.objects.filter(day=days[-1], workspace__isnull=True)
    assert unmanaged_rows.filter(team__isnull=False, project__isnull=False).count() == 60
    assert small.ce_requests == small_calls
    assert large.ce_requests == large_calls
    # One tag check plus the pages of three request sequences (two monthly tag maps, the daily
    # costs), nothing per team or per workspace.
    assert small.ce_requests - small.pages == large.ce_requests - large.pages == 1
    assert small_seq.started == large_seq.started
    assert len(large_seq.started) == 3
    assert large_seq.requests == large.pages
    assert large.pages > small.pages  # 2,060 workspace tags x 4 days need several pages
    assert sb.control.calls().get("ce:GetCostForecast", 0) == 0
    assert_equals_ledger(sb, large)
    print(
        f"\n6 teams/20 workspaces: {small.ce_requests} CE requests ({small.pages} pages) in "
        f"{small_time:.2f}s; 60 teams/2,000 workspaces: {large.ce_requests} CE requests "
        f"({large.pages} pages) in {large_time:.2f}s; "
        f"{len(large_seq.started)} request sequences plus the tag check each time"
    )


@pytest.mark.django_db(transaction=True)
def test_two_syncs_at_once_leave_one_rollup(
    world: World, sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from django.db import connection

    from costs import sync as sync_module

    offering = published_offering(world.team)
    ws = make_workspaces(world.team, world.project, world.analyst, offering, 30)
    sb.control.ledger([usage(w, d, 1.0) for d in days_back(4) for w in ws])
    runs: list[CostSyncRun] = []
    # Every run reaches its writes at the same moment.
    barrier = threading.Barrier(3, timeout=30)
    store = sync_module.store_costs

    def store_together(*args: Any) -> int:
        barrier.wait()
        return store(*args)

    monkeypatch.setattr(sync_module, "store_costs", store_together)

    def sync() -> None:
        try:
            runs.append(cost_sync())
        finally:
            connection.close()

    threads = [threading.Thread(target=sync) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status for r in runs] == [CostSyncRun.Status.SUCCEEDED] * 3
    assert DailyCost.objects.count() == 120
    # The rollup holds each (day, team, project) once: no copy from a concurrent run.
    assert TeamDailyCost.objects.count() == 4
    assert TeamDailyCost.objects.aggregate(t=Sum("amount_usd"))["t"] == Decimal("120")


# --- end to end on a real worker ----------------------------------------------------------------


def _wait_for(check: Any, log: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError("timed out\n" + log.read_text(errors="replace")[-4000:])


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_scheduled_task_syncs_end_to_end_on_a_real_worker(
    world: World, sandbox_clean: Sandbox, portal_on_sandbox: Sandbox, worker: Any
) -> None:
    from costs.models import BudgetAlert, TeamBudget
    from costs.tasks import sync_costs

    sb = sandbox_clean
    sb.control.cost_tags(active=COST_TAGS)
    offering = published_offering(world.team)
    ws = make_workspaces(world.team, world.project, world.analyst, offering, 2)
    sb.control.ledger([usage(w, d, 30.0) for d in days_back(3) for w in ws])
    # Setting the budget enqueues its push to AWS Budgets on the worker.
    team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("100"))
    _wait_for(
        lambda: TeamBudget.objects.filter(team=world.team).exclude(aws_config_hash="").exists(),
        worker,
    )

    sync_costs.delay()
    run = _wait_for(
        lambda: CostSyncRun.objects.exclude(status=CostSyncRun.Status.RUNNING).first(), worker
    )
    assert run.status == CostSyncRun.Status.SUCCEEDED, run.error
    assert run.ce_requests == 1 + run.pages
    assert_equals_ledger(sb, run)
    assert BudgetAlert.objects.filter(team=world.team, kind="actual").count() >= 1
    budget = TeamBudget.objects.get(team=world.team)
    assert budget.aws_error == ""
    assert budget.aws_synced_at is not None
    names = [
        b["BudgetName"]
        for b in sb.client("budgets").describe_budgets(AccountId="123456789012")["Budgets"]
    ]
    assert names == ["portal-data-science"]
