from __future__ import annotations

from typing import cast

from django.db.models import QuerySet
from rest_framework import generics

from portal import selectors
from portal.api.serializers import TeamOutSerializer
from portal.models import Team, User


class TeamListView(generics.ListAPIView):
    """Teams the caller may see: their own, or every team for admins, finance and auditors."""

    serializer_class = TeamOutSerializer

    def get_queryset(self) -> QuerySet[Team]:
        return selectors.team_list_for(cast(User, self.request.user)).order_by("name")
