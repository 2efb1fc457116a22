"""Compliance and audit API: the pages' selectors and filter forms behind DRF."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import permissions, selectors
from governance.api.serializers import (
    AuditEventOutSerializer,
    EvidenceOutSerializer,
    SummaryOutSerializer,
    TeamComplianceOutSerializer,
)
from governance.models import AuditEvent
from portal.api.helpers import cleaned_query, request_user
from portal.api.serializers import ErrorOutSerializer, field_errors_serializer


def _choices(field: forms.Field) -> list[str] | None:
    if not isinstance(field, forms.ChoiceField):
        return None
    return [str(value) for value, _ in cast(list[tuple[str, str]], field.choices) if value]


def _query_parameters(form_class: type[forms.Form]) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            name,
            OpenApiTypes.DATE if isinstance(field, forms.DateField) else OpenApiTypes.STR,
            description=str(field.help_text or field.label or name),
            enum=_choices(field),
        )
        for name, field in form_class.base_fields.items()
    ]


def _filter_errors(name: str, form_class: type[forms.Form]) -> OpenApiResponse:
    return OpenApiResponse(
        field_errors_serializer(name, form_class.base_fields),
        description="A filter is not valid: each field with what is wrong with it.",
    )


ERRORS = {
    401: ErrorOutSerializer,
    403: OpenApiResponse(ErrorOutSerializer, description="Your role cannot read this."),
    404: OpenApiResponse(ErrorOutSerializer, description="No such team, or not yours."),
}


@extend_schema(
    parameters=[*_query_parameters(selectors.EvidenceFilter), OpenApiParameter("page", int)],
    responses={
        200: TeamComplianceOutSerializer,
        400: _filter_errors("EvidenceFilterErrors", selectors.EvidenceFilter),
        **ERRORS,
    },
)
class TeamComplianceView(APIView):
    """A team's latest score, pass/fail per control, and the evidence rows for the filters
    (the rows the team's compliance page and its exports hold for the same filters)."""

    def get(self, request: Request, slug: str) -> Response:
        team = permissions.compliance_team_for_user(request_user(request), slug)
        summary = selectors.latest_summary(team)
        filters = cleaned_query(selectors.EvidenceFilter(request.query_params))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.evidence_rows(team, summary, filters), request, view=self
        )
        assert page is not None  # noqa: S101 (pagination is always on here)
        return Response(
            {
                "team": team.slug,
                "latest": SummaryOutSerializer(summary).data if summary else None,
                "controls": [c.__dict__ for c in selectors.control_counts(summary)],
                "count": paginator.page.paginator.count,  # type: ignore[union-attr]
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": EvidenceOutSerializer(
                    [selectors.evidence_record(r, team) for r in page], many=True
                ).data,
            }
        )


@extend_schema(
    parameters=_query_parameters(selectors.AuditFilter),
    responses={
        200: AuditEventOutSerializer(many=True),
        400: _filter_errors("AuditFilterErrors", selectors.AuditFilter),
        **ERRORS,
    },
)
class AuditEventListView(generics.ListAPIView):
    """Audit events, newest first, with the audit page's filters: everything for auditors and
    admins, an approver's own teams' events."""

    serializer_class = AuditEventOutSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[AuditEvent]:
        user = request_user(self.request)
        permissions.require_audit_reader(user)
        filters = cleaned_query(selectors.AuditFilter(self.request.query_params))
        return selectors.audit_filtered(selectors.audit_events_for(user), filters)
