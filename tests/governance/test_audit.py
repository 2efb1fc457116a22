"""The audit trail: the database refuses changes, every service writes exactly one event, and
the page, its CSV export and the API show the same filtered events to the right people."""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import io
from collections.abc import Callable
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import costs.services
import governance.compliance
import governance.services
import portal.services
import portal.tokens
import workspaces.services
from governance.models import AuditEvent
from governance.services import audit_record
from portal.models import Membership, Team
from tests.conftest import World
from tests.factories import TeamFactory, published_offering
from tests.governance.support import approved_workspace

pytestmark = pytest.mark.django_db


# --- the database refuses changes -----------------------------------------------------------


def an_event(world: World) -> AuditEvent:
    return audit_record(actor=world.admin, action="test.thing", target=world.team, team=world.team)


def test_updating_an_audit_row_fails_at_the_database(world: World) -> None:
    event = an_event(world)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE governance_auditevent SET action = %s WHERE id = %s", ["forged", event.pk]
        )
    event.refresh_from_db()
    assert event.action == "test.thing"


def test_deleting_an_audit_row_fails_at_the_database(world: World) -> None:
    event = an_event(world)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM governance_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_orm_cannot_change_audit_rows_either(world: World) -> None:
    an_event(world)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.update(reason="tidied up")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()


# --- every service writes exactly one event -------------------------------------------------

SERVICE_MODULES: list[ModuleType] = [
    portal.services,
    portal.tokens,
    workspaces.services,
    costs.services,
    governance.services,
    governance.compliance,
]


def state_changing_services() -> list[str]:
    """Public functions defined in a service module that take the acting user: by the house
    style, exactly the functions that change state."""
    found = []
    for module in SERVICE_MODULES:
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            actor = inspect.signature(fn).parameters.get("actor")
            if actor is not None and actor.kind is inspect.Parameter.KEYWORD_ONLY:
                found.append(f"{module.__name__}.{name}")
    return sorted(found)


Call = Callable[[], Any]


def _request(world: World, name: str = "audit-me", offering: Any = None) -> Any:
    offering = offering or published_offering(world.team)
    return workspaces.services.workspace_request(
        actor=world.analyst,
        offering=offering,
        team=world.team,
        project=world.project,
        name=name,
        instance_type="ml.t3.medium",
        volume_size_gb=20,
        end_date=dt.date.today() + dt.timedelta(days=30),
        justification="Needed for the audit test.",
    )


def _settings(w: World) -> Call:
    return lambda: governance.services.team_settings_set(
        actor=w.admin,
        team=w.other_team,
        subnet_id="subnet-0a1b2c3d4e5f60718",
        security_group_ids="sg-0a1b2c3d4e5f60719",
        kms_key_id="arn:aws:kms:us-east-1:123456789012:key/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
    )


def _token_revoke(w: World) -> Call:
    token, _ = portal.tokens.token_issue(actor=w.analyst, user=w.analyst, name="script")
    return lambda: portal.tokens.token_revoke(actor=w.analyst, token=token)


def _offering_publish(w: World) -> Call:
    version = published_offering(w.team).version
    return lambda: workspaces.services.offering_publish(
        actor=w.admin,
        version=version,
        title="Another",
        summary="Another offering.",
        teams=[w.team],
        allowed_instance_types=["ml.t3.medium"],
    )


def _workspace_request(w: World) -> Call:
    offering = published_offering(w.team)
    return lambda: _request(w, "fresh", offering)


def _approve(w: World) -> Call:
    workspace = _request(w)
    return lambda: workspaces.services.workspace_approve(actor=w.approver, workspace=workspace)


def _reject(w: World) -> Call:
    workspace = _request(w)
    return lambda: workspaces.services.workspace_reject(
        actor=w.approver, workspace=workspace, reason="Use the shared one."
    )


def _cancel(w: World) -> Call:
    workspace = _request(w)
    return lambda: workspaces.services.workspace_cancel(actor=w.analyst, workspace=workspace)


