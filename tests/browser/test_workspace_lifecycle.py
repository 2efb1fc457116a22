"""A workspace's life, watched live in the browser: approved, provisioned by a real worker
against the sandbox while the page polls, opened, stopped, started and terminated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Browser
from tests.conftest import World
from tests.support.provisioning import offering_from_sandbox
from tests.support.sandbox import Sandbox
from workspaces import services

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_watch_a_workspace_come_up_then_open_stop_start_and_terminate_it(
    browser_as: Browser,
    world: World,
    seeded: dict[str, Any],
    portal_on_sandbox: Sandbox,
    worker: Path,
) -> None:
    import datetime as dt

    from django.utils import timezone

    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    workspace = services.workspace_request(
        actor=world.analyst,
        offering=offering,
        team=world.team,
        project=world.project,
        name="live-one",
        instance_type="ml.t3.medium",
        volume_size_gb=20,
        end_date=timezone.localdate() + dt.timedelta(days=5),
        justification="Watching provisioning in the browser.",
    )
    page = browser_as.page
    browser_as.login("approver")
    browser_as.goto(f"/workspaces/{workspace.pk}/")
    page.get_by_role("button", name="Approve").click()
    page.get_by_test_id("sign-out").click()

    browser_as.login("analyst")
    browser_as.goto(f"/workspaces/{workspace.pk}/")
    status = page.locator("#workspace-status")
    # The page polls every 2 s while the state is transitional, and stops by itself.
    expect(page.get_by_test_id("state")).to_have_text("Available", timeout=60_000)
    expect(status).to_have_attribute("data-polling", "false")
    expect(page.get_by_test_id("progress")).to_contain_text("Ready")
    expect(page.get_by_test_id("timeline")).to_contain_text("now available")  # kept current
    browser_as.assert_accessible()

    page.get_by_role("button", name="Open notebook").click()
    link = page.get_by_test_id("notebook-link")
    expect(link).to_be_visible()
    browser_as.assert_accessible()
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(portal_on_sandbox.url)
    link.click()
    expect(page.locator("body")).to_contain_text(workspace.notebook_name)
    browser_as.goto(f"/workspaces/{workspace.pk}/")

    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_test_id("state")).to_have_text("Stopped", timeout=60_000)
    browser_as.assert_accessible()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_test_id("state")).to_have_text("Available", timeout=60_000)
    page.get_by_role("button", name="Terminate").click()
    expect(page.get_by_test_id("state")).to_have_text("Terminated", timeout=60_000)
    expect(page.get_by_test_id("actions")).not_to_contain_text("Stop")
    browser_as.goto(f"/workspaces/{workspace.pk}/")
    expect(page.get_by_test_id("timeline")).to_contain_text("now terminated")
    browser_as.assert_accessible()
