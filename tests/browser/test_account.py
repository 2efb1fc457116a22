"""The API tokens page in Chromium: create a token, see the secret once with a working Copy
button, use it on the API, revoke it after confirming; axe-core and the CSP on each page."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from portal.models import ApiToken
from tests.browser.conftest import Browser
from tests.conftest import World

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api_status(b: Browser, secret: str) -> int:
    url = b.base_url + "/api/v1/teams/"  # the live server on loopback
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_a_person_creates_copies_and_revokes_a_token(browser_as: Browser, world: World) -> None:
    b = browser_as
    b.login("analyst")
    b.page.get_by_test_id("api-tokens-link").click()
    expect(b.page.get_by_role("heading", level=1)).to_have_text("API tokens")
    expect(b.page.get_by_test_id("tokens")).to_contain_text("You have no tokens yet.")
    b.assert_accessible()

    # A name is required: the form says so and nothing is created.
    b.page.get_by_role("button", name="Create token").click()
    expect(b.page.get_by_test_id("error-name")).to_contain_text("Give the token a name")
    assert not ApiToken.objects.exists()
    b.assert_accessible()

    b.page.get_by_label("Name").fill("nightly export")
    b.page.get_by_label("Expires after").select_option("7")
    b.page.get_by_role("button", name="Create token").click()
    secret_field = b.page.get_by_test_id("new-token-secret")
    expect(b.page.get_by_test_id("new-token")).to_contain_text("It will not be shown again")
    secret = secret_field.input_value()
    assert re.fullmatch(r"mlp_[\w-]{40,}", secret)
    b.assert_accessible()

    b.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    b.page.get_by_test_id("copy-token").click()
    expect(b.page.locator('[data-copy-status="new-token-secret"]')).not_to_be_empty()

    # The token works on the API as the analyst, from outside the browser (no session).
    assert api_status(b, secret) == 200

    # Reloading shows the list, never the secret again.
    b.goto("/accounts/tokens/")
    expect(b.page.get_by_test_id("new-token")).to_have_count(0)
    assert secret not in b.page.content()
    row = b.page.locator("[data-status='active']")
    expect(row).to_contain_text("nightly export")

    row.get_by_role("link", name=re.compile("Revoke")).click()
    expect(b.page.get_by_role("heading", level=1)).to_contain_text("nightly export")
    b.assert_accessible()
    b.page.get_by_role("button", name="Revoke token").click()
    expect(b.page.get_by_role("status")).to_contain_text("it no longer works")
    expect(b.page.locator("[data-status='revoked']")).to_contain_text("nightly export")
    b.assert_accessible()
    assert api_status(b, secret) == 401
