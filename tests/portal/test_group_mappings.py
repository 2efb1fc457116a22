"""The Sign-in groups page: only admins see or change the mapping from identity-provider groups
to roles; bad input gets a message naming the problem and writes nothing; every change is
audited; the list costs the same number of queries however long it is."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.models import AuditEvent
from portal import services
from portal.models import GroupGrant, GroupMapping
from tests.conftest import PERSONAS, World
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

PAGE = "/sign-in-groups/"


def a_mapping(world: World) -> GroupMapping:
    return services.group_mapping_create(
        actor=world.admin, group="ds-analysts", grant=GroupGrant.ANALYST, team=world.team
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_admins_may_see_or_change_the_mappings(
    world: World, client: Client, persona: str
) -> None:
    mapping = a_mapping(world)
    client.force_login(world.persona(persona))
    allowed = persona == "admin"
    assert client.get(PAGE).status_code == (200 if allowed else 403)
    response = client.post(PAGE, {"group": "x", "grant": "auditor", "team": ""})
    assert response.status_code == (302 if allowed else 403)
    delete = reverse("sso_group_mapping_delete", args=[mapping.pk])
    assert client.post(delete).status_code == (302 if allowed else 403)
    assert GroupMapping.objects.filter(pk=mapping.pk).exists() is not allowed
    assert GroupMapping.objects.filter(group="x").exists() is allowed


def test_visitors_who_are_not_signed_in_are_sent_to_sign_in(world: World, client: Client) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_services_refuse_people_who_are_not_admins(world: World) -> None:
    with pytest.raises(PermissionDenied):
        services.group_mapping_create(actor=world.approver, group="g", grant="auditor")
    mapping = a_mapping(world)
    with pytest.raises(PermissionDenied):
        services.group_mapping_delete(actor=world.auditor, mapping=mapping)


def test_an_admin_adds_and_deletes_mappings_and_each_is_audited(
    world: World, client: Client
) -> None:
    client.force_login(world.admin)
    response = client.post(
        PAGE, {"group": "  ph-approvers ", "grant": "approver", "team": world.other_team.slug}
    )
    assert response.status_code == 302
    mapping = GroupMapping.objects.get()
    assert (mapping.group, mapping.grant, mapping.team) == (
        "ph-approvers",
        GroupGrant.APPROVER,
        world.other_team,
    )
    page = client.get(PAGE).content.decode()
    assert "Added: ph-approvers → approver in Public Health" in page
    assert f'data-key="{mapping.pk}"' in page

    created = AuditEvent.objects.get(action="group_mapping.create")
    assert created.actor == world.admin
    assert created.team == world.other_team
    assert created.after == {"group": "ph-approvers", "grant": "approver", "team": "public-health"}

    response = client.post(reverse("sso_group_mapping_delete", args=[mapping.pk]))
    assert response.status_code == 302
    assert not GroupMapping.objects.exists()
    deleted = AuditEvent.objects.get(action="group_mapping.delete")
    assert deleted.actor == world.admin
    assert deleted.before["group"] == "ph-approvers"


BAD_INPUT = [
    ({"group": "", "grant": "analyst", "team": "data-science"}, "Enter the group"),
    ({"group": "   ", "grant": "analyst", "team": "data-science"}, "Enter the group"),
    ({"group": "g" * 256, "grant": "auditor", "team": ""}, "at most 255 characters"),
    ({"group": "ds", "grant": "analyst", "team": ""}, "Choose the team in which"),
    ({"group": "ds", "grant": "admin", "team": "data-science"}, "leave the team empty"),
    ({"group": "ds", "grant": "superuser", "team": ""}, "Select a valid choice"),
    ({"group": "ds", "grant": "analyst", "team": "no-such-team"}, "Select a valid choice"),
    (
        {"group": "ds-analysts", "grant": "approver", "team": "data-science"},
        "is already mapped: ds-analysts → analyst in Data Science",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_INPUT, ids=lambda v: str(v)[:40])
def test_bad_input_gets_a_message_naming_the_problem_and_writes_nothing(
    world: World, client: Client, data: dict[str, str], message: str
) -> None:
    a_mapping(world)
    events = AuditEvent.objects.count()
    client.force_login(world.admin)
    response = client.post(PAGE, data)
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'")
    assert message in html
    assert 'class="usa-error-message"' in html
    assert GroupMapping.objects.count() == 1
    assert AuditEvent.objects.count() == events


def test_one_group_may_give_roles_in_several_teams_and_a_global_role(world: World) -> None:
    for grant, team in [
        (GroupGrant.ANALYST, world.team),
        (GroupGrant.APPROVER, world.other_team),
        (GroupGrant.FINANCE, None),
    ]:
        services.group_mapping_create(actor=world.admin, group="leads", grant=grant, team=team)
    assert GroupMapping.objects.filter(group="leads").count() == 3


def test_the_database_refuses_what_the_service_refuses(world: World) -> None:
    a_mapping(world)
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMapping.objects.create(group="ds-analysts", grant="approver", team=world.team)
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMapping.objects.create(group="x", grant="analyst", team=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMapping.objects.create(group="x", grant="auditor", team=world.team)
    GroupMapping.objects.create(group="x", grant="auditor")
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMapping.objects.create(group="x", grant="auditor")


def test_deleting_needs_a_post_and_a_real_mapping(world: World, client: Client) -> None:
    mapping = a_mapping(world)
    client.force_login(world.admin)
    assert client.get(reverse("sso_group_mapping_delete", args=[mapping.pk])).status_code == 405
    assert client.post(reverse("sso_group_mapping_delete", args=[mapping.pk + 99])).status_code == (
        404
    )
    assert GroupMapping.objects.filter(pk=mapping.pk).exists()


def test_the_list_costs_the_same_queries_however_many_mappings(
    world: World, client: Client
) -> None:
    client.force_login(world.admin)
    client.get(PAGE)  # warm the session

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PAGE).status_code == 200
        return len(captured)

    a_mapping(world)
    few = queries()
    for n in range(12):
        team = TeamFactory.create()
        services.group_mapping_create(
            actor=world.admin, group=f"group-{n}", grant=GroupGrant.APPROVER, team=team
        )
        services.group_mapping_create(actor=None, group=f"group-{n}", grant=GroupGrant.AUDITOR)
    assert queries() == few


def test_the_service_names_every_problem_at_once(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        services.group_mapping_create(actor=world.admin, group="", grant="analyst")
    assert set(caught.value.message_dict) == {"group", "team"}
