"""Teams, roles and the permission helper: 404 for no access, 403 for too low a role."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.test import Client
from django.urls import reverse

from governance.models import AuditEvent
from portal import services
from portal.models import Membership, Role
from portal.permissions import TeamAction, team_for_user
from tests.conftest import PERSONAS, World
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_outsider_gets_404_for_another_team(world: World) -> None:
    with pytest.raises(Http404):
        team_for_user(world.outsider, world.team.slug)


def test_analyst_gets_403_when_managing_their_team(world: World) -> None:
    assert team_for_user(world.analyst, world.team.slug) == world.team
    with pytest.raises(PermissionDenied):
        team_for_user(world.analyst, world.team.slug, TeamAction.MANAGE)
    with pytest.raises(PermissionDenied):
        team_for_user(world.analyst, world.team.slug, TeamAction.APPROVE)


def test_approver_may_approve_but_not_manage(world: World) -> None:
    assert team_for_user(world.approver, world.team.slug, TeamAction.APPROVE) == world.team
    with pytest.raises(PermissionDenied):
        team_for_user(world.approver, world.team.slug, TeamAction.MANAGE)


@pytest.mark.parametrize("persona", ["finance", "auditor"])
def test_finance_and_auditors_read_every_team_but_change_none(world: World, persona: str) -> None:
    user = world.persona(persona)
    assert team_for_user(user, world.other_team.slug) == world.other_team
    with pytest.raises(PermissionDenied):
        team_for_user(user, world.other_team.slug, TeamAction.MANAGE)


def test_membership_is_one_role_per_team_in_the_database(world: World) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=world.analyst, team=world.team, role=Role.APPROVER)


def test_changing_a_role_is_audited_with_before_and_after(world: World) -> None:
    services.membership_set(
        actor=world.admin, user=world.analyst, team=world.team, role=Role.APPROVER
    )
    event = AuditEvent.objects.filter(action="membership.change").get()
    assert event.actor == world.admin
    assert event.before == {"user": "analyst", "role": "analyst"}
    assert event.after == {"user": "analyst", "role": "approver"}
    assert event.team == world.team


def test_only_admins_manage_teams(world: World) -> None:
    with pytest.raises(PermissionDenied):
        services.team_create(actor=world.approver, name="Rogue", cost_center="CC-0")
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        services.membership_set(
            actor=world.admin, user=world.analyst, team=world.team, role="overlord"
        )
    assert AuditEvent.objects.count() == before


def test_team_names_are_unique_ignoring_case(world: World) -> None:
    with pytest.raises(ValidationError):
        services.team_create(actor=world.admin, name="data science", slug="ds2", cost_center="CC-9")


# --- pages: a matrix of every view for every persona --------------------------------------


def _expected_team_page(persona: str, team_is_own: bool) -> int:
    if persona in {"admin", "finance", "auditor"}:
        return 200
    return 200 if team_is_own else 404


PAGES = [
    ("home", lambda w: reverse("home"), {p: 200 for p in PERSONAS}),
    ("team_list", lambda w: reverse("team_list"), {p: 200 for p in PERSONAS}),
    (
        "own_team",
        lambda w: reverse("team_detail", args=[w.team.slug]),
        {**{p: 200 for p in PERSONAS}, "outsider": 404},
    ),
    (
        "other_team",
        lambda w: reverse("team_detail", args=[w.other_team.slug]),
        {
            "analyst": 404,
            "approver": 404,
            "admin": 200,
            "finance": 200,
            "auditor": 200,
            "outsider": 200,
        },
    ),
    (
        "missing_team",
        lambda w: reverse("team_detail", args=["no-such-team"]),
        {p: 404 for p in PERSONAS},
    ),
    ("admin_site", lambda w: reverse("admin:index"), {**{p: 302 for p in PERSONAS}, "admin": 200}),
    ("password_change", lambda w: reverse("password_change"), {p: 200 for p in PERSONAS}),
    ("api_teams", lambda w: reverse("api-team-list"), {p: 200 for p in PERSONAS}),
    ("api_docs", lambda w: reverse("api-docs"), {p: 200 for p in PERSONAS}),
    ("api_schema", lambda w: reverse("api-schema"), {p: 200 for p in PERSONAS}),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("page", "url_of", "expected"), PAGES, ids=[p[0] for p in PAGES])
def test_permission_matrix(
    world: World, client: Client, persona: str, page: str, url_of, expected: dict[str, int]
) -> None:
    client.force_login(world.persona(persona))
    response = client.get(url_of(world))
    assert response.status_code == expected[persona], f"{persona} on {page}"


@pytest.mark.parametrize(("page", "url_of", "expected"), PAGES, ids=[p[0] for p in PAGES])
def test_anonymous_visitors_are_sent_to_login_or_refused(
    world: World, client: Client, page: str, url_of, expected
) -> None:
    response = client.get(url_of(world))
    if page in {"api_teams", "api_schema"}:
        # The API refuses outright (401 naming the Bearer scheme), never redirects to a login page.
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        assert b"credentials were not provided" in response.content
    else:
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith(reverse("login")) or "/admin/login/" in location


def test_team_list_shows_only_own_teams_to_members(world: World, client: Client) -> None:
    client.force_login(world.analyst)
    body = client.get(reverse("team_list")).content.decode()
    assert "Data Science" in body
    assert "Public Health" not in body
    api = client.get(reverse("api-team-list")).json()
    assert [t["slug"] for t in api["results"]] == ["data-science"]
    assert api["count"] == 1  # no leak through counts either


def test_team_page_queries_do_not_grow_with_members(
    world: World, client: Client, django_assert_max_num_queries
) -> None:
    client.force_login(world.admin)
    url = reverse("team_detail", args=[world.team.slug])
    client.get(url)
    # 12 before the cost section (issue 7) added five fixed reads: the month's spend, the
    # budget, the forecast, open alerts and the tag status.
    with django_assert_max_num_queries(17) as small:
        client.get(url)
    for _ in range(30):
        services.membership_set(
            actor=None, user=UserFactory.create(), team=world.team, role=Role.ANALYST
        )
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(url)


def test_team_list_queries_do_not_grow_with_teams(
    world: World, client: Client, django_assert_max_num_queries
) -> None:
    client.force_login(world.admin)
    client.get(reverse("team_list"))
    with django_assert_max_num_queries(12) as small:
        client.get(reverse("team_list"))
    TeamFactory.create_batch(25)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(reverse("team_list"))


def test_wrong_password_shows_a_clear_message(world: World, client: Client) -> None:
    response = client.post(reverse("login"), {"username": "analyst", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post_only_state_change(world: World, client: Client) -> None:
    client.force_login(world.analyst)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_pages_carry_a_strict_content_security_policy(world: World, client: Client) -> None:
    client.force_login(world.analyst)
    response = client.get(reverse("home"))
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.content.decode()
