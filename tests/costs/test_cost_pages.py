"""Cost pages below the dashboard: the team's costs and budget form, the drill-down to a
service, alerts and their acknowledgement, the banner, the team and workspace pages' cost
sections, the tag warning on every cost page after a real sync, and who may see what."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from costs.calendar import cost_today
from costs.models import BudgetAlert, DailyCost, TeamBudget
from costs.sync import cost_sync
from governance.models import AuditEvent
from tests.conftest import PERSONAS, World
from tests.costs import support as ps
from tests.costs.ledger_support import COST_TAGS, days_back, usage

pytestmark = pytest.mark.django_db

TODAY = cost_today  # the cost calendar: UTC days


@pytest.fixture
def spend(world: World) -> dict[str, Any]:
    """The analyst's workspace (SageMaker 2.00 and S3 0.50 a day) and the approver's (1.00 a
    day) in Data Science's project, for three days; an alert for each team."""
    mine = ps.make_workspaces(world.team, world.project, world.analyst, 1, "mine")[0]
    theirs = ps.make_workspaces(world.team, world.project, world.approver, 1, "appr")[0]
    other = ps.make_workspaces(world.other_team, world.other_project, world.outsider, 1, "ph")[0]
    rows: list[ps.Row] = []
    for d in range(3):
        day = TODAY() - dt.timedelta(days=d)
        rows += [
            (day, mine, ps.SAGEMAKER, Decimal("2.00")),
            (day, mine, ps.STORAGE, Decimal("0.50")),
            (day, theirs, ps.SAGEMAKER, Decimal("1.00")),
            (day, other, ps.SAGEMAKER, Decimal("4.00")),
        ]
    ps.add_costs(rows)
    ps.tags_active()
    return {
        "mine": mine,
        "theirs": theirs,
        "other": other,
        "alert": ps.alert(world.team, 80),
        "other_alert": ps.alert(world.other_team, 100, amount="120"),
    }


