"""Workspaces API: one view per operation, each a thin wrapper over a selector or service.

Services speak Django (``ValidationError`` with a field→messages dict, ``PermissionDenied``,
``InvalidTransition``); ``_service_errors`` turns those into the API's 400 and 409 bodies.
DRF itself already answers ``PermissionDenied`` with 403 and ``Http404`` with 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django_filters import rest_framework as django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, filters, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from portal import selectors as portal_selectors
from portal.api.helpers import request_user
from portal.api.serializers import ErrorOutSerializer, field_errors_serializer
from workspaces import lifecycle, selectors, services
from workspaces.api.serializers import (
    ApproveInSerializer,
    OfferingOutSerializer,
    OpenOutSerializer,
    RejectInSerializer,
    WorkspaceOutSerializer,
    WorkspaceRequestInSerializer,
)
from workspaces.models import Offering, State, Workspace
from workspaces.permissions import workspace_for_user


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The workspace is not in a state that allows this."
    default_code = "conflict"


def _field_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    if not hasattr(error, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: list(error.messages)}
    return {
        (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): messages
        for field, messages in error.message_dict.items()
    }


@contextmanager
def _service_errors() -> Iterator[None]:
    try:
        yield
    except DjangoValidationError as error:
        raise exceptions.ValidationError(_field_errors(error)) from error
    except services.InvalidTransition as error:
        raise Conflict(str(error)) from error


# Fields a 400 may name. Approval checks the whole request again, so it can name any of them.
REQUEST_FIELDS = [
    "offering",
    "team",
    "project",
    "name",
    "instance_type",
    "volume_size_gb",
    "end_date",
    "justification",
]
NOT_AUTHENTICATED = OpenApiResponse(ErrorOutSerializer, description="No or a bad credential.")
NOT_VISIBLE = OpenApiResponse(ErrorOutSerializer, description="No such workspace, or not yours.")
NOT_ALLOWED = OpenApiResponse(ErrorOutSerializer, description="Visible, but not yours to do.")
WRONG_STATE = OpenApiResponse(
    ErrorOutSerializer, description="The workspace's state does not allow this."
)


# --- offerings ------------------------------------------------------------------------------


@extend_schema(responses={200: OfferingOutSerializer(many=True), 401: NOT_AUTHENTICATED})
class OfferingListView(generics.ListAPIView):
    """Offerings the caller may request, with their constraints."""

    serializer_class = OfferingOutSerializer

    def get_queryset(self) -> QuerySet[Offering]:
        user = request_user(self.request)
        if not user.is_authenticated:
            # Only the schema generator gets here without a user; offerings_for needs one.
            return Offering.objects.none()
        return selectors.offerings_for(user)

    def get_serializer_context(self) -> dict[str, Any]:
        user = request_user(self.request)
        mine = (
            set(portal_selectors.memberships_of(user).values_list("team_id", flat=True))
            if user.is_authenticated
            else set()
        )
        return {**super().get_serializer_context(), "member_team_ids": mine}


# --- workspaces: list, request, detail ------------------------------------------------------


class WorkspaceFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="A team's slug.")
    state = django_filters.ChoiceFilter(choices=State.choices)
    owner = django_filters.CharFilter(field_name="owner__username", help_text="A username.")

    class Meta:
        model = Workspace
        fields = ["team", "state", "owner"]


class StableOrdering(filters.OrderingFilter):
    """Ties (same state, same end date) broken by id, so pages never repeat or skip a row."""

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> list[str]:
        ordering = list(super().get_ordering(request, queryset, view) or [])
        return [*ordering, "pk"]


class WorkspaceListCreateView(generics.ListCreateAPIView):
    serializer_class = WorkspaceOutSerializer
    filter_backends = [django_filters.DjangoFilterBackend, StableOrdering]
    filterset_class = WorkspaceFilter
    ordering_fields = ["created_at", "name", "state", "end_date", "estimated_monthly_usd"]
    ordering = ["-created_at"]

    def get_queryset(self) -> QuerySet[Workspace]:
        return selectors.workspaces_visible_to(request_user(self.request))

    @extend_schema(
        description="Workspaces the caller may see: their own; every workspace of the teams "
        "they approve for; all of them for admins, finance and auditors. Ordering fields: "
        "created_at, name, state, end_date, estimated_monthly_usd (prefix - to reverse).",
        responses={
            200: WorkspaceOutSerializer(many=True),
            400: field_errors_serializer("WorkspaceListErrors", ["state"]),
            401: NOT_AUTHENTICATED,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="v1_workspaces_request",
        description="Request a workspace. It is pending approval, or approved at once when "
        "the offering does not require approval and the team's budget is healthy.",
        request=WorkspaceRequestInSerializer,
        responses={
            201: WorkspaceOutSerializer,
            400: OpenApiResponse(
                field_errors_serializer("WorkspaceRequestErrors", REQUEST_FIELDS),
                description="A request rule is broken; nothing was created.",
            ),
            401: NOT_AUTHENTICATED,
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        given = WorkspaceRequestInSerializer(data=request.data, context={"request": request})
        given.is_valid(raise_exception=True)
        with _service_errors():
            workspace = services.workspace_request(
                actor=request_user(request), **given.validated_data
            )
        return Response(WorkspaceOutSerializer(workspace).data, status=status.HTTP_201_CREATED)


@extend_schema(responses={200: WorkspaceOutSerializer, 401: NOT_AUTHENTICATED, 404: NOT_VISIBLE})
class WorkspaceDetailView(generics.RetrieveAPIView):
    """One workspace; 404 when the caller may not see it."""

    serializer_class = WorkspaceOutSerializer

    def get_queryset(self) -> QuerySet[Workspace]:
        return selectors.workspaces_visible_to(request_user(self.request))

    def get_object(self) -> Workspace:
        return workspace_for_user(request_user(self.request), self.kwargs["pk"])


# --- decisions ------------------------------------------------------------------------------


class _TransitionView(APIView):
    # Visibility only (404); who may act is the service's call, whose 403 messages say why
    # ("nobody approves their own request") better than a generic refusal would.
    def workspace(self, pk: uuid.UUID) -> Workspace:
        return workspace_for_user(request_user(self.request), pk)

    def answer(self, workspace: Workspace) -> Response:
        return Response(WorkspaceOutSerializer(workspace).data)


class WorkspaceApproveView(_TransitionView):
    @extend_schema(
        operation_id="v1_workspaces_approve",
        request=ApproveInSerializer,
        responses={
            200: WorkspaceOutSerializer,
            400: OpenApiResponse(
                field_errors_serializer(
                    "WorkspaceApproveErrors", [*REQUEST_FIELDS, "budget_override_reason"]
                ),
                description="The request no longer meets its constraints, or the team's budget "
                "is exhausted and no override reason was given.",
            ),
            401: NOT_AUTHENTICATED,
            403: NOT_ALLOWED,
            404: NOT_VISIBLE,
            409: WRONG_STATE,
        },
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        """Approve a pending request; provisioning starts once the approval is committed."""
        workspace = self.workspace(pk)
        given = ApproveInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        with _service_errors():
            workspace = services.workspace_approve(
                actor=request_user(request), workspace=workspace, **given.validated_data
            )
        return self.answer(workspace)


class WorkspaceRejectView(_TransitionView):
    @extend_schema(
        operation_id="v1_workspaces_reject",
        request=RejectInSerializer,
        responses={
            200: WorkspaceOutSerializer,
            400: field_errors_serializer("WorkspaceRejectErrors", ["reason"]),
            401: NOT_AUTHENTICATED,
            403: NOT_ALLOWED,
            404: NOT_VISIBLE,
            409: WRONG_STATE,
        },
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        """Reject a pending request with a reason the requester sees."""
        workspace = self.workspace(pk)
        given = RejectInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        with _service_errors():
            workspace = services.workspace_reject(
                actor=request_user(request), workspace=workspace, **given.validated_data
            )
        return self.answer(workspace)


class WorkspaceCancelView(_TransitionView):
    @extend_schema(
        operation_id="v1_workspaces_cancel",
        request=None,
        responses={
            200: WorkspaceOutSerializer,
            401: NOT_AUTHENTICATED,
            403: NOT_ALLOWED,
            404: NOT_VISIBLE,
            409: WRONG_STATE,
        },
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        """Withdraw one's own request while it is pending."""
        workspace = self.workspace(pk)
        with _service_errors():
            workspace = services.workspace_cancel(actor=request_user(request), workspace=workspace)
        return self.answer(workspace)


