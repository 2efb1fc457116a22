from __future__ import annotations

from typing import cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics

from portal import selectors
from portal.api.serializers import ErrorOutSerializer, TeamDetailOutSerializer, TeamOutSerializer
from portal.models import Team, User
from portal.permissions import TeamAction, team_for_user


class TeamListView(generics.ListAPIView):
    """Teams the caller may see: their own, or every team for admins, finance and auditors."""

    serializer_class = TeamOutSerializer

    def get_queryset(self) -> QuerySet[Team]:
        return selectors.team_list_for(cast(User, self.request.user)).order_by("name")


@extend_schema(
    responses={
        200: TeamDetailOutSerializer,
        401: ErrorOutSerializer,
        404: OpenApiResponse(ErrorOutSerializer, description="No such team, or not yours."),
    }
)
class TeamDetailView(generics.RetrieveAPIView):
    """One team with its active projects and members; 404 for a team the caller may not see."""

    serializer_class = TeamDetailOutSerializer
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Team]:
        return selectors.teams_visible_to(cast(User, self.request.user))

    def get_object(self) -> Team:
        user = cast(User, self.request.user)
        team = team_for_user(user, self.kwargs["slug"], TeamAction.VIEW)
        return selectors.team_detail_for(user, team)
