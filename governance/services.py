"""Writes for governance. ``audit_record`` is called by every service that changes state."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction

from governance.models import AuditEvent, OfferingConstraint, TeamSettings
from portal.models import Team, User
from portal.request_context import current_request_meta
from workspaces.models import ProductVersion


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model,
    team: Team | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit event. Call inside the transaction that makes the change."""
    meta = current_request_meta()
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:255],
        team=team,
        before=before or {},
        after=after or {},
        reason=reason,
        request_id=meta.request_id,
        client_ip=meta.client_ip,
    )


# --- constraints ----------------------------------------------------------------------------

CONSTRAINT_FIELDS = (
    "allowed_instance_types",
    "default_volume_gb",
    "max_volume_gb",
    "max_lifetime_days",
    "max_live_per_user",
    "max_live_per_team",
    "stop_outside_working_hours",
    "approval_required",
)
_AT_LEAST_ONE = ("max_volume_gb", "max_lifetime_days", "max_live_per_user", "max_live_per_team")


def _require_admin(actor: User | None, what: str) -> None:
    # actor None is the system (a seed, a migration), which acts with the admin's authority.
    if actor is not None and not actor.is_portal_admin:
        raise PermissionDenied(f"Only admins change {what}.")


def _raise_problems(problems: dict[str, list[str]]) -> None:
    if problems:
        raise ValidationError(problems)


def _volume_limits(version: ProductVersion) -> tuple[int | None, int | None]:
    """The template's smallest and largest volume, as the catalog sync read them."""
    for parameter in version.parameters:
        if parameter.get("key") == "VolumeSizeInGB":
            low, high = parameter.get("min_value"), parameter.get("max_value")
            return (int(low) if low else None, int(high) if high else None)
    return None, None


