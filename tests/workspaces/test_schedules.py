"""Working hours, keep-running, end dates and extensions. Time is an explicit ``now`` given
to the sweeps, never a sleep; state is set up through the services."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from governance.models import AuditEvent
from governance.services import team_settings_set
from portal.models import Notification
from tests.conftest import World
from tests.factories import published_offering
from tests.support.provisioning import offering_from_sandbox, request_and_approve, wait_for_state
from tests.support.sandbox import Sandbox
from workspaces import schedules, services, tasks
from workspaces.models import ExpiryNotice, ExtensionRequest, State, Workspace

pytestmark = [pytest.mark.django_db]

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")


def at(day: dt.date, hour: int, minute: int = 0, zone: zoneinfo.ZoneInfo = NEW_YORK) -> Any:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)


WEDNESDAY = dt.date(2026, 11, 25)
SATURDAY = dt.date(2026, 11, 28)


@pytest.fixture
def offering(world: World) -> Any:
    return published_offering(
        world.team, world.other_team, max_live_per_user=10, max_lifetime_days=60
    )


def settle(workspace: Workspace, to: State, action: str) -> Workspace:
    """What the worker records once AWS reports the state; its AWS side is not under test."""
    workspace.refresh_from_db()
    return services._transition(
        workspace,
        allowed_from=[State(workspace.state)],
        to=to,
        actor=None,
        action=action,
        verb="settle",
    )


def available(
    world: World, offering: Any, name: str, *, days: int = 30, outsider: bool = False
) -> Workspace:
    owner = world.outsider if outsider else world.analyst
    workspace = services.workspace_request(
        actor=owner,
        offering=offering,
        team=world.other_team if outsider else world.team,
        project=world.other_project if outsider else world.project,
        name=name,
        instance_type="ml.t3.medium",
        volume_size_gb=20,
        end_date=timezone.localdate() + dt.timedelta(days=days),
        justification="Schedule test.",
    )
    if outsider:
        # The other team has no approver among the personas; an admin decides there.
        workspace = services.workspace_approve(actor=world.admin, workspace=workspace)
    else:
        workspace = services.workspace_approve(actor=world.approver, workspace=workspace)
    workspace = settle(workspace, State.PROVISIONING, "workspace.provision")
    return settle(workspace, State.AVAILABLE, "workspace.available")


def state_of(workspace: Workspace) -> str:
    workspace.refresh_from_db()
    return workspace.state


# --- working hours ----------------------------------------------------------------------------


def test_the_same_moment_is_outside_hours_in_sydney_and_inside_them_in_new_york(
    world: World, offering: Any
) -> None:
    team_settings_set(
        actor=None,
        team=world.team,
        subnet_id="subnet-0a1b2c3d4e5f60718",
        security_group_ids="sg-0a1b2c3d4e5f60719",
        kms_key_id="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        time_zone="Australia/Sydney",
    )
    in_sydney = available(world, offering, "sydney-eda")
    in_new_york = available(world, offering, "new-york-eda", outsider=True)
    # 07:00 Wednesday in New York is 23:00 Wednesday in Sydney.
    report = schedules.stop_outside_working_hours(now=at(WEDNESDAY, 7))

    assert report.stopped == ["sydney-eda"]
    assert state_of(in_sydney) == State.STOPPING
    assert state_of(in_new_york) == State.AVAILABLE
    assert "Australia/Sydney" in in_sydney.state_reason
    event = AuditEvent.objects.get(target_id=str(in_sydney.pk), action="workspace.stop")
    assert event.actor is None


def test_a_workspace_inside_working_hours_keeps_running(world: World, offering: Any) -> None:
    workspace = available(world, offering, "busy")
    assert schedules.stop_outside_working_hours(now=at(WEDNESDAY, 18, 59)).stopped == []
    assert state_of(workspace) == State.AVAILABLE


def test_at_closing_time_a_workspace_is_stopped(world: World, offering: Any) -> None:
    workspace = available(world, offering, "late")
    assert schedules.stop_outside_working_hours(now=at(WEDNESDAY, 19)).stopped == ["late"]
    assert state_of(workspace) == State.STOPPING


def test_on_a_saturday_noon_a_workspace_is_stopped(world: World, offering: Any) -> None:
    workspace = available(world, offering, "weekend")
    tasks.stop_outside_working_hours(at(SATURDAY, 12).isoformat())
    assert state_of(workspace) == State.STOPPING


def test_a_workspace_kept_running_is_not_stopped_until_its_exception_runs_out(
    world: World, offering: Any
) -> None:
    kept = available(world, offering, "training-run")
    plain = available(world, offering, "plain")
    asked = at(WEDNESDAY, 17)
    schedules.workspace_keep_running(
        actor=world.analyst,
        workspace=kept,
        until=at(WEDNESDAY, 23),
        reason="Model training finishes tonight.",
        now=asked,
    )

    report = schedules.stop_outside_working_hours(now=at(WEDNESDAY, 20))
    assert report.stopped == ["plain"]
    assert (state_of(kept), state_of(plain)) == (State.AVAILABLE, State.STOPPING)

    schedules.stop_outside_working_hours(now=at(WEDNESDAY, 23, 5))
    assert state_of(kept) == State.STOPPING
    event = AuditEvent.objects.get(target_id=str(kept.pk), action="workspace.keep_running")
    assert (event.actor, event.reason) == (world.analyst, "Model training finishes tonight.")


def test_an_offering_that_does_not_stop_outside_hours_is_left_running(world: World) -> None:
    always_on = published_offering(
        world.team, title="Always on", stop_outside_working_hours=False, max_live_per_user=10
    )
    workspace = available(world, always_on, "always-on")
    assert schedules.stop_outside_working_hours(now=at(SATURDAY, 3)).stopped == []
    assert state_of(workspace) == State.AVAILABLE


def test_keep_running_is_the_owners_with_a_reason_and_at_most_72_hours_ahead(
    world: World, offering: Any
) -> None:
    workspace = available(world, offering, "exception")
    now = at(WEDNESDAY, 17)
    for user in (world.approver, world.admin):
        with pytest.raises(PermissionDenied):
            schedules.workspace_keep_running(
                actor=user,
                workspace=workspace,
                until=now + dt.timedelta(hours=2),
                reason="x",
                now=now,
            )
    with pytest.raises(ValidationError) as error:
        schedules.workspace_keep_running(
            actor=world.analyst,
            workspace=workspace,
            until=now + dt.timedelta(hours=73),
            reason=" ",
            now=now,
        )
    assert set(error.value.message_dict) == {"until", "reason"}
    workspace.refresh_from_db()
    assert workspace.keep_running_until is None
    # A weekend fits: Friday evening to Monday morning.
    schedules.workspace_keep_running(
        actor=world.analyst,
        workspace=workspace,
        until=now + dt.timedelta(hours=72),
        reason="Weekend run.",
        now=now,
    )
    schedules.workspace_keep_running_end(actor=world.admin, workspace=workspace)
    workspace.refresh_from_db()
    assert workspace.keep_running_until is None


# --- end dates ----------------------------------------------------------------------------------


def expiry_notices(world: World) -> list[str]:
    return list(
        Notification.objects.filter(user=world.analyst, subject__contains=" ends ")
        .order_by("created_at", "id")
        .values_list("subject", flat=True)
    )


def test_the_three_day_and_one_day_notices_are_sent_exactly_once_each(
    world: World, offering: Any, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = available(world, offering, "ending", days=10)
    end = workspace.end_date
    mail.outbox.clear()
    moments = [
        at(end - dt.timedelta(days=4), 9),  # too early
        at(end - dt.timedelta(days=3), 0, 5),
        at(end - dt.timedelta(days=3), 9),
        at(end - dt.timedelta(days=2), 9),
        at(end - dt.timedelta(days=1), 0, 5),
        at(end - dt.timedelta(days=1), 18),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        for moment in moments:
            schedules.enforce_end_dates(now=moment)
            schedules.enforce_end_dates(now=moment)  # a doubled beat

    assert expiry_notices(world) == [
        f"Workspace ending ends in three days ({end:%Y-%m-%d})",
        f"Workspace ending ends tomorrow ({end:%Y-%m-%d})",
    ]
    assert [m.subject for m in mail.outbox] == expiry_notices(world)
    assert mail.outbox[0].to == [world.analyst.email]
    assert ExpiryNotice.objects.filter(workspace=workspace).count() == 2
    assert state_of(workspace) == State.AVAILABLE


def test_an_extended_workspace_is_reminded_again_before_its_new_end_date(
    world: World, offering: Any
) -> None:
    workspace = available(world, offering, "reminded", days=10)
    old_end = workspace.end_date
    schedules.enforce_end_dates(now=at(old_end - dt.timedelta(days=1), 9))
    extension = schedules.extension_request(
        actor=world.analyst,
        workspace=workspace,
        new_end_date=old_end + dt.timedelta(days=7),
        reason="Results are due later.",
    )
    schedules.extension_approve(actor=world.approver, extension=extension)
    schedules.enforce_end_dates(now=at(old_end + dt.timedelta(days=6), 9))
    assert len(expiry_notices(world)) == 2
    assert state_of(workspace) == State.AVAILABLE


def test_a_workspace_is_stopped_when_its_end_date_begins_in_its_teams_zone(
    world: World, offering: Any
) -> None:
    workspace = available(world, offering, "expiring", days=10)
    end = workspace.end_date
    assert schedules.enforce_end_dates(now=at(end - dt.timedelta(days=1), 23, 55)).stopped == []
    report = schedules.enforce_end_dates(now=at(end, 0, 5))
    assert report.stopped == ["expiring"]
    workspace.refresh_from_db()
    assert workspace.state == State.STOPPING
    assert f"end date {end:%Y-%m-%d}" in workspace.state_reason


def test_an_expired_workspace_is_terminated_after_the_grace_period_the_admin_set(
    world: World, offering: Any
) -> None:
    schedules.expiry_policy_set(actor=world.admin, team=world.team, grace_days=2)
    workspace = available(world, offering, "graceful", days=10)
    end = workspace.end_date
    schedules.enforce_end_dates(now=at(end, 9))
    workspace = settle(workspace, State.STOPPED, "workspace.stopped")

    assert schedules.enforce_end_dates(now=at(end + dt.timedelta(days=1), 23)).terminated == []
    assert state_of(workspace) == State.STOPPED
    report = schedules.enforce_end_dates(now=at(end + dt.timedelta(days=2), 0, 5))
    assert report.terminated == ["graceful"]
    assert state_of(workspace) == State.TERMINATING
    assert schedules.enforce_end_dates(now=at(end + dt.timedelta(days=2), 1)).terminated == []


def test_only_admins_set_the_grace_period_and_it_is_audited(world: World) -> None:
    with pytest.raises(PermissionDenied):
        schedules.expiry_policy_set(actor=world.approver, team=world.team, grace_days=1)
    with pytest.raises(ValidationError):
        schedules.expiry_policy_set(actor=world.admin, team=world.team, grace_days=365)
    schedules.expiry_policy_set(actor=world.admin, team=world.team, grace_days=14)
    event = AuditEvent.objects.get(action="team.expiry_policy")
    assert (event.before, event.after) == ({"grace_days": 7}, {"grace_days": 14})


# --- extensions ---------------------------------------------------------------------------------


def ask(world: World, workspace: Workspace, days: int = 14) -> ExtensionRequest:
    return schedules.extension_request(
        actor=world.analyst,
        workspace=workspace,
        new_end_date=workspace.end_date + dt.timedelta(days=days),
        reason="The evaluation runs two more weeks.",
    )


def test_an_approved_extension_moves_the_end_date_and_tells_both_sides(
    world: World, offering: Any
) -> None:
    workspace = available(world, offering, "extend-me")
    old_end = workspace.end_date
    extension = ask(world, workspace)
    assert Notification.objects.filter(user=world.approver, subject__contains="extend").exists()

    schedules.extension_approve(actor=world.approver, extension=extension, reason="Fine.")
    workspace.refresh_from_db()
    extension.refresh_from_db()
    assert workspace.end_date == old_end + dt.timedelta(days=14)
    assert (extension.state, extension.decided_by) == ("approved", world.approver)
    assert Notification.objects.filter(
        user=world.analyst, subject="Extension of extend-me approved"
    ).exists()
    event = AuditEvent.objects.get(action="workspace.extension_approve")
    assert event.before == {"end_date": old_end.isoformat()}
    assert event.after["end_date"] == workspace.end_date.isoformat()


def test_a_rejected_extension_keeps_the_end_date_and_needs_a_reason(
    world: World, offering: Any
) -> None:
    workspace = available(world, offering, "keep-date")
    extension = ask(world, workspace)
    with pytest.raises(ValidationError):
        schedules.extension_reject(actor=world.approver, extension=extension, reason="")
    schedules.extension_reject(actor=world.admin, extension=extension, reason="Finish by then.")
    with pytest.raises(services.InvalidTransition):
        schedules.extension_approve(actor=world.approver, extension=extension)
    assert Workspace.objects.get(pk=workspace.pk).end_date == workspace.end_date
    assert Notification.objects.filter(
        user=world.analyst, subject="Extension of keep-date rejected"
    ).exists()


def test_nobody_decides_their_own_extension_and_the_database_refuses_it_too(
    world: World, offering: Any
) -> None:
    workspace = available(world, offering, "self-serve")
    extension = ask(world, workspace)
    with pytest.raises(PermissionDenied):
        schedules.extension_approve(actor=world.analyst, extension=extension)
    with pytest.raises(PermissionDenied):
        schedules.extension_approve(actor=world.outsider, extension=extension)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExtensionRequest.objects.filter(pk=extension.pk).update(
            state="approved", decided_by=world.analyst, decided_at=timezone.now()
        )
    assert ExtensionRequest.objects.get(pk=extension.pk).state == "pending"


def test_an_extension_past_the_offerings_lifetime_or_a_second_one_is_refused(
    world: World, offering: Any
) -> None:
    workspace = available(world, offering, "too-long")
    with pytest.raises(ValidationError) as error:
        ask(world, workspace, days=61)
    assert "60 days from today" in error.value.message_dict["new_end_date"][0]
    with pytest.raises(PermissionDenied):
        schedules.extension_request(
            actor=world.approver,
            workspace=workspace,
            new_end_date=workspace.end_date + dt.timedelta(days=1),
            reason="x",
        )
    ask(world, workspace)
    with pytest.raises(ValidationError):
        ask(world, workspace, days=3)


def test_an_approvers_pending_list_holds_their_teams_extensions_but_not_their_own(
    world: World, offering: Any
) -> None:
    mine = ask(world, available(world, offering, "listed"))
    theirs = schedules.extension_request(
        actor=world.outsider,
        workspace=available(world, offering, "elsewhere", outsider=True),
        new_end_date=timezone.localdate() + dt.timedelta(days=40),
        reason="Outbreak season.",
    )
    assert list(schedules.pending_extensions_for(world.approver)) == [mine]
    assert list(schedules.pending_extensions_for(world.admin)) == [mine, theirs]
    assert list(schedules.pending_extensions_for(world.analyst)) == []


# --- pages ----------------------------------------------------------------------------------------


def test_the_owner_keeps_a_workspace_running_from_its_page(
    world: World, offering: Any, client: Client
) -> None:
    workspace = available(world, offering, "from-page")
    client.force_login(world.analyst)
    until = timezone.now().astimezone(NEW_YORK) + dt.timedelta(hours=5)
    response = client.post(
        reverse("workspace_keep_running", args=[workspace.pk]),
        {"until": until.strftime("%Y-%m-%dT%H:%M"), "reason": "Long job."},
    )
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.keep_running_reason == "Long job."
    assert workspace.keep_running_until is not None
    # The form's time is read in the team's zone, not the server's.
    assert abs(workspace.keep_running_until - until) < dt.timedelta(minutes=1)


def test_keep_running_from_the_page_by_someone_else_is_refused(
    world: World, offering: Any, client: Client
) -> None:
    workspace = available(world, offering, "not-yours")
    url = reverse("workspace_keep_running", args=[workspace.pk])
    data = {"until": "2026-11-25T20:00", "reason": "x"}
    client.force_login(world.outsider)
    assert client.post(url, data).status_code == 404
    client.force_login(world.approver)
    assert client.post(url, data).status_code == 403


def test_an_extension_asked_on_the_page_is_decided_on_the_approvers_list(
    world: World, offering: Any, client: Client
) -> None:
    workspace = available(world, offering, "paged")
    new_end = workspace.end_date + dt.timedelta(days=5)
    client.force_login(world.analyst)
    response = client.post(
        reverse("workspace_extension_request", args=[workspace.pk]),
        {"new_end_date": new_end.isoformat(), "reason": "More data arrived."},
    )
    assert response.status_code == 302
    extension = ExtensionRequest.objects.get(workspace=workspace)
    assert client.get(reverse("extension_queue")).status_code == 403

    client.force_login(world.approver)
    page = client.get(reverse("extension_queue"))
    assert page.status_code == 200
    assert "More data arrived." in page.content.decode()
    response = client.post(
        reverse("extension_decide", args=[extension.pk]), {"decision": "approve", "reason": ""}
    )
    assert response.status_code == 302
    assert Workspace.objects.get(pk=workspace.pk).end_date == new_end


def test_the_schedule_fragment_shows_hours_exception_and_end_dates(
    world: World, offering: Any, rf: Any
) -> None:
    from django.template.loader import render_to_string

    from workspaces.schedule_views import schedule_context

    workspace = available(world, offering, "shown")
    ask(world, workspace)
    request = rf.get("/")
    request.user = world.analyst
    html = render_to_string(
        "workspaces/_schedule.html",
        {"workspace": workspace, **schedule_context(world.analyst, workspace)},
        request=request,
    )
    assert "07:00 to 19:00" in html
    assert "America/New_York" in html
    assert workspace.end_date.strftime("%Y-%m-%d") in html
    assert "waiting for a decision" in html


MATRIX = {
    # persona: (extension list, keep running, ask for an extension)
    "analyst": (403, 302, 302),
    "approver": (200, 403, 403),
    "admin": (200, 403, 403),
    "finance": (403, 403, 403),
    "auditor": (403, 403, 403),
    "outsider": (403, 404, 404),
}


@pytest.mark.parametrize("persona", list(MATRIX))
def test_schedule_page_permission_matrix(
    world: World, offering: Any, client: Client, persona: str
) -> None:
    workspace = available(world, offering, "matrix")
    client.force_login(world.persona(persona))
    until = (timezone.now() + dt.timedelta(hours=2)).astimezone(NEW_YORK)
    codes = (
        client.get(reverse("extension_queue")).status_code,
        client.post(
            reverse("workspace_keep_running", args=[workspace.pk]),
            {"until": until.strftime("%Y-%m-%dT%H:%M"), "reason": "Long job."},
        ).status_code,
        client.post(
            reverse("workspace_extension_request", args=[workspace.pk]),
            {
                "new_end_date": (workspace.end_date + dt.timedelta(days=3)).isoformat(),
                "reason": "More time.",
            },
        ).status_code,
    )
    assert codes == MATRIX[persona]


def test_the_extension_list_makes_a_fixed_number_of_queries(
    world: World, offering: Any, client: Client, django_assert_max_num_queries: Any
) -> None:
    def fill(count: int) -> None:
        for _ in range(count):
            ask(world, available(world, offering, f"ws-{Workspace.objects.count()}"))

    fill(2)
    client.force_login(world.approver)
    client.get(reverse("extension_queue"))
    with django_assert_max_num_queries(30) as few:
        assert client.get(reverse("extension_queue")).status_code == 200
    fill(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse("extension_queue")).status_code == 200


def test_the_working_hours_sweep_reads_every_team_in_one_query(
    world: World, offering: Any, django_assert_num_queries: Any
) -> None:
    for name in ("one", "two", "three"):
        available(world, offering, name)
    available(world, offering, "four", outsider=True)
    with django_assert_num_queries(1):
        assert schedules.stop_outside_working_hours(now=at(WEDNESDAY, 12)).stopped == []


# --- for real -----------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_outside_working_hours_the_sweep_really_stops_the_notebook(
    world: World, seeded: dict[str, Any], portal_on_sandbox: Sandbox, worker: Path
) -> None:
    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    workspace = wait_for_state(
        request_and_approve(world, offering, "night-owl"), {State.AVAILABLE}, worker
    )
    report = schedules.stop_outside_working_hours(now=at(SATURDAY, 12))
    assert report.stopped == ["night-owl"]
    workspace = wait_for_state(workspace, {State.STOPPED}, worker)
    status = portal_on_sandbox.client("sagemaker").describe_notebook_instance(
        NotebookInstanceName=workspace.notebook_name
    )
    assert status["NotebookInstanceStatus"] == "Stopped"
