"""Constraint and team-settings changes: validated, audited with before and after, admins only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from governance.models import AuditEvent, OfferingConstraint, TeamSettings
from governance.services import constraint_update, team_settings_set
from portal import aws
from tests.conftest import World
from tests.support.sandbox import Sandbox
from workspaces.catalog import catalog_sync
from workspaces.models import ProductVersion
from workspaces.services import offering_publish

pytestmark = pytest.mark.django_db

SUBNET = "subnet-0a1b2c3d4e5f60718"
GROUP = "sg-0a1b2c3d4e5f60719"
KEY = "arn:aws:kms:us-east-1:123456789012:key/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"


@pytest.fixture
def catalog(sandbox_clean: Sandbox, settings: Any) -> Iterator[None]:
    """The demo catalog synced from the sandbox, the way the portal gets it."""
    sandbox_clean.control.seed("demo")
    settings.AWS_ENDPOINT_URL = sandbox_clean.url
    settings.AWS_SANDBOX_CREDENTIALS = True
    aws.reset_clients()
    catalog_sync(actor=None)
    yield
    aws.reset_clients()


@pytest.fixture
def constraint(catalog: None, world: World) -> OfferingConstraint:
    version = ProductVersion.objects.get(product__name="Standard CPU notebook", name="v2")
    offering = offering_publish(
        actor=world.admin,
        version=version,
        title="Everyday analysis",
        summary="Small CPU notebooks.",
        teams=[world.team],
        allowed_instance_types=["ml.t3.medium", "ml.t3.large"],
        default_volume_gb=20,
        max_volume_gb=40,
    )
    return offering.constraint


def audit_of(target: Any, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_id=str(target.pk)).order_by("id"))


# --- constraints ----------------------------------------------------------------------------


def test_a_constraint_change_is_audited_with_before_and_after(
    world: World, constraint: OfferingConstraint
) -> None:
    constraint_update(
        actor=world.admin,
        constraint=constraint,
        allowed_instance_types=["ml.t3.medium"],
        max_volume_gb=50,
        approval_required=False,
    )

    constraint.refresh_from_db()
    assert constraint.allowed_instance_types == ["ml.t3.medium"]
    assert constraint.max_volume_gb == 50
    [event] = audit_of(constraint, "constraint.update")
    assert event.actor == world.admin
    assert event.before == {
        "allowed_instance_types": ["ml.t3.medium", "ml.t3.large"],
        "approval_required": True,
        "max_volume_gb": 40,
    }
    assert event.after == {
        "allowed_instance_types": ["ml.t3.medium"],
        "approval_required": False,
        "max_volume_gb": 50,
    }


def test_a_constraint_change_that_changes_nothing_writes_no_audit_event(
    world: World, constraint: OfferingConstraint
) -> None:
    constraint_update(actor=world.admin, constraint=constraint, max_volume_gb=40)

    assert audit_of(constraint, "constraint.update") == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"allowed_instance_types": ["ml.g4dn.xlarge"]}, "allowed_instance_types",
         "does not allow ml.g4dn.xlarge"),
        ({"allowed_instance_types": []}, "allowed_instance_types", "at least one"),
        ({"default_volume_gb": 45}, "default_volume_gb", "cannot exceed the largest"),
        ({"max_volume_gb": 60, "default_volume_gb": 20}, "max_volume_gb", "at most 50 GB"),
        ({"default_volume_gb": 2}, "default_volume_gb", "smallest volume is 5 GB"),
        ({"max_lifetime_days": 0}, "max_lifetime_days", "at least 1"),
        ({"max_live_per_user": 30}, "max_live_per_user", "more live workspaces than"),
    ],
)  # fmt: skip
def test_an_invalid_constraint_change_is_refused_on_its_field_and_nothing_is_written(
    world: World, constraint: OfferingConstraint, fields: dict[str, Any], field: str, message: str
) -> None:
    before = dict(OfferingConstraint.objects.filter(pk=constraint.pk).values().get())

    with pytest.raises(ValidationError) as refused:
        constraint_update(actor=world.admin, constraint=constraint, **fields)

    assert message in " ".join(refused.value.message_dict[field])
    assert dict(OfferingConstraint.objects.filter(pk=constraint.pk).values().get()) == before
    assert audit_of(constraint, "constraint.update") == []


@pytest.mark.parametrize("persona", ["analyst", "approver", "finance", "auditor", "outsider"])
def test_only_admins_change_constraints(
    world: World, constraint: OfferingConstraint, persona: str
) -> None:
    with pytest.raises(PermissionDenied):
        constraint_update(actor=world.persona(persona), constraint=constraint, max_volume_gb=30)

    constraint.refresh_from_db()
    assert constraint.max_volume_gb == 40


def test_an_unknown_constraint_field_is_a_programming_error(
    world: World, constraint: OfferingConstraint
) -> None:
    with pytest.raises(TypeError, match="subnet_id"):
        constraint_update(actor=world.admin, constraint=constraint, subnet_id="subnet-1")


# --- team settings --------------------------------------------------------------------------


def settings_for(world: World, **changes: Any) -> TeamSettings:
    values: dict[str, Any] = {
        "subnet_id": SUBNET,
        "security_group_ids": GROUP,
        "kms_key_id": KEY,
        "lifecycle_config_name": "portal-idle-shutdown",
    }
    values.update(changes)
    return team_settings_set(actor=world.admin, team=world.team, **values)


def test_first_team_settings_are_audited_with_what_was_set(world: World) -> None:
    saved = settings_for(world)

    assert saved.security_groups == [GROUP]
    [event] = audit_of(saved, "team_settings.set")
    assert event.team == world.team
    assert event.before == {}
    assert event.after["subnet_id"] == SUBNET
    assert event.after["working_hours_start"] == "07:00:00"


def test_changing_team_settings_is_audited_with_before_and_after(world: World) -> None:
    settings_for(world)

    saved = settings_for(
        world,
        security_group_ids=f" {GROUP} , sg-0123456789abcdef0",
        working_hours_end="18:00",
    )

    assert saved.security_group_ids == f"{GROUP},sg-0123456789abcdef0"
    event = audit_of(saved, "team_settings.set")[-1]
    assert event.before == {"security_group_ids": GROUP, "working_hours_end": "19:00:00"}
    assert event.after == {
        "security_group_ids": f"{GROUP},sg-0123456789abcdef0",
        "working_hours_end": "18:00:00",
    }


def test_setting_the_same_team_settings_again_writes_no_audit_event(world: World) -> None:
    saved = settings_for(world)
    settings_for(world)

    assert len(audit_of(saved, "team_settings.set")) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"subnet_id": "vpc-0a1b2c3d"}, "subnet_id"),
        ({"security_group_ids": "default"}, "security_group_ids"),
        ({"security_group_ids": ""}, "security_group_ids"),
        ({"kms_key_id": "my-key"}, "kms_key_id"),
        ({"platform_identifier": "al2"}, "platform_identifier"),
        ({"lifecycle_config_name": "idle shutdown"}, "lifecycle_config_name"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"working_hours_start": "19:00", "working_hours_end": "07:00"}, "working_hours_end"),
    ],
)
def test_invalid_team_settings_are_refused_on_their_field_and_nothing_is_written(
    world: World, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings_for(world, **changes)

    assert field in refused.value.message_dict
    assert not TeamSettings.objects.exists()
    assert not AuditEvent.objects.filter(action="team_settings.set").exists()


@pytest.mark.parametrize("persona", ["analyst", "approver", "finance", "auditor", "outsider"])
def test_only_admins_set_team_settings(world: World, persona: str) -> None:
    with pytest.raises(PermissionDenied):
        team_settings_set(
            actor=world.persona(persona),
            team=world.team,
            subnet_id=SUBNET,
            security_group_ids=GROUP,
            kms_key_id=KEY,
        )
    assert not TeamSettings.objects.exists()
