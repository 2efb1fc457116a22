"""The Workspace admin: read-only rows filtered by state and team, and actions that stop or
terminate many workspaces at once through the lifecycle services, saying which were skipped."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from governance.models import AuditEvent
from tests.conftest import PERSONAS, World
from tests.factories import published_offering
from tests.workspaces.test_schedules import available, settle
from workspaces import services
from workspaces.models import ExpiryPolicy, State, Workspace

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:workspaces_workspace_changelist"


@pytest.fixture
def offering(world: World) -> Any:
    return published_offering(world.team, world.other_team, max_live_per_user=10)


def run_action(client: Client, action: str, workspaces: list[Workspace]) -> list[str]:
    response = client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [str(w.pk) for w in workspaces]},
    )
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


def states(*workspaces: Workspace) -> list[str]:
    return [Workspace.objects.get(pk=w.pk).state for w in workspaces]


def test_an_admin_stops_the_selected_workspaces_and_hears_which_were_skipped(
    world: World, offering: Any, client: Client
) -> None:
    first = available(world, offering, "first")
    second = available(world, offering, "second", outsider=True)
    already = settle(available(world, offering, "already"), State.STOPPING, "workspace.stop")
    client.force_login(world.admin)

    said = run_action(client, "stop_selected", [first, second, already])

    assert states(first, second, already) == ["stopping", "stopping", "stopping"]
    assert said == [
        "Stopping 2 workspace(s): first, second.",
        "Skipped 1 whose state does not allow them to stop: already (stopping).",
    ]
    stops = AuditEvent.objects.filter(action="workspace.stop", actor=world.admin)
    assert sorted(stops.values_list("target_repr", flat=True)) == [
        "first (data-science)",
        "second (public-health)",
    ]


def test_an_admin_terminates_available_stopped_and_failed_but_not_pending_ones(
    world: World, offering: Any, client: Client
) -> None:
    running = available(world, offering, "running")
    stopped = available(world, offering, "stopped")
    settle(settle(stopped, State.STOPPING, "workspace.stop"), State.STOPPED, "workspace.stopped")
    failed = available(world, offering, "broken")
    settle(failed, State.FAILED, "workspace.fail")
    pending = services.workspace_request(
        actor=world.analyst,
        offering=offering,
        team=world.team,
        project=world.project,
        name="pending",
        instance_type="ml.t3.medium",
        volume_size_gb=20,
        end_date=running.end_date,
        justification="Waiting for a decision.",
    )
    client.force_login(world.admin)

    said = run_action(client, "terminate_selected", [running, stopped, failed, pending])

    assert states(running, stopped, failed, pending) == [
        "terminating",
        "terminating",
        "terminating",
        "pending_approval",
    ]
    assert said[0] == "Terminating 3 workspace(s): broken, running, stopped."
    assert said[1] == (
        "Skipped 1 whose state does not allow them to terminate: pending (pending approval)."
    )


def test_the_workspace_list_filters_by_state_and_team_and_rows_are_read_only(
    world: World, offering: Any, client: Client
) -> None:
    workspace = available(world, offering, "listed")
    available(world, offering, "elsewhere", outsider=True)
    client.force_login(world.admin)
    query = {"state": "available", "team__id__exact": str(world.team.pk)}
    page = client.get(reverse(CHANGELIST), query)
    assert page.status_code == 200
    assert "listed" in page.content.decode()
    assert "elsewhere" not in page.content.decode()
    assert "Stop selected workspaces" in page.content.decode()
    assert "delete_selected" not in page.content.decode()
    change = reverse("admin:workspaces_workspace_change", args=[workspace.pk])
    assert client.get(change).status_code == 200
    client.post(change, {"name": "renamed", "state": "terminated"})
    assert Workspace.objects.get(pk=workspace.pk).name == "listed"


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "admin"])
def test_everyone_else_is_sent_to_the_admin_login_and_nothing_stops(
    world: World, offering: Any, client: Client, persona: str
) -> None:
    workspace = available(world, offering, "safe")
    client.force_login(world.persona(persona))
    response = client.post(
        reverse(CHANGELIST), {"action": "stop_selected", "_selected_action": [str(workspace.pk)]}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert states(workspace) == ["available"]


def test_an_admin_sets_a_teams_grace_period_through_the_service(
    world: World, client: Client
) -> None:
    client.force_login(world.admin)
    add = reverse("admin:workspaces_expirypolicy_add")
    refused = client.post(add, {"team": world.team.pk, "grace_days": 400})
    assert refused.status_code == 200
    assert not ExpiryPolicy.objects.exists()
    client.post(add, {"team": world.team.pk, "grace_days": 3})
    assert ExpiryPolicy.objects.get(team=world.team).grace_days == 3
    assert AuditEvent.objects.filter(action="team.expiry_policy", actor=world.admin).exists()