def constraint_problems(*, version: ProductVersion, values: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with these constraint values for this product version, by field.

    Shared by the services and the admin's forms so a person sees the same rule as an error
    on the field that the service would refuse.
    """
    problems: dict[str, list[str]] = {}
    allowed = list(values.get("allowed_instance_types") or [])
    outside = sorted(set(allowed) - set(version.allowed_instance_types))
    if not allowed:
        problems["allowed_instance_types"] = ["Allow at least one instance type."]
    elif outside:
        problems["allowed_instance_types"] = [
            f"The product does not allow {', '.join(outside)}; choose from "
            f"{', '.join(version.allowed_instance_types)}."
        ]
    for name in _AT_LEAST_ONE:
        if name in values and values[name] < 1:
            problems[name] = ["Must be at least 1."]
    default, largest = values.get("default_volume_gb"), values.get("max_volume_gb")
    low, high = _volume_limits(version)
    if default is not None and largest is not None and default > largest:
        problems.setdefault("default_volume_gb", []).append(
            "The default volume cannot exceed the largest."
        )
    if low is not None and default is not None and default < low:
        problems.setdefault("default_volume_gb", []).append(
            f"The product's smallest volume is {low} GB."
        )
    if high is not None and largest is not None and largest > high:
        problems.setdefault("max_volume_gb", []).append(f"The product allows at most {high} GB.")
    per_user, per_team = values.get("max_live_per_user"), values.get("max_live_per_team")
    if per_user is not None and per_team is not None and per_user > per_team:
        problems.setdefault("max_live_per_user", []).append(
            "A person cannot have more live workspaces than the whole team."
        )
    return problems


def _constraint_snapshot(constraint: OfferingConstraint) -> dict[str, Any]:
    return {name: getattr(constraint, name) for name in CONSTRAINT_FIELDS}


@transaction.atomic
def constraint_update(
    *, actor: User | None, constraint: OfferingConstraint, **fields: Any
) -> OfferingConstraint:
    """Change an offering's limits. The audit event holds each changed field before and after.

    Requests already made keep what they were granted; the new limits apply to new requests and
    to approvals from now on (approval validates again).
    """
    _require_admin(actor, "constraints")
    unknown = sorted(set(fields) - set(CONSTRAINT_FIELDS))
    if unknown:
        raise TypeError(f"Not constraint fields: {', '.join(unknown)}")
    # Lock the row so two admins editing at once do not each audit a stale "before".
    current = OfferingConstraint.objects.select_for_update().get(pk=constraint.pk)
    before = _constraint_snapshot(current)
    after = {**before, **fields}
    if "allowed_instance_types" in fields:
        after["allowed_instance_types"] = list(fields["allowed_instance_types"])
    version = ProductVersion.objects.get(offerings__constraint=current)
    _raise_problems(constraint_problems(version=version, values=after))
    changed = {name for name in CONSTRAINT_FIELDS if before[name] != after[name]}
    if not changed:
        return current
    for name in changed:
        setattr(current, name, after[name])
    current.save()
    audit_record(
        actor=actor,
        action="constraint.update",
        target=current,
        before={name: before[name] for name in sorted(changed)},
        after={name: after[name] for name in sorted(changed)},
    )
    constraint.refresh_from_db()
    return current


# --- team settings --------------------------------------------------------------------------

_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_KMS_KEY = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[0-9a-f-]{36}|alias/[\w/-]+)"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_LIFECYCLE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
TEAM_SETTINGS_FIELDS = (
    "subnet_id",
    "security_group_ids",
    "kms_key_id",
    "platform_identifier",
    "lifecycle_config_name",
    "time_zone",
    "working_hours_start",
    "working_hours_end",
)


def _as_time(value: dt.time | str) -> dt.time:
    return value if isinstance(value, dt.time) else dt.time.fromisoformat(value)


def team_settings_problems(values: dict[str, Any]) -> dict[str, list[str]]:
    """What AWS would refuse at launch, caught when the admin types it."""
    problems: dict[str, list[str]] = {}
    if not _SUBNET.match(values["subnet_id"]):
        problems["subnet_id"] = ["A subnet id looks like subnet-0abc1234."]
    groups = [g for g in values["security_group_ids"].split(",") if g]
    if not groups:
        problems["security_group_ids"] = ["Give at least one security group."]
    elif bad := [g for g in groups if not _SECURITY_GROUP.match(g)]:
        problems["security_group_ids"] = [f"Not a security group id: {', '.join(bad)}."]
    elif len(groups) > 5:
        problems["security_group_ids"] = ["A notebook takes at most 5 security groups."]
    if not _KMS_KEY.match(values["kms_key_id"]):
        problems["kms_key_id"] = ["Give a KMS key id, key ARN or alias ARN."]
    if not values["platform_identifier"].startswith("notebook-"):
        problems["platform_identifier"] = ["A notebook platform looks like notebook-al2-v3."]
    lifecycle = values["lifecycle_config_name"]
    if lifecycle and not _LIFECYCLE.match(lifecycle):
        problems["lifecycle_config_name"] = ["Letters, digits and hyphens, at most 63."]
    try:
        zoneinfo.ZoneInfo(values["time_zone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems["time_zone"] = [f"Unknown time zone {values['time_zone']!r}."]
    if values["working_hours_start"] >= values["working_hours_end"]:
        problems["working_hours_end"] = ["Working hours must end after they start."]
    return problems


def _settings_snapshot(settings: TeamSettings) -> dict[str, Any]:
    return {
        name: str(getattr(settings, name))
        if name.startswith("working_hours")
        else getattr(settings, name)
        for name in TEAM_SETTINGS_FIELDS
    }


@transaction.atomic
def team_settings_set(
    *,
    actor: User | None,
    team: Team,
    subnet_id: str,
    security_group_ids: str | list[str],
    kms_key_id: str,
    platform_identifier: str = "notebook-al2-v3",
    lifecycle_config_name: str = "",
    time_zone: str = "America/New_York",
    working_hours_start: dt.time | str = dt.time(7, 0),
    working_hours_end: dt.time | str = dt.time(19, 0),
) -> TeamSettings:
    """Set where and how a team's workspaces run. Applies to workspaces launched from now on."""
    _require_admin(actor, "team settings")
    if isinstance(security_group_ids, str):
        security_group_ids = security_group_ids.split(",")
    values: dict[str, Any] = {
        "subnet_id": subnet_id.strip(),
        "security_group_ids": ",".join(g.strip() for g in security_group_ids if g.strip()),
        "kms_key_id": kms_key_id.strip(),
        "platform_identifier": platform_identifier.strip(),
        "lifecycle_config_name": lifecycle_config_name.strip(),
        "time_zone": time_zone.strip(),
        "working_hours_start": _as_time(working_hours_start),
        "working_hours_end": _as_time(working_hours_end),
    }
    _raise_problems(team_settings_problems(values))
    existing = TeamSettings.objects.select_for_update().filter(team=team).first()
    before = _settings_snapshot(existing) if existing else {}
    settings, _ = TeamSettings.objects.update_or_create(team=team, defaults=values)
    after = _settings_snapshot(settings)
    changed = [name for name in TEAM_SETTINGS_FIELDS if before.get(name) != after[name]]
    if changed:
        audit_record(
            actor=actor,
            action="team_settings.set",
            target=settings,
            team=team,
            before={name: before[name] for name in changed if name in before},
            after={name: after[name] for name in changed},
        )
    return settings
