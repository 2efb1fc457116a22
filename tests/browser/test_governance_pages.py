"""Compliance and audit pages in Chromium: what an approver, an auditor and an admin see, with
axe-core and the CSP watched on every page (the trend chart is drawn by a static script)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from governance.compliance import evaluate_compliance
from tests.browser.conftest import Browser
from tests.conftest import World
from tests.governance.support import (
    bulk_history,
    create_notebook,
    portal_aws,  # noqa: F401 (fixture)
    team_tags,
)
from tests.support.sandbox import Sandbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("portal_aws")
def test_the_team_page_shows_an_unmanaged_notebook_with_its_failing_control(
    browser_as: Browser, world: World, request: pytest.FixtureRequest
) -> None:
    sandbox: Sandbox = request.getfixturevalue("portal_aws")
    bulk_history(world, world.team, 3, days=5)
    create_notebook(
        sandbox, "rogue-notebook", team_tags(world.team), DirectInternetAccess="Enabled"
    )
    evaluate_compliance()

    browser_as.login("approver")
    browser_as.goto(f"/teams/{world.team.slug}/compliance/")
    page = browser_as.page
    rogue = page.get_by_test_id("failing-resource").filter(has_text="rogue-notebook")
    expect(rogue).to_contain_text("Unmanaged")
    expect(rogue).to_contain_text("Direct internet access disabled")
    expect(page.get_by_test_id("trend-table").locator("tbody tr")).to_have_count(5)
    # The chart was drawn from the JSON data island by the static script.
    drawn = page.evaluate(
        "() => !!window.Chart.getChart(document.querySelector('canvas[data-chart]'))"
    )
    assert drawn
    browser_as.assert_accessible()

    page.get_by_label("Result").select_option("fail")
    page.get_by_label("Launched by").select_option("no")
    page.get_by_role("button", name="Apply").click()
    rows = page.get_by_test_id("evidence-row")
    expect(rows).to_have_count(2)  # internet access, and not launched through the portal
    expect(rows.first).to_contain_text("rogue-notebook")
    browser_as.assert_accessible()


def test_the_overview_puts_the_worst_team_first(browser_as: Browser, world: World) -> None:
    bulk_history(world, world.team, 3)
    bulk_history(world, world.other_team, 6, prefix="ph")
    browser_as.login("auditor")
    browser_as.goto("/compliance/")
    page = browser_as.page
    expect(page.locator("a[aria-current=page]")).to_have_attribute("href", "/compliance/")
    rows = page.get_by_test_id("overview-row")
    # Both lose one notebook in three, but Public Health's share of failing checks is equal;
    # Data Science sorts first by name at equal score.
    expect(rows.first).to_contain_text("Data Science")
    browser_as.assert_accessible()
    page.get_by_label("Sort by").select_option("team")
    page.get_by_role("button", name="Sort").click()
    expect(rows.first).to_contain_text("Data Science")
    browser_as.assert_accessible()


def test_the_audit_page_filters_events_and_an_approver_sees_only_their_team(
    browser_as: Browser, world: World
) -> None:
    bulk_history(world, world.other_team, 1, days=1, prefix="ph")  # events in the other team
    browser_as.login("auditor")
    browser_as.goto("/audit/")
    page = browser_as.page
    expect(page.get_by_test_id("audit-row").first).to_be_visible()
    browser_as.assert_accessible()
    page.get_by_label("Team").fill(world.other_team.slug)
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("audit-row").first).to_contain_text(world.other_team.name)
    href = page.get_by_test_id("audit-export").get_attribute("href")
    assert href is not None
    assert f"team={world.other_team.slug}" in href
    browser_as.assert_accessible()

    page.get_by_test_id("sign-out").click()
    browser_as.login("approver")
    browser_as.goto(f"/audit/?team={world.other_team.slug}")
    expect(page.get_by_text("No events match.")).to_be_visible()
    browser_as.goto("/audit/")
    expect(page.get_by_test_id("audit-row").first).to_contain_text(world.team.name)
    browser_as.assert_accessible()
