"""seed_scale at a small scale: the counts it prints, the invariants the pages rely on (the
rollup equals the daily rows, costs only while a workspace existed, separation of duties, the
append-only audit trail), determinism, and its refusals."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from costs.models import BudgetAlert, DailyCost, TeamBudget, TeamDailyCost, TeamForecast
from governance.models import AuditEvent, ComplianceResult, ComplianceSummary, EvaluationRun
from portal import scale_data
from portal.models import Membership, Project, Role, Team, User
from workspaces.models import FINAL_STATES, State, Workspace

SMALL = {"teams": 3, "users": 40, "workspaces": 40, "live": 16, "days": 30, "compliance_runs": 3}


def seed(**extra: Any) -> str:
    out = StringIO()
    call_command("seed_scale", stdout=out, **SMALL, **extra)
    return out.getvalue()


@pytest.fixture
def seeded_small(db: None, settings: Any) -> str:
    settings.DEBUG = True
    return seed()


def test_counts_match_the_options_and_the_printout(seeded_small: str) -> None:
    assert Team.objects.filter(slug__startswith="scale-").count() == 3
    assert User.objects.count() == 40
    assert Workspace.objects.count() == 40
    live = Workspace.objects.filter(
        state__in=[State.AVAILABLE, State.STOPPED, State.PENDING_APPROVAL]
    )
    assert live.count() == 16
    assert "Scale data ready in" in seeded_small
    assert f"{DailyCost.objects.count():,}" in seeded_small
    assert f"{AuditEvent.objects.count():,}" in seeded_small
    for team in Team.objects.all():
        assert 2 <= Project.objects.filter(team=team).count() <= 4
        roles = Counter(Membership.objects.filter(team=team).values_list("role", flat=True))
        assert roles[Role.APPROVER] >= 2, team
        assert roles[Role.ANALYST] >= 2, team
    assert EvaluationRun.objects.count() == 3
    assert ComplianceSummary.objects.count() == 3 * 3
    assert ComplianceResult.objects.filter(workspace__isnull=False).exists()
    assert TeamForecast.objects.count() == 3
    assert TeamBudget.objects.count() >= 2  # most teams
    for alert in BudgetAlert.objects.filter(acknowledged_at__isnull=True):
        assert alert.amount_usd * 100 >= alert.budget_usd * alert.threshold_percent


def test_personas_sign_in_with_the_printed_password(seeded_small: str) -> None:
    for username in scale_data.PERSONAS:
        assert username in seeded_small
        assert User.objects.get(username=username).check_password(scale_data.PASSWORD)
    big = Team.objects.get(slug=scale_data.largest_team_slug())
    assert Membership.objects.filter(
        team=big, user__username="scale-approver", role=Role.APPROVER
    ).exists()
    mine = Workspace.objects.filter(owner__username="scale-analyst")
    assert mine.count() >= 2
    assert set(mine.values_list("team", flat=True)) == {big.pk}


def test_workspaces_keep_separation_of_duties_and_a_live_name_per_team(
    seeded_small: str,
) -> None:
    approvers = set(Membership.objects.filter(role=Role.APPROVER).values_list("team_id", "user_id"))
    decided = Workspace.objects.exclude(approver=None)
    assert decided.exists()
    for team_id, owner_id, approver_id in decided.values_list("team", "owner", "approver"):
        assert approver_id != owner_id
        assert (team_id, approver_id) in approvers
    assert not Workspace.objects.filter(state=State.PENDING_APPROVAL).exclude(approver=None)
    live_names = Workspace.objects.exclude(state__in=FINAL_STATES).values("team", "name")
    assert live_names.annotate(n=Count("id")).filter(n__gt=1).count() == 0
    # The database itself still refuses an approver who is the owner.
    workspace = decided.first()
    assert workspace is not None
    with pytest.raises(DatabaseError), transaction.atomic():
        Workspace.objects.filter(pk=workspace.pk).update(approver=workspace.owner)


def test_rollup_equals_the_daily_rows_per_team_and_day(seeded_small: str) -> None:
    daily = {
        (r["day"], r["team"], r["project"]): r["total"]
        for r in DailyCost.objects.values("day", "team", "project").annotate(
            total=Sum("amount_usd")
        )
    }
    rollup = {(r.day, r.team_id, r.project_id): r.amount_usd for r in TeamDailyCost.objects.all()}
    assert daily
    assert rollup == daily
    today = timezone.localdate()
    days = {today - dt.timedelta(days=n) for n in range(31)}
    untagged = DailyCost.objects.filter(workspace_tag="")
    assert set(untagged.values_list("day", flat=True)) == days
    assert not untagged.exclude(team=None).exists()


def test_costs_only_while_a_workspace_existed_two_services_a_day(seeded_small: str) -> None:
    per_workspace = (
        DailyCost.objects.exclude(workspace=None)
        .values("workspace")
        .annotate(first=Min("day"), last=Max("day"), rows=Count("id"))
    )
    workspaces = Workspace.objects.in_bulk()
    start = timezone.localdate() - dt.timedelta(days=30)
    assert per_workspace
    for row in per_workspace:
        w = workspaces[row["workspace"]]
        assert w.state in {State.AVAILABLE, State.STOPPED, State.TERMINATED}, w.state
        assert w.decided_at is not None
        assert row["first"] == max(w.decided_at.date(), start)
        last = w.state_changed_at.date() if w.state == State.TERMINATED else timezone.localdate()
        assert row["last"] == last
        assert row["rows"] == 2 * ((row["last"] - row["first"]).days + 1)
    tags = DailyCost.objects.exclude(workspace=None).values_list("workspace_tag", "workspace")
    assert all(tag == str(pk) for tag, pk in tags.distinct())
    never_ran = Workspace.objects.filter(
        state__in=[State.PENDING_APPROVAL, State.REJECTED, State.CANCELLED, State.FAILED]
    )
    assert not DailyCost.objects.filter(workspace__in=never_ran).exists()
    assert DailyCost.objects.filter(amount_usd__lt=Decimal(0)).count() == 0


def test_audit_trail_has_each_request_and_stays_append_only(seeded_small: str) -> None:
    requests = AuditEvent.objects.filter(action="workspace.request")
    assert requests.count() == Workspace.objects.count()
    decided = Workspace.objects.filter(~Q(approver=None))
    approvals = AuditEvent.objects.filter(action__in=["workspace.approve", "workspace.reject"])
    assert approvals.count() == decided.count()
    event = AuditEvent.objects.first()
    assert event is not None
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")


def test_refuses_a_second_run_and_reset_gives_the_same_data(seeded_small: str) -> None:
    with pytest.raises(CommandError, match="--reset"):
        seed()
    before = (
        set(Workspace.objects.values_list("id", "state", "owner__username")),
        DailyCost.objects.aggregate(total=Sum("amount_usd"))["total"],
        AuditEvent.objects.count(),
    )
    seed(reset=True)
    after = (
        set(Workspace.objects.values_list("id", "state", "owner__username")),
        DailyCost.objects.aggregate(total=Sum("amount_usd"))["total"],
        AuditEvent.objects.count(),
    )
    assert after == before
    with connection.cursor() as cursor:  # reset empties with TRUNCATE, not DELETE
        cursor.execute("SELECT count(*) FROM governance_auditevent")
        assert cursor.fetchone()[0] == before[2]


def test_refuses_production_settings_without_force(db: None, settings: Any) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=true"):
        seed()
    assert not Team.objects.exists()
    out = seed(force=True)
    assert "Scale data ready" in out


def test_bad_sizes_are_refused_with_the_option_named(db: None, settings: Any) -> None:
    settings.DEBUG = True
    with pytest.raises(CommandError, match="--live"):
        call_command("seed_scale", teams=3, users=40, workspaces=10, live=11, stdout=StringIO())
    with pytest.raises(CommandError, match="--users"):
        call_command("seed_scale", teams=3, users=5, stdout=StringIO())
    assert not Team.objects.exists()
