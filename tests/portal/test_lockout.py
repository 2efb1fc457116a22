"""Break-glass sign-in: after AXES_FAILURE_LIMIT wrong passwords a username is locked, even
for the right password, with a page that says so; other people, single sign-on and API tokens
are unaffected; the lock ends after the cool-off or when an admin resets it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import AuditEvent
from portal import services
from portal.models import GroupGrant
from portal.tokens import token_issue
from tests.conftest import World
from tests.portal.test_oidc import sign_in
from tests.support.oidc import (  # noqa: F401 (fixtures)
    Provider,
    oidc_provider_fixture,
    oidc_provider_url_fixture,
)

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"
LOCKED = "This account is locked after 5 failed sign-ins with a password"


def attempt(client: Client, username: str, password: str) -> Any:
    return client.post(reverse("login"), {"username": username, "password": password})


def lock(client: Client, username: str, limit: int = 5) -> Any:
    for _ in range(limit - 1):
        response = attempt(client, username, WRONG)
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    return attempt(client, username, WRONG)


def test_the_limit_th_failure_locks_and_then_the_right_password_is_refused_too(
    world: World, client: Client, password: str
) -> None:
    response = lock(client, "analyst")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "Try again in 15 minutes" in response.content.decode()

    response = attempt(client, "analyst", password)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    assert client.get(reverse("home")).status_code == 302  # still signed out


def test_the_lock_is_audited_once(world: World, client: Client, password: str) -> None:
    lock(client, "analyst")
    attempt(client, "analyst", password)
    attempt(client, "analyst", WRONG)
    event = AuditEvent.objects.get(action="user.locked_out")
    assert event.target_id == str(world.analyst.pk)
    assert event.actor is None
    assert "5 failed sign-ins" in event.reason


def test_other_people_can_still_sign_in(world: World, client: Client, password: str) -> None:
    lock(client, "analyst")
    response = attempt(client, "approver", password)
    assert response.status_code == 302
    assert response.wsgi_request.user == world.approver


def test_a_right_password_before_the_limit_starts_the_count_again(
    world: World, client: Client, password: str
) -> None:
    for _ in range(4):
        attempt(client, "analyst", WRONG)
    assert attempt(client, "analyst", password).status_code == 302
    client.logout()
    for _ in range(4):
        assert attempt(client, "analyst", WRONG).status_code == 200
    assert attempt(client, "analyst", password).status_code == 302


def test_the_limit_comes_from_the_settings(
    world: World, client: Client, settings: Any, password: str
) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    assert lock(client, "analyst", limit=2).status_code == 429
    assert attempt(client, "analyst", password).status_code == 429


def test_the_lock_ends_after_the_cool_off(world: World, client: Client, password: str) -> None:
    lock(client, "analyst")
    assert attempt(client, "analyst", password).status_code == 429
    # As if the last failure were 15 minutes and a second ago.
    AccessAttempt.objects.filter(username="analyst").update(
        attempt_time=timezone.now() - dt.timedelta(minutes=15, seconds=1)
    )
    response = attempt(client, "analyst", password)
    assert response.status_code == 302
    assert response.wsgi_request.user == world.analyst


def test_an_admin_unlocks_a_username_with_axes_reset_username(
    world: World, client: Client, password: str
) -> None:
    lock(client, "analyst")
    call_command("axes_reset_username", "analyst")
    assert attempt(client, "analyst", password).status_code == 302


def test_api_bearer_tokens_keep_working_for_a_locked_username(world: World, client: Client) -> None:
    _, secret = token_issue(actor=None, user=world.analyst, name="nightly job")
    lock(client, "analyst")
    api = APIClient()
    response = api.get(reverse("api-team-list"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200


def test_single_sign_on_still_works_for_a_locked_username(
    world: World, client: Client, oidc_provider: Provider
) -> None:
    services.group_mapping_create(
        actor=world.admin, group="ds-analysts", grant=GroupGrant.ANALYST, team=world.team
    )
    lock(client, "analyst")
    oidc_provider.person("analyst", groups=["ds-analysts"])
    response = sign_in(client, oidc_provider, "analyst")
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200
