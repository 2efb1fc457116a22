"""Each persona signs in and sees only their navigation; every page passes axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Browser
from tests.conftest import PERSONAS, World

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXPECTED_NAV = {
    "analyst": ["home", "catalog", "workspaces", "teams", "api"],
    "approver": ["home", "catalog", "workspaces", "approvals", "teams", "audit", "api"],
    "admin": ["home", "approvals", "teams", "costs", "compliance", "audit", "admin", "sso", "api"],
    "finance": ["home", "teams", "costs", "api"],
    "auditor": ["home", "teams", "costs", "compliance", "audit", "api"],
    "outsider": ["home", "catalog", "workspaces", "teams", "api"],
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_sees_only_their_navigation_and_every_page_passes_axe(
    browser_as: Browser, world: World, persona: str
) -> None:
    browser_as.login(persona)
    page = browser_as.page
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    assert browser_as.nav_keys() == EXPECTED_NAV[persona]
    browser_as.assert_accessible()

    hrefs = page.locator("nav.usa-nav [data-nav]").evaluate_all(
        "links => links.filter(a => a.dataset.nav !== 'admin' && a.dataset.nav !== 'api')"
        ".map(a => a.getAttribute('href'))"
    )
    for href in hrefs:
        browser_as.goto(href)
        assert page.locator("a[aria-current=page]").get_attribute("href") == href
        browser_as.assert_accessible()


def test_a_member_reads_their_team_and_cannot_see_another(
    browser_as: Browser, world: World
) -> None:
    browser_as.login("analyst")
    browser_as.goto("/teams/")
    browser_as.page.get_by_role("link", name="Data Science").click()
    expect(browser_as.page.get_by_role("heading", level=1)).to_have_text("Data Science")
    expect(browser_as.page.get_by_test_id("projects")).to_contain_text("Claims forecast")
    browser_as.assert_accessible()
    response = browser_as.page.goto(f"{browser_as.base_url}/teams/{world.other_team.slug}/")
    assert response is not None
    assert response.status == 404


def test_logged_out_visitors_are_sent_to_login(browser_as: Browser) -> None:
    browser_as.goto("/teams/")
    expect(browser_as.page).to_have_url(re.compile(r"/accounts/login/\?next=/teams/$"))
    browser_as.assert_accessible()
    browser_as.login("approver", here=True)
    expect(browser_as.page).to_have_url(re.compile(r"/teams/$"))


def test_a_wrong_password_shows_a_clear_message(browser_as: Browser) -> None:
    browser_as.login("analyst", "not-the-password")
    expect(browser_as.page.get_by_test_id("login-error")).to_contain_text(
        "Please enter a correct username and password"
    )
    expect(browser_as.page.get_by_label("Username")).to_have_value("analyst")
    browser_as.assert_accessible()


def test_password_change_re_renders_with_errors_then_succeeds(browser_as: Browser) -> None:
    browser_as.login("analyst")
    browser_as.goto("/accounts/password/")
    browser_as.assert_accessible()
    page = browser_as.page
    page.get_by_label("Old password").fill("wrong-old-password")
    page.get_by_label("New password", exact=True).fill("a-much-better-passphrase-42")
    page.get_by_label("New password confirmation").fill("a-much-better-passphrase-42")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".usa-error-message")).to_contain_text("old password was entered")
    browser_as.assert_accessible()
    page.get_by_label("Old password").fill("correct-horse-battery")
    page.get_by_label("New password", exact=True).fill("a-much-better-passphrase-42")
    page.get_by_label("New password confirmation").fill("a-much-better-passphrase-42")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Password changed")
    browser_as.assert_accessible()


def test_sign_out_ends_the_session(browser_as: Browser) -> None:
    browser_as.login("auditor")
    browser_as.page.get_by_test_id("sign-out").click()
    expect(browser_as.page).to_have_url(re.compile(r"/accounts/login/$"))
    browser_as.goto("/")
    expect(browser_as.page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))


def test_admin_and_api_docs_pages_pass_axe(browser_as: Browser) -> None:
    browser_as.login("admin")
    browser_as.goto("/admin/")
    browser_as.assert_accessible()
    browser_as.goto("/admin/portal/team/")
    browser_as.assert_accessible()
    browser_as.goto("/api/docs/")
    expect(browser_as.page.locator(".swagger-ui")).to_be_visible()
    # Scan once Swagger UI has drawn every operation, not the empty shell before it.
    expect(browser_as.page.locator(".opblock-summary").first).to_be_visible()
    browser_as.assert_accessible()
