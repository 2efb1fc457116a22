"""One helper per resource, shared by the HTML views and the API.

No access at all is a 404 (an outsider must not learn that a team exists); a visible team
with too low a role is a 403.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.http import Http404

from portal import selectors
from portal.models import Role, Team, User


class TeamAction(StrEnum):
    VIEW = "view"  # members, admins, finance, auditors
    APPROVE = "approve"  # the team's approvers and admins
    MANAGE = "manage"  # admins: members, projects, settings


def can_on_team(user: User, team: Team, action: TeamAction) -> bool:
    if user.is_portal_admin:
        return True
    if action is TeamAction.MANAGE:
        return False
    role = selectors.team_role_of(user, team)
    if action is TeamAction.APPROVE:
        return role == Role.APPROVER
    return role is not None or user.sees_every_team


def team_for_user(user: User, slug: str, action: TeamAction = TeamAction.VIEW) -> Team:
    team = selectors.teams_visible_to(user).filter(slug=slug).first()
    if team is None:
        raise Http404("No such team.")
    if not can_on_team(user, team, action):
        raise PermissionDenied(f"Your role in {team.name} does not allow this.")
    return team
