"""Who may read compliance and the audit trail, shared by the pages and the API.

Team pages follow ``portal.permissions.team_for_user`` (404 for a team the user cannot see).
The organisation-wide pages exist for everyone signed in, so a role too low for them is 403.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from portal.models import Membership, Role, Team, User
from portal.permissions import TeamAction, team_for_user


def compliance_team_for_user(user: User, slug: str) -> Team:
    """Members, admins, finance and auditors read a team's compliance; outsiders get 404."""
    return team_for_user(user, slug, TeamAction.VIEW)


def can_see_compliance_overview(user: User) -> bool:
    return user.is_portal_admin or user.is_auditor


def require_compliance_overview(user: User) -> None:
    if not can_see_compliance_overview(user):
        raise PermissionDenied("The organisation's compliance is for admins and auditors.")


def can_evaluate_compliance(user: User) -> bool:
    """Starting an evaluation changes state (a run, audit rows): admins only, never auditors."""
    return user.is_portal_admin


def require_evaluate_compliance(user: User) -> None:
    if not can_evaluate_compliance(user):
        raise PermissionDenied("Only admins start a compliance evaluation.")


def can_read_audit(user: User) -> bool:
    """Auditors and admins read every event; approvers their own teams' events."""
    if user.is_portal_admin or user.is_auditor:
        return True
    return Membership.objects.filter(user=user, role=Role.APPROVER).exists()


def require_audit_reader(user: User) -> None:
    if not can_read_audit(user):
        raise PermissionDenied("The audit trail is for auditors, admins and approvers.")