class _LifecycleView(_TransitionView):
    """Stop, start, terminate and retry: the same shape, a different service each."""

    service: Any = None

    def post(self, request: Request, pk: uuid.UUID) -> Response:
        workspace = self.workspace(pk)
        with _service_errors():
            workspace = type(self).service(actor=request_user(request), workspace=workspace)
        return self.answer(workspace)


def _lifecycle_schema(name: str, summary: str) -> Any:
    return extend_schema(
        operation_id=f"v1_workspaces_{name}",
        summary=summary,
        request=None,
        responses={
            200: WorkspaceOutSerializer,
            401: NOT_AUTHENTICATED,
            403: NOT_ALLOWED,
            404: NOT_VISIBLE,
            409: WRONG_STATE,
        },
    )


class WorkspaceStopView(_LifecycleView):
    service = staticmethod(lifecycle.workspace_stop)

    @_lifecycle_schema("stop", "Stop an available workspace (owner or admin).")
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        return super().post(request, pk)


class WorkspaceStartView(_LifecycleView):
    service = staticmethod(lifecycle.workspace_start)

    @_lifecycle_schema("start", "Start a stopped workspace (owner or admin).")
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        return super().post(request, pk)


class WorkspaceTerminateView(_LifecycleView):
    service = staticmethod(lifecycle.workspace_terminate)

    @_lifecycle_schema("terminate", "Terminate an available, stopped or failed workspace.")
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        return super().post(request, pk)


class WorkspaceRetryView(_LifecycleView):
    service = staticmethod(lifecycle.workspace_retry)

    @_lifecycle_schema("retry", "Provision a failed workspace again (requester or approvers).")
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        return super().post(request, pk)


class WorkspaceOpenView(_TransitionView):
    @extend_schema(
        operation_id="v1_workspaces_open",
        request=None,
        responses={
            200: OpenOutSerializer,
            401: NOT_AUTHENTICATED,
            403: NOT_ALLOWED,
            404: NOT_VISIBLE,
            409: WRONG_STATE,
        },
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        """A short-lived notebook URL, for the owner and admins; each opening is audited."""
        workspace = self.workspace(pk)
        with _service_errors():
            url = lifecycle.workspace_open(actor=request_user(request), workspace=workspace)
        return Response({"url": url, "session_seconds": lifecycle.PRESIGNED_URL_SECONDS})
