"""Pages around signing in: the group mappings admins edit, the page for someone signed in
through the identity provider whose groups give no access yet, and the break-glass lockout."""

from __future__ import annotations

import logging
from typing import Any

from axes.signals import user_locked_out
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from governance.services import audit_record
from portal import services
from portal.models import GroupGrant, GroupMapping, Team, User
from portal.types import AuthenticatedRequest

logger = logging.getLogger(__name__)


# --- group mappings (admins) ------------------------------------------------------------------


def require_group_mapping_admin(user: User) -> None:
    """The mapping decides who becomes admin: only admins see or change it."""
    if not user.is_portal_admin:
        raise PermissionDenied("Only admins manage the sign-in group mappings.")


def group_mappings() -> QuerySet[GroupMapping]:
    return GroupMapping.objects.select_related("team").order_by("group", "grant", "team__name")


class GroupMappingForm(forms.Form):
    group = forms.CharField(
        label="Group",
        max_length=255,
        error_messages={
            "required": "Enter the group's name exactly as the identity provider sends it."
        },
    )
    grant = forms.ChoiceField(label="Role", choices=GroupGrant.choices)
    team = forms.ModelChoiceField(
        label="Team (for analyst and approver)",
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label="No team (global roles)",
        to_field_name="slug",
    )


@require_http_methods(["GET", "POST"])
def group_mapping_list(request: AuthenticatedRequest) -> HttpResponse:
    require_group_mapping_admin(request.user)
    form = GroupMappingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mapping = services.group_mapping_create(
                actor=request.user,
                group=form.cleaned_data["group"],
                grant=form.cleaned_data["grant"],
                team=form.cleaned_data["team"],
            )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            messages.success(
                request, f"Added: {mapping}. It applies at each member's next sign-in."
            )
            return redirect("sso_group_mappings")
    status = 400 if form.errors else 200
    return render(
        request,
        "portal/sso_group_mappings.html",
        {
            "form": form,
            "mappings": group_mappings(),
            "sso_enabled": settings.OIDC_ENABLED,
            "groups_claim": settings.OIDC_GROUPS_CLAIM,
        },
        status=status,
    )


@require_POST
def group_mapping_delete(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    require_group_mapping_admin(request.user)
    mapping = get_object_or_404(GroupMapping.objects.select_related("team"), pk=pk)
    label = str(mapping)
    services.group_mapping_delete(actor=request.user, mapping=mapping)
    messages.success(request, f"Deleted: {label}. Members lose the role at their next sign-in.")
    return redirect("sso_group_mappings")


# --- signed in, but no role yet ----------------------------------------------------------------


def no_access(request: AuthenticatedRequest) -> HttpResponse:
    return render(
        request,
        "portal/sso_no_access.html",
        {"groups": request.user.sso_groups, "provider_name": settings.OIDC_PROVIDER_NAME},
    )


# --- break-glass lockout (django-axes) ---------------------------------------------------------


def locked_out(request: HttpRequest, response: Any = None, credentials: Any = None) -> HttpResponse:
    """The page axes shows instead of the sign-in form once a username is locked (429)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "portal/sso_locked_out.html",
        {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "minutes": minutes,
            "sso_enabled": settings.OIDC_ENABLED,
            "provider_name": settings.OIDC_PROVIDER_NAME,
        },
        status=429,
    )


@receiver(user_locked_out)
def record_lockout(sender: Any, request: HttpRequest, username: str | None, **kwargs: Any) -> None:
    """Audit the moment a username locks (once: later refused attempts only extend it)."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures != settings.AXES_FAILURE_LIMIT:
        return
    logger.warning("break-glass sign-in locked for %r after %s failures", username, failures)
    user = User.objects.filter(username=username).first() if username else None
    if user is not None:
        audit_record(
            actor=None,
            action="user.locked_out",
            target=user,
            reason=f"{failures} failed sign-ins with a password; locked for "
            f"{int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)} minutes.",
        )
