"""Single sign-on through a real OpenID Connect provider on loopback: people are created on
first sign-in, their groups become teams and roles through the admins' mappings, a removed
group takes the role back at the next sign-in, hand grants stay, and the ID token is renewed
with the provider when it is stale."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from governance.models import AuditEvent
from portal import oidc, services
from portal.models import GroupGrant, Membership, MembershipSource, Role, User
from tests.conftest import World
from tests.factories import UserFactory, member
from tests.portal.test_settings_startup import PRODUCTION, manage
from tests.support.oidc import (  # noqa: F401 (fixtures)
    Provider,
    oidc_provider_fixture,
    oidc_provider_url_fixture,
    query_of,
)

pytestmark = pytest.mark.django_db


def local(url: str) -> str:
    parts = urlsplit(url)
    assert parts.netloc in ("", "testserver"), url
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def sign_in(client: Client, provider: Provider, sub: str, next_url: str = "") -> Any:
    """The whole code flow: portal → provider (the person picks ``sub``) → portal callback."""
    start = client.get(reverse("oidc_authentication_init"), {"next": next_url} if next_url else {})
    assert start.status_code == 302
    params = query_of(start["Location"])
    assert params["response_type"] == "code"
    assert params["code_challenge_method"] == "S256"  # PKCE
    assert "groups" not in params["scope"]  # groups arrive as a claim, whatever the scopes
    return client.get(local(provider.approve(start["Location"], sub)))


@pytest.fixture
def mappings(world: World) -> World:
    """Groups as an agency's directory might name them, mapped by an admin."""
    for group, grant, team in [
        ("ds-analysts", GroupGrant.ANALYST, world.team),
        ("ds-leads", GroupGrant.APPROVER, world.team),
        ("ph-approvers", GroupGrant.APPROVER, world.other_team),
        ("portal-admins", GroupGrant.ADMIN, None),
        ("portal-finance", GroupGrant.FINANCE, None),
        ("portal-auditors", GroupGrant.AUDITOR, None),
    ]:
        services.group_mapping_create(actor=world.admin, group=group, grant=grant, team=team)
    return world


def roles_of(username: str) -> dict[str, tuple[str, str]]:
    return {
        m.team.slug: (m.role, m.source)
        for m in Membership.objects.filter(user__username=username).select_related("team")
    }


def test_first_sign_in_creates_the_person_with_their_teams_and_roles(
    mappings: World, client: Client, oidc_provider: Provider
) -> None:
    oidc_provider.person(
        "ada",
        groups=["ds-analysts", "ph-approvers", "portal-finance", "all-staff"],
        given_name="Ada",
        family_name="Lovelace",
        email="ada.lovelace@agency.example",
    )
    last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    response = sign_in(client, oidc_provider, "ada")
    assert response.status_code == 302
    assert response["Location"] == reverse("home")

    ada = User.objects.get(username="ada")
    assert (ada.first_name, ada.last_name, ada.email) == (
        "Ada",
        "Lovelace",
        "ada.lovelace@agency.example",
    )
    assert not ada.has_usable_password()  # signs in only through the provider
    assert roles_of("ada") == {
        "data-science": (Role.ANALYST, MembershipSource.SSO),
        "public-health": (Role.APPROVER, MembershipSource.SSO),
    }
    assert ada.global_roles == ["finance"]
    assert ada.sso_groups == ["all-staff", "ds-analysts", "ph-approvers", "portal-finance"]
    actions = sorted(
        AuditEvent.objects.filter(pk__gt=last_event or 0, actor=None).values_list(
            "action", flat=True
        )
    )
    assert actions == ["membership.add", "membership.add", "user.provision", "user.roles"]
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert home.context["user"] == ada


def test_a_removed_group_takes_its_role_back_at_the_next_sign_in(
    mappings: World, client: Client, oidc_provider: Provider
) -> None:
    oidc_provider.person("bo", groups=["ds-analysts", "ph-approvers", "portal-admins"])
    sign_in(client, oidc_provider, "bo")
    bo = User.objects.get(username="bo")
    assert bo.is_portal_admin
    assert bo.is_staff
    assert roles_of("bo")["public-health"] == (Role.APPROVER, MembershipSource.SSO)

    # The directory moves bo: lead in data science, out of public health and of the admins.
    oidc_provider.person("bo", groups=["ds-analysts", "ds-leads"])
    client.logout()
    sign_in(client, oidc_provider, "bo")
    bo.refresh_from_db()
    assert roles_of("bo") == {"data-science": (Role.APPROVER, MembershipSource.SSO)}
    assert bo.global_roles == []
    assert not bo.is_staff
    assert not bo.is_superuser
    assert client.get(reverse("sso_group_mappings")).status_code == 403

    # Out of every mapped group: nothing is left, and the page says so.
    oidc_provider.person("bo", groups=[])
    client.logout()
    response = sign_in(client, oidc_provider, "bo")
    assert response["Location"] == reverse("sso_no_access")
    assert roles_of("bo") == {}
    removed = AuditEvent.objects.filter(action="membership.remove", actor=None)
    assert removed.count() == 2


