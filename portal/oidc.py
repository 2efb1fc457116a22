"""Single sign-on with OpenID Connect, on top of mozilla-django-oidc.

The identity provider says who someone is and which groups they hold; the portal's group
mappings (``GroupMapping``, edited by admins in the portal) say what those groups give. At every
sign-in the person's roles are reconciled to their current groups:

- memberships and global roles that single sign-on granted are added, changed or taken back;
- memberships and global roles an admin granted by hand are never touched (they are the
  admin's deliberate decision, e.g. a break-glass account or a temporary exception).

Every change goes through the audited services in ``portal.services``, with the system (no
actor) as the one acting. docs/sso.md tells operators how to set it up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh as BaseSessionRefresh
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from portal import services
from portal.middleware import API_PREFIXES
from portal.models import (
    GroupMapping,
    Membership,
    MembershipSource,
    Role,
    Team,
    User,
)

logger = logging.getLogger(__name__)

# --- the provider's endpoints ---------------------------------------------------------------

# Setting name → key in the discovery document.
_ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_DISCOVERY_TTL = 3600.0
_discovery_lock = threading.Lock()
_discovery_cache: dict[str, tuple[float, dict[str, Any]]] = {}


class ProviderUnavailable(Exception):
    """The identity provider could not be reached or answered nonsense."""


def discovery_url() -> str:
    url: str = settings.OIDC_OP_DISCOVERY
    if url and "/.well-known/" not in url:
        url = url.rstrip("/") + "/.well-known/openid-configuration"
    return url


def _discovery_document() -> dict[str, Any]:
    url = discovery_url()
    now = time.monotonic()
    with _discovery_lock:
        cached = _discovery_cache.get(url)
        if cached and now - cached[0] < _DISCOVERY_TTL:
            return cached[1]
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(
            f"The discovery document at {url} could not be read: {exc}"
        ) from exc
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"The discovery document at {url} is not a JSON object.")
    with _discovery_lock:
        _discovery_cache[url] = (now, document)
    return document


def forget_discovery() -> None:
    """Drop the cached discovery documents (tests; a provider that moved its endpoints)."""
    with _discovery_lock:
        _discovery_cache.clear()


def oidc_setting(name: str, *default: Any) -> Any:
    """A mozilla-django-oidc setting; an endpoint left unset comes from discovery, read when
    first needed (not at start-up, so a provider that is down cannot stop the portal)."""
    if name in _ENDPOINTS and not getattr(settings, name, "") and settings.OIDC_OP_DISCOVERY:
        value = _discovery_document().get(_ENDPOINTS[name])
        if not value:
            raise ProviderUnavailable(f"The discovery document has no {_ENDPOINTS[name]}.")
        return value
    if default:
        return getattr(settings, name, default[0])
    return getattr(settings, name)


# --- who signs in -----------------------------------------------------------------------------


@dataclass
class Reconciled:
    """What one sign-in changed, for the log line and the tests."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    global_roles: list[str] = field(default_factory=list)


