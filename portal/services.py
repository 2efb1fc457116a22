"""Writes for teams, projects and memberships. Each writes its audit event in the same
transaction; the admin site and the (later) API call these, never the models directly."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import slugify

from governance.services import audit_record
from portal.models import Membership, Project, Role, Team, User


def _require_admin(actor: User | None) -> None:
    # None is the system itself (seed commands, migrations); people must hold the admin role.
    if actor is not None and not actor.is_portal_admin:
        raise PermissionDenied("Only admins manage teams, projects and memberships.")


@transaction.atomic
def team_create(
    *, actor: User | None, name: str, cost_center: str, slug: str = "", description: str = ""
) -> Team:
    _require_admin(actor)
    team = Team(
        name=name.strip(),
        slug=slug or slugify(name)[:50],
        cost_center=cost_center.strip(),
        description=description,
    )
    team.full_clean()
    team.save()
    audit_record(
        actor=actor,
        action="team.create",
        target=team,
        team=team,
        after={"name": team.name, "slug": team.slug, "cost_center": team.cost_center},
    )
    return team


@transaction.atomic
def team_update(
    *, actor: User | None, team: Team, name: str, cost_center: str, description: str
) -> Team:
    _require_admin(actor)
    before = {"name": team.name, "cost_center": team.cost_center, "description": team.description}
    team.name, team.cost_center, team.description = name.strip(), cost_center.strip(), description
    team.full_clean()
    team.save(update_fields=["name", "cost_center", "description"])
    after = {"name": team.name, "cost_center": team.cost_center, "description": team.description}
    if after != before:
        audit_record(
            actor=actor, action="team.update", target=team, team=team, before=before, after=after
        )
    return team


@transaction.atomic
def project_create(
    *, actor: User | None, team: Team, name: str, slug: str = "", description: str = ""
) -> Project:
    _require_admin(actor)
    project = Project(
        team=team, name=name.strip(), slug=slug or slugify(name)[:50], description=description
    )
    project.full_clean()
    project.save()
    audit_record(
        actor=actor,
        action="project.create",
        target=project,
        team=team,
        after={"name": project.name, "slug": project.slug},
    )
    return project


@transaction.atomic
def membership_set(*, actor: User | None, user: User, team: Team, role: str) -> Membership:
    """Add the user to the team with this role, or change their role; one event either way."""
    _require_admin(actor)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose analyst or approver."})
    membership, created = Membership.objects.select_for_update().get_or_create(
        user=user, team=team, defaults={"role": role}
    )
    if created:
        audit_record(
            actor=actor,
            action="membership.add",
            target=membership,
            team=team,
            after={"user": user.username, "role": role},
        )
    elif membership.role != role:
        before = {"user": user.username, "role": membership.role}
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            action="membership.change",
            target=membership,
            team=team,
            before=before,
            after={"user": user.username, "role": role},
        )
    return membership


@transaction.atomic
def membership_remove(*, actor: User | None, membership: Membership) -> None:
    _require_admin(actor)
    audit_record(
        actor=actor,
        action="membership.remove",
        target=membership,
        team=membership.team,
        before={"user": membership.user.username, "role": membership.role},
    )
    membership.delete()