def test_name_and_email_follow_the_provider_and_a_missing_claim_leaves_them(
    mappings: World, client: Client, oidc_provider: Provider
) -> None:
    oidc_provider.person("jo", groups=["ds-analysts"], name="Jo March", email="jo@agency.example")
    sign_in(client, oidc_provider, "jo")
    jo = User.objects.get(username="jo")
    assert (jo.first_name, jo.last_name, jo.email) == ("Jo", "March", "jo@agency.example")

    oidc_provider.person("jo", groups=["ds-analysts"], given_name="Josephine", email="")
    client.logout()
    sign_in(client, oidc_provider, "jo")
    jo.refresh_from_db()
    assert (jo.first_name, jo.last_name, jo.email) == ("Josephine", "March", "jo@agency.example")


def test_roles_granted_by_hand_are_left_alone(
    mappings: World, client: Client, oidc_provider: Provider
) -> None:
    # An existing local person with a hand-granted role and the auditor flag, later on SSO.
    grace = UserFactory.create(username="grace", is_auditor=True)
    member(grace, mappings.other_team, Role.ANALYST)
    oidc_provider.person("grace", groups=["ds-analysts", "portal-auditors", "portal-finance"])
    sign_in(client, oidc_provider, "grace")
    grace.refresh_from_db()
    assert roles_of("grace") == {
        "data-science": (Role.ANALYST, MembershipSource.SSO),
        "public-health": (Role.ANALYST, MembershipSource.MANUAL),
    }
    assert grace.global_roles == ["finance", "auditor"]
    assert grace.sso_global_roles == ["finance"]  # auditor was the admin's grant

    oidc_provider.person("grace", groups=["ph-approvers"])
    client.logout()
    sign_in(client, oidc_provider, "grace")
    grace.refresh_from_db()
    # The group cannot override the admin's choice for public health; the rest is reconciled.
    assert roles_of("grace") == {"public-health": (Role.ANALYST, MembershipSource.MANUAL)}
    assert grace.global_roles == ["auditor"]


def test_a_person_in_no_mapped_group_gets_a_page_saying_they_have_no_access_yet(
    mappings: World, client: Client, oidc_provider: Provider
) -> None:
    oidc_provider.person("cy", groups=["all-staff", "parking"])
    response = sign_in(client, oidc_provider, "cy", next_url="/teams/")
    assert response.status_code == 302
    assert response["Location"] == reverse("sso_no_access")
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "You have no access yet" in html
    assert "<code>all-staff</code>" in html
    assert "<code>parking</code>" in html
    assert User.objects.filter(username="cy").exists()  # admins can see who tried


def test_the_next_page_is_kept_through_the_provider(
    mappings: World, client: Client, oidc_provider: Provider
) -> None:
    oidc_provider.person("dee", groups=["ds-analysts"])
    response = sign_in(client, oidc_provider, "dee", next_url="/teams/")
    assert response["Location"] == "/teams/"


def test_a_provider_that_refuses_gives_a_clear_page(
    world: World, client: Client, oidc_provider: Provider
) -> None:
    start = client.get(reverse("oidc_authentication_init"))
    denied = requests.post(
        start["Location"], data={"action": "deny"}, allow_redirects=False, timeout=5
    )
    response = client.get(local(denied.headers["Location"]))
    assert response.status_code == 403
    assert "Agency ID did not sign you in: The resource owner" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated


def test_a_missing_username_claim_is_refused_with_a_page_naming_it(
    world: World, client: Client, oidc_provider: Provider
) -> None:
    oidc_provider.person("nameless", groups=["ds-analysts"], preferred_username="")
    response = sign_in(client, oidc_provider, "nameless")
    assert response.status_code == 403
    assert "did not send the &#x27;preferred_username&#x27; claim" in response.content.decode()
    assert not User.objects.filter(username="").exists()


def test_a_disabled_person_cannot_sign_in_through_the_provider(
    mappings: World, client: Client, oidc_provider: Provider
) -> None:
    UserFactory.create(username="eve", is_active=False)
    oidc_provider.person("eve", groups=["portal-admins"])
    response = sign_in(client, oidc_provider, "eve")
    assert response.status_code == 403
    assert "disabled" in response.content.decode()
    assert not User.objects.get(username="eve").is_portal_admin


def test_the_username_claim_is_configurable(
    mappings: World, client: Client, oidc_provider: Provider, settings: Any
) -> None:
    settings.OIDC_USERNAME_CLAIM = "email"
    settings.OIDC_GROUPS_CLAIM = "roles"
    oidc_provider.person("fay", groups=[], email="fay@agency.example", roles=["ds-leads"])
    sign_in(client, oidc_provider, "fay")
    assert roles_of("fay@agency.example") == {"data-science": (Role.APPROVER, MembershipSource.SSO)}