def groups_from_claims(claims: dict[str, Any]) -> list[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        return []
    return sorted({str(group).strip() for group in value if str(group).strip()})


@transaction.atomic
def reconcile_roles(user: User, groups: list[str]) -> Reconciled:
    """Make the roles single sign-on owns match the mappings of ``groups``; hand grants stay.

    Several groups may name one team: approver wins over analyst.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    mappings = list(GroupMapping.objects.filter(group__in=groups).select_related("team"))
    wanted: dict[int, tuple[Team, str]] = {}
    wanted_global: set[str] = set()
    for mapping in mappings:
        if mapping.team is None:
            wanted_global.add(mapping.grant)
        elif wanted.get(mapping.team.pk, (None, ""))[1] != Role.APPROVER:
            wanted[mapping.team.pk] = (mapping.team, mapping.grant)

    done = Reconciled()
    current = {m.team_id: m for m in Membership.objects.filter(user=user).select_related("team")}
    for team_id, (team, role) in wanted.items():
        membership = current.get(team_id)
        if membership is None:
            services.membership_set(
                actor=None, user=user, team=team, role=role, source=MembershipSource.SSO
            )
            done.added.append(f"{team.slug}:{role}")
        elif membership.source == MembershipSource.SSO and membership.role != role:
            services.membership_set(actor=None, user=user, team=team, role=role)
            done.changed.append(f"{team.slug}:{role}")
    for team_id, membership in current.items():
        if membership.source == MembershipSource.SSO and team_id not in wanted:
            services.membership_remove(actor=None, membership=membership)
            done.removed.append(f"{membership.team.slug}:{membership.role}")

    held = set(user.global_roles)
    granted_before = set(user.sso_global_roles)
    # A role SSO grants now is SSO's when SSO turned it on (now or earlier); a role that was
    # already held by hand stays the admin's.
    granted_now = {r for r in wanted_global if r not in held or r in granted_before}
    take_back = (granted_before - wanted_global) & held
    roles = (held | wanted_global) - take_back
    if roles != held:
        user = services.user_global_roles_set(actor=None, user=user, roles=roles)
    done.global_roles = sorted(roles)
    user.sso_groups = groups
    user.sso_global_roles = sorted(granted_now)
    user.save(update_fields=["sso_groups", "sso_global_roles"])
    return done


def has_any_role(user: User) -> bool:
    return bool(user.global_roles) or Membership.objects.filter(user=user).exists()


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """Creates people on first sign-in and reconciles their roles at every sign-in.

    People are matched on the username claim (``OIDC_USERNAME_CLAIM``), case-insensitively.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django builds a backend for every request of a signed-in person (to load the user):
        # endpoints are read only when someone signs in, see authenticate().
        self.UserModel = get_user_model()

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if request is None or not settings.OIDC_ENABLED or "code" not in request.GET:
            return None
        self.OIDC_OP_TOKEN_ENDPOINT = self.get_settings("OIDC_OP_TOKEN_ENDPOINT")
        self.OIDC_OP_USER_ENDPOINT = self.get_settings("OIDC_OP_USER_ENDPOINT")
        self.OIDC_OP_JWKS_ENDPOINT = self.get_settings("OIDC_OP_JWKS_ENDPOINT", None)
        self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
        self.OIDC_RP_CLIENT_SECRET = self.get_settings("OIDC_RP_CLIENT_SECRET")
        self.OIDC_RP_SIGN_ALGO = self.get_settings("OIDC_RP_SIGN_ALGO", "RS256")
        self.OIDC_RP_IDP_SIGN_KEY = None
        user: User | None = super().authenticate(request, **kwargs)
        return user

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        # Some providers put groups only in the ID token, others only in userinfo: use both,
        # userinfo winning where they overlap.
        claims = super().get_userinfo(access_token, id_token, payload)
        return {**payload, **claims}

    def _fail(self, reason: str) -> None:
        self.request.sso_failure = reason
        raise SuspiciousOperation(reason)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if not str(claims.get(settings.OIDC_USERNAME_CLAIM) or "").strip():
            self._fail(
                f"{settings.OIDC_PROVIDER_NAME} did not send the "
                f"{settings.OIDC_USERNAME_CLAIM!r} claim the portal uses as your username."
            )
        return True

    def _username(self, claims: dict[str, Any]) -> str:
        return str(claims[settings.OIDC_USERNAME_CLAIM]).strip()

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(username__iexact=self._username(claims))

    def create_user(self, claims: dict[str, Any]) -> User:
        first, last = _names(claims)
        user = services.user_provision(
            actor=None,
            username=self._username(claims),
            email=str(claims.get("email") or ""),
            first_name=first,
            last_name=last,
        )
        return self.update_user(user, claims)

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        if not user.is_active:
            self._fail("Your portal account is disabled. Ask a portal administrator.")
        # Name and e-mail follow the provider; a claim it did not send leaves the field alone.
        first, last = _names(claims)
        sent = {"first_name": first, "last_name": last, "email": str(claims.get("email") or "")}
        changed = [name for name, value in sent.items() if value and getattr(user, name) != value]
        for name in changed:
            setattr(user, name, sent[name].strip())
        if changed:
            user.save(update_fields=changed)
        groups = groups_from_claims(claims)
        done = reconcile_roles(user, groups)
        logger.info(
            "single sign-on: %s with groups %s; added %s, changed %s, removed %s; global %s",
            user.username,
            groups,
            done.added,
            done.changed,
            done.removed,
            done.global_roles,
        )
        user.refresh_from_db()
        return user


def _names(claims: dict[str, Any]) -> tuple[str, str]:
    first = str(claims.get("given_name") or "").strip()
    last = str(claims.get("family_name") or "").strip()
    if not first and not last and claims.get("name"):
        first, _, last = str(claims["name"]).strip().partition(" ")
    return first[:150], last[:150]


# --- views and middleware -------------------------------------------------------------------


def _unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.warning("single sign-on: identity provider unavailable: %s", exc)
    return render(
        request,
        "portal/sso_failed.html",
        {
            "reason": f"{settings.OIDC_PROVIDER_NAME} could not be reached. Try again in a few"
            " minutes; if it stays down, a portal administrator can sign in with a local"
            " account."
        },
        status=503,
    )


@method_decorator(login_not_required, name="dispatch")
class SignInView(OIDCAuthenticationRequestView):
    """Sends the browser to the identity provider (404 while single sign-on is off)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the library's __init__: the endpoint is read in get(), as discovery may need
        # the network.
        View.__init__(self, *args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not switched on.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailable as exc:
            return _unavailable(request, exc)
        response: HttpResponse = super().get(request)
        return response


# Errors a provider answers a silent renewal with when the person must sign in again.
_SESSION_ENDED = {"login_required", "interaction_required", "consent_required"}


@method_decorator(login_not_required, name="dispatch")
class CallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back; a failure is a page that says why."""

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not switched on.")
        try:
            response: HttpResponse = super().get(request)
        except (requests.RequestException, ProviderUnavailable) as exc:
            return _unavailable(request, exc)
        return response

    @property
    def success_url(self) -> str:
        if not has_any_role(self.user):
            return reverse("sso_no_access")
        url: str = super().success_url
        return url

    def login_failure(self) -> HttpResponse:
        request = self.request
        reason = getattr(request, "sso_failure", "")
        error = request.GET.get("error", "")
        if not reason and error in _SESSION_ENDED:
            # The silent renewal (prompt=none) found no session at the provider any more.
            reason = (
                f"Your session with {settings.OIDC_PROVIDER_NAME} has ended, so you have been"
                " signed out of the portal too. Sign in again to continue."
            )
        elif not reason and error:
            said = request.GET.get("error_description") or error
            reason = f"{settings.OIDC_PROVIDER_NAME} did not sign you in: {said}."
        if not reason:
            reason = (
                "The sign-in could not be completed (it may have taken too long, or been"
                " started in another browser). Please start again."
            )
        logger.info("single sign-on refused: %s", reason)
        return render(request, "portal/sso_failed.html", {"reason": reason}, status=403)


class SessionRefresh(BaseSessionRefresh):
    """Renews the ID token silently (``prompt=none``) every OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS.

    Only for people who signed in through the provider, and only on full page loads: htmx
    fragments and the API cannot follow a redirect to the provider, so they wait for the
    next page.
    """

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        if attr == "OIDC_OP_AUTHORIZATION_ENDPOINT":
            return ""  # read per refresh (discovery), see the property below
        return oidc_setting(attr, *args)

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self) -> str:  # the library's name
        value: str = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        return value

    @OIDC_OP_AUTHORIZATION_ENDPOINT.setter
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self, value: str) -> None:
        pass

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        if request.headers.get("HX-Request") or request.path.startswith(API_PREFIXES):
            return False
        return bool(super().is_refreshable_url(request))

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            response: HttpResponse | None = super().process_request(request)
        except ProviderUnavailable as exc:
            return _unavailable(request, exc)
        return response
