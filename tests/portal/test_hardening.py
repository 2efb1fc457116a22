"""Hardening that holds for every page: a strict CSP, secure host-only cookies and HSTS in
production, CSRF on every state change, and no state change on GET (walked over every URL)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from portal.models import ApiToken
from portal.tokens import token_issue
from tests.conftest import PERSONAS, World
from tests.governance.support import approved_workspace
from tests.portal.test_settings_startup import PRODUCTION, manage

pytestmark = pytest.mark.django_db


# --- the URL map ------------------------------------------------------------------------------


def url_patterns() -> Iterator[tuple[str, str, URLPattern]]:
    """Every (route, name, pattern) the portal answers, admin included, in URLconf order."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[Any]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = ":".join(filter(None, [namespace, entry.namespace or ""]))
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            else:
                name = ":".join(filter(None, [namespace, entry.name or ""]))
                yield prefix + str(entry.pattern), name, entry

    yield from walk(get_resolver().url_patterns, "", "")


CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def concrete(route: str, values: dict[str, str]) -> str | None:
    """The route with each <converter:name> replaced by a sample value; None for regex
    routes (the admin's app index and catch-all, which take no objects)."""
    if route.startswith("^") or "(?P<" in route:
        return None

    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "str", match.group(2)
        return values.get(name) or {
            "int": "999999",
            "uuid": "00000000-0000-4000-8000-000000000000",
            "slug": "no-such-thing",
        }.get(converter, "x")

    return "/" + CONVERTER.sub(value, route)


def test_the_walk_finds_the_portal_the_api_and_the_admin() -> None:
    # Guards the walks below: if discovery broke, they would pass on nothing.
    names = {name for _, name, _ in url_patterns()}
    assert {"home", "account_tokens", "api-workspace-approve", "admin:portal_team_change"} <= names
    assert len(names) > 60


# --- CSP, cookies, HSTS -----------------------------------------------------------------------


def test_pages_carry_a_strict_csp_without_unsafe_inline(world: World) -> None:
    client = Client()
    client.force_login(world.analyst)
    response = client.get("/accounts/tokens/")
    policy = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert re.fullmatch(r"'self' 'nonce-[\w+/=-]+'", policy["script-src"])
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    # Every script on the page carries the nonce; none is inline.
    html = response.content.decode()
    nonce = policy["script-src"].split("'nonce-")[1].rstrip("'")
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts
    assert all(f'nonce="{nonce}"' in tag and "src=" in tag for tag in scripts)
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler"


