"""API throttling: per person (token and session count together), counted in a shared Redis
so every web process sees one count, answered with 429, a JSON body and Retry-After."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings
from django.urls import reverse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from portal.models import User
from portal.tokens import token_issue
from tests.conftest import World

pytestmark = pytest.mark.django_db


def redis_url() -> str:
    """This run's own Redis database (the one bin/test gives the broker)."""
    url = str(django_settings.CELERY_BROKER_URL)
    assert url.startswith("redis://"), (
        "these tests need the real Redis: run them through bin/test or set CELERY_BROKER_URL"
    )
    return url


@pytest.fixture
def redis_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Django's cache on the real Redis with a prefix of its own, and low rates."""
    prefix = f"throttle-test-{uuid.uuid4().hex}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url(),
            "KEY_PREFIX": prefix,
        }
    }
    # DRF reads the rates into the classes when they are imported, so set them there.
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "2/min"})
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "2/min"})
    with override_settings(CACHES=caches):
        yield prefix
        client = redis.Redis.from_url(redis_url())
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


def bearer(user: User) -> APIClient:
    _, secret = token_issue(actor=user, user=user, name="throttle test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def teams(client: APIClient) -> Any:
    return client.get(reverse("api-team-list"))


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["detail"].startswith("Request was throttled.")
    assert 0 < int(response["Retry-After"]) <= 60


def test_the_settings_throttle_every_api_view_per_user_and_per_anonymous_address() -> None:
    rest = django_settings.REST_FRAMEWORK
    assert rest["DEFAULT_THROTTLE_CLASSES"] == [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ]
    assert rest["DEFAULT_THROTTLE_RATES"] == {"user": "1200/min", "anon": "60/min"}


def test_a_user_past_the_rate_gets_429_with_a_body_and_retry_after(
    world: World, redis_cache: str
) -> None:
    client = bearer(world.analyst)
    assert [teams(client).status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(teams(client))
    # The count is in Redis, where every web process would see it.
    keys = list(redis.Redis.from_url(redis_url()).scan_iter(f"{redis_cache}:*"))
    assert [key.decode().rsplit(":", 1)[-1] for key in keys] == [
        f"throttle_user_{world.analyst.pk}"
    ]


def test_one_users_exhaustion_does_not_affect_another(world: World, redis_cache: str) -> None:
    analyst = bearer(world.analyst)
    for _ in range(3):
        teams(analyst)
    assert_throttled(teams(analyst))
    approver = bearer(world.approver)
    assert [teams(approver).status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(teams(approver))


def test_a_token_and_a_session_of_one_person_share_one_count(
    world: World, redis_cache: str
) -> None:
    token_client = bearer(world.analyst)
    session_client = APIClient()
    session_client.force_login(world.analyst)
    assert teams(token_client).status_code == 200
    assert teams(session_client).status_code == 200
    assert teams(token_client).status_code == 200
    assert_throttled(teams(session_client))


def test_another_process_sees_the_same_count(world: World, redis_cache: str) -> None:
    client = bearer(world.analyst)
    for _ in range(3):
        teams(client)
    # A second web process is another connection to the same Redis, with the same prefix.
    other_process = RedisCache(redis_url(), {"KEY_PREFIX": redis_cache})
    history = other_process.get(f"throttle_user_{world.analyst.pk}")
    assert len(history) == 3
    other_process.close()
    assert_throttled(teams(client))


class _Open(APIView):
    """An endpoint open to anonymous callers (none is today): the anonymous rate applies."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def test_anonymous_callers_are_limited_per_address_and_cannot_dodge_it_by_claiming_another(
    redis_cache: str,
) -> None:
    view = _Open.as_view()
    factory = APIRequestFactory()

    def call(address: str, forwarded: str | None = None) -> Any:
        request = factory.get("/open/", REMOTE_ADDR=address)
        if forwarded:
            request.META["HTTP_X_FORWARDED_FOR"] = forwarded
        return view(request)

    assert [call("192.0.2.1").status_code for _ in range(2)] == [200, 200]
    # Without a trusted proxy (API_TRUSTED_PROXIES=0 locally) X-Forwarded-For is ignored.
    throttled = call("192.0.2.1", forwarded="198.51.100.7")
    throttled.render()
    assert_throttled(throttled)
    assert call("192.0.2.2").status_code == 200