def test_explicit_endpoints_work_without_discovery(
    mappings: World, client: Client, oidc_provider: Provider, settings: Any
) -> None:
    document = requests.get(f"{oidc_provider.url}/.well-known/openid-configuration", timeout=5)
    endpoints = document.json()
    settings.OIDC_OP_DISCOVERY = ""
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = endpoints["authorization_endpoint"]
    settings.OIDC_OP_TOKEN_ENDPOINT = endpoints["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = endpoints["userinfo_endpoint"]
    settings.OIDC_OP_JWKS_ENDPOINT = endpoints["jwks_uri"]
    oidc_provider.person("gil", groups=["ds-analysts"])
    assert sign_in(client, oidc_provider, "gil")["Location"] == reverse("home")
    assert roles_of("gil") == {"data-science": (Role.ANALYST, MembershipSource.SSO)}


def test_a_provider_that_is_down_gives_a_503_page_not_a_500(
    world: World, client: Client, oidc_provider: Provider, settings: Any
) -> None:
    settings.OIDC_OP_DISCOVERY = "http://127.0.0.1:9/"  # the discard port: nothing answers
    oidc.forget_discovery()
    response = client.get(reverse("oidc_authentication_init"))
    assert response.status_code == 503
    assert "Agency ID could not be reached" in response.content.decode()


def test_the_sign_in_page_offers_the_provider_first_and_keeps_the_local_form(
    world: World, client: Client, oidc_provider: Provider
) -> None:
    html = client.get(reverse("login"), {"next": "/teams/"}).content.decode()
    assert 'data-testid="sso-sign-in" href="/oidc/authenticate/?next=/teams/"' in html
    assert "Sign in with Agency ID" in html
    assert html.index("Sign in with Agency ID") < html.index('name="password"')
    assert "break-glass" in html


def test_with_single_sign_on_off_its_routes_are_404_and_the_page_has_no_button(
    world: World, client: Client
) -> None:
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback")).status_code == 404
    assert "sso-sign-in" not in client.get(reverse("login")).content.decode()


# --- session refresh ---------------------------------------------------------------------------


def test_a_stale_id_token_sends_the_browser_to_the_provider_to_renew_it_silently(
    mappings: World, client: Client, oidc_provider: Provider
) -> None:
    oidc_provider.person("hal", groups=["ds-analysts"])
    sign_in(client, oidc_provider, "hal", next_url="/teams/")
    assert client.session["oidc_id_token_expiration"] > time.time() + 60
    assert client.get("/teams/").status_code == 200  # fresh: no round trip

    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    # htmx fragments and the API cannot follow the provider's pages: they wait for a page load.
    assert client.get("/teams/", headers={"HX-Request": "true"}).status_code == 200
    assert client.get("/api/v1/teams/").status_code == 200

    response = client.get("/teams/")
    assert response.status_code == 302
    assert response["Location"].startswith(oidc_provider.url)
    params = query_of(response["Location"])
    assert params["prompt"] == "none"  # silent: the person sees nothing if the provider agrees
    assert params["client_id"] == "ml-portal"
    assert client.session["oidc_login_next"] == "/teams/"


def test_a_renewal_the_provider_refuses_signs_the_person_out_with_a_clear_page(
    mappings: World, client: Client, oidc_provider: Provider
) -> None:
    oidc_provider.person("ida", groups=["ds-analysts"])
    sign_in(client, oidc_provider, "ida")
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    response = client.get("/teams/")
    # The loopback provider keeps no session of its own, so it answers prompt=none with
    # login_required, as a real one does once the person signed out there.
    refused = oidc_provider.approve(response["Location"], "ida")
    assert query_of(refused)["error"] == "login_required"
    page = client.get(local(refused))
    assert page.status_code == 403
    assert "Your session with Agency ID has ended" in page.content.decode()
    assert client.get("/teams/")["Location"].startswith(reverse("login"))


def test_local_sign_ins_are_never_sent_to_the_provider(
    world: World, client: Client, oidc_provider: Provider, password: str
) -> None:
    response = client.post(reverse("login"), {"username": "analyst", "password": password})
    assert response.status_code == 302
    assert client.get("/teams/").status_code == 200


# --- start-up ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"OIDC_ENABLED": "true", "OIDC_OP_DISCOVERY": "https://login.agency.example"},
        {"OIDC_ENABLED": "true", "OIDC_RP_CLIENT_ID": "ml-portal"},
    ],
    ids=["no_client_id", "no_provider"],
)
def test_start_up_refuses_single_sign_on_without_a_client_and_a_provider(
    env: dict[str, str],
) -> None:
    result = manage("check", env={**PRODUCTION, **env})
    assert result.returncode != 0
    assert "OIDC_ENABLED needs OIDC_RP_CLIENT_ID and either OIDC_OP_DISCOVERY" in result.stderr


def test_start_up_reads_the_client_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "oidc_secret"
    secret.write_text("s3cret-from-a-file\n", encoding="utf-8")
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.OIDC_RP_CLIENT_SECRET)",
        env={
            **PRODUCTION,
            "OIDC_ENABLED": "true",
            "OIDC_RP_CLIENT_ID": "ml-portal",
            "OIDC_OP_DISCOVERY": "https://login.agency.example",
            "OIDC_RP_CLIENT_SECRET_FILE": str(secret),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "s3cret-from-a-file"
