"""Single sign-on, the group mappings and the lockout in Chromium: the real provider's pages on
loopback, every portal page on the way scanned with axe-core."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from portal import services
from portal.models import GroupGrant, Membership, Role
from tests.browser.conftest import Browser
from tests.conftest import World
from tests.support.oidc import (  # noqa: F401 (fixtures)
    Provider,
    oidc_provider_fixture,
    oidc_provider_url_fixture,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def through_the_provider(browser: Browser, sub: str) -> None:
    """On the provider's own page, sign in as ``sub`` (the loopback provider asks no password)."""
    page = browser.page
    page.get_by_placeholder("Subject").fill(sub)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_load_state()


def test_signing_in_through_the_provider_gives_the_mapped_roles_and_no_access_page(
    browser_as: Browser, world: World, oidc_provider: Provider
) -> None:
    services.group_mapping_create(
        actor=world.admin, group="ds-leads", grant=GroupGrant.APPROVER, team=world.team
    )
    oidc_provider.person("ada", groups=["ds-leads"], given_name="Ada", family_name="Lovelace")
    oidc_provider.person("newcomer", groups=["all-staff"])
    page = browser_as.page

    browser_as.goto("/teams/")
    expect(page.get_by_role("link", name="Sign in with Agency ID")).to_be_visible()
    browser_as.assert_accessible()
    page.get_by_role("link", name="Sign in with Agency ID").click()
    expect(page).to_have_url(re.compile(r"/oauth2/authorize\?"))
    through_the_provider(browser_as, "ada")
    expect(page).to_have_url(re.compile(r"/teams/$"))
    expect(page.get_by_role("link", name="Data Science")).to_be_visible()
    assert "approvals" in browser_as.nav_keys()
    assert Membership.objects.get(user__username="ada").role == Role.APPROVER

    page.get_by_test_id("sign-out").click()
    browser_as.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Agency ID").click()
    through_the_provider(browser_as, "newcomer")
    expect(page.get_by_role("heading", level=1)).to_have_text("You have no access yet")
    expect(page.get_by_test_id("sso-groups")).to_contain_text("all-staff")
    browser_as.assert_accessible()


def test_an_admin_maps_a_group_with_errors_shown_then_deletes_it(
    browser_as: Browser, world: World
) -> None:
    browser_as.login("admin")
    page = browser_as.page
    page.locator("nav.usa-nav [data-nav=sso]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in groups")
    expect(page.get_by_test_id("mappings-empty")).to_be_visible()

    page.get_by_label("Group").fill("ds-analysts")
    page.get_by_label("Role").select_option("analyst")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.locator(".usa-error-message")).to_contain_text("Choose the team")
    expect(page.get_by_label("Group")).to_have_value("ds-analysts")
    browser_as.assert_accessible()

    page.get_by_label("Team (for analyst and approver)").select_option(label="Data Science")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.get_by_test_id("mapping-table")).to_contain_text("ds-analysts")
    expect(page.get_by_role("status")).to_contain_text("Added: ds-analysts → analyst")
    browser_as.assert_accessible()

    page.get_by_role("button", name=re.compile("Delete the mapping of ds-analysts")).click()
    expect(page.get_by_test_id("mappings-empty")).to_be_visible()


def test_the_lockout_page_is_clear_and_accessible(
    browser_as: Browser, world: World, settings: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    browser_as.login("analyst", "not-the-password")
    browser_as.login("analyst", "not-the-password")
    expect(browser_as.page.get_by_test_id("locked-out")).to_contain_text(
        "locked after 2 failed sign-ins"
    )
    browser_as.assert_accessible()
    browser_as.page.get_by_role("link", name="Back to sign-in").click()
    browser_as.login("analyst", here=True)
    expect(browser_as.page.get_by_test_id("locked-out")).to_be_visible()