def production_settings(*names: str) -> dict[str, Any]:
    """The values the production settings give ``names``, read in a fresh process."""
    code = (
        "import json; from django.conf import settings as s;"
        f"print(json.dumps({{n: getattr(s, n) for n in {list(names)!r}}}))"
    )
    result = manage("shell", "--no-imports", "-c", code, env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    values: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return values


COOKIE_SETTINGS = (
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_DOMAIN",
    "SESSION_COOKIE_PATH",
    "CSRF_COOKIE_NAME",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_DOMAIN",
    "CSRF_COOKIE_PATH",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
)


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    return production_settings(*COOKIE_SETTINGS)


def test_production_cookies_are_secure_and_host_only(production: dict[str, Any]) -> None:
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["SESSION_COOKIE_SAMESITE"] == "Lax"
    # No Domain attribute: the browser sends them to this host only, never to subdomains.
    assert production["SESSION_COOKIE_DOMAIN"] is None
    assert production["CSRF_COOKIE_DOMAIN"] is None
    # The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and
    # for path /, so a sibling subdomain cannot plant one.
    assert production["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert production["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert production["SESSION_COOKIE_PATH"] == production["CSRF_COOKIE_PATH"] == "/"


def test_a_production_sign_in_sets_cookies_browsers_accept_as_host_only(
    world: World, production: dict[str, Any], password: str
) -> None:
    cookie_settings = {k: v for k, v in production.items() if "COOKIE" in k}
    with override_settings(**cookie_settings):
        client = Client(enforce_csrf_checks=True)
        form = client.get("/accounts/login/", secure=True)
        csrf = client.cookies[production["CSRF_COOKIE_NAME"]]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode())
        assert token
        response = client.post(
            "/accounts/login/",
            {"username": "analyst", "password": password, "csrfmiddlewaretoken": token[1]},
            secure=True,
            headers={"referer": "https://testserver/accounts/login/"},
        )
        assert response.status_code == 302
        session = response.cookies[production["SESSION_COOKIE_NAME"]]
    for cookie in (csrf, session):
        header = cookie.output()
        assert cookie["secure"] is True, header
        assert cookie["path"] == "/", header
        assert not cookie["domain"], header
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"


def test_production_sends_hsts_for_a_year_with_subdomains(
    world: World, production: dict[str, Any]
) -> None:
    assert production["SECURE_SSL_REDIRECT"] is True
    hsts = {k: v for k, v in production.items() if k.startswith("SECURE_HSTS")}
    assert hsts["SECURE_HSTS_SECONDS"] >= 31536000
    with override_settings(**hsts):
        response = Client().get("/healthz", secure=True)
    assert response["Strict-Transport-Security"] == (
        f"max-age={hsts['SECURE_HSTS_SECONDS']}; includeSubDomains; preload"
    )


# --- CSRF on every state change ---------------------------------------------------------------


def csrf_refused(response: Any) -> bool:
    if response.status_code != 403:
        return False
    body = response.content.decode(errors="replace")
    # Django's CSRF failure page, or DRF's SessionAuthentication saying the same; a view that
    # takes no POST at all may refuse in its own words (the API docs page renders plain HTML).
    allowed = response.headers.get("Allow")
    takes_no_post = allowed is not None and "POST" not in allowed
    return "CSRF verification failed" in body or "CSRF Failed" in body or takes_no_post


def test_every_url_refuses_a_post_without_the_csrf_token(world: World) -> None:
    """Signed in with a session (the credential a browser sends by itself), a POST without the
    token is refused before any view runs, for every URL: pages, the API and the admin."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin)
    accepted = []
    checked = 0
    for route, name, _ in url_patterns():
        url = concrete(route, {})
        if url is None:
            continue
        response = client.post(url, {"name": "x"})
        checked += 1
        if not csrf_refused(response):
            accepted.append(f"{name} {url} -> {response.status_code}")
    assert accepted == []
    assert checked > 60


def test_the_csrf_walk_can_tell_a_refusal_from_an_accepted_post(world: World) -> None:
    # The same POST with the token gets through to the view: the walk above is not vacuous.
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.analyst)
    page = client.get("/accounts/tokens/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token
    response = client.post(
        "/accounts/tokens/", {"name": "x", "days": "7", "csrfmiddlewaretoken": token[1]}
    )
    assert response.status_code == 200
    assert not csrf_refused(response)
    assert ApiToken.objects.filter(user=world.analyst).count() == 1


# --- no state change on GET -------------------------------------------------------------------

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|TRUNCATE)\b", re.IGNORECASE)
# Signing in itself writes these; they are not the page's doing.
ALLOWED_WRITES = re.compile(r'"django_session"|"portal_user" SET "last_login"')


@pytest.fixture
def estate(world: World) -> dict[str, str]:
    """Sample values for every URL parameter, each naming a real object a persona can reach."""
    workspace = approved_workspace(world)
    token, _ = token_issue(actor=world.analyst, user=world.analyst, name="sample")
    return {
        "slug": world.team.slug,
        "project_slug": world.project.slug,
        "pk": str(workspace.pk),
        "offering_id": str(workspace.offering_id),
        "object_id": str(world.team.pk),
        "id": str(world.analyst.pk),
        "action": "stop",
        "token_pk": str(token.pk),
    }


def get_urls(estate: dict[str, str], *, with_admin: bool) -> list[tuple[str, str]]:
    urls = []
    for route, name, _ in url_patterns():
        if name.startswith("admin:") and not with_admin:
            continue
        values = dict(estate)
        if "<int:pk>" in route:  # integer pks: the token page's, else a missing row (404)
            values["pk"] = estate["token_pk"] if name == "account_token_revoke" else "999999"
        url = concrete(route, values)
        if url is not None and name not in {"logout", "oidc_logout"}:
            urls.append((name, url))
    return urls


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_get_changes_anything(world: World, estate: dict[str, str], persona: str) -> None:
    client = Client()
    client.force_login(world.persona(persona))
    writes: list[str] = []
    errors: list[str] = []
    statuses: list[int] = []
    for name, url in get_urls(estate, with_admin=persona == "admin"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        statuses.append(response.status_code)
        # Readiness reports on the worker and AWS, which these tests do not start.
        if response.status_code >= 500 and name != "readyz":
            errors.append(f"{name} {url} -> {response.status_code}")
        writes += [
            f"{name} {url}: {q['sql'][:120]}"
            for q in queries.captured_queries
            if WRITE.match(q["sql"]) and not ALLOWED_WRITES.search(q["sql"])
        ]
    assert writes == []
    assert errors == []
    # The walk reached real pages, not just refusals: every persona sees at least 15.
    assert statuses.count(200) >= 15, sorted(statuses)


def test_a_session_ends_after_its_configured_age_on_the_server_not_only_in_the_cookie(
    world: World, client: Client
) -> None:
    # A working day by default (SESSION_COOKIE_AGE), not Django's two weeks.
    assert settings.SESSION_COOKIE_AGE == 8 * 3600
    before = timezone.now()
    client.force_login(world.analyst)
    assert client.get("/").status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    age = (session.expire_date - before).total_seconds()
    assert settings.SESSION_COOKIE_AGE - 60 <= age <= settings.SESSION_COOKIE_AGE + 60
    # Past its age the same cookie no longer signs anyone in.
    Session.objects.filter(pk=session.pk).update(expire_date=before - dt.timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
