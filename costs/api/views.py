"""Costs API: the pages' selectors and filter form behind DRF."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from costs import permissions, selectors
from costs.api.serializers import (
    BudgetAlertOutSerializer,
    BudgetOutSerializer,
    TeamCostsOutSerializer,
)
from costs.forms import CostFilter
from costs.models import BudgetAlert
from portal.api.helpers import cleaned_query, request_user
from portal.api.serializers import ErrorOutSerializer, field_errors_serializer

FILTER_PARAMETERS = [
    OpenApiParameter(
        "start", OpenApiTypes.DATE, description=str(CostFilter.base_fields["start"].help_text)
    ),
    OpenApiParameter(
        "end", OpenApiTypes.DATE, description=str(CostFilter.base_fields["end"].help_text)
    ),
    OpenApiParameter(
        "granularity",
        OpenApiTypes.STR,
        enum=["daily", "monthly"],
        description="One row per day (default) or per calendar month.",
    ),
]


@extend_schema(
    parameters=FILTER_PARAMETERS,
    responses={
        200: TeamCostsOutSerializer,
        400: OpenApiResponse(
            field_errors_serializer("TeamCostsErrors", CostFilter.base_fields),
            description="A filter is not valid.",
        ),
        401: ErrorOutSerializer,
        404: OpenApiResponse(ErrorOutSerializer, description="No such team, or not yours."),
    },
)
class TeamCostsView(APIView):
    """A team's spend per day or month over a range (both days included; the last 90 days by
    default), with the total and the spend per project: what the team's cost page shows."""

    def get(self, request: Request, slug: str) -> Response:
        team = permissions.cost_team_for_user(request_user(request), slug)
        filters = cleaned_query(CostFilter(request.query_params))
        filters = {k: filters[k] for k in ("start", "end", "granularity")}
        drill = selectors.team_drill(team, **filters)
        series = drill.series
        rows = [{"period": r.label, "amount_usd": r.values[-1]} for r in series.rows]
        projects = [
            {"project": r.label, "amount_usd": r.values[0]}
            for r in drill.breakdown.rows
            if r.key != "total"
        ]
        body = {
            "team": team.slug,
            **filters,
            "currency": "USD",
            "total_usd": drill.total,
            "rows": rows,
            "projects": projects,
        }
        return Response(TeamCostsOutSerializer(body).data)


@extend_schema(responses={200: BudgetOutSerializer(many=True), 401: ErrorOutSerializer})
class BudgetListView(APIView):
    """Budgets of the teams the caller sees (every team for finance, admins and auditors), with
    this month's spend, the forecast and what AWS Budgets reports back."""

    def get(self, request: Request) -> Response:
        rows = selectors.budget_rows(request_user(request))
        return Response(BudgetOutSerializer(rows, many=True).data)


class AlertFilter(forms.Form):
    state = forms.ChoiceField(
        choices=selectors.ALERT_STATES,
        required=False,
        help_text="open (default), acknowledged or all.",
    )


@extend_schema(
    parameters=[
        OpenApiParameter(
            "state",
            OpenApiTypes.STR,
            enum=["open", "acknowledged", "all"],
            description="open (default), acknowledged or all.",
        )
    ],
    responses={
        200: BudgetAlertOutSerializer(many=True),
        400: OpenApiResponse(
            field_errors_serializer("AlertFilterErrors", AlertFilter.base_fields),
            description="A filter is not valid.",
        ),
        401: ErrorOutSerializer,
    },
)
class AlertListView(generics.ListAPIView):
    """Budget alerts, newest first: every team's for finance, admins and auditors; a member's
    own teams' otherwise."""

    serializer_class = BudgetAlertOutSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[BudgetAlert]:
        state = cleaned_query(AlertFilter(self.request.query_params))["state"] or "open"
        return selectors.alerts_filtered(
            selectors.alerts_visible_to(request_user(self.request)), state
        )
