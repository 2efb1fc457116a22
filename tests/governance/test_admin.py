"""The operator's admin for the catalog and governance: who may open it, and that its writes
go through the services (validated, audited)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from governance.models import AuditEvent, TeamSettings
from portal import aws
from tests.conftest import PERSONAS, World
from tests.support.sandbox import Sandbox
from workspaces.catalog import catalog_sync
from workspaces.models import Offering, ProductVersion

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "workspaces_product",
    "workspaces_productversion",
    "workspaces_catalogsyncrun",
    "workspaces_offering",
    "governance_teamsettings",
    "governance_auditevent",
]
ADD_FORMS = ["workspaces_offering", "governance_teamsettings"]
KEY = "arn:aws:kms:us-east-1:123456789012:key/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"


@pytest.fixture
def catalog(sandbox_clean: Sandbox, settings: Any) -> Iterator[None]:
    sandbox_clean.control.seed("demo")
    settings.AWS_ENDPOINT_URL = sandbox_clean.url
    settings.AWS_SANDBOX_CREDENTIALS = True
    aws.reset_clients()
    catalog_sync(actor=None)
    yield
    aws.reset_clients()


def cpu_v2() -> ProductVersion:
    return ProductVersion.objects.get(product__name="Standard CPU notebook", name="v2")


@pytest.mark.parametrize("page", CHANGELISTS)
def test_the_admin_opens_every_catalog_and_governance_list(
    world: World, client: Client, page: str
) -> None:
    client.force_login(world.admin)
    assert client.get(reverse(f"admin:{page}_changelist")).status_code == 200


@pytest.mark.parametrize("page", ADD_FORMS)
def test_the_admin_opens_every_add_form(
    catalog: None, world: World, client: Client, page: str
) -> None:
    client.force_login(world.admin)
    assert client.get(reverse(f"admin:{page}_add")).status_code == 200


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "admin"])
@pytest.mark.parametrize("page", CHANGELISTS)
def test_everyone_else_is_sent_to_the_admin_login(
    world: World, client: Client, persona: str, page: str
) -> None:
    client.force_login(world.persona(persona))
    response = client.get(reverse(f"admin:{page}_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_the_admin_role_see_no_catalog_pages(world: World, client: Client) -> None:
    world.analyst.is_staff = True
    world.analyst.save()
    client.force_login(world.analyst)
    assert client.get(reverse("admin:workspaces_offering_changelist")).status_code == 403


def test_products_are_read_only_and_offer_the_sync_button(
    catalog: None, world: World, client: Client
) -> None:
    client.force_login(world.admin)
    page = client.get(reverse("admin:workspaces_product_changelist")).content.decode()
    assert "Sync catalog now" in page
    assert reverse("admin:workspaces_product_sync") in page
    assert client.get(reverse("admin:workspaces_product_add")).status_code == 403
    product = cpu_v2().product
    change = client.post(
        reverse("admin:workspaces_product_change", args=[product.pk]), {"name": "Renamed"}
    )
    assert change.status_code == 403
    product.refresh_from_db()
    assert product.name == "Standard CPU notebook"


def publish_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "version": cpu_v2().pk,
        "title": "Everyday analysis",
        "summary": "Small CPU notebooks.",
        "teams": [],
        "allowed_instance_types": ["ml.t3.medium"],
        "default_volume_gb": 20,
        "max_volume_gb": 50,
        "max_lifetime_days": 90,
        "max_live_per_user": 2,
        "max_live_per_team": 20,
        "stop_outside_working_hours": "on",
    }
    form.update(changes)
    return form


def test_publishing_in_the_admin_goes_through_the_service(
    catalog: None, world: World, client: Client
) -> None:
    client.force_login(world.admin)

    response = client.post(
        reverse("admin:workspaces_offering_add"), publish_form(teams=[world.team.pk])
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    offering = Offering.objects.get()
    assert list(offering.teams.all()) == [world.team]
    assert offering.published_by == world.admin
    assert offering.constraint.approval_required is False
    event = AuditEvent.objects.get(action="offering.publish")
    assert event.actor == world.admin


def test_publishing_an_instance_type_the_product_does_not_allow_shows_the_field_error(
    catalog: None, world: World, client: Client
) -> None:
    client.force_login(world.admin)

    response = client.post(
        reverse("admin:workspaces_offering_add"),
        publish_form(allowed_instance_types=["ml.g4dn.xlarge"]),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "does not allow ml.g4dn.xlarge" in errors["allowed_instance_types"][0]
    assert not Offering.objects.exists()


def constraint_inline(offering: Offering, **changes: Any) -> dict[str, Any]:
    c = offering.constraint
    form: dict[str, Any] = {
        "constraint-TOTAL_FORMS": "1",
        "constraint-INITIAL_FORMS": "1",
        "constraint-MIN_NUM_FORMS": "0",
        "constraint-MAX_NUM_FORMS": "1",
        "constraint-0-id": c.pk,
        "constraint-0-offering": offering.pk,
        "constraint-0-allowed_instance_types": c.allowed_instance_types,
        "constraint-0-default_volume_gb": c.default_volume_gb,
        "constraint-0-max_volume_gb": c.max_volume_gb,
        "constraint-0-max_lifetime_days": c.max_lifetime_days,
        "constraint-0-max_live_per_user": c.max_live_per_user,
        "constraint-0-max_live_per_team": c.max_live_per_team,
        "constraint-0-stop_outside_working_hours": "on",
        "constraint-0-approval_required": "on",
    }
    form.update({f"constraint-0-{k}": v for k, v in changes.items()})
    return form


@pytest.fixture
def offering(catalog: None, world: World, client: Client) -> Offering:
    client.force_login(world.admin)
    client.post(reverse("admin:workspaces_offering_add"), publish_form(teams=[world.team.pk]))
    return Offering.objects.get()


def test_changing_a_constraint_in_the_admin_is_audited_with_before_and_after(
    world: World, client: Client, offering: Offering
) -> None:
    url = reverse("admin:workspaces_offering_change", args=[offering.pk])

    response = client.post(url, constraint_inline(offering, max_volume_gb=30))

    assert response.status_code == 302
    offering.constraint.refresh_from_db()
    assert offering.constraint.max_volume_gb == 30
    event = AuditEvent.objects.get(action="constraint.update")
    assert event.actor == world.admin
    assert event.before == {"approval_required": False, "max_volume_gb": 50}
    assert event.after == {"approval_required": True, "max_volume_gb": 30}


def test_an_invalid_constraint_in_the_admin_shows_the_field_error_and_writes_nothing(
    client: Client, offering: Offering
) -> None:
    url = reverse("admin:workspaces_offering_change", args=[offering.pk])

    response = client.post(url, constraint_inline(offering, default_volume_gb=60))

    assert response.status_code == 200
    [inline] = response.context["inline_admin_formsets"]
    assert "cannot exceed the largest" in str(inline.formset.errors)
    offering.constraint.refresh_from_db()
    assert offering.constraint.default_volume_gb == 20
    assert not AuditEvent.objects.filter(action="constraint.update").exists()


def settings_form(world: World, **changes: Any) -> dict[str, Any]:
    form = {
        "team": world.team.pk,
        "subnet_id": "subnet-0a1b2c3d4e5f60718",
        "security_group_ids": "sg-0a1b2c3d4e5f60719",
        "kms_key_id": KEY,
        "platform_identifier": "notebook-al2-v3",
        "lifecycle_config_name": "portal-idle-shutdown",
        "time_zone": "America/New_York",
        "working_hours_start": "07:00",
        "working_hours_end": "19:00",
    }
    form.update(changes)
    return form


def test_team_settings_set_in_the_admin_are_audited(world: World, client: Client) -> None:
    client.force_login(world.admin)

    response = client.post(reverse("admin:governance_teamsettings_add"), settings_form(world))
    assert response.status_code == 302
    saved = TeamSettings.objects.get(team=world.team)
    change = client.post(
        reverse("admin:governance_teamsettings_change", args=[saved.pk]),
        settings_form(world, time_zone="America/Chicago"),
    )

    assert change.status_code == 302
    events = AuditEvent.objects.filter(action="team_settings.set").order_by("id")
    assert [e.actor for e in events] == [world.admin, world.admin]
    assert events[1].before == {"time_zone": "America/New_York"}
    assert events[1].after == {"time_zone": "America/Chicago"}


def test_invalid_team_settings_in_the_admin_show_the_field_error(
    world: World, client: Client
) -> None:
    client.force_login(world.admin)

    response = client.post(
        reverse("admin:governance_teamsettings_add"), settings_form(world, subnet_id="vpc-1")
    )

    assert response.status_code == 200
    assert "subnet_id" in response.context["adminform"].form.errors
    assert not TeamSettings.objects.exists()
