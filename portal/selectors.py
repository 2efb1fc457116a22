"""Reads for teams and people, already narrowed to what the user may see."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from portal.models import Membership, Project, Role, Team, User


def teams_visible_to(user: User) -> QuerySet[Team]:
    """Every team for admins, finance and auditors; otherwise the teams the user belongs to."""
    if not user.is_authenticated:
        return Team.objects.none()
    if user.sees_every_team:
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user)


def team_list_for(user: User) -> QuerySet[Team]:
    return teams_visible_to(user).annotate(
        member_count=Count("memberships", distinct=True),
        project_count=Count("projects", filter=Q(projects__is_active=True), distinct=True),
    )


def team_detail_for(user: User, team: Team) -> Team:
    """The team with its members and projects loaded in two queries, whatever their number."""
    return (
        Team.objects.filter(pk=team.pk)
        .prefetch_related(
            Prefetch("memberships", Membership.objects.select_related("user")),
            Prefetch("projects", Project.objects.filter(is_active=True)),
        )
        .get()
    )


def memberships_of(user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("team").order_by("team__name")


def team_role_of(user: User, team: Team) -> str | None:
    """The user's role in this team, or None."""
    return Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()


def approvers_of(team: Team) -> QuerySet[User]:
    return User.objects.filter(
        memberships__team=team, memberships__role=Role.APPROVER, is_active=True
    )
