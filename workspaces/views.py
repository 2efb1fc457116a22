"""Pages of the request flow: catalog, request form, lists, approvals, workspace page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from costs.selectors import (
    PriceUnknown,
    budget_position,
    budget_positions,
    estimate_monthly,
    tag_warning,
    workspace_costs,
)
from portal.models import Membership, Notification, Team
from portal.permissions import TeamAction, team_for_user
from portal.selectors import team_role_of
from portal.types import AuthenticatedRequest
from workspaces import lifecycle, selectors, services
from workspaces.forms import SORTS, DecisionForm, ListFilterForm, RequestForm
from workspaces.models import LIVE_STATES, Offering, State, Workspace
from workspaces.permissions import WorkspaceAction, can, workspace_for_user
from workspaces.schedule_views import schedule_context
from workspaces.services import can_decide

PAGE_SIZE = 25


def _offering_for(request: AuthenticatedRequest, offering_id: int) -> Offering:
    return get_object_or_404(selectors.offerings_for(request.user), pk=offering_id)


def _request_teams(request: AuthenticatedRequest, offering: Offering) -> list[Team]:
    mine = Membership.objects.filter(user=request.user).values_list("team_id", flat=True)
    return list(offering.teams.filter(pk__in=mine).order_by("name"))


def _list_page(request: AuthenticatedRequest, rows: QuerySet[Workspace]) -> dict[str, Any]:
    form = ListFilterForm(request.GET or None)
    sort = "newest"
    if form.is_valid():
        if form.cleaned_data["state"]:
            rows = rows.filter(state=form.cleaned_data["state"])
        if form.cleaned_data["q"]:
            rows = rows.filter(name__icontains=form.cleaned_data["q"])
        sort = form.cleaned_data["sort"] or sort
    page = Paginator(rows.order_by(SORTS[sort], "pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {"filter_form": form, "page": page, "query": query.urlencode(), "sort": sort}


@require_GET
def catalog(request: AuthenticatedRequest) -> HttpResponse:
    offerings = list(selectors.offerings_for(request.user))
    return render(request, "workspaces/catalog.html", {"offerings": offerings})


def request_workspace(request: AuthenticatedRequest, offering_id: int) -> HttpResponse:
    offering = _offering_for(request, offering_id)
    teams = _request_teams(request, offering)
    form = RequestForm(request.POST or None, offering=offering, teams=teams)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            workspace = services.workspace_request(
                actor=request.user,
                offering=offering,
                team=data["team"],
                project=data["project"],
                name=data["name"],
                instance_type=data["instance_type"],
                volume_size_gb=data["volume_size_gb"],
                end_date=data["end_date"],
                justification=data["justification"],
            )
        except ValidationError as error:
            form.apply_errors(error)
        else:
            messages.success(
                request,
                f"Requested {workspace.name}. "
                + (
                    "It was approved automatically."
                    if workspace.state == State.APPROVED
                    else "Your team's approvers have been told."
                ),
            )
            return redirect("workspace_detail", pk=workspace.pk)
    context = {"offering": offering, "form": form, **_estimate_context(request, offering, form)}
    status = 400 if request.method == "POST" else 200
    return render(request, "workspaces/request.html", context, status=status)


def _estimate_context(
    request: AuthenticatedRequest, offering: Offering, form: RequestForm | None = None
) -> dict[str, Any]:
    source = request.POST if request.method == "POST" else request.GET
    constraint = offering.constraint
    instance_type = source.get("instance_type") or constraint.allowed_instance_types[0]
    try:
        volume = int(source.get("volume_size_gb") or constraint.default_volume_gb)
    except ValueError:
        volume = constraint.default_volume_gb
    teams = _request_teams(request, offering)
    team = next((t for t in teams if str(t.pk) == source.get("team")), teams[0] if teams else None)
    context: dict[str, Any] = {"estimate_instance_type": instance_type, "estimate_volume": volume}
    if instance_type in constraint.allowed_instance_types:
        try:
            context["estimate"] = estimate_monthly(
                instance_type=instance_type,
                volume_size_gb=max(volume, 0),
                stop_outside_working_hours=constraint.stop_outside_working_hours,
            )
        except PriceUnknown as exc:
            context["estimate_error"] = str(exc)
    if team is not None:
        context["budget_team"] = team
        context["budget"] = budget_position(team)
    return context


@require_GET
@vary_on_headers("HX-Request")
def estimate(request: AuthenticatedRequest) -> HttpResponse:
    try:
        offering = _offering_for(request, int(request.GET.get("offering", "")))
    except ValueError:
        raise Http404("No such offering.") from None
    context = {"offering": offering, **_estimate_context(request, offering)}
    return render(request, "workspaces/request.html#estimate", context)


@require_GET
def my_workspaces(request: AuthenticatedRequest) -> HttpResponse:
    rows = selectors.workspaces_visible_to(request.user).filter(owner=request.user)
    return render(
        request,
        "workspaces/list.html",
        {"title": "My workspaces", "show_owner": False, **_list_page(request, rows)},
    )


@require_GET
def team_workspaces(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    team = team_for_user(request.user, slug, TeamAction.VIEW)
    if not (request.user.sees_every_team or team_role_of(request.user, team) == "approver"):
        raise PermissionDenied(
            "Only the team's approvers, admins, finance and auditors see all "
            "of a team's workspaces."
        )
    rows = selectors.workspaces_visible_to(request.user).filter(team=team)
    return render(
        request,
        "workspaces/list.html",
        {
            "title": f"{team.name}: workspaces",
            "team": team,
            "show_owner": True,
            **_list_page(request, rows),
        },
    )


# Where a workspace is on its way up, as the steps the page shows.
PROGRESS_STEPS = ("Queued", "Launching", "Configuring", "Ready")
TRANSITIONAL = {
    State.APPROVED,
    State.PROVISIONING,
    State.STOPPING,
    State.STARTING,
    State.TERMINATING,
}


def _progress(workspace: Workspace) -> dict[str, Any] | None:
    if workspace.state == State.APPROVED:
        current = 0
    elif workspace.state == State.PROVISIONING:
        current = 2 if workspace.sc_record_id else 1
    elif workspace.state == State.AVAILABLE and workspace.notebook_arn:
        current = 4
    else:
        return None
    return {
        "steps": [
            {"label": label, "done": i < current, "current": i == current}
            for i, label in enumerate(PROGRESS_STEPS)
        ]
    }


@vary_on_headers("HX-Request")
def workspace_detail(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    workspace = workspace_for_user(request.user, pk)
    if request.htmx:
        # The polled status, plus the timeline swapped in out of band so both stay current.
        status = render_to_string(
            "workspaces/detail.html#status", _status_context(request, workspace), request
        )
        timeline = render_to_string(
            "workspaces/detail.html#timeline",
            {"timeline": selectors.timeline_of(workspace), "oob": True},
            request,
        )
        return HttpResponse(status + timeline)
    return _render_detail(request, workspace)


def _status_context(request: AuthenticatedRequest, workspace: Workspace) -> dict[str, Any]:
    operator = can(request.user, workspace, WorkspaceAction.OPERATE)
    state = workspace.state
    return {
        "workspace": workspace,
        "progress": _progress(workspace),
        "polling": state in TRANSITIONAL,
        "may_open": operator and state == State.AVAILABLE,
        "may_stop": operator and state == State.AVAILABLE,
        "may_start": operator and state == State.STOPPED,
        "may_terminate": operator and state in {State.AVAILABLE, State.STOPPED, State.FAILED},
        "may_retry": state == State.FAILED
        and (workspace.owner_id == request.user.pk or can_decide(request.user, workspace)),
    }


def _render_detail(
    request: AuthenticatedRequest,
    workspace: Workspace,
    decision_form: DecisionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    may_decide = workspace.state == State.PENDING_APPROVAL and can(
        request.user, workspace, WorkspaceAction.DECIDE
    )
    context = {
        **_status_context(request, workspace),
        "timeline": selectors.timeline_of(workspace),
        "budget": budget_position(workspace.team),
        # Its spend this month and over 30 days, by AWS service (issue 7).
        "costs": workspace_costs(workspace),
        "tag_warning": tag_warning(),
        "may_decide": may_decide,
        "may_cancel": workspace.state == State.PENDING_APPROVAL
        and can(request.user, workspace, WorkspaceAction.CANCEL),
        "decision_form": decision_form or DecisionForm(),
        "is_own": workspace.owner_id == request.user.pk,
        **schedule_context(request.user, workspace),
    }
    return render(request, "workspaces/detail.html", context, status=status)


@require_POST
def workspace_decide(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    workspace = workspace_for_user(request.user, pk, WorkspaceAction.DECIDE)
    form = DecisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data["decision"] == "approve":
                services.workspace_approve(
                    actor=request.user,
                    workspace=workspace,
                    reason=data["reason"],
                    budget_override_reason=data["budget_override_reason"],
                )
                messages.success(request, f"Approved {workspace.name}; provisioning starts now.")
            else:
                services.workspace_reject(
                    actor=request.user, workspace=workspace, reason=data["reason"]
                )
                messages.success(request, f"Rejected {workspace.name}; the requester is told.")
        except ValidationError as error:
            form.apply_errors(error)
        except services.InvalidTransition as error:
            messages.error(request, str(error))
            return redirect("workspace_detail", pk=workspace.pk)
        else:
            return redirect("approval_queue")
    workspace.refresh_from_db()
    return _render_detail(request, workspace, form, status=400)


@require_POST
def workspace_cancel(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    workspace = workspace_for_user(request.user, pk, WorkspaceAction.CANCEL)
    try:
        services.workspace_cancel(actor=request.user, workspace=workspace)
    except services.InvalidTransition as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Cancelled the request for {workspace.name}.")
    return redirect("workspace_detail", pk=workspace.pk)


OPERATIONS = {
    "stop": (lifecycle.workspace_stop, "Stopping {name}."),
    "start": (lifecycle.workspace_start, "Starting {name}."),
    "terminate": (lifecycle.workspace_terminate, "Terminating {name}."),
    "retry": (lifecycle.workspace_retry, "Retrying {name}: provisioning starts again."),
}


@require_POST
def workspace_operate(request: AuthenticatedRequest, pk: str, action: str) -> HttpResponse:
    if action not in OPERATIONS:
        raise Http404("No such action.")
    workspace = workspace_for_user(request.user, pk)
    service, done = OPERATIONS[action]
    try:
        service(actor=request.user, workspace=workspace)
    except services.InvalidTransition as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done.format(name=workspace.name))
    return redirect("workspace_detail", pk=workspace.pk)


@require_POST
def workspace_open(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    workspace = workspace_for_user(request.user, pk, WorkspaceAction.OPERATE)
    try:
        url = lifecycle.workspace_open(actor=request.user, workspace=workspace)
    except services.InvalidTransition as error:
        messages.error(request, str(error))
        return redirect("workspace_detail", pk=workspace.pk)
    # A page with the link rather than a redirect: the CSP's form-action 'self' rightly
    # forbids a form submission from ending up on another origin.
    return render(
        request,
        "workspaces/open.html",
        {
            "workspace": workspace,
            "url": url,
            "session_minutes": lifecycle.PRESIGNED_URL_SECONDS // 60,
        },
    )


@require_GET
def approval_queue(request: AuthenticatedRequest) -> HttpResponse:
    if not (request.user.is_portal_admin or selectors.approver_team_ids(request.user)):
        raise PermissionDenied("Only approvers and admins have an approvals queue.")
    page = Paginator(selectors.approval_queue_for(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = list(page.object_list)
    positions = budget_positions(list({w.team_id: w.team for w in rows}.values()))
    # Each requester's other live workspaces, for all rows in one query.
    others: dict[int, list[Workspace]] = {}
    for other in (
        Workspace.objects.filter(owner_id__in={w.owner_id for w in rows}, state__in=LIVE_STATES)
        .exclude(pk__in=[w.pk for w in rows])
        .select_related("team")
        .order_by("created_at")
    ):
        others.setdefault(other.owner_id, []).append(other)
    items = [
        {"workspace": w, "budget": positions[w.team_id], "others": others.get(w.owner_id, [])}
        for w in rows
    ]
    return render(request, "workspaces/approvals.html", {"page": page, "items": items})


def notifications(request: AuthenticatedRequest) -> HttpResponse:
    mine = Notification.objects.filter(user=request.user)
    if request.method == "POST":
        mine.filter(read_at__isnull=True).update(read_at=timezone.now())
        messages.success(request, "All notifications marked as read.")
        return redirect("notifications")
    page = Paginator(mine.order_by("-created_at"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "workspaces/notifications.html", {"page": page})
