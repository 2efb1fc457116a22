"""Cost pages in Chromium: finance's dashboard (chart drawn from its data island, sortable
headers, filters, export link), the drill-down to a service, the budget form and
acknowledging an alert, with axe-core and the CSP watched on every page."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from costs.models import CostSyncRun, TeamBudget
from tests.browser.conftest import Browser
from tests.conftest import World
from tests.costs import support as ps

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed(world: World) -> ps.Workspace:
    (mine,) = ps.make_workspaces(world.team, world.project, world.analyst, 1, "claims-eda")
    (theirs,) = ps.make_workspaces(world.other_team, world.other_project, world.outsider, 1, "ph")
    today = timezone.localdate()
    rows: list[ps.Row] = []
    for d in range(20):
        day = today - dt.timedelta(days=d)
        rows += [
            (day, mine, ps.SAGEMAKER, Decimal("3.20")),
            (day, mine, ps.STORAGE, Decimal("0.40")),
            (day, theirs, ps.SAGEMAKER, Decimal("1.10")),
            (day, None, ps.SAGEMAKER, Decimal("0.15")),
        ]
    ps.add_costs(rows)
    TeamBudget.objects.create(team=world.team, monthly_usd=Decimal("90"))
    ps.forecast(world.team, "96.00", "88.00", "104.00")
    ps.alert(world.team, 80, budget="90", amount="75")
    ps.tags_active()
    ps.finished_sync()
    return mine


def test_finance_reads_sorts_filters_and_drills_down_to_a_service(
    browser_as: Browser, world: World
) -> None:
    mine = seed(world)
    browser_as.login("finance")
    page = browser_as.page
    expect(page.get_by_test_id("budget-alert-banner")).to_contain_text("1 open budget alert")
    page.locator("nav.usa-nav [data-nav=costs]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Costs")
    # The chart was drawn by the static script from the JSON island; its text alternative is
    # the data table with a row per day.
    drawn = page.evaluate(
        "() => !!window.Chart.getChart(document.querySelector('canvas[data-cost-chart]'))"
    )
    assert drawn
    expect(page.locator("canvas[data-cost-chart]")).to_have_attribute(
        "aria-label", re.compile("the table “Spend per team \\(USD\\)” below lists the same")
    )
    expect(page.get_by_test_id("series-row")).to_have_count(90)
    browser_as.assert_accessible()

    page.get_by_role("link", name="Team", exact=True).click()
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Team")
    expect(page.get_by_test_id("team-row").first).to_contain_text("Data Science")

    page.get_by_label("Granularity").select_option("monthly")
    page.get_by_label("From", exact=True).fill("2026-02-01")
    page.get_by_label("To", exact=True).fill("2026-01-01")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("filter-errors")).to_contain_text("is before the start")
    browser_as.assert_accessible()
    today = timezone.localdate()
    first = today - dt.timedelta(days=40)
    start = first.isoformat()
    page.get_by_label("From", exact=True).fill(start)
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("filter-errors")).to_have_count(0)
    expect(page.get_by_test_id("export-csv")).to_have_attribute(
        "href", re.compile(f"/costs/export.csv\\?.*start={start}.*granularity=monthly")
    )
    rows = page.get_by_test_id("series-row")
    # One row per calendar month the 41 days touch: two, or three early in a month (on
    # 1 December they reach back to 22 October).
    expect(rows).to_have_count((today.year - first.year) * 12 + today.month - first.month + 1)

    page.get_by_test_id("teams-table").get_by_role("link", name="Data Science").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Costs of Data Science")
    expect(page.get_by_test_id("breadcrumbs")).to_contain_text("Costs")
    browser_as.assert_accessible()
    page.get_by_test_id("breakdown").get_by_role("link", name="Claims forecast").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Costs of Claims forecast")
    page.get_by_role("link", name=mine.name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Costs of {mine.name}")
    services = page.get_by_test_id("breakdown")
    expect(services).to_contain_text("Amazon SageMaker")
    expect(services).to_contain_text("Amazon Simple Storage Service")
    expect(page.get_by_test_id("breadcrumbs").get_by_role("link")).to_have_count(3)
    browser_as.assert_accessible()


def test_finance_sets_a_budget_and_acknowledges_an_alert(browser_as: Browser, world: World) -> None:
    seed(world)
    browser_as.login("finance")
    page = browser_as.page
    browser_as.goto(f"/costs/teams/{world.team.slug}/")
    form = page.get_by_test_id("budget-form")
    form.get_by_label("Monthly budget (USD)").fill("-3")
    form.get_by_label("Alert on actual spend at (%)").fill("50, eighty")
    form.get_by_role("button", name="Save budget").click()
    expect(page.get_by_test_id("error-monthly_usd")).to_be_visible()
    expect(page.get_by_test_id("error-actual_thresholds")).to_contain_text("“eighty”")
    browser_as.assert_accessible()
    form.get_by_label("Monthly budget (USD)").fill("150")
    form.get_by_label("Alert on actual spend at (%)").fill("50, 80, 100")
    form.get_by_role("button", name="Save budget").click()
    expect(page.get_by_role("status")).to_contain_text("Budget of Data Science set to $150.00")
    expect(page.get_by_test_id("team-budget")).to_contain_text("$150.00 a month")
    browser_as.assert_accessible()

    page.get_by_test_id("budget-alert-banner").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Budget alerts")
    browser_as.assert_accessible()
    page.get_by_role("button", name=re.compile("Acknowledge the alert for Data Science")).click()
    expect(page.get_by_role("status")).to_contain_text("Acknowledged: Data Science at 80 %")
    expect(page.get_by_test_id("budget-alert-banner")).to_have_count(0)
    expect(page.get_by_test_id("no-alerts")).to_be_visible()
    browser_as.assert_accessible()


def test_an_analyst_sees_their_workspace_and_team_costs(browser_as: Browser, world: World) -> None:
    mine = seed(world)
    browser_as.login("analyst")
    page = browser_as.page
    browser_as.goto(f"/workspaces/{mine.pk}/")
    expect(page.get_by_test_id("workspace-costs")).to_contain_text("Amazon Simple Storage Service")
    browser_as.assert_accessible()
    browser_as.goto(f"/teams/{world.team.slug}/")
    expect(page.get_by_test_id("team-budget")).to_contain_text("$90.00 a month")
    expect(page.get_by_test_id("team-forecast")).to_contain_text("$96.00")
    browser_as.assert_accessible()
    page.get_by_test_id("team-costs-link").click()
    expect(page.get_by_test_id("budget-form")).to_have_count(0)
    browser_as.assert_accessible()


def test_finance_is_told_when_the_latest_sync_failed(browser_as: Browser, world: World) -> None:
    seed(world)
    failed = ps.finished_sync()
    failed.status = CostSyncRun.Status.FAILED
    failed.error = "AccessDeniedException: User is not authorized to perform ce:GetCostAndUsage"
    failed.save()
    browser_as.login("finance")
    page = browser_as.page
    for path in ("/costs/", "/costs/alerts/"):
        browser_as.goto(path)
        notice = page.get_by_test_id("sync-failed")
        expect(notice).to_contain_text("The latest cost sync, at")
        expect(notice).to_contain_text("failed: AccessDeniedException: User is not authorized")
        browser_as.assert_accessible()