def get(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return str(response.content.decode())


# --- drill-down ------------------------------------------------------------------------------


def test_drill_down_from_team_to_project_to_workspace_to_service_with_breadcrumbs(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    client.force_login(world.finance)
    team_html = get(client, reverse("team_costs", args=[world.team.slug]))
    breakdown = ps.page_tables(team_html)["breakdown"]
    assert breakdown[1] == ["Claims forecast", "10.50", "100.0"]
    project_url = reverse("project_costs", args=[world.team.slug, world.project.slug])
    assert f'href="{project_url}' in team_html

    project_html = get(client, project_url)
    rows = {r[0]: r[1:] for r in ps.page_tables(project_html)["breakdown"][1:]}
    assert rows == {
        "mine-00000": ["7.50", "71.4"],
        "appr-00000": ["3.00", "28.6"],
        "Total": ["10.50", "100.0"],
    }
    crumbs = project_html.split('data-testid="breadcrumbs"')[1].split("</nav>")[0]
    assert ">Costs<" in crumbs
    assert ">Data Science<" in crumbs
    assert 'aria-current="page"><span>Claims forecast' in crumbs

    workspace_html = get(client, reverse("workspace_costs", args=[spend["mine"].pk]))
    services = ps.page_tables(workspace_html)["breakdown"]
    assert services[1][:2] == ["Amazon SageMaker", "6.00"]
    assert services[2][:2] == ["Amazon Simple Storage Service", "1.50"]
    series = ps.page_tables(workspace_html)["series"]
    assert series[0] == ["Day", "Amazon SageMaker", "Amazon Simple Storage Service", "Total"]
    assert series[-1][1:] == ["2.00", "0.50", "2.50"]


def test_an_analyst_sees_other_peoples_workspaces_only_as_one_summed_row(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    client.force_login(world.analyst)
    html = get(client, reverse("project_costs", args=[world.team.slug, world.project.slug]))
    rows = {r[0]: r[1] for r in ps.page_tables(html)["breakdown"][1:]}
    assert rows == {"mine-00000": "7.50", "Other people's workspaces": "3.00", "Total": "10.50"}
    assert "appr-00000" not in html
    # No dashboard for an analyst: the trail starts at their team.
    crumbs = html.split('data-testid="breadcrumbs"')[1].split("</nav>")[0]
    assert ">Costs<" not in crumbs
    assert ">Data Science<" in crumbs


def test_spend_of_a_notebook_made_outside_the_portal_is_its_own_row_on_the_project_page(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    """A notebook the portal did not make, tagged with the project (the sync gives its spend
    to the project its tags name), is nobody's workspace: finance sees it apart, and an
    analyst sees it apart from their teammates' workspaces too."""
    day = TODAY() - dt.timedelta(days=1)
    DailyCost.objects.create(
        day=day,
        workspace_tag="notebook-made-by-hand",
        service=ps.SAGEMAKER,
        team=world.team,
        project=world.project,
        workspace=None,
        amount_usd=Decimal("1.25"),
    )
    ps.rebuild_rollup({day})
    url = reverse("project_costs", args=[world.team.slug, world.project.slug])
    expected = {
        "finance": {"mine-00000": "7.50", "appr-00000": "3.00"},
        "analyst": {"mine-00000": "7.50", "Other people's workspaces": "3.00"},
    }
    for persona, workspaces in expected.items():
        client.force_login(world.persona(persona))
        html = get(client, url)
        rows = {r[0]: r[1] for r in ps.page_tables(html)["breakdown"][1:]}
        assert rows == {
            **workspaces,
            "Notebooks made outside the portal": "1.25",
            "Total": "11.75",
        }, persona
        series = ps.page_tables(html)["series"]
        assert "Notebooks made outside the portal" in series[0]


def test_each_drill_down_page_exports_exactly_its_tables(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    client.force_login(world.approver)
    query = "?granularity=monthly"
    for page, export in [
        (
            reverse("team_costs", args=[world.team.slug]),
            reverse("team_costs_csv", args=[world.team.slug]),
        ),
        (
            reverse("project_costs", args=[world.team.slug, world.project.slug]),
            reverse("project_costs_csv", args=[world.team.slug, world.project.slug]),
        ),
        (
            reverse("workspace_costs", args=[spend["mine"].pk]),
            reverse("workspace_costs_csv", args=[spend["mine"].pk]),
        ),
    ]:
        tables = ps.page_tables(get(client, page + query))
        series, breakdown = ps.csv_tables(client.get(export + query).content.decode())
        assert series == tables["series"]
        assert breakdown == tables["breakdown"]


# --- the team's budget -----------------------------------------------------------------------


def test_finance_sets_a_budget_with_thresholds_and_sees_the_aws_status(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    client.force_login(world.finance)
    url = reverse("team_budget", args=[world.team.slug])
    response = client.post(
        url,
        {"monthly_usd": "2500", "actual_thresholds": "50, 90%", "forecast_thresholds": "100"},
    )
    assert response.status_code == 302
    budget = TeamBudget.objects.get(team=world.team)
    assert (budget.monthly_usd, budget.actual_thresholds, budget.forecast_thresholds) == (
        Decimal("2500.00"),
        [50, 90],
        [100],
    )
    html = get(client, response["Location"])
    assert "Budget of Data Science set to $2,500.00 a month" in html
    assert 'value="50, 90"' in html
    assert 'data-testid="aws-budget"' in html
    TeamBudget.objects.filter(pk=budget.pk).update(aws_error="AccessDenied: not allowed")
    assert "AccessDenied: not allowed" in get(client, response["Location"])


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"monthly_usd": "-5"}, "monthly_usd", "greater than or equal to 0.01"),
        ({"monthly_usd": "lots"}, "monthly_usd", "Enter a number."),
        ({"monthly_usd": "100", "actual_thresholds": "50, x"}, "actual_thresholds", "“x”"),
        ({"monthly_usd": "100", "actual_thresholds": "50, 50"}, "actual_thresholds", "only once"),
        ({"monthly_usd": "100", "actual_thresholds": "500"}, "actual_thresholds", "500 %"),
        (
            {
                "monthly_usd": "100",
                "actual_thresholds": "10,20,30,40",
                "forecast_thresholds": "90,100",
            },
            "forecast_thresholds",
            "AWS Budgets allows 5",
        ),
    ],
)
def test_a_bad_budget_re_renders_the_page_naming_the_problem_and_writes_nothing(
    world: World, client: Any, data: dict[str, str], field: str, message: str
) -> None:
    client.force_login(world.admin)
    events = AuditEvent.objects.count()
    response = client.post(reverse("team_budget", args=[world.team.slug]), data)
    assert response.status_code == 400
    html = response.content.decode()
    error = html.split(f'data-testid="error-{field}">')[1].split("</span>")[0]
    assert message in error
    assert not TeamBudget.objects.filter(team=world.team).exists()
    assert AuditEvent.objects.count() == events


# --- alerts ----------------------------------------------------------------------------------


def test_finance_acknowledges_an_alert_once_and_the_banner_goes(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    client.force_login(world.finance)
    html = get(client, reverse("home"))
    assert "2 open budget alerts" in html
    alert = spend["alert"]
    url = reverse("cost_alert_acknowledge", args=[alert.pk])
    response = client.post(url, {"state": "open"})
    assert response["Location"] == reverse("cost_alerts") + "?state=open"
    html = get(client, response["Location"])
    assert "Acknowledged: Data Science at 80 % (actual spend)." in html
    assert "1 open budget alert:" in html
    alert.refresh_from_db()
    assert alert.acknowledged_by == world.finance
    again = get(client, client.post(url)["Location"])
    assert "already acknowledged by" in again
    assert AuditEvent.objects.filter(action="budget.alert_acknowledge").count() == 1


def test_the_banner_shows_members_their_teams_alerts_only(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    for persona, expected in [
        ("analyst", "1 open budget alert:"),
        ("approver", "1 open budget alert:"),
        ("outsider", "1 open budget alert:"),
        ("admin", "2 open budget alerts"),
        ("auditor", None),
    ]:
        client.force_login(world.persona(persona))
        html = get(client, reverse("home"))
        if expected:
            assert expected in html, persona
        else:
            assert 'data-testid="budget-alert-banner"' not in html
    client.force_login(world.analyst)
    listed = ps.page_tables(get(client, reverse("cost_alerts")))["alerts"]
    assert [r[0] for r in listed[1:]] == ["Data Science"]
    assert listed[1][-1] == "Open"  # no acknowledge button for an analyst


def test_the_alert_list_filters_by_state(world: World, client: Any, spend: Any) -> None:
    BudgetAlert.objects.filter(pk=spend["alert"].pk).update(
        acknowledged_at=timezone.now(), acknowledged_by=world.finance
    )
    client.force_login(world.auditor)
    for state, teams in [
        ("open", ["Public Health"]),
        ("acknowledged", ["Data Science"]),
        ("all", ["Public Health", "Data Science"]),
        ("bogus", ["Public Health"]),
    ]:
        html = get(client, reverse("cost_alerts") + f"?state={state}")
        assert [r[0] for r in ps.page_tables(html)["alerts"][1:]] == teams
        assert "Acknowledge</button>" not in html


# --- team and workspace pages ----------------------------------------------------------------


def test_the_team_page_shows_spend_budget_forecast_and_alerts(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    TeamBudget.objects.create(team=world.team, monthly_usd=Decimal("100"))
    ps.forecast(world.team, "60.00", "50.00", "70.00", portal=True)
    client.force_login(world.analyst)
    html = get(client, reverse("team_detail", args=[world.team.slug]))
    section = html.split('data-testid="team-costs"')[1].split("</section>")[0]
    spent = sum(
        Decimal("3.50") for d in range(3) if (TODAY() - dt.timedelta(d)).month == TODAY().month
    )
    assert f"${spent:.2f}</strong> of $100.00" in section
    assert "Computed by the portal from its daily cost rows" in section
    assert "Actual spend ≥ 80 %" in section
    assert 'data-testid="budget-form"' not in get(
        client, reverse("team_costs", args=[world.team.slug])
    )
    client.force_login(world.finance)
    assert 'data-testid="budget-form"' in get(client, reverse("team_costs", args=[world.team.slug]))


def test_the_workspace_page_shows_its_month_30_days_and_services(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    client.force_login(world.analyst)
    html = get(client, reverse("workspace_detail", args=[spend["mine"].pk]))
    section = html.split('data-testid="workspace-costs"')[1].split("</section>")[0]
    assert 'data-testid="workspace-30d">$7.50' in section
    assert "Amazon Simple Storage Service" in section


def cost_pages(world: World, ws: Any) -> list[str]:
    """The cost pages (dashboard, team, project, workspace, alerts), of ``ws``'s team."""
    return [
        reverse("costs_dashboard"),
        reverse("team_costs", args=[world.team.slug]),
        reverse("project_costs", args=[world.team.slug, world.project.slug]),
        reverse("workspace_costs", args=[ws.pk]),
        reverse("cost_alerts"),
    ]


def test_with_the_tags_inactive_in_the_sandbox_every_cost_page_warns_after_a_sync(
    world: World, client: Any, sandbox_clean: Any, portal_on_sandbox: Any
) -> None:
    sandbox_clean.control.cost_tags(active=COST_TAGS)
    (ws,) = ps.make_workspaces(world.team, world.project, world.analyst, 1)
    sandbox_clean.control.ledger([usage(ws, d, 2.0) for d in days_back(3)])
    sandbox_clean.control.cost_tags(inactive=COST_TAGS)
    assert cost_sync().status == "succeeded"
    pages = [
        *cost_pages(world, ws),
        reverse("team_detail", args=[world.team.slug]),
        reverse("workspace_detail", args=[ws.pk]),
    ]
    client.force_login(world.admin)
    for url in pages:
        html = get(client, url)
        assert 'data-testid="tag-warning"' in html, url
        assert "<code>portal:workspace</code> (inactive)" in html, url
    # The spend is there, reported untagged, as AWS reports it: nothing silently zero.
    series = ps.page_tables(get(client, pages[0]))["series"]
    assert series[0][1:] == ["Untagged or unknown", "Total"]

    sandbox_clean.control.cost_tags(active=COST_TAGS)
    assert cost_sync().status == "succeeded"
    for url in pages:
        assert 'data-testid="tag-warning"' not in get(client, url), url


def test_a_failed_sync_is_named_with_its_reason_on_every_cost_page_until_one_succeeds(
    world: World, client: Any, sandbox_clean: Any, portal_on_sandbox: Any, settings: Any
) -> None:
    """Figures that stopped updating must not read as current: after a failed sync the cost
    pages keep the last good sync's time and say the latest one failed, and why."""
    from portal import aws

    sandbox_clean.control.cost_tags(active=COST_TAGS)
    (ws,) = ps.make_workspaces(world.team, world.project, world.analyst, 1)
    sandbox_clean.control.ledger([usage(ws, d, 2.0) for d in days_back(3)])
    good = cost_sync()
    assert good.status == "succeeded"
    pages = cost_pages(world, ws)
    client.force_login(world.finance)
    for url in pages:
        assert 'data-testid="sync-failed"' not in get(client, url), url

    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    sandbox_clean.control.throttle(operations=["ce:GetCostAndUsage"])
    failed = cost_sync()
    assert failed.status == "failed"
    assert failed.finished_at
    assert good.finished_at
    for url in pages:
        html = get(client, url)
        notice = html.split('data-testid="sync-failed"')[1].split("</div>")[0]
        assert "failed: ThrottlingException" in notice, url
        assert f'datetime="{failed.finished_at.isoformat()}"' in notice, url
        # The freshness line still gives the last good sync's time.
        assert f'datetime="{good.finished_at.isoformat()}"' in html, url

    sandbox_clean.control.clear_faults()
    assert cost_sync().status == "succeeded"
    for url in pages:
        assert 'data-testid="sync-failed"' not in get(client, url), url


# --- permission matrix -----------------------------------------------------------------------

OWN, OTHER = "data-science", "public-health"
ORG = {
    "analyst": 403,
    "approver": 403,
    "admin": 200,
    "finance": 200,
    "auditor": 200,
    "outsider": 403,
}
READS_OWN = {
    "analyst": 200,
    "approver": 200,
    "admin": 200,
    "finance": 200,
    "auditor": 200,
    "outsider": 404,
}
READS_OTHER = {**dict.fromkeys(PERSONAS, 200), "analyst": 404, "approver": 404}
EVERYONE = dict.fromkeys(PERSONAS, 200)
BUDGET_POST = {
    "analyst": 403,
    "approver": 403,
    "admin": 302,
    "finance": 302,
    "auditor": 403,
    "outsider": 404,
}
READ_ONLY = dict.fromkeys(PERSONAS, 405)


NOBODY = dict.fromkeys(PERSONAS, 404)

# {mine}: the analyst's workspace; {theirs}: the approver's; {alert}: Data Science's alert;
# {other_alert}: Public Health's.
MATRIX: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/costs/", ORG),
    ("GET", "/costs/export.csv", ORG),
    ("GET", "/costs/alerts/", EVERYONE),
    ("GET", f"/costs/teams/{OWN}/", READS_OWN),
    ("GET", f"/costs/teams/{OTHER}/", READS_OTHER),
    ("GET", f"/costs/teams/{OWN}/export.csv", READS_OWN),
    ("GET", f"/costs/teams/{OWN}/projects/claims-forecast/", READS_OWN),
    ("GET", f"/costs/teams/{OWN}/projects/claims-forecast/export.csv", READS_OWN),
    ("GET", f"/costs/teams/{OWN}/projects/no-such-project/", NOBODY),
    ("GET", "/costs/workspaces/{mine}/", READS_OWN),
    # The approver's workspace: its owner, the team's approvers and the org roles.
    ("GET", "/costs/workspaces/{theirs}/export.csv", {**READS_OWN, "analyst": 404}),
    ("POST", f"/costs/teams/{OWN}/budget/", BUDGET_POST),
    ("POST", "/costs/alerts/{alert}/acknowledge/", BUDGET_POST),
    (
        "POST",
        "/costs/alerts/{other_alert}/acknowledge/",
        {**BUDGET_POST, "analyst": 404, "approver": 404, "outsider": 403},
    ),
    ("GET", f"/api/v1/teams/{OWN}/costs/", READS_OWN),
    ("GET", f"/api/v1/teams/{OTHER}/costs/", READS_OTHER),
    ("GET", "/api/v1/budgets/", EVERYONE),
    ("GET", "/api/v1/alerts/", EVERYONE),
    ("POST", f"/api/v1/teams/{OWN}/costs/", READ_ONLY),
    ("POST", "/api/v1/budgets/", READ_ONLY),
    ("POST", "/api/v1/alerts/", READ_ONLY),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("method", "url", "expected"), MATRIX, ids=[f"{m} {u}" for m, u, _ in MATRIX]
)
def test_permission_matrix(
    world: World,
    client: Any,
    spend: dict[str, Any],
    persona: str,
    method: str,
    url: str,
    expected: dict[str, int],
) -> None:
    url = url.format(
        mine=spend["mine"].pk,
        theirs=spend["theirs"].pk,
        alert=spend["alert"].pk,
        other_alert=spend["other_alert"].pk,
    )
    client.force_login(world.persona(persona))
    events = AuditEvent.objects.count()
    data = {"monthly_usd": "100"} if "budget" in url else {}
    response = client.get(url) if method == "GET" else client.post(url, data)
    assert response.status_code == expected[persona]
    if response.status_code != 302:
        assert AuditEvent.objects.count() == events  # reading and refusals change nothing


def test_signed_out_visitors_are_sent_to_sign_in_or_refused(client: Any, world: World) -> None:
    assert client.get("/costs/").status_code == 302
    assert client.get(f"/costs/teams/{OWN}/").status_code == 302
    assert client.get("/api/v1/alerts/").status_code in {401, 403}
