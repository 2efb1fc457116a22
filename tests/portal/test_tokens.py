"""Bearer tokens for scripts: issued by a command, stored only as a hash, refused with a body
once expired, revoked or made up."""

from __future__ import annotations

import datetime as dt
import hashlib
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import AuditEvent
from portal.models import ApiToken, User
from portal.tokens import PREFIX, token_issue, token_revoke
from tests.conftest import World

pytestmark = pytest.mark.django_db


def issue_by_command(username: str, *args: str) -> str:
    out = StringIO()
    call_command("issue_token", username, *args, stdout=out)
    return out.getvalue().strip()


def teams_with(secret: str, scheme: str = "Bearer") -> Any:
    return APIClient().get(reverse("api-team-list"), HTTP_AUTHORIZATION=f"{scheme} {secret}")


def assert_refused(response: Any) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["detail"]


def test_the_command_prints_a_token_that_authenticates_as_the_user(world: World) -> None:
    secret = issue_by_command("analyst")
    assert secret.startswith(PREFIX)
    response = teams_with(secret)
    assert response.status_code == 200
    # The analyst's view, not anyone else's: only their own team.
    assert [t["slug"] for t in response.json()["results"]] == ["data-science"]


def test_a_token_works_for_writes_without_a_csrf_token(world: World) -> None:
    # Scripts have no session and no CSRF cookie; a bearer token is enough to act.
    secret = issue_by_command("analyst")
    response = APIClient(enforce_csrf_checks=True).post(
        reverse("api-workspace-list"), {}, format="json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 400  # the empty body is judged, so the caller was let in
    assert "offering" in response.json()


def test_the_token_is_stored_only_as_its_sha256(world: World) -> None:
    secret = issue_by_command("analyst", "--name", "nightly export")
    token = ApiToken.objects.get()
    assert token.name == "nightly export"
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:12]
    stored = [str(value) for value in ApiToken.objects.values_list().get()]
    assert secret not in stored
    event = AuditEvent.objects.get(action="token.issue")
    assert secret not in str(event.after)


def test_the_command_refuses_unknown_users_and_bad_lifetimes(world: World) -> None:
    with pytest.raises(CommandError, match="No active user named 'nobody'"):
        issue_by_command("nobody")
    with pytest.raises(CommandError, match="--days must be between 1 and 365"):
        issue_by_command("analyst", "--days", "400")
    assert not ApiToken.objects.exists()


def test_an_expired_token_is_refused(world: World) -> None:
    token, secret = token_issue(actor=None, user=world.analyst, name="short", days=1)
    # Two days pass: nothing in the portal moves expiry, so the row is aged by hand.
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = teams_with(secret)
    assert_refused(response)
    assert response.json() == {"detail": "The token is unknown, expired or revoked."}


def test_a_revoked_token_is_refused(world: World) -> None:
    token, secret = token_issue(actor=world.analyst, user=world.analyst, name="laptop")
    assert teams_with(secret).status_code == 200
    token_revoke(actor=world.analyst, token=token)
    assert_refused(teams_with(secret))


def test_a_token_of_a_deactivated_user_is_refused(world: World) -> None:
    _, secret = token_issue(actor=None, user=world.analyst, name="laptop")
    User.objects.filter(pk=world.analyst.pk).update(is_active=False)
    assert_refused(teams_with(secret))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer mlp_not-a-real-token",
        "Bearer garbage",
        "Bearer",
        "Bearer two parts",
        "Bearer \u00e9\u00e9\u00e9",
    ],
    ids=["unknown", "no_prefix", "empty", "too_many_parts", "non_ascii"],
)
def test_made_up_tokens_are_refused_with_a_body(world: World, header: str) -> None:
    response = APIClient().get(reverse("api-team-list"), HTTP_AUTHORIZATION=header)
    assert_refused(response)


def test_a_session_is_not_needed_and_a_token_cannot_be_used_as_a_password(
    world: World, password: str
) -> None:
    secret = issue_by_command("analyst")
    client = APIClient()
    # The lockout backend (django-axes) needs the request a real sign-in would have.
    request = RequestFactory().post("/accounts/login/")
    assert not client.login(request=request, username="analyst", password=secret)
    assert client.login(request=request, username="analyst", password=password)


def test_last_use_is_recorded_at_most_once_a_minute(world: World) -> None:
    token, secret = token_issue(actor=None, user=world.analyst, name="cron")
    teams_with(secret)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    teams_with(secret)
    token.refresh_from_db()
    assert token.last_used_at == first
