"""The costs API: a team's spend per day or month with totals, 400 with a body for bad
filters, budgets and alerts narrowed to the caller, fixed query counts, and the schema."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from costs.models import TeamBudget
from tests.conftest import World
from tests.costs import support as ps

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def spend(world: World) -> list[ps.Workspace]:
    """Data Science: 1.00 a day on 2026-01-30..2026-02-02; Public Health 9.00 on 2026-02-01."""
    ours = ps.make_workspaces(world.team, world.project, world.analyst, 1)
    (theirs,) = ps.make_workspaces(world.other_team, world.other_project, world.outsider, 1, "ph")
    rows: list[ps.Row] = [
        (dt.date(2026, 1, 30) + dt.timedelta(days=d), ours[0], ps.SAGEMAKER, Decimal("1.00"))
        for d in range(4)
    ]
    rows.append((dt.date(2026, 2, 1), theirs, ps.SAGEMAKER, Decimal("9.00")))
    ps.add_costs(rows)
    return ours


def test_a_teams_costs_per_day_and_per_month_with_totals(
    world: World, api: APIClient, spend: Any
) -> None:
    api.force_authenticate(world.analyst)
    url = reverse("api-team-costs", args=[world.team.slug])
    daily = api.get(url, {"start": "2026-01-29", "end": "2026-02-02"}).json()
    assert daily["granularity"] == "daily"
    assert daily["total_usd"] == "4.00"
    assert [(r["period"], r["amount_usd"]) for r in daily["rows"]] == [
        ("2026-01-29", "0.00"),
        ("2026-01-30", "1.00"),
        ("2026-01-31", "1.00"),
        ("2026-02-01", "1.00"),
        ("2026-02-02", "1.00"),
    ]
    assert daily["projects"] == [{"project": "Claims forecast", "amount_usd": "4.00"}]
    monthly = api.get(
        url, {"start": "2026-01-01", "end": "2026-02-28", "granularity": "monthly"}
    ).json()
    assert [(r["period"], r["amount_usd"]) for r in monthly["rows"]] == [
        ("2026-01", "2.00"),
        ("2026-02", "2.00"),
    ]
    assert monthly["end"] == "2026-02-28"


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"start": "2026-02-02", "end": "2026-01-01"}, "end", "is before the start"),
        ({"start": "nope"}, "start", "Enter a valid date."),
        ({"granularity": "hourly"}, "granularity", "Select a valid choice."),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "start", "the longest is 731 days"),
    ],
)
def test_bad_filters_are_400_with_the_field_and_the_problem(
    world: World, api: APIClient, params: dict[str, str], field: str, message: str
) -> None:
    api.force_authenticate(world.finance)
    response = api.get(reverse("api-team-costs", args=[world.team.slug]), params)
    assert response.status_code == 400
    assert message in response.json()[field][0]


def test_budgets_and_alerts_are_narrowed_to_what_the_caller_may_see(
    world: World, api: APIClient
) -> None:
    ps.add_costs([(timezone.localdate(), None, ps.SAGEMAKER, Decimal("1"))])
    TeamBudget.objects.create(team=world.team, monthly_usd=Decimal("100"))
    TeamBudget.objects.create(team=world.other_team, monthly_usd=Decimal("50"))
    ps.forecast(world.team, "80", "70", "90")
    ps.alert(world.team, 80)
    ps.alert(world.other_team, 100)

    api.force_authenticate(world.analyst)
    budgets = api.get(reverse("api-budgets")).json()
    assert [b["team"] for b in budgets] == ["data-science"]
    assert budgets[0]["monthly_usd"] == "100.00"
    assert budgets[0]["actual_thresholds"] == [50, 80, 100]
    assert budgets[0]["forecast"]["mean_usd"] == "80.00"
    assert budgets[0]["aws"]["synced_at"] is None
    alerts = api.get(reverse("api-alerts")).json()
    assert [a["team"] for a in alerts["results"]] == ["data-science"]

    api.force_authenticate(world.auditor)
    assert [b["team"] for b in api.get(reverse("api-budgets")).json()] == [
        "data-science",
        "public-health",
    ]
    assert api.get(reverse("api-alerts")).json()["count"] == 2
    assert api.get(reverse("api-alerts"), {"state": "acknowledged"}).json()["count"] == 0
    bad = api.get(reverse("api-alerts"), {"state": "closed"})
    assert bad.status_code == 400
    assert "state" in bad.json()


def test_an_outsider_gets_404_for_another_teams_costs(world: World, api: APIClient) -> None:
    api.force_authenticate(world.outsider)
    response = api.get(reverse("api-team-costs", args=[world.team.slug]))
    assert response.status_code == 404
    assert response.json()["detail"]


def test_the_api_keeps_a_fixed_number_of_queries(
    world: World, api: APIClient, django_assert_num_queries: Any
) -> None:
    api.force_authenticate(world.finance)
    urls = [
        reverse("api-team-costs", args=[world.team.slug]),
        reverse("api-budgets"),
        reverse("api-alerts"),
    ]
    for team in ps.bulk_org(world.analyst, teams=2, workspaces_per_team=2, days=5, prefix="a"):
        TeamBudget.objects.create(team=team, monthly_usd=Decimal("10"))
        ps.alert(team, 50)
    counts = []
    for url in urls:
        with CaptureQueriesContext(connection) as captured:
            api.get(url)
        counts.append(len(captured))
    teams = ps.bulk_org(
        world.analyst, teams=20, workspaces_per_team=5, days=5, prefix="b", with_untagged=False
    )
    for team in teams:
        TeamBudget.objects.create(team=team, monthly_usd=Decimal("10"))
        ps.alert(team, 50)
    for url, expected in zip(urls, counts, strict=True):
        with django_assert_num_queries(expected):
            assert api.get(url).status_code == 200


def test_the_schema_documents_the_cost_endpoints(world: World, api: APIClient) -> None:
    from drf_spectacular.validation import validate_schema

    api.force_authenticate(world.analyst)
    response = api.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    validate_schema(schema)
    paths = schema["paths"]
    costs = paths["/api/v1/teams/{slug}/costs/"]["get"]
    assert {p["name"] for p in costs["parameters"]} >= {"start", "end", "granularity"}
    assert set(costs["responses"]) >= {"200", "400", "401", "404"}
    assert "/api/v1/budgets/" in paths
    assert {p["name"] for p in paths["/api/v1/alerts/"]["get"]["parameters"]} >= {"state"}


def test_an_unknown_alert_state_is_400_naming_the_filter(world: World, api: APIClient) -> None:
    api.force_authenticate(world.finance)
    response = api.get(reverse("api-alerts"), {"state": "AAA"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.json()["state"][0]
