"""Pages for working hours and end dates: the owner keeps a workspace running or asks for an
extension from the workspace page (the ``_schedule.html`` fragment), and approvers decide
extensions on their own list.

The forms post here and come back to the workspace page (post/redirect/get); a rule the
service refuses comes back as a message naming it, since the fragment lives on a page this
module does not render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from portal.models import User
from portal.types import AuthenticatedRequest
from workspaces import schedules
from workspaces.models import ExtensionRequest, Workspace
from workspaces.permissions import WorkspaceAction, workspace_for_user
from workspaces.selectors import approver_team_ids
from workspaces.services import InvalidTransition

PAGE_SIZE = 25


class KeepRunningForm(forms.Form):
    until = forms.DateTimeField(
        label="Keep running until",
        input_formats=["%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class ExtensionForm(forms.Form):
    new_end_date = forms.DateField(
        label="New end date", widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class ExtensionDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


def _say_problems(request: AuthenticatedRequest, error: ValidationError) -> None:
    for problems in error.message_dict.values():
        for problem in problems:
            messages.error(request, problem)


def schedule_context(user: User, workspace: Workspace) -> dict[str, Any]:
    """What ``workspaces/_schedule.html`` needs besides ``workspace``; three small queries
    (team settings, grace period, pending extension) whatever the data."""
    now = timezone.now()
    hours = schedules.working_hours_of(workspace.team)
    today = hours.today(now)
    grace = schedules.grace_days_of(workspace.team)
    applies = workspace.offering.constraint.stop_outside_working_hours
    owner = workspace.owner_id == user.pk
    pending = schedules.pending_extension_of(workspace)
    until = workspace.keep_running_until
    kept_until = hours.local(until) if until is not None and until > now else None
    return {
        "schedule": {
            "applies": applies,
            "hours": hours.describe(),
            "time_zone": hours.zone.key,
            "kept_until": kept_until,
            "kept_reason": workspace.keep_running_reason if kept_until else "",
            "may_keep_running": owner
            and applies
            and workspace.state in schedules.KEEP_RUNNING_STATES,
            "may_end_keep_running": kept_until is not None and (owner or user.is_portal_admin),
            "keep_running_max_hours": int(schedules.KEEP_RUNNING_MAX.total_seconds() // 3600),
            "keep_running_form": KeepRunningForm(
                initial={"until": (hours.local(now) + dt.timedelta(hours=4)).replace(tzinfo=None)}
            ),
            "stop_on": workspace.end_date,
            "terminate_on": workspace.end_date + dt.timedelta(days=grace),
            "grace_days": grace,
            "expired": workspace.end_date <= today,
            "pending_extension": pending,
            "may_request_extension": owner
            and pending is None
            and workspace.state in schedules.EXTENDABLE_STATES,
            "may_decide_extension": pending is not None
            and schedules.can_decide_extension(user, pending),
            "extension_form": ExtensionForm(),
            "earliest_end_date": workspace.end_date + dt.timedelta(days=1),
            "latest_end_date": schedules.latest_end_date(workspace, today),
        }
    }


@require_POST
def keep_running(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    workspace = workspace_for_user(request.user, pk, WorkspaceAction.OPERATE)
    # The owner reads the time in the team's zone, which is what the page shows.
    with timezone.override(schedules.working_hours_of(workspace.team).zone):
        form = KeepRunningForm(request.POST)
        valid = form.is_valid()
    if not valid:
        messages.error(request, "Give a time and a reason to keep it running.")
        return redirect("workspace_detail", pk=workspace.pk)
    try:
        schedules.workspace_keep_running(
            actor=request.user,
            workspace=workspace,
            until=form.cleaned_data["until"],
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as error:
        _say_problems(request, error)
    except InvalidTransition as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{workspace.name} keeps running outside working hours.")
    return redirect("workspace_detail", pk=workspace.pk)


@require_POST
def keep_running_end(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    workspace = workspace_for_user(request.user, pk, WorkspaceAction.OPERATE)
    schedules.workspace_keep_running_end(actor=request.user, workspace=workspace)
    messages.success(request, f"{workspace.name} follows working hours again.")
    return redirect("workspace_detail", pk=workspace.pk)


@require_POST
def extension_request(request: AuthenticatedRequest, pk: str) -> HttpResponse:
    workspace = workspace_for_user(request.user, pk, WorkspaceAction.OPERATE)
    form = ExtensionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a new end date and a reason for the extension.")
        return redirect("workspace_detail", pk=workspace.pk)
    try:
        schedules.extension_request(actor=request.user, workspace=workspace, **form.cleaned_data)
    except ValidationError as error:
        _say_problems(request, error)
    except InvalidTransition as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Extension requested; an approver of your team decides.")
    return redirect("workspace_detail", pk=workspace.pk)


def _require_extension_list(user: User) -> None:
    if not (user.is_portal_admin or approver_team_ids(user)):
        raise PermissionDenied("Only approvers and admins decide extensions.")


@require_GET
def extension_queue(request: AuthenticatedRequest) -> HttpResponse:
    _require_extension_list(request.user)
    page = Paginator(schedules.pending_extensions_for(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "workspaces/extension.html", {"page": page})


@require_POST
def extension_decide(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    _require_extension_list(request.user)
    extension = schedules.pending_extensions_for(request.user).filter(pk=pk).first()
    if extension is None:
        raise Http404("No such pending extension.")
    form = ExtensionDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or reject.")
        return redirect("extension_queue")
    decide = (
        schedules.extension_approve
        if form.cleaned_data["decision"] == "approve"
        else schedules.extension_reject
    )
    try:
        decide(actor=request.user, extension=extension, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        _say_problems(request, error)
    except InvalidTransition as error:
        messages.error(request, str(error))
    else:
        verb = "Approved" if extension.state == ExtensionRequest.Status.APPROVED else "Rejected"
        messages.success(request, f"{verb} the extension of {extension.workspace.name}.")
    return redirect("extension_queue")
