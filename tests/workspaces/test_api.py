"""The v1 workspaces API: every request rule, the decisions' status codes, who sees what,
query counts that do not grow with the data, and a schema that validates.

State is set up through the services; the request under test goes through the API. Approval
enqueues provisioning on commit, and a test's transaction never commits, so no broker is
reached; where the enqueue matters it is captured, not run.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from costs.services import team_budget_set
from governance.models import AuditEvent
from portal.models import Role, User
from tests.conftest import PERSONAS, World
from tests.costs.support import team_spent
from tests.factories import ProjectFactory, TeamFactory, UserFactory, member, published_offering
from workspaces import services
from workspaces.models import Offering, State, Workspace
from workspaces.tasks import provision_workspace

pytestmark = pytest.mark.django_db


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def offering(world: World) -> Offering:
    return published_offering(
        world.team, max_volume_gb=50, max_lifetime_days=30, max_live_per_user=1, max_live_per_team=2
    )


def in_days(days: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def body(world: World, offering: Offering, /, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "offering": offering.pk,
        "team": world.team.slug,
        "project": world.project.slug,
        "name": "readmit-eda",
        "instance_type": "ml.t3.medium",
        "volume_size_gb": 20,
        "end_date": in_days(10).isoformat(),
        "justification": "Exploring last year's readmission data.",
    }
    data.update(overrides)
    if isinstance(data["end_date"], int):  # days from today, so the tables below stay dateless
        data["end_date"] = in_days(data["end_date"]).isoformat()
    return data


def requested(
    world: World, offering: Offering, user: User | None = None, name: str = "claims-eda"
) -> Workspace:
    """A pending request made through the service, as the request form would make it."""
    return services.workspace_request(
        actor=user or world.analyst,
        offering=offering,
        team=world.team,
        project=world.project,
        name=name,
        instance_type="ml.t3.medium",
        volume_size_gb=20,
        end_date=in_days(10),
        justification="Modelling claim volumes for next quarter.",
    )


def exhaust_budget(world: World) -> None:
    team_budget_set(actor=None, team=world.team, monthly_usd=Decimal("100"))
    # Month-to-date spend arrives from Cost Explorer as daily rows; there is no service for it.
    team_spent(world.team, "100", day=timezone.localdate())


def approver_of_other_team(world: World) -> User:
    user = UserFactory.create(username="other-approver")
    member(user, world.other_team, Role.APPROVER)
    return user


def provisioning_enqueued(callbacks: list[Callable[[], Any]]) -> list[str]:
    """Workspace ids whose provisioning waits for the commit (e-mails wait there too)."""
    return [
        callback.args[0]
        for callback in callbacks
        if isinstance(callback, functools.partial)
        and getattr(getattr(callback.func, "__self__", None), "name", None)
        == provision_workspace.name
    ]


def post_request(api: APIClient, data: dict[str, Any]) -> Any:
    return api.post(reverse("api-workspace-list"), data, format="json")


def decide(api: APIClient, workspace: Workspace, verb: str, **data: Any) -> Any:
    return api.post(reverse(f"api-workspace-{verb}", args=[workspace.pk]), data, format="json")


class NothingWritten:
    """Counts workspaces and audit events before a refused request, to show none were added."""

    def __init__(self) -> None:
        self.workspaces = Workspace.objects.count()
        self.events = AuditEvent.objects.count()

    def check(self) -> None:
        assert Workspace.objects.count() == self.workspaces
        assert AuditEvent.objects.count() == self.events


def assert_refused(response: Any, field: str, fragment: str) -> None:
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert any(fragment in message for message in errors[field]), errors


# --- requesting -----------------------------------------------------------------------------


def test_a_valid_request_answers_201_with_the_pending_workspace(
    world: World, api: APIClient, offering: Offering
) -> None:
    api.force_login(world.analyst)
    response = post_request(api, body(world, offering))
    assert response.status_code == 201, response.content
    workspace = Workspace.objects.get()
    answer = response.json()
    assert answer["id"] == str(workspace.pk)
    assert answer["state"] == "pending_approval"
    assert answer["team"] == "data-science"
    assert answer["project"] == "claims-forecast"
    assert answer["owner"] == "analyst"
    assert answer["approver"] is None
    assert answer["offering"] == offering.pk
    assert Decimal(answer["estimated_monthly_usd"]) > 0
    assert AuditEvent.objects.filter(action="workspace.request").count() == 1


def test_a_request_the_offering_may_auto_approve_answers_approved_and_enqueues_on_commit(
    world: World, api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    offering = published_offering(world.team, title="Quick notebook", approval_required=False)
    api.force_login(world.analyst)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_request(api, body(world, offering))
    assert response.status_code == 201
    assert response.json()["state"] == "approved"
    assert provisioning_enqueued(callbacks) == [response.json()["id"]]


# Rules that need nothing but a different body: (id, overrides, field, message fragment).
BODY_RULES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "instance_type_not_allowed",
        {"instance_type": "ml.g4dn.xlarge"},
        "instance_type",
        "ml.g4dn.xlarge is not allowed for this offering; choose one of ml.t3.medium",
    ),
    ("volume_too_small", {"volume_size_gb": 4}, "volume_size_gb", "between 5 and 50 GB"),
    ("volume_too_large", {"volume_size_gb": 51}, "volume_size_gb", "between 5 and 50 GB"),
    ("end_date_today", {"end_date": 0}, "end_date", "The end date must be after today."),
    ("end_date_past", {"end_date": -3}, "end_date", "The end date must be after today."),
    ("end_date_beyond_lifetime", {"end_date": 31}, "end_date", "The longest lifetime is 30 days"),
    ("end_date_not_iso", {"end_date": "31/12/2030"}, "end_date", "Date has wrong format"),
    ("name_with_capitals", {"name": "Readmit EDA"}, "name", "lower-case letters"),
    ("name_blank", {"name": ""}, "name", "lower-case letters"),
    ("name_too_long", {"name": "a" * 41}, "name", "1 to 40"),
    ("name_ending_in_hyphen", {"name": "readmit-"}, "name", "ending with a letter or digit"),
    ("justification_too_short", {"justification": "eda"}, "justification", "at least 10"),
    ("unknown_offering", {"offering": 987654}, "offering", "No offering 987654"),
    ("offering_not_a_number", {"offering": "standard"}, "offering", "valid integer"),
    ("unknown_team", {"team": "no-such-team"}, "team", "No team “no-such-team”."),
    (
        "project_of_another_team",
        {"project": "outbreak-model"},
        "project",
        "Data Science has no project “outbreak-model”.",
    ),
    ("unknown_project", {"project": "nothing"}, "project", "has no project"),
    ("volume_missing", {"volume_size_gb": None}, "volume_size_gb", "may not be null"),
]


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [rule[1:] for rule in BODY_RULES],
    ids=[rule[0] for rule in BODY_RULES],
)
def test_a_broken_rule_answers_400_naming_the_field_and_writes_nothing(
    world: World,
    api: APIClient,
    offering: Offering,
    overrides: dict[str, Any],
    field: str,
    fragment: str,
) -> None:
    api.force_login(world.analyst)
    before = NothingWritten()
    response = post_request(api, body(world, offering, **overrides))
    assert_refused(response, field, fragment)
    before.check()


def test_a_request_without_any_fields_names_each_required_one(
    world: World, api: APIClient, offering: Offering
) -> None:
    api.force_login(world.analyst)
    before = NothingWritten()
    response = post_request(api, {})
    assert response.status_code == 400
    assert set(response.json()) == {
        "offering",
        "team",
        "project",
        "name",
        "instance_type",
        "volume_size_gb",
        "end_date",
        "justification",
    }
    before.check()


def test_an_offering_not_published_for_the_chosen_team_is_refused(
    world: World, api: APIClient, offering: Offering
) -> None:
    genomics = TeamFactory.create(name="Genomics", slug="genomics")
    ProjectFactory.create(team=genomics, name="Variants", slug="variants")
    member(world.analyst, genomics, Role.ANALYST)
    api.force_login(world.analyst)
    before = NothingWritten()
    response = post_request(api, body(world, offering, team="genomics", project="variants"))
    assert_refused(response, "offering", "is not published for Genomics.")
    before.check()


def test_a_person_who_sees_a_team_without_belonging_to_it_cannot_request_for_it(
    world: World, api: APIClient
) -> None:
    # Finance sees every team; as an analyst of Data Science they also see the shared offering.
    member(world.finance, world.team, Role.ANALYST)
    shared = published_offering(world.team, world.other_team, title="Shared notebook")
    api.force_login(world.finance)
    before = NothingWritten()
    response = post_request(
        api, body(world, shared, team="public-health", project="outbreak-model")
    )
    assert_refused(response, "team", "You are not a member of Public Health")
    before.check()


def test_an_outsider_naming_another_team_learns_nothing_about_it(
    world: World, api: APIClient, offering: Offering
) -> None:
    api.force_login(world.outsider)
    before = NothingWritten()
    response = post_request(api, body(world, offering))
    assert response.status_code == 400
    errors = response.json()
    assert errors["team"] == ["No team “data-science”."]
    assert errors["offering"] == [f"No offering {offering.pk} that you may request."]
    before.check()


def test_a_name_already_live_in_the_team_is_refused(
    world: World, api: APIClient, offering: Offering
) -> None:
    requested(world, offering, user=world.approver, name="readmit-eda")
    api.force_login(world.analyst)
    before = NothingWritten()
    response = post_request(api, body(world, offering, name="readmit-eda"))
    assert_refused(response, "name", "Data Science already has a workspace named “readmit-eda”.")
    before.check()


def test_the_per_person_quota_is_a_non_field_error(
    world: World, api: APIClient, offering: Offering
) -> None:
    requested(world, offering)
    api.force_login(world.analyst)
    before = NothingWritten()
    response = post_request(api, body(world, offering))
    assert_refused(response, "non_field_errors", "the limit is 1 per person")
    before.check()


def test_the_per_team_quota_is_a_non_field_error(
    world: World, api: APIClient, offering: Offering
) -> None:
    requested(world, offering)
    requested(world, offering, user=world.approver, name="approver-eda")
    third = UserFactory.create(username="third")
    member(third, world.team, Role.ANALYST)
    api.force_login(third)
    before = NothingWritten()
    response = post_request(api, body(world, offering))
    assert_refused(response, "non_field_errors", "the limit is 2 per team")
    before.check()


def test_an_exhausted_team_budget_refuses_requests_naming_the_team(
    world: World, api: APIClient, offering: Offering
) -> None:
    exhaust_budget(world)
    api.force_login(world.analyst)
    before = NothingWritten()
    response = post_request(api, body(world, offering))
    assert_refused(response, "team", "has spent 100 % of its monthly budget ($100.00 of $100")
    before.check()


def test_a_team_without_network_settings_cannot_request(
    world: World, api: APIClient, offering: Offering
) -> None:
    bare = TeamFactory.create(name="Bare Team", slug="bare")
    ProjectFactory.create(team=bare, name="First", slug="first")
    member(world.analyst, bare, Role.ANALYST)
    # The same version published for a team no admin has given network settings yet.
    unset = services.offering_publish(
        actor=None,
        version=offering.version,
        title="Bare notebook",
        summary="For a team without settings.",
        teams=[bare],
        allowed_instance_types=["ml.t3.medium"],
    )
    api.force_login(world.analyst)
    before = NothingWritten()
    response = post_request(api, body(world, unset, team="bare", project="first", name="first-eda"))
    assert_refused(response, "non_field_errors", "has not yet set Bare Team's network")
    before.check()


# --- decisions ------------------------------------------------------------------------------


def test_the_approver_approves_and_provisioning_is_enqueued_on_commit(
    world: World, api: APIClient, offering: Offering, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = requested(world, offering)
    api.force_login(world.approver)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = decide(api, workspace, "approve", reason="Fits the quarter's plan.")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["state"] == "approved"
    assert answer["approver"] == "approver"
    assert answer["decision_reason"] == "Fits the quarter's plan."
    assert provisioning_enqueued(callbacks) == [str(workspace.pk)]


def test_approving_twice_answers_409_with_the_current_state(
    world: World, api: APIClient, offering: Offering
) -> None:
    workspace = requested(world, offering)
    services.workspace_approve(actor=world.approver, workspace=workspace)
    api.force_login(world.approver)
    response = decide(api, workspace, "approve")
    assert response.status_code == 409
    assert response.json() == {"detail": "Cannot approve claims-eda: it is approved."}


@pytest.mark.parametrize(
    ("verb", "data", "who"),
    [
        ("approve", {}, "approver"),
        ("reject", {"reason": "Too late now."}, "approver"),
        ("cancel", {}, "analyst"),
    ],
)
def test_a_decided_request_answers_409_to_every_transition(
    world: World, api: APIClient, offering: Offering, verb: str, data: dict[str, str], who: str
) -> None:
    workspace = requested(world, offering)
    services.workspace_reject(actor=world.approver, workspace=workspace, reason="Not now.")
    api.force_login(world.persona(who))
    response = decide(api, workspace, verb, **data)
    assert response.status_code == 409
    assert "it is rejected" in response.json()["detail"]


def test_nobody_approves_their_own_request(
    world: World, api: APIClient, offering: Offering
) -> None:
    workspace = requested(world, offering, user=world.approver, name="approver-eda")
    api.force_login(world.approver)
    before = NothingWritten()
    response = decide(api, workspace, "approve", reason="Looks fine to me.")
    assert response.status_code == 403
    assert response.json() == {"detail": "Nobody approves or rejects their own request."}
    workspace.refresh_from_db()
    assert workspace.state == State.PENDING_APPROVAL
    before.check()


def test_an_outsider_gets_404_for_another_teams_request(
    world: World, api: APIClient, offering: Offering
) -> None:
    workspace = requested(world, offering)
    api.force_login(world.outsider)
    response = decide(api, workspace, "approve")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such workspace."}


def test_an_approver_of_another_team_gets_404(
    world: World, api: APIClient, offering: Offering
) -> None:
    workspace = requested(world, offering)
    api.force_login(approver_of_other_team(world))
    for verb in ("approve", "reject", "cancel"):
        assert decide(api, workspace, verb, reason="x").status_code == 404
    assert api.get(reverse("api-workspace-detail", args=[workspace.pk])).status_code == 404


def test_finance_sees_a_request_but_may_not_decide_it(
    world: World, api: APIClient, offering: Offering
) -> None:
    workspace = requested(world, offering)
    api.force_login(world.finance)
    response = decide(api, workspace, "approve")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only approvers of Data Science and admins decide."}


def test_who_may_decide_is_settled_before_what_was_sent(
    world: World, api: APIClient, offering: Offering
) -> None:
    workspace = requested(world, offering)
    api.force_login(world.auditor)
    response = api.post(reverse("api-workspace-reject", args=[workspace.pk]), {}, format="json")
    assert response.status_code == 403


def test_approving_over_an_exhausted_budget_needs_an_override_reason(
    world: World, api: APIClient, offering: Offering
) -> None:
    workspace = requested(world, offering)
    exhaust_budget(world)
    api.force_login(world.approver)
    before = NothingWritten()
    refused = decide(api, workspace, "approve")
    assert_refused(refused, "budget_override_reason", "needs a written override reason")
    before.check()
    response = decide(api, workspace, "approve", budget_override_reason="Grant deadline Friday.")
    assert response.status_code == 200
    assert response.json()["budget_override_reason"] == "Grant deadline Friday."


def test_rejecting_needs_a_reason(world: World, api: APIClient, offering: Offering) -> None:
    workspace = requested(world, offering)
    api.force_login(world.approver)
    assert_refused(decide(api, workspace, "reject"), "reason", "Say why")
    assert_refused(decide(api, workspace, "reject", reason="  "), "reason", "Say why")
    response = decide(api, workspace, "reject", reason="Use the shared cluster instead.")
    assert response.status_code == 200
    assert response.json()["state"] == "rejected"
    assert response.json()["decision_reason"] == "Use the shared cluster instead."


def test_the_requester_cancels_while_pending_and_nobody_else_may(
    world: World, api: APIClient, offering: Offering
) -> None:
    workspace = requested(world, offering)
    api.force_login(world.approver)
    refused = decide(api, workspace, "cancel")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Only the requester can cancel a request."}
    api.force_login(world.analyst)
    response = decide(api, workspace, "cancel")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"


# --- permission matrix ----------------------------------------------------------------------

Call = Callable[[APIClient, World, Offering, Workspace, Workspace], Any]


def _get(name: str, *args: Callable[[World, Workspace, Workspace], Any]) -> Call:
    def call(client: APIClient, w: World, o: Offering, mine: Workspace, theirs: Workspace) -> Any:
        return client.get(reverse(name, args=[a(w, mine, theirs) for a in args]))

    return call


def _decide(verb: str, target: str = "mine") -> Call:
    def call(client: APIClient, w: World, o: Offering, mine: Workspace, theirs: Workspace) -> Any:
        workspace = mine if target == "mine" else theirs
        return decide(client, workspace, verb, reason="Matrix decision.")

    return call


def _request(client: APIClient, w: World, o: Offering, mine: Workspace, theirs: Workspace) -> Any:
    return post_request(client, body(w, o, name="matrix-eda"))


ALL_200 = {p: 200 for p in PERSONAS}
# (id, call, status per persona). "mine" is the analyst's pending request in Data Science;
# "theirs" is the outsider's pending request in Public Health.
ENDPOINTS: list[tuple[str, Call, dict[str, int]]] = [
    ("offerings", _get("api-offering-list"), ALL_200),
    ("workspace_list", _get("api-workspace-list"), ALL_200),
    (
        "workspace_request",
        _request,
        # Members of Data Science may request; others are told the team or offering is not theirs.
        {**{p: 400 for p in PERSONAS}, "analyst": 201, "approver": 201},
    ),
    (
        "workspace_detail",
        _get("api-workspace-detail", lambda w, m, t: m.pk),
        {**ALL_200, "outsider": 404},
    ),
    (
        "other_team_workspace_detail",
        _get("api-workspace-detail", lambda w, m, t: t.pk),
        {**ALL_200, "analyst": 404, "approver": 404},
    ),
    (
        "approve",
        _decide("approve"),
        {
            "analyst": 403,
            "approver": 200,
            "admin": 200,
            "finance": 403,
            "auditor": 403,
            "outsider": 404,
        },
    ),
    (
        "reject",
        _decide("reject"),
        {
            "analyst": 403,
            "approver": 200,
            "admin": 200,
            "finance": 403,
            "auditor": 403,
            "outsider": 404,
        },
    ),
    (
        "cancel",
        _decide("cancel"),
        {
            "analyst": 200,
            "approver": 403,
            "admin": 403,
            "finance": 403,
            "auditor": 403,
            "outsider": 404,
        },
    ),
    (
        "approve_other_team",
        _decide("approve", "theirs"),
        {
            "analyst": 404,
            "approver": 404,
            "admin": 200,
            "finance": 403,
            "auditor": 403,
            "outsider": 403,
        },
    ),
    ("team_list", _get("api-team-list"), ALL_200),
    (
        "team_detail",
        _get("api-team-detail", lambda w, m, t: w.team.slug),
        {**ALL_200, "outsider": 404},
    ),
    (
        "other_team_detail",
        _get("api-team-detail", lambda w, m, t: w.other_team.slug),
        {**ALL_200, "analyst": 404, "approver": 404},
    ),
    (
        "missing_team_detail",
        _get("api-team-detail", lambda w, m, t: "no-such-team"),
        {p: 404 for p in PERSONAS},
    ),
]


@pytest.fixture
def roomy(world: World) -> Offering:
    """An offering with quotas that leave room for the requests a test makes on top."""
    return published_offering(
        world.team, title="Roomy notebook", max_live_per_user=5, max_live_per_team=10
    )


@pytest.fixture
def two_requests(world: World, roomy: Offering) -> tuple[Workspace, Workspace]:
    other = published_offering(world.other_team, title="Public health notebook")
    theirs = services.workspace_request(
        actor=world.outsider,
        offering=other,
        team=world.other_team,
        project=world.other_project,
        name="outbreak-eda",
        instance_type="ml.t3.medium",
        volume_size_gb=20,
        end_date=in_days(10),
        justification="Fitting last season's outbreak curves.",
    )
    return requested(world, roomy), theirs


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("endpoint", "call", "expected"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_permission_matrix(
    world: World,
    api: APIClient,
    roomy: Offering,
    two_requests: tuple[Workspace, Workspace],
    persona: str,
    endpoint: str,
    call: Call,
    expected: dict[str, int],
) -> None:
    api.force_login(world.persona(persona))
    response = call(api, world, roomy, *two_requests)
    assert response.status_code == expected[persona], f"{persona} on {endpoint}: {response.content}"
    if response.status_code in {403, 404, 409}:
        assert response.json()["detail"]


@pytest.mark.parametrize(("endpoint", "call", "expected"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_anonymous_callers_get_401_naming_the_bearer_scheme(
    world: World,
    api: APIClient,
    roomy: Offering,
    two_requests: tuple[Workspace, Workspace],
    endpoint: str,
    call: Call,
    expected: dict[str, int],
) -> None:
    response = call(api, world, roomy, *two_requests)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"detail": "Authentication credentials were not provided."}


# --- lists: visibility, filters, ordering, paging -------------------------------------------


def listed(api: APIClient, **params: Any) -> dict[str, Any]:
    response = api.get(reverse("api-workspace-list"), params)
    assert response.status_code == 200, response.content
    result: dict[str, Any] = response.json()
    return result


def names(page: dict[str, Any]) -> list[str]:
    return [row["name"] for row in page["results"]]


def test_each_persona_lists_only_what_they_may_see(
    world: World, api: APIClient, two_requests: tuple[Workspace, Workspace], roomy: Offering
) -> None:
    requested(world, roomy, user=world.approver, name="approver-eda")
    expected = {
        "analyst": ["claims-eda"],
        "approver": ["approver-eda", "claims-eda"],
        "outsider": ["outbreak-eda"],
        "admin": ["approver-eda", "claims-eda", "outbreak-eda"],
        "finance": ["approver-eda", "claims-eda", "outbreak-eda"],
        "auditor": ["approver-eda", "claims-eda", "outbreak-eda"],
    }
    for persona, visible in expected.items():
        api.force_login(world.persona(persona))
        page = listed(api, ordering="name")
        assert names(page) == visible, persona
        assert page["count"] == len(visible), persona  # no leak through counts


def test_filters_never_reach_past_what_the_caller_may_see(
    world: World, api: APIClient, two_requests: tuple[Workspace, Workspace]
) -> None:
    api.force_login(world.outsider)
    for params in (
        {"team": "data-science"},
        {"owner": "analyst"},
        {"team": "data-science", "state": "pending_approval"},
        {"team": "no-such-team"},
    ):
        page = listed(api, **params)
        assert page["count"] == 0, params
        assert page["results"] == [], params


def test_filters_by_team_state_and_owner(
    world: World, api: APIClient, two_requests: tuple[Workspace, Workspace], roomy: Offering
) -> None:
    mine, _ = two_requests
    other = requested(world, roomy, user=world.approver, name="approver-eda")
    services.workspace_reject(actor=world.admin, workspace=other, reason="Not this quarter.")
    api.force_login(world.admin)
    assert names(listed(api, team="public-health")) == ["outbreak-eda"]
    assert names(listed(api, owner="approver")) == ["approver-eda"]
    assert names(listed(api, team="data-science", state="pending_approval")) == [mine.name]
    assert names(listed(api, state="rejected")) == ["approver-eda"]
    bad = api.get(reverse("api-workspace-list"), {"state": "running"})
    assert bad.status_code == 400
    assert "state" in bad.json()


def test_ordering_and_paging(world: World, api: APIClient) -> None:
    offering = published_offering(world.team, max_live_per_user=60, max_live_per_team=60)
    for n in range(55):
        requested(world, offering, name=f"ws-{n:02d}")
    api.force_login(world.analyst)
    first = listed(api, ordering="name")
    assert first["count"] == 55
    assert names(first)[:2] == ["ws-00", "ws-01"]
    assert len(first["results"]) == 50
    second = api.get(first["next"]).json()
    assert names(second) == ["ws-50", "ws-51", "ws-52", "ws-53", "ws-54"]
    assert names(listed(api, ordering="-name"))[0] == "ws-54"
    # Newest first unless asked otherwise.
    assert names(listed(api))[0] == "ws-54"


def test_offerings_list_only_the_callers_teams_with_their_constraints(
    world: World, api: APIClient, offering: Offering
) -> None:
    shared = published_offering(world.team, world.other_team, title="Shared GPU notebook")
    published_offering(world.other_team, title="Public health notebook")
    api.force_login(world.analyst)
    response = api.get(reverse("api-offering-list"))
    assert response.status_code == 200
    rows = {row["title"]: row for row in response.json()["results"]}
    assert set(rows) == {"Standard CPU notebook", "Shared GPU notebook"}
    # The caller does not learn which other teams an offering is published for.
    assert rows["Shared GPU notebook"]["teams"] == [
        {"slug": "data-science", "name": "Data Science"}
    ]
    assert rows["Standard CPU notebook"]["constraints"] == {
        "allowed_instance_types": ["ml.t3.medium", "ml.t3.large"],
        "default_volume_gb": 20,
        "max_volume_gb": 50,
        "max_lifetime_days": 30,
        "max_live_per_user": 1,
        "max_live_per_team": 2,
        "stop_outside_working_hours": True,
        "approval_required": True,
    }
    assert rows["Shared GPU notebook"]["id"] == shared.pk
    api.force_login(world.admin)  # admins are in no team, so they may request nothing
    assert api.get(reverse("api-offering-list")).json()["count"] == 0


def test_team_detail_lists_active_projects_and_members(world: World, api: APIClient) -> None:
    api.force_login(world.analyst)
    response = api.get(reverse("api-team-detail", args=["data-science"]))
    assert response.status_code == 200
    team = response.json()
    assert team["slug"] == "data-science"
    assert [p["slug"] for p in team["projects"]] == ["claims-forecast"]
    assert {(m["username"], m["role"]) for m in team["members"]} == {
        ("analyst", "analyst"),
        ("approver", "approver"),
    }


# --- query counts ---------------------------------------------------------------------------


def _queries(api: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(url).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("persona", ["analyst", "approver", "admin"])
def test_the_workspace_list_costs_the_same_queries_for_3_rows_as_for_30(
    world: World, api: APIClient, persona: str, django_assert_num_queries: Any
) -> None:
    offering = published_offering(world.team, max_live_per_user=40, max_live_per_team=40)

    def add(count: int, start: int) -> None:
        for n in range(start, start + count):
            workspace = requested(world, offering, name=f"ws-{n:02d}")
            if n % 2:  # some with an approver, so that relation is exercised too
                services.workspace_approve(actor=world.approver, workspace=workspace)

    add(3, 0)
    api.force_login(world.persona(persona))
    url = reverse("api-workspace-list")
    small = _queries(api, url)
    assert small <= 6  # session, user, visibility, count, rows (and approver teams)
    add(27, 3)
    with django_assert_num_queries(small):
        assert listed(api)["count"] == 30


def test_the_offering_list_costs_the_same_queries_for_3_rows_as_for_30(
    world: World, api: APIClient, django_assert_num_queries: Any
) -> None:
    for n in range(3):
        published_offering(world.team, world.other_team, title=f"Notebook {n:02d}")
    api.force_login(world.analyst)
    url = reverse("api-offering-list")
    small = _queries(api, url)
    assert small <= 6  # session, user, memberships, count, rows, teams
    for n in range(3, 30):
        published_offering(world.team, title=f"Notebook {n:02d}")
    with django_assert_num_queries(small):
        assert api.get(url).json()["count"] == 30


# --- the schema -----------------------------------------------------------------------------


def test_the_openapi_schema_validates_and_documents_every_operation(
    world: World, api: APIClient
) -> None:
    from drf_spectacular.validation import validate_schema
    from openapi_spec_validator import validate

    api.force_login(world.analyst)
    response = api.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)
    validate(schema)
    paths = schema["paths"]
    assert set(paths) >= {
        "/api/v1/offerings/",
        "/api/v1/workspaces/",
        "/api/v1/workspaces/{id}/",
        "/api/v1/workspaces/{id}/approve/",
        "/api/v1/workspaces/{id}/reject/",
        "/api/v1/workspaces/{id}/cancel/",
        "/api/v1/teams/",
        "/api/v1/teams/{slug}/",
    }
    create = paths["/api/v1/workspaces/"]["post"]
    assert set(create["responses"]) == {"201", "400", "401", "429"}  # 429: throttled
    for verb in ("approve", "reject", "cancel"):
        assert set(paths[f"/api/v1/workspaces/{{id}}/{verb}/"]["post"]["responses"]) >= {
            "200",
            "401",
            "403",
            "404",
            "409",
        }
    errors = schema["components"]["schemas"]["WorkspaceRequestErrors"]["properties"]
    assert {"offering", "team", "end_date", "non_field_errors"} <= set(errors)
    listing = paths["/api/v1/workspaces/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"team", "state", "owner", "ordering"}
