"""The navigation and the header's counts every page shows, read in one statement: each
persona's links follow their roles, the unread count is their own, and the budget alert
banner counts what finance and the team's members should see. Run on PostgreSQL and, by
``bin/test``'s second pass, on SQLite (the demo's database): the statement is SQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.context_processors import navigation
from portal.models import Notification, User
from tests.conftest import PERSONAS, World
from tests.costs import support as ps

LINKS = {
    "analyst": ["Home", "Catalog", "My workspaces", "My teams", "API"],
    "approver": ["Home", "Catalog", "My workspaces", "Approvals", "My teams", "Audit", "API"],
    "admin": [
        "Home",
        "Approvals",
        "Teams",
        "Costs",
        "Compliance",
        "Audit",
        "Administration",
        "Sign-in groups",
        "API",
    ],
    "finance": ["Home", "Teams", "Costs", "API"],
    "auditor": ["Home", "Teams", "Costs", "Compliance", "Audit", "API"],
    "outsider": ["Home", "Catalog", "My workspaces", "My teams", "API"],
}


def _header(user: User, path: str = "/") -> dict[str, object]:
    request = RequestFactory().get(path)
    request.user = user
    with CaptureQueriesContext(connection) as queries:
        context = navigation(request)
    assert len(queries) == 1, [q["sql"] for q in queries.captured_queries]
    return context


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_sees_the_links_their_roles_allow_in_one_query(
    world: World, persona: str
) -> None:
    context = _header(world.persona(persona), "/costs/teams/data-science/")
    items = context["nav_items"]
    assert isinstance(items, list)
    assert [i.label for i in items] == LINKS[persona]
    active = [i.label for i in items if i.active]
    assert active == (["Costs"] if "Costs" in LINKS[persona] else ["Home"])


def test_a_person_in_two_teams_with_two_roles_has_both_roles_links(world: World) -> None:
    from portal.models import Role
    from tests.factories import member

    member(world.analyst, world.other_team, Role.APPROVER)
    labels = [i.label for i in _header(world.analyst)["nav_items"]]  # type: ignore[attr-defined]
    assert "Approvals" in labels
    assert "Audit" in labels


def test_the_unread_count_is_the_persons_own_unread_notifications(world: World) -> None:
    for n in range(3):
        Notification.objects.create(user=world.analyst, subject=f"Unread {n}")
    Notification.objects.create(user=world.analyst, subject="Read", read_at=timezone.now())
    Notification.objects.create(user=world.approver, subject="Someone else's")
    assert _header(world.analyst)["unread_notifications"] == 3
    assert _header(world.approver)["unread_notifications"] == 1
    assert _header(world.finance)["unread_notifications"] == 0


def test_the_alert_banner_counts_open_alerts_for_finance_and_the_teams_members(
    world: World,
) -> None:
    ps.alert(world.team, 80)
    ps.alert(world.team, 100)
    ps.alert(world.other_team, 50)
    acknowledged = ps.alert(world.other_team, 80)
    acknowledged.acknowledged_at = timezone.now()
    acknowledged.acknowledged_by = world.finance
    acknowledged.save()
    expected = {
        "finance": 3,  # every team's open alerts
        "admin": 3,
        "auditor": 0,  # never acknowledges, so is not nagged
        "analyst": 2,  # their team's
        "approver": 2,
        "outsider": 1,
    }
    for persona, count in expected.items():
        assert _header(world.persona(persona))["open_budget_alerts"] == count, persona


def test_nobody_signed_in_gets_no_links_and_no_query(db: None) -> None:
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/accounts/login/")
    request.user = AnonymousUser()
    with CaptureQueriesContext(connection) as queries:
        context = navigation(request)
    assert len(queries) == 0
    assert context["nav_items"] == []
    assert context["unread_notifications"] == 0
    assert context["open_budget_alerts"] == 0
