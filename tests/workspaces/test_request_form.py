"""The request form, the approval page and the lists, through the Django test client.
Every request rule shows its message on the form and writes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from costs.services import team_budget_set
from governance.models import AuditEvent, TeamSettings
from portal.models import Notification
from tests.conftest import World
from tests.costs.support import team_spent
from tests.factories import ProjectFactory, published_offering
from workspaces import services
from workspaces.models import State, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(world: World) -> Any:
    return published_offering(
        world.team, max_volume_gb=50, max_lifetime_days=30, max_live_per_user=1, max_live_per_team=2
    )


def form_data(world: World, **overrides: Any) -> dict[str, Any]:
    data = {
        "team": world.team.pk,
        "project": world.project.pk,
        "name": "readmit-eda",
        "instance_type": "ml.t3.medium",
        "volume_size_gb": 20,
        "end_date": (timezone.localdate() + dt.timedelta(days=10)).isoformat(),
        "justification": "Exploring last year's readmission data.",
    }
    data.update(overrides)
    return data


def request_via_service(world: World, offering: Any, user: Any = None, **overrides: Any) -> Any:
    data = form_data(world, **overrides)
    return services.workspace_request(
        actor=user or world.analyst,
        offering=offering,
        team=world.team,
        project=world.project,
        name=data["name"],
        instance_type=data["instance_type"],
        volume_size_gb=data["volume_size_gb"],
        end_date=dt.date.fromisoformat(data["end_date"]),
        justification=data["justification"],
    )


def post(client: Client, offering: Any, data: dict[str, Any]) -> Any:
    return client.post(reverse("workspace_request", args=[offering.pk]), data)


def test_a_valid_request_is_recorded_pending_and_approvers_are_told(
    world: World,
    client: Client,
    offering: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    client.force_login(world.analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, offering, form_data(world))
    workspace = Workspace.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("workspace_detail", args=[workspace.pk])
    assert workspace.state == State.PENDING_APPROVAL
    assert workspace.owner == world.analyst
    # 0.05/h x 12 h x 21.74 weekdays + 20 GB x 0.14
    assert workspace.estimated_monthly_usd == Decimal("15.84")
    assert Notification.objects.filter(user=world.approver).count() == 1
    assert [m.to for m in mailoutbox] == [[world.approver.email]]
    assert AuditEvent.objects.filter(action="workspace.request").count() == 1


RULES = [
    ("instance_type", {"instance_type": "ml.g4dn.xlarge"}, "Select a valid choice"),
    ("volume_size_gb", {"volume_size_gb": 51}, "between 5 and 50 GB"),
    ("volume_size_gb", {"volume_size_gb": 2}, "between 5 and 50 GB"),
    ("end_date", {"end_date": "2020-01-01"}, "must be after today"),
    (
        "end_date",
        # A callable, made into a date when the test runs: at collection, just before
        # midnight, 31 days from "today" would be 30 days from the test's today.
        {"end_date": lambda: (timezone.localdate() + dt.timedelta(days=31)).isoformat()},
        "longest lifetime is 30 days",
    ),
    ("name", {"name": "Bad Name!"}, "lower-case letters"),
    ("justification", {"justification": "because"}, "at least 10 characters"),
]


@pytest.mark.parametrize(
    ("field", "change", "message"), RULES, ids=[f"{r[0]}-{i}" for i, r in enumerate(RULES)]
)
def test_each_broken_rule_is_shown_on_its_field_and_nothing_is_written(
    world: World, client: Client, offering: Any, field: str, change: dict[str, Any], message: str
) -> None:
    client.force_login(world.analyst)
    events = AuditEvent.objects.count()
    change = {k: v() if callable(v) else v for k, v in change.items()}
    response = post(client, offering, form_data(world, **change))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message.split(" ")[0] in response.content.decode()
    assert Workspace.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_instance_type_outside_the_constraint_is_refused_by_the_service_too(
    world: World, offering: Any
) -> None:
    with pytest.raises(services.ValidationError) as caught:
        request_via_service(world, offering, instance_type="ml.g4dn.xlarge")
    assert "not allowed for this offering" in caught.value.message_dict["instance_type"][0]
    assert Workspace.objects.count() == 0


def test_a_name_already_live_in_the_team_is_refused(
    world: World, client: Client, offering: Any
) -> None:
    request_via_service(world, offering, user=world.approver)
    client.force_login(world.analyst)
    response = post(client, offering, form_data(world))
    assert response.status_code == 400
    assert "already has a workspace named" in response.context["form"].errors["name"][0]
    assert Workspace.objects.count() == 1


def test_a_project_of_another_team_is_refused(world: World, client: Client, offering: Any) -> None:
    client.force_login(world.analyst)
    response = post(client, offering, form_data(world, project=world.other_project.pk))
    assert response.status_code == 400
    assert "project" in response.context["form"].errors
    assert Workspace.objects.count() == 0


def test_the_per_person_quota_is_enforced(world: World, client: Client, offering: Any) -> None:
    request_via_service(world, offering, name="first-one")
    client.force_login(world.analyst)
    response = post(client, offering, form_data(world, name="second-one"))
    assert response.status_code == 400
    assert "the limit is 1 per person" in " ".join(response.context["form"].non_field_errors())
    assert Workspace.objects.count() == 1


def test_the_per_team_quota_is_enforced(world: World, client: Client, offering: Any) -> None:
    extra = ProjectFactory.create(team=world.team)
    request_via_service(world, offering, user=world.approver, name="one")
    from tests.factories import UserFactory, member

    colleague = UserFactory.create()
    member(colleague, world.team, "analyst")
    request_via_service(world, offering, user=colleague, name="two", project=extra.pk)
    client.force_login(world.analyst)
    response = post(client, offering, form_data(world, name="three"))
    assert response.status_code == 400
    assert "the limit is 2 per team" in " ".join(response.context["form"].non_field_errors())
    assert Workspace.objects.count() == 2


def test_an_exhausted_budget_refuses_new_requests_with_the_reason(
    world: World, client: Client, offering: Any
) -> None:
    team_budget_set(actor=None, team=world.team, monthly_usd=Decimal("100"))
    team_spent(world.team, "100.00")
    client.force_login(world.analyst)
    response = post(client, offering, form_data(world))
    assert response.status_code == 400
    assert "spent 100 % of its monthly budget" in response.context["form"].errors["team"][0]
    assert Workspace.objects.count() == 0


def test_a_team_without_network_settings_cannot_request(
    world: World, client: Client, offering: Any
) -> None:
    TeamSettings.objects.filter(team=world.team).delete()
    client.force_login(world.analyst)
    response = post(client, offering, form_data(world))
    assert response.status_code == 400
    assert "network and encryption" in " ".join(response.context["form"].non_field_errors())


def test_an_offering_not_published_for_the_users_teams_is_404(
    world: World, client: Client, offering: Any
) -> None:
    client.force_login(world.outsider)
    assert client.get(reverse("workspace_request", args=[offering.pk])).status_code == 404
    assert post(client, offering, form_data(world)).status_code == 404
    assert Workspace.objects.count() == 0


def test_a_non_member_cannot_request_for_the_team_through_the_service(
    world: World, offering: Any
) -> None:
    with pytest.raises(services.ValidationError) as caught:
        request_via_service(world, offering, user=world.outsider)
    assert "not a member" in caught.value.message_dict["team"][0]


def test_the_estimate_fragment_follows_the_chosen_size(
    world: World, client: Client, offering: Any
) -> None:
    client.force_login(world.analyst)
    response = client.get(
        reverse("workspace_estimate"),
        {
            "offering": offering.pk,
            "instance_type": "ml.t3.large",
            "volume_size_gb": 40,
            "team": world.team.pk,
        },
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="estimate"')  # the fragment, not the page
    assert "$31.69" in body  # 0.10 x 12 x 21.74 + 40 x 0.14
    assert "No monthly budget is set" in body
    assert response.headers["Vary"] == "HX-Request, Cookie"


def test_the_approver_approves_from_the_page_and_the_requester_is_told(
    world: World,
    client: Client,
    offering: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    workspace = request_via_service(world, offering)
    client.force_login(world.approver)
    assert world.analyst.pk != world.approver.pk
    queue = client.get(reverse("approval_queue")).content.decode()
    assert workspace.name in queue
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("workspace_decide", args=[workspace.pk]),
            {"decision": "approve", "reason": "Fits the project."},
        )
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.state == State.APPROVED
    assert workspace.approver == world.approver
    assert len(callbacks) == 2  # the provisioning task and the e-mail, both after commit
    assert Notification.objects.filter(user=world.analyst, subject__contains="approved").exists()


def test_rejecting_needs_a_reason(world: World, client: Client, offering: Any) -> None:
    workspace = request_via_service(world, offering)
    client.force_login(world.approver)
    response = client.post(
        reverse("workspace_decide", args=[workspace.pk]), {"decision": "reject", "reason": ""}
    )
    assert response.status_code == 400
    assert "Say why" in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.state == State.PENDING_APPROVAL


def test_the_requester_sees_no_decision_form_and_cannot_post_one(
    world: World, client: Client, offering: Any
) -> None:
    workspace = request_via_service(world, offering, user=world.approver)
    client.force_login(world.approver)
    page = client.get(reverse("workspace_detail", args=[workspace.pk])).content.decode()
    assert "You cannot approve your own request" in page
    assert 'value="approve"' not in page
    assert workspace.name not in client.get(reverse("approval_queue")).content.decode()
    response = client.post(
        reverse("workspace_decide", args=[workspace.pk]), {"decision": "approve"}
    )
    assert response.status_code == 403
    workspace.refresh_from_db()
    assert workspace.state == State.PENDING_APPROVAL


def test_self_approval_is_refused_by_the_service_and_the_database(
    world: World, offering: Any
) -> None:
    from django.db import IntegrityError, transaction

    workspace = request_via_service(world, offering, user=world.approver)
    with pytest.raises(services.PermissionDenied):
        services.workspace_approve(actor=world.approver, workspace=workspace)
    with pytest.raises(IntegrityError), transaction.atomic():
        Workspace.objects.filter(pk=workspace.pk).update(approver=world.approver)


def test_an_exhausted_budget_needs_an_override_reason_to_approve(
    world: World, client: Client, offering: Any
) -> None:
    workspace = request_via_service(world, offering)
    team_budget_set(actor=None, team=world.team, monthly_usd=Decimal("10"))
    team_spent(world.team, "12")
    client.force_login(world.approver)
    url = reverse("workspace_decide", args=[workspace.pk])
    response = client.post(url, {"decision": "approve"})
    assert response.status_code == 400
    assert "needs a written override reason" in response.content.decode()
    response = client.post(
        url, {"decision": "approve", "budget_override_reason": "Grant deadline on Friday."}
    )
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.state == State.APPROVED
    assert workspace.budget_override_reason == "Grant deadline on Friday."


def test_approval_checks_the_request_again_against_current_constraints(
    world: World, offering: Any
) -> None:
    from governance.models import OfferingConstraint

    workspace = request_via_service(world, offering)
    OfferingConstraint.objects.filter(offering=offering).update(
        allowed_instance_types=["ml.t3.large"]
    )
    with pytest.raises(services.ValidationError) as caught:
        services.workspace_approve(actor=world.approver, workspace=workspace)
    assert "instance_type" in caught.value.message_dict
    workspace.refresh_from_db()
    assert workspace.state == State.PENDING_APPROVAL


def test_the_requester_cancels_while_pending_and_not_after(
    world: World, client: Client, offering: Any
) -> None:
    workspace = request_via_service(world, offering)
    client.force_login(world.analyst)
    url = reverse("workspace_cancel", args=[workspace.pk])
    assert client.post(url).status_code == 302
    workspace.refresh_from_db()
    assert workspace.state == State.CANCELLED
    client.post(url)
    messages = [
        str(m)
        for m in client.get(reverse("workspace_detail", args=[workspace.pk])).context["messages"]
    ]
    assert any("it is cancelled" in m for m in messages)


def test_auto_approval_only_within_limits_and_a_healthy_budget(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    auto = published_offering(world.team, title="Small notebook", approval_required=False)
    with django_capture_on_commit_callbacks(execute=False):
        first = request_via_service(world, auto, name="auto-one")
    assert first.state == State.APPROVED
    assert first.approver is None
    team_budget_set(actor=None, team=world.team, monthly_usd=Decimal("100"))
    team_spent(world.team, "85")
    second = request_via_service(world, auto, user=world.approver, name="auto-two")
    assert second.state == State.PENDING_APPROVAL  # 85 % is not healthy


def test_outsider_gets_404_for_another_teams_workspace(
    world: World, client: Client, offering: Any
) -> None:
    workspace = request_via_service(world, offering)
    client.force_login(world.outsider)
    assert client.get(reverse("workspace_detail", args=[workspace.pk])).status_code == 404
    assert (
        client.post(
            reverse("workspace_decide", args=[workspace.pk]), {"decision": "approve"}
        ).status_code
        == 404
    )
    assert client.get(reverse("approval_queue")).status_code == 403
    assert workspace.name not in client.get(reverse("my_workspaces")).content.decode()


PAGES = {
    "catalog": lambda w, ws: reverse("catalog"),
    "my_workspaces": lambda w, ws: reverse("my_workspaces"),
    "approvals": lambda w, ws: reverse("approval_queue"),
    "team_workspaces": lambda w, ws: reverse("team_workspaces", args=[w.team.slug]),
    "workspace": lambda w, ws: reverse("workspace_detail", args=[ws.pk]),
    "request_form": lambda w, ws: reverse("workspace_request", args=[ws.offering_id]),
    "notifications": lambda w, ws: reverse("notifications"),
}
EXPECTED = {
    "analyst": {
        "catalog": 200,
        "my_workspaces": 200,
        "approvals": 403,
        "team_workspaces": 403,
        "workspace": 200,
        "request_form": 200,
        "notifications": 200,
    },
    "approver": {
        "catalog": 200,
        "my_workspaces": 200,
        "approvals": 200,
        "team_workspaces": 200,
        "workspace": 200,
        "request_form": 200,
        "notifications": 200,
    },
    "admin": {
        "catalog": 200,
        "my_workspaces": 200,
        "approvals": 200,
        "team_workspaces": 200,
        "workspace": 200,
        "request_form": 404,
        "notifications": 200,
    },
    "finance": {
        "catalog": 200,
        "my_workspaces": 200,
        "approvals": 403,
        "team_workspaces": 200,
        "workspace": 200,
        "request_form": 404,
        "notifications": 200,
    },
    "auditor": {
        "catalog": 200,
        "my_workspaces": 200,
        "approvals": 403,
        "team_workspaces": 200,
        "workspace": 200,
        "request_form": 404,
        "notifications": 200,
    },
    "outsider": {
        "catalog": 200,
        "my_workspaces": 200,
        "approvals": 403,
        "team_workspaces": 404,
        "workspace": 404,
        "request_form": 404,
        "notifications": 200,
    },
}


@pytest.mark.parametrize("persona", list(EXPECTED))
@pytest.mark.parametrize("page", list(PAGES))
def test_page_permission_matrix(
    world: World, client: Client, offering: Any, persona: str, page: str
) -> None:
    workspace = request_via_service(world, offering)
    client.force_login(world.persona(persona))
    response = client.get(PAGES[page](world, workspace))
    assert response.status_code == EXPECTED[persona][page]


@pytest.mark.parametrize("page", ["my_workspaces", "team_workspaces", "approvals"])
def test_lists_make_a_fixed_number_of_queries(
    world: World, client: Client, offering: Any, page: str, django_assert_max_num_queries: Any
) -> None:
    from governance.models import OfferingConstraint

    OfferingConstraint.objects.filter(offering=offering).update(
        max_live_per_user=100, max_live_per_team=100
    )
    viewer = world.approver if page != "my_workspaces" else world.analyst

    def fill(count: int) -> None:
        for i in range(count):
            request_via_service(world, offering, name=f"ws-{Workspace.objects.count()}-{i}")

    url = (
        PAGES[page](world, None)
        if page != "team_workspaces"
        else reverse("team_workspaces", args=[world.team.slug])
    )
    fill(2)
    client.force_login(viewer)
    client.get(url)
    with django_assert_max_num_queries(30) as few:
        assert client.get(url).status_code == 200
    fill(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200
