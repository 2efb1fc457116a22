"""Compliance pages, evidence exports and the API: who sees what, that the exports hold the
page's rows, and that query counts do not grow with the number of workspaces."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.models import (
    AuditEvent,
)
from tests.conftest import PERSONAS, World
from tests.factories import TeamFactory
from tests.governance.support import bulk_history
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def count_queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        assert response.status_code == 200
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    return len(captured)


@pytest.mark.slow
def test_compliance_pages_keep_a_fixed_number_of_queries_at_2000_workspaces(
    world: World, client: Any
) -> None:
    slug = world.team.slug
    urls = [
        reverse("team_compliance", args=[slug]),
        reverse("team_compliance", args=[slug]) + "?scope=history&status=fail&page=2",
        reverse("team_compliance_csv", args=[slug]),
        reverse("team_compliance_json", args=[slug]) + "?scope=history",
        reverse("compliance_overview"),
        reverse("api-team-compliance", args=[slug]),
    ]
    bulk_history(world, world.team, 12)
    client.force_login(world.admin)
    few = [count_queries(client, url) for url in urls]

    bulk_history(world, world.team, 2000, days=2, prefix="big")
    assert Workspace.objects.filter(team=world.team).count() == 2012
    many = [count_queries(client, url) for url in urls]

    assert many == few
    assert max(many) <= 14


# --- what the pages show --------------------------------------------------------------------


def test_the_team_page_shows_score_controls_failing_notebooks_and_the_trend(
    world: World, client: Any
) -> None:
    bulk_history(world, world.team, 6)
    client.force_login(world.approver)
    html = client.get(reverse("team_compliance", args=[world.team.slug])).content.decode()
    assert "95.8 %" in html  # two of six notebooks fail one of eight controls: 46 of 48 pass
    assert 'data-testid="failing-resource"' in html
    assert "Root access disabled" in html
    assert 'id="compliance-trend"' in html
    assert html.count('<th scope="row">20') >= 3  # three days in the data table


def test_the_overview_lists_every_team_worst_first(world: World, client: Any) -> None:
    bulk_history(world, world.team, 3)  # one of three fails root access
    TeamFactory.create(name="Road Safety", slug="road-safety", cost_center="CC-3001")
    client.force_login(world.auditor)
    html = client.get(reverse("compliance_overview")).content.decode()
    order = [html.index(name) for name in ("Data Science", "Public Health", "Road Safety")]
    assert order == sorted(order)  # scored first, then the never-evaluated teams by name
    by_name = client.get(reverse("compliance_overview") + "?sort=team").content.decode()
    assert by_name.index("Data Science") < by_name.index("Public Health")


def page_row_ids(client: Any, url: str, query: str) -> list[int]:
    ids: list[int] = []
    page = 1
    while True:
        html = client.get(f"{url}?{query}&page={page}").content.decode()
        ids += [
            int(p.split('"')[0]) for p in html.split('data-testid="evidence-row" data-key="')[1:]
        ]
        if 'data-testid="page-next"' not in html:
            return ids
        page += 1


@pytest.mark.parametrize(
    "query",
    [
        "",
        "scope=current&status=fail",
        "scope=current&control=no_root",
        "scope=history",
        "scope=history&start=2000-01-01&end=2999-12-31&status=pass",
        f"scope=history&start={dt.date.today().isoformat()}",
        "scope=history&managed=no",
        "scope=history&start=2999-01-01",
    ],
)
def test_the_exports_hold_exactly_the_rows_the_page_shows(
    world: World, client: Any, query: str
) -> None:
    bulk_history(world, world.team, 4)
    client.force_login(world.auditor)
    slug = world.team.slug
    shown = page_row_ids(client, reverse("team_compliance", args=[slug]), query)

    csv_response = client.get(f"{reverse('team_compliance_csv', args=[slug])}?{query}")
    rows = list(csv.DictReader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == shown
    assert all(r["evaluated_at"] for r in rows)

    body = json.loads(client.get(f"{reverse('team_compliance_json', args=[slug])}?{query}").content)
    assert [r["id"] for r in body["results"]] == shown

    api = client.get(f"{reverse('api-team-compliance', args=[slug])}?{query}").json()
    assert api["count"] == len(shown)
    assert [r["id"] for r in api["results"]] == shown[:50]


def test_an_inverted_date_range_is_refused_by_the_api(world: World, client: Any) -> None:
    client.force_login(world.auditor)
    url = reverse("api-team-compliance", args=[world.team.slug])
    response = client.get(url + "?scope=history&start=2026-02-01&end=2026-01-01")
    assert response.status_code == 400
    assert "end" in response.json()


# --- permission matrix ----------------------------------------------------------------------

OWN, OTHER = "data-science", "public-health"
EVERYONE_READS_OWN = {
    "analyst": 200,
    "approver": 200,
    "admin": 200,
    "finance": 200,
    "auditor": 200,
    "outsider": 404,
}
EVERYONE_READS_OTHER = {
    "analyst": 404,
    "approver": 404,
    "admin": 200,
    "finance": 200,
    "auditor": 200,
    "outsider": 200,
}
ADMIN_AND_AUDITOR = {
    "analyst": 403,
    "approver": 403,
    "admin": 200,
    "finance": 403,
    "auditor": 200,
    "outsider": 403,
}
AUDIT_READERS = {
    "analyst": 403,
    "approver": 200,
    "admin": 200,
    "finance": 403,
    "auditor": 200,
    "outsider": 403,
}

# The API only reads: DRF refuses any write before looking at who asks.
READ_ONLY = dict.fromkeys(PERSONAS, 405)

MATRIX: list[tuple[str, str, dict[str, int]]] = [
    ("GET", f"/teams/{OWN}/compliance/", EVERYONE_READS_OWN),
    ("GET", f"/teams/{OTHER}/compliance/", EVERYONE_READS_OTHER),
    ("GET", f"/teams/{OWN}/compliance/evidence.csv", EVERYONE_READS_OWN),
    ("GET", f"/teams/{OTHER}/compliance/evidence.json", EVERYONE_READS_OTHER),
    ("GET", f"/api/v1/teams/{OWN}/compliance/", EVERYONE_READS_OWN),
    ("GET", f"/api/v1/teams/{OTHER}/compliance/", EVERYONE_READS_OTHER),
    ("GET", "/compliance/", ADMIN_AND_AUDITOR),
    ("GET", "/audit/", AUDIT_READERS),
    ("GET", "/audit/export.csv", AUDIT_READERS),
    ("GET", "/api/v1/audit-events/", AUDIT_READERS),
    (
        "POST",
        "/compliance/evaluate/",
        {
            "analyst": 403,
            "approver": 403,
            "admin": 302,
            "finance": 403,
            "auditor": 403,
            "outsider": 403,
        },
    ),
    (
        "POST",
        "/api/v1/audit-events/",
        READ_ONLY,
    ),
    (
        "POST",
        f"/api/v1/teams/{OWN}/compliance/",
        READ_ONLY,
    ),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("method", "url", "expected"), MATRIX, ids=[f"{m} {u}" for m, u, _ in MATRIX]
)
def test_permission_matrix(
    world: World, client: Any, persona: str, method: str, url: str, expected: dict[str, int]
) -> None:
    client.force_login(world.persona(persona))
    events = AuditEvent.objects.count()
    response = client.get(url) if method == "GET" else client.post(url)
    assert response.status_code == expected[persona]
    if method == "GET" or persona != "admin":
        assert AuditEvent.objects.count() == events  # reading and refusals change nothing


def test_signed_out_visitors_are_sent_to_sign_in_or_refused(client: Any, world: World) -> None:
    assert client.get("/compliance/").status_code == 302
    assert client.get("/audit/").status_code == 302
    assert client.get("/api/v1/audit-events/").status_code in {401, 403}
