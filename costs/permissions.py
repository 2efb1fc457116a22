"""Who may read costs, set budgets and acknowledge alerts, shared by the pages and the API.

- The organisation dashboard: finance and admins, and auditors read-only (spend is evidence
  an auditor may need; they never change a budget or acknowledge an alert). Everyone else
  signed in gets 403: the page exists, their role is too low.
- A team's costs, its projects and budget: whoever sees the team (``team_for_user``): its
  members, finance, admins and auditors; outsiders get 404.
- A workspace's costs: whoever sees the workspace (``workspace_for_user``).
- Budgets and acknowledgements: finance and admins only.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied
from django.http import Http404

from costs.models import BudgetAlert
from portal.models import Project, Team, User
from portal.permissions import TeamAction, team_for_user
from workspaces.models import Workspace
from workspaces.permissions import workspace_for_user


def can_see_org_costs(user: User) -> bool:
    return user.is_portal_admin or user.is_finance or user.is_auditor


def require_org_costs(user: User) -> None:
    if not can_see_org_costs(user):
        raise PermissionDenied("The organisation's costs are for finance, admins and auditors.")


def can_manage_budgets(user: User) -> bool:
    """Set budgets and acknowledge alerts: finance and admins, never auditors."""
    return user.is_portal_admin or user.is_finance


def require_budget_manager(user: User) -> None:
    if not can_manage_budgets(user):
        raise PermissionDenied("Only finance and admins set budgets and acknowledge alerts.")


def cost_team_for_user(user: User, slug: str) -> Team:
    return team_for_user(user, slug, TeamAction.VIEW)


def cost_project_for_user(user: User, slug: str, project_slug: str) -> tuple[Team, Project]:
    team = cost_team_for_user(user, slug)
    project = Project.objects.filter(team=team, slug=project_slug).first()
    if project is None:
        raise Http404("No such project in this team.")
    return team, project


def cost_workspace_for_user(user: User, pk: uuid.UUID | str) -> Workspace:
    return workspace_for_user(user, pk)


def alert_for_user(user: User, pk: int, *, acknowledge: bool = False) -> BudgetAlert:
    """404 for an alert of a team the user cannot see; 403 to acknowledge without the role."""
    from costs.selectors import alerts_visible_to

    alert = alerts_visible_to(user).filter(pk=pk).first()
    if alert is None:
        raise Http404("No such alert.")
    if acknowledge:
        require_budget_manager(user)
    return alert
