"""Reads for the catalog and workspaces, narrowed to what the user may see.

Analysts see their own workspaces; approvers see every workspace of the teams they approve
for; admins, finance and auditors see all of them.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from governance.models import AuditEvent
from portal.models import Membership, Role, User
from workspaces.models import Offering, State, Workspace


def approver_team_ids(user: User) -> list[int]:
    return list(
        Membership.objects.filter(user=user, role=Role.APPROVER).values_list("team_id", flat=True)
    )


def workspaces_visible_to(user: User) -> QuerySet[Workspace]:
    base = Workspace.objects.select_related("team", "project", "owner", "offering", "approver")
    if not user.is_authenticated:
        return base.none()
    if user.sees_every_team:
        return base
    return base.filter(Q(owner=user) | Q(team_id__in=approver_team_ids(user)))


def approval_queue_for(user: User) -> QuerySet[Workspace]:
    """Pending requests the user may decide, oldest first; never their own."""
    queue = workspaces_visible_to(user).filter(state=State.PENDING_APPROVAL).exclude(owner=user)
    if not user.is_portal_admin:
        queue = queue.filter(team_id__in=approver_team_ids(user))
    return queue.order_by("created_at")


def offerings_for(user: User) -> QuerySet[Offering]:
    """Active offerings published for a team the user belongs to, with what they need shown."""
    if not user.is_authenticated:
        return Offering.objects.none()
    team_ids = Membership.objects.filter(user=user).values_list("team_id", flat=True)
    return (
        Offering.objects.filter(
            is_active=True,
            teams__in=team_ids,
            version__active=True,
            version__retired_at__isnull=True,
            version__product__retired_at__isnull=True,
        )
        .distinct()
        .select_related("version__product", "constraint")
        .prefetch_related("teams")
        .order_by("title")
    )


def timeline_of(workspace: Workspace) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(
            target_type=workspace._meta.label_lower, target_id=str(workspace.pk)
        )
        .select_related("actor")
        .order_by("created_at", "id")
    )