def _alert_acknowledge(w: World) -> Call:
    from django.utils import timezone

    from costs.models import BudgetAlert

    alert = BudgetAlert.objects.create(
        team=w.team,
        month=timezone.localdate().replace(day=1),
        kind=BudgetAlert.Kind.ACTUAL,
        threshold_percent=80,
        budget_usd=Decimal("100"),
        amount_usd=Decimal("81"),
        raised_at=timezone.now(),
    )
    return lambda: costs.services.budget_alert_acknowledge(actor=w.finance, alert=alert)


def _constraint_update(w: World) -> Call:
    constraint = published_offering(w.team).constraint
    return lambda: governance.services.constraint_update(
        actor=w.admin, constraint=constraint, max_live_per_team=5
    )


def _evaluate(w: World) -> Call:
    return lambda: governance.compliance.evaluate_compliance(actor=w.admin)


def _group_mapping_delete(w: World) -> Call:
    mapping = portal.services.group_mapping_create(
        actor=w.admin, group="portal-auditors", grant="auditor"
    )
    return lambda: portal.services.group_mapping_delete(actor=w.admin, mapping=mapping)


# Each case sets up what the service needs (through services), then returns the call itself.
# A change that takes several steps (an auto-approved request: request, then approval by the
# system) writes one event per step; these cases take the one-step path.
CASES: dict[str, Callable[[World], Call]] = {
    "portal.services.team_create": lambda w: (
        lambda: portal.services.team_create(
            actor=w.admin, name="Road Safety", cost_center="CC-3001"
        )
    ),
    "portal.services.team_update": lambda w: (
        lambda: portal.services.team_update(
            actor=w.admin,
            team=w.team,
            name="Data Science Unit",
            cost_center="CC-1040",
            description="",
        )
    ),
    "portal.services.project_create": lambda w: (
        lambda: portal.services.project_create(actor=w.admin, team=w.team, name="Fraud signals")
    ),
    "portal.services.membership_set": lambda w: (
        lambda: portal.services.membership_set(
            actor=w.admin, user=w.finance, team=w.team, role="analyst"
        )
    ),
    "portal.services.membership_remove": lambda w: (
        lambda: portal.services.membership_remove(
            actor=w.admin, membership=Membership.objects.get(user=w.outsider)
        )
    ),
    "portal.services.user_provision": lambda w: (
        lambda: portal.services.user_provision(actor=None, username="sso.person")
    ),
    "portal.services.user_global_roles_set": lambda w: (
        lambda: portal.services.user_global_roles_set(actor=None, user=w.analyst, roles={"auditor"})
    ),
    "portal.services.group_mapping_create": lambda w: (
        lambda: portal.services.group_mapping_create(
            actor=w.admin, group="ds-analysts", grant="analyst", team=w.team
        )
    ),
    "portal.services.group_mapping_delete": _group_mapping_delete,
    "portal.tokens.token_issue": lambda w: (
        lambda: portal.tokens.token_issue(actor=w.analyst, user=w.analyst, name="script")
    ),
    "portal.tokens.token_revoke": _token_revoke,
    "workspaces.services.offering_publish": _offering_publish,
    "workspaces.services.workspace_request": _workspace_request,
    "workspaces.services.workspace_approve": _approve,
    "workspaces.services.workspace_reject": _reject,
    "workspaces.services.workspace_cancel": _cancel,
    "costs.services.instance_price_set": lambda w: (
        lambda: costs.services.instance_price_set(
            actor=w.admin,
            region="us-east-1",
            instance_type="ml.t3.medium",
            hourly_usd=Decimal("0.06"),
        )
    ),
    "costs.services.storage_price_set": lambda w: (
        lambda: costs.services.storage_price_set(
            actor=w.admin, region="us-east-1", gb_month_usd=Decimal("0.15")
        )
    ),
    "costs.services.team_budget_set": lambda w: (
        lambda: costs.services.team_budget_set(
            actor=w.finance, team=w.team, monthly_usd=Decimal("900")
        )
    ),
    "costs.services.budget_alert_acknowledge": _alert_acknowledge,
    "governance.services.constraint_update": _constraint_update,
    "governance.services.team_settings_set": _settings,
    "governance.compliance.evaluate_compliance": _evaluate,
    "governance.services.audit_record": lambda w: (
        lambda: audit_record(actor=w.admin, action="test.note", target=w.team)
    ),
}
NEEDS_AWS = {"governance.compliance.evaluate_compliance"}


