"""The API tokens page: people list, create and revoke their own tokens; the secret is shown
once; limits and bad input get clear errors; a token works on the API until revoked or expired."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import AuditEvent
from portal.models import ApiToken, User
from portal.tokens import PREFIX, token_issue, token_revoke
from tests.conftest import PERSONAS, World

pytestmark = pytest.mark.django_db
PAGE = "/accounts/tokens/"


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def create(client: Client, name: str = "nightly export", days: str = "30") -> Any:
    return client.post(PAGE, {"name": name, "days": days})


def secret_on(response: Any) -> str:
    found = re.search(r'id="new-token-secret"[^>]*value="([^"]+)"', response.content.decode())
    assert found, "the new token is not on the page"
    return found.group(1)


def teams_with(secret: str) -> Any:
    return APIClient().get(reverse("api-team-list"), HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_the_page_is_linked_from_every_page_next_to_change_password(world: World) -> None:
    html = signed_in(world.analyst).get(reverse("home")).content.decode()
    assert f'href="{reverse("password_change")}"' in html
    assert f'href="{PAGE}" data-testid="api-tokens-link"' in html


def test_signed_out_people_are_sent_to_sign_in(world: World) -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Client().post(PAGE, {"name": "x", "days": "30"}).status_code == 302
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_persona_creates_a_token_shown_once_that_authenticates_the_api(
    world: World, persona: str
) -> None:
    user = world.persona(persona)
    client = signed_in(user)
    response = create(client, name="my script", days="7")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "It will not be shown again" in html
    secret = secret_on(response)
    assert secret.startswith(PREFIX)
    token = ApiToken.objects.get(user=user)
    assert token.name == "my script"
    assert token.prefix == secret[:12]
    # Seven days, as chosen (a little slack for the time the request took).
    left = token.expires_at - timezone.now()
    assert dt.timedelta(days=7) - dt.timedelta(minutes=1) < left <= dt.timedelta(days=7)
    event = AuditEvent.objects.get(action="token.issue")
    assert event.actor == user
    assert secret not in str(event.after)
    # The secret is on that one response only: the list shows the prefix, never the secret.
    listing = client.get(PAGE).content.decode()
    assert secret not in listing
    assert f"{token.prefix}…" in listing
    assert teams_with(secret).status_code == 200
    # Last use is shown once the token has been used.
    assert "never" not in client.get(PAGE).content.decode().split('data-key="')[1]


def test_the_list_shows_only_my_tokens_with_their_status(world: World) -> None:
    mine, _ = token_issue(actor=world.analyst, user=world.analyst, name="laptop")
    old, _ = token_issue(actor=world.analyst, user=world.analyst, name="old cron", days=1)
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(hours=1))
    gone, _ = token_issue(actor=world.analyst, user=world.analyst, name="leaked")
    token_revoke(actor=world.analyst, token=gone)
    theirs, _ = token_issue(actor=world.approver, user=world.approver, name="approver's")

    html = signed_in(world.analyst).get(PAGE).content.decode()
    rows = dict(re.findall(r'data-key="(\d+)" data-status="(\w+)"', html))
    assert rows == {str(mine.pk): "active", str(old.pk): "expired", str(gone.pk): "revoked"}
    assert "approver&#x27;s" not in html
    assert "1 active token of the 10 allowed" in html
    # Only the active token can be revoked from the list.
    assert f'data-testid="revoke-{mine.pk}"' in html
    assert f'data-testid="revoke-{old.pk}"' not in html
    assert f'data-testid="revoke-{gone.pk}"' not in html
    assert theirs.pk  # made, and not listed above


def test_the_list_takes_a_fixed_number_of_queries(
    world: World, django_assert_max_num_queries: Any
) -> None:
    client = signed_in(world.analyst)
    client.get(PAGE)
    for n in range(3):
        token_issue(actor=world.analyst, user=world.analyst, name=f"t{n}")
    with django_assert_max_num_queries(8) as few:
        client.get(PAGE)
    for n in range(3, 9):
        token_issue(actor=world.analyst, user=world.analyst, name=f"t{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(PAGE)


@pytest.mark.parametrize(
    ("name", "days", "field", "message"),
    [
        ("", "30", "name", "Give the token a name"),
        ("   ", "30", "name", "Give the token a name"),
        ("x" * 101, "30", "name", "at most 100 characters"),
        ("ok", "365", "days", "Choose one of the lifetimes offered"),
        ("ok", "soon", "days", "Choose one of the lifetimes offered"),
    ],
    ids=["empty", "blank", "too_long", "lifetime_not_offered", "lifetime_not_a_number"],
)
def test_bad_input_rerenders_the_form_with_the_problem_and_creates_nothing(
    world: World, name: str, days: str, field: str, message: str
) -> None:
    response = create(signed_in(world.analyst), name=name, days=days)
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(rf'data-testid="error-{field}">([^<]+)<', html)
    assert error, html
    assert message in error.group(1)
    assert "new-token-secret" not in html
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="token.issue").exists()


def test_the_number_of_active_tokens_is_limited_by_the_setting(world: World, settings: Any) -> None:
    settings.API_TOKEN_MAX_ACTIVE = 2
    client = signed_in(world.analyst)
    assert create(client, "one").status_code == 200
    assert create(client, "two").status_code == 200
    response = create(client, "three")
    assert response.status_code == 400
    html = response.content.decode()
    assert "already has 2 active tokens, the most allowed" in html
    assert "revoke one that is no longer used first" in html
    assert ApiToken.objects.filter(user=world.analyst).count() == 2
    # Revoked and expired tokens do not count: revoking one makes room.
    token_revoke(actor=world.analyst, token=ApiToken.objects.get(name="one"))
    assert create(client, "three").status_code == 200
    # The limit is per person: another user is not affected by the analyst's tokens.
    assert create(signed_in(world.approver), "theirs").status_code == 200


def test_revoking_asks_first_then_stops_the_token_working(world: World) -> None:
    client = signed_in(world.analyst)
    secret = secret_on(create(client, "laptop"))
    token = ApiToken.objects.get()
    url = reverse("account_token_revoke", args=[token.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "Revoke the token “laptop”?" in confirm.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None  # asking is not revoking
    assert teams_with(secret).status_code == 200

    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == PAGE
    assert "Revoked the token “laptop”: it no longer works." in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoke", actor=world.analyst).count() == 1
    refused = teams_with(secret)
    assert refused.status_code == 401
    assert refused.json() == {"detail": "The token is unknown, expired or revoked."}

    again = client.post(url, follow=True)
    assert "was already revoked" in again.content.decode()
    assert AuditEvent.objects.filter(action="token.revoke").count() == 1


def test_an_expired_token_stops_working_and_shows_as_expired(world: World) -> None:
    client = signed_in(world.analyst)
    secret = secret_on(create(client, "short", days="7"))
    assert teams_with(secret).status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert teams_with(secret).status_code == 401
    assert 'data-status="expired"' in client.get(PAGE).content.decode()


def test_nobody_can_see_or_revoke_someone_elses_token(world: World) -> None:
    token, secret = token_issue(actor=world.approver, user=world.approver, name="theirs")
    url = reverse("account_token_revoke", args=[token.pk])
    # Not even an admin, through this page: it is about the signed-in person's own tokens.
    for persona in ("analyst", "admin"):
        client = signed_in(world.persona(persona))
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert teams_with(secret).status_code == 200


def test_revoking_needs_a_post_with_the_csrf_token(world: World) -> None:
    token, _ = token_issue(actor=world.analyst, user=world.analyst, name="laptop")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.analyst)
    assert client.post(reverse("account_token_revoke", args=[token.pk])).status_code == 403
    # Other methods are refused whatever they carry.
    lenient = signed_in(world.analyst)
    assert lenient.put(reverse("account_token_revoke", args=[token.pk])).status_code == 405
    assert lenient.delete(reverse("account_token_revoke", args=[token.pk])).status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None
