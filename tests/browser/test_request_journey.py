"""The request journey in a real browser: the analyst requests from the catalog and watches
the estimate follow their choices; the approver approves from the queue; the analyst sees
the decision. Every page passes axe."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Browser
from tests.conftest import World
from tests.factories import published_offering

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offering(world: World) -> Any:
    return published_offering(world.team, title="Standard CPU notebook")


def test_request_approve_and_see_the_decision(
    browser_as: Browser, world: World, offering: Any
) -> None:
    page = browser_as.page
    browser_as.login("analyst")
    page.get_by_role("link", name="Catalog").click()
    expect(page.get_by_role("heading", name="Standard CPU notebook")).to_be_visible()
    browser_as.assert_accessible()

    page.get_by_role("link", name="Request Standard CPU notebook").click()
    estimate = page.get_by_test_id("estimate-amount")
    expect(estimate).to_contain_text("$15.84")  # ml.t3.medium, 20 GB, working hours
    page.get_by_label("Instance type").select_option("ml.t3.large")
    expect(estimate).to_contain_text("$28.89")  # the htmx fragment followed the choice
    page.get_by_label("Volume size (GB)").fill("40")
    expect(estimate).to_contain_text("$31.69")
    expect(page.get_by_test_id("budget-position")).to_contain_text("No monthly budget")
    browser_as.assert_accessible()

    # A broken rule re-renders the form with the message, keeping what was typed.
    page.get_by_label("Name").fill("Readmit EDA")
    page.get_by_label("Justification").fill("Exploring last year's readmission data.")
    page.get_by_role("button", name="Request workspace").click()
    expect(page.get_by_test_id("error-name")).to_contain_text("lower-case letters")
    expect(page.get_by_label("Justification")).to_have_value(
        "Exploring last year's readmission data."
    )
    browser_as.assert_accessible()

    page.get_by_label("Name").fill("readmit-eda")
    page.get_by_role("button", name="Request workspace").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("readmit-eda")
    expect(page.get_by_test_id("state")).to_have_text("Pending approval")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    browser_as.assert_accessible()

    page.get_by_test_id("sign-out").click()
    browser_as.login("approver")
    page.get_by_role("link", name="Approvals").click()
    queue = page.get_by_test_id("approval-queue")
    expect(queue).to_contain_text("readmit-eda")
    expect(queue).to_contain_text("ml.t3.large, 40 GB")
    browser_as.assert_accessible()
    page.get_by_role("link", name="readmit-eda").click()
    browser_as.assert_accessible()
    page.get_by_label("Reason", exact=True).fill("Fits the readmissions project.")
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(re.compile(r"/approvals/$"))
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    browser_as.assert_accessible()

    page.get_by_test_id("sign-out").click()
    browser_as.login("analyst")
    page.get_by_role("link", name="My workspaces").click()
    expect(page.get_by_test_id("workspace-table")).to_contain_text("Approved")
    browser_as.assert_accessible()
    page.get_by_test_id("notifications-link").click()
    expect(page.get_by_test_id("notification-list")).to_contain_text("readmit-eda approved")
    browser_as.assert_accessible()
    page.get_by_role("link", name="Workspace readmit-eda approved").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("Approve")
    expect(page.get_by_test_id("parameters")).to_contain_text("Fits the readmissions project.")
    browser_as.assert_accessible()


def test_the_requester_cannot_approve_their_own_request(
    browser_as: Browser, world: World, offering: Any
) -> None:
    page = browser_as.page
    browser_as.login("approver")
    browser_as.goto(f"/workspaces/request/{offering.pk}/")
    page.get_by_label("Name").fill("own-request")
    page.get_by_label("Justification").fill("An approver asking for their own notebook.")
    page.get_by_role("button", name="Request workspace").click()
    expect(page.get_by_test_id("own-request-note")).to_contain_text(
        "You cannot approve your own request"
    )
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    browser_as.goto("/approvals/")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    browser_as.assert_accessible()
