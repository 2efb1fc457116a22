"""Writes for teams, projects and memberships. Each writes its audit event in the same
transaction; the admin site and the (later) API call these, never the models directly."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import slugify

from governance.services import audit_record
from portal.models import (
    GLOBAL_GRANTS,
    TEAM_GRANTS,
    GroupGrant,
    GroupMapping,
    Membership,
    MembershipSource,
    Project,
    Role,
    Team,
    User,
)


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
def membership_set(
    *,
    actor: User | None,
    user: User,
    team: Team,
    role: str,
    source: str = MembershipSource.MANUAL,
) -> Membership:
    """Add the user to the team with this role, or change their role; one event either way.

    ``source`` is recorded on a new membership only (single sign-on passes ``sso``).
    """
    _require_admin(actor)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose analyst or approver."})
    membership, created = Membership.objects.select_for_update().get_or_create(
        user=user, team=team, defaults={"role": role, "source": source}
    )
    if created:
        audit_record(
            actor=actor,
            action="membership.add",
            target=membership,
            team=team,
            after={"user": user.username, "role": role, "source": source},
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


# --- people and single sign-on ---------------------------------------------------------------


@transaction.atomic
def user_provision(
    *, actor: User | None, username: str, email: str = "", first_name: str = "", last_name: str = ""
) -> User:
    """Create a person who signs in through the identity provider (no local password)."""
    _require_admin(actor)
    username = username.strip()
    if not username:
        raise ValidationError({"username": "A username is needed."})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"A person named {username!r} already exists."})
    user = User(
        username=username,
        email=email.strip(),
        first_name=first_name.strip()[:150],
        last_name=last_name.strip()[:150],
    )
    user.set_unusable_password()
    user.save()
    audit_record(
        actor=actor,
        action="user.provision",
        target=user,
        after={"username": user.username, "email": user.email, "source": "sso"},
    )
    return user


@transaction.atomic
def user_global_roles_set(*, actor: User | None, user: User, roles: set[str]) -> User:
    """Give the person exactly these global roles (admin, finance, auditor); one event.

    Admins also get Django's admin site (``is_staff`` and ``is_superuser``), as seeded admins do.
    """
    _require_admin(actor)
    unknown = roles - {g.value for g in GLOBAL_GRANTS}
    if unknown:
        raise ValidationError(
            {"roles": f"Unknown global roles {sorted(unknown)}; choose admin, finance or auditor."}
        )
    user = User.objects.select_for_update().get(pk=user.pk)
    before = sorted(user.global_roles)
    admin = GroupGrant.ADMIN in roles
    user.is_portal_admin = user.is_staff = user.is_superuser = admin
    user.is_finance = GroupGrant.FINANCE in roles
    user.is_auditor = GroupGrant.AUDITOR in roles
    user.save(
        update_fields=["is_portal_admin", "is_staff", "is_superuser", "is_finance", "is_auditor"]
    )
    audit_record(
        actor=actor,
        action="user.roles",
        target=user,
        before={"roles": before},
        after={"roles": sorted(user.global_roles)},
    )
    return user


@transaction.atomic
def group_mapping_create(
    *, actor: User | None, group: str, grant: str, team: Team | None = None
) -> GroupMapping:
    """Map an identity-provider group to a team role or a global role; takes effect at the
    next sign-in of each member of the group."""
    _require_admin(actor)
    group = group.strip()
    problems: dict[str, str] = {}
    if not group:
        problems["group"] = "Enter the group's name exactly as the identity provider sends it."
    elif len(group) > 255:
        problems["group"] = f"A group name has at most 255 characters; this one has {len(group)}."
    if grant not in GroupGrant.values:
        problems["grant"] = f"Unknown role {grant!r}; choose one from the list."
    elif grant in TEAM_GRANTS and team is None:
        problems["team"] = f"Choose the team in which the group's members become {grant}s."
    elif grant in GLOBAL_GRANTS and team is not None:
        problems["team"] = f"The {grant} role covers every team; leave the team empty."
    if not problems:
        clash = GroupMapping.objects.filter(group=group)
        clash = (
            clash.filter(team=team) if team is not None else clash.filter(team=None, grant=grant)
        )
        existing = clash.first()
        if existing is not None:
            problems["group"] = f"{group!r} is already mapped: {existing}. Delete that one first."
    if problems:
        raise ValidationError(problems)
    mapping = GroupMapping.objects.create(group=group, grant=grant, team=team)
    audit_record(
        actor=actor,
        action="group_mapping.create",
        target=mapping,
        team=team,
        after={"group": group, "grant": grant, "team": team.slug if team else None},
    )
    return mapping


@transaction.atomic
def group_mapping_delete(*, actor: User | None, mapping: GroupMapping) -> None:
    """Remove a mapping; members of the group lose the role at their next sign-in."""
    _require_admin(actor)
    audit_record(
        actor=actor,
        action="group_mapping.delete",
        target=mapping,
        team=mapping.team,
        before={
            "group": mapping.group,
            "grant": mapping.grant,
            "team": mapping.team.slug if mapping.team else None,
        },
    )
    mapping.delete()