def test_the_service_list_is_found_in_the_code() -> None:
    # Guards the discovery itself: if it found nothing, the test below would pass vacuously.
    assert {"portal.services.team_create", "workspaces.services.workspace_approve"} <= set(
        state_changing_services()
    )


@pytest.mark.parametrize("service", state_changing_services())
def test_every_state_changing_service_writes_exactly_one_audit_event(
    service: str, world: World, request: pytest.FixtureRequest
) -> None:
    if service not in CASES:
        pytest.fail(f"{service} changes state but has no case here; add one to CASES.")
    if service in NEEDS_AWS:
        request.getfixturevalue("portal_aws")
    call = CASES[service](world)
    before = AuditEvent.objects.count()
    call()
    assert AuditEvent.objects.count() == before + 1


# --- the page, the export and the API -------------------------------------------------------


@pytest.fixture
def events(world: World) -> World:
    """A small history in both teams, made through the services."""
    approved_workspace(world, "claims-eda")
    TeamFactory.create(name="Road Safety", slug="road-safety", cost_center="CC-3001")
    published_offering(world.other_team, title="GPU notebook")
    return world


def page_ids(client: Any, query: str = "") -> list[int]:
    """Every event id the audit page lists for the query, across all its pages."""
    ids: list[int] = []
    page = 1
    while True:
        response = client.get(f"{reverse('audit_list')}?{query}&page={page}")
        assert response.status_code == 200
        html = response.content.decode()
        ids += [int(part.split('"')[0]) for part in html.split('data-key="')[1:]]
        if 'data-testid="page-next"' not in html:
            return ids
        page += 1


def export_ids(client: Any, query: str = "") -> list[int]:
    response = client.get(f"{reverse('audit_export')}?{query}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    return [int(row["id"]) for row in csv.DictReader(io.StringIO(body))]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "actor=approver",
        "actor=system",
        "team=data-science",
        "action=workspace.approve",
        "target=workspaces.workspace",
        "target=claims",
        "start=2000-01-01&end=2999-12-31",
        "start=2999-01-01",
    ],
)
def test_the_csv_export_holds_exactly_the_events_the_page_lists(
    events: World, client: Any, query: str
) -> None:
    client.force_login(events.auditor)
    shown = page_ids(client, query)
    assert export_ids(client, query) == shown
    api = client.get(f"{reverse('api-audit-events')}?{query}").json()
    assert api["count"] == len(shown)
    assert [e["id"] for e in api["results"]] == shown[:50]


def test_filters_narrow_the_events(events: World, client: Any) -> None:
    client.force_login(events.auditor)
    approvals = AuditEvent.objects.filter(action="workspace.approve")
    assert page_ids(client, "action=workspace.approve") == list(
        approvals.values_list("id", flat=True)
    )
    by_approver = page_ids(client, "actor=approver")
    assert by_approver
    assert set(
        AuditEvent.objects.filter(pk__in=by_approver).values_list("actor__username", flat=True)
    ) == {"approver"}
    assert page_ids(client, "start=2999-01-01") == []


def test_an_approver_sees_only_their_teams_events(events: World, client: Any) -> None:
    client.force_login(events.approver)
    shown = AuditEvent.objects.filter(pk__in=page_ids(client))
    assert shown.exists()
    assert set(shown.values_list("team__slug", flat=True)) == {"data-science"}
    assert page_ids(client, "team=public-health") == []
    api = client.get(reverse("api-audit-events")).json()
    assert {e["team"] for e in api["results"]} == {"data-science"}


def test_auditors_and_admins_see_every_team(events: World, client: Any) -> None:
    for persona in (events.auditor, events.admin):
        client.force_login(persona)
        teams = set(
            AuditEvent.objects.filter(pk__in=page_ids(client)).values_list("team__slug", flat=True)
        )
        assert {"data-science", "public-health", "road-safety", None} <= teams


def test_the_audit_page_runs_the_same_number_of_queries_however_many_events(
    world: World, client: Any
) -> None:
    client.force_login(world.auditor)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("audit_list")).status_code == 200
        return len(captured)

    few = queries()
    for i in range(120):
        team = TeamFactory.create(name=f"Team {i}", slug=f"t-{i}", cost_center=f"CC-{i}")
        assert isinstance(team, Team)
    assert queries() == few
