"""A real OpenID Connect provider on loopback (oidc-provider-mock) for the single sign-on tests.

The provider runs in a thread of the test process on a free port for the whole session; each
test registers the people it signs in as (claims, including groups) over the provider's API and
points the portal's settings at it through the discovery document, as an agency would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from oidc_provider_mock import run_server_in_thread

from portal import oidc

CLIENT_ID = "ml-portal"
CLIENT_SECRET = "not-a-real-secret"  # the mock accepts any secret


@dataclass
class Provider:
    url: str

    def person(self, sub: str, *, groups: list[str], **claims: Any) -> None:
        """Register (or change) who ``sub`` is and which groups they hold."""
        claims.setdefault("preferred_username", sub)
        claims.setdefault("email", f"{sub}@agency.example")
        response = requests.put(
            f"{self.url}/users/{sub}", json={**claims, "groups": groups}, timeout=5
        )
        assert response.status_code == 204, response.text

    def approve(self, authorize_url: str, sub: str) -> str:
        """Play the person at the provider's sign-in page: returns where it sends the browser."""
        assert authorize_url.startswith(self.url), authorize_url
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        location: str = response.headers["Location"]
        return location


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# Named fixtures, so a test module can import them without its parameters shadowing the import.
@pytest.fixture(scope="session", name="oidc_provider_url")
def oidc_provider_url_fixture() -> Iterator[str]:
    with run_server_in_thread(port=0, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(name="oidc_provider")
def oidc_provider_fixture(oidc_provider_url: str, settings: Any) -> Iterator[Provider]:
    """Single sign-on switched on and pointed at the loopback provider, for this test."""
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Agency ID"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_DISCOVERY = oidc_provider_url
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "portal.oidc.PortalOIDCBackend",
    ]
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "portal.oidc.SessionRefresh",
    )
    settings.MIDDLEWARE = middleware
    oidc.forget_discovery()
    yield Provider(oidc_provider_url)
    oidc.forget_discovery()
