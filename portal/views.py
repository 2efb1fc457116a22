"""Pages for people: the home dashboard and teams."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator

from costs.selectors import tag_warning, team_month
from portal import selectors
from portal.permissions import TeamAction, can_on_team, team_for_user
from portal.types import AuthenticatedRequest


@method_decorator(login_not_required, name="dispatch")
class PortalLoginView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def home(request: AuthenticatedRequest) -> HttpResponse:
    memberships = list(selectors.memberships_of(request.user))
    return render(
        request,
        "portal/home.html",
        {"memberships": memberships, "global_roles": request.user.global_roles},
    )


def team_list(request: AuthenticatedRequest) -> HttpResponse:
    teams = selectors.team_list_for(request.user).order_by("name")
    return render(request, "portal/team_list.html", {"teams": teams})


def team_detail(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    team = team_for_user(request.user, slug, TeamAction.VIEW)
    team = selectors.team_detail_for(request.user, team)
    return render(
        request,
        "portal/team_detail.html",
        {
            "team": team,
            "can_manage": can_on_team(request.user, team, TeamAction.MANAGE),
            "can_see_workspaces": request.user.sees_every_team
            or can_on_team(request.user, team, TeamAction.APPROVE),
            "my_role": selectors.team_role_of(request.user, team),
            # The team's spend, budget, forecast and open alerts (issue 7).
            "month": team_month(team),
            "tag_warning": tag_warning(),
        },
    )
