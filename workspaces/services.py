"""Writes for the catalog's offerings and for workspaces.

Every transition is a compare-and-swap on the state (``filter(pk, state__in=...).update``):
a count other than one means someone else got there first, and ``InvalidTransition`` says
what the state is now. Each writes its audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from costs.selectors import BudgetStatus, PriceUnknown, budget_position, estimate_monthly
from governance.models import OfferingConstraint
from governance.services import audit_record
from portal.models import Project, Role, Team, User
from portal.notifications import notify
from portal.selectors import approvers_of, team_role_of
from workspaces.models import Offering, ProductVersion, State, Workspace
from workspaces.rules import NON_FIELD, RequestInput, check_request


class InvalidTransition(Exception):
    """The workspace is not in a state that allows the action (HTTP 409)."""


def _raise_problems(problems: dict[str, list[str]]) -> None:
    if problems:
        raise ValidationError({field: messages for field, messages in problems.items()})


def _transition(
    workspace: Workspace,
    *,
    allowed_from: Iterable[State],
    to: State,
    actor: User | None,
    action: str,
    verb: str,
    reason: str = "",
    **fields: Any,
) -> Workspace:
    allowed = [str(s) for s in allowed_from]
    now = timezone.now()
    updated = Workspace.objects.filter(pk=workspace.pk, state__in=allowed).update(
        state=to, state_changed_at=now, state_reason=reason, **fields
    )
    if updated != 1:
        current = Workspace.objects.filter(pk=workspace.pk).values_list("state", flat=True).first()
        label = State(current).label.lower() if current else "gone"
        raise InvalidTransition(f"Cannot {verb} {workspace.name}: it is {label}.")
    before = {"state": workspace.state}
    workspace.refresh_from_db()
    after: dict[str, Any] = {"state": workspace.state}
    after.update({k: str(v) for k, v in fields.items() if k not in {"decided_at"}})
    audit_record(
        actor=actor,
        action=action,
        target=workspace,
        team=workspace.team,
        before=before,
        after=after,
        reason=reason,
    )
    return workspace


def _workspace_url(workspace: Workspace) -> str:
    return reverse("workspace_detail", args=[workspace.pk])


def _enqueue_provisioning(workspace: Workspace) -> None:
    from workspaces.tasks import provision_workspace

    # delay_on_commit (Celery 5.4+): a rolled-back approval enqueues nothing.
    provision_workspace.delay_on_commit(str(workspace.pk))  # type: ignore[attr-defined]


# --- offerings ------------------------------------------------------------------------------


@transaction.atomic
def offering_publish(
    *,
    actor: User | None,
    version: ProductVersion,
    title: str,
    summary: str,
    teams: Iterable[Team],
    allowed_instance_types: list[str],
    default_volume_gb: int = 20,
    max_volume_gb: int = 100,
    max_lifetime_days: int = 90,
    max_live_per_user: int = 2,
    max_live_per_team: int = 20,
    stop_outside_working_hours: bool = True,
    approval_required: bool = True,
) -> Offering:
    if actor is not None and not actor.is_portal_admin:
        raise PermissionDenied("Only admins publish offerings.")
    problems: dict[str, list[str]] = {}
    if not version.requestable:
        problems["version"] = ["This version is retired or inactive in Service Catalog."]
    outside = sorted(set(allowed_instance_types) - set(version.allowed_instance_types))
    if not allowed_instance_types:
        problems["allowed_instance_types"] = ["Allow at least one instance type."]
    elif outside:
        problems["allowed_instance_types"] = [
            f"The product does not allow {', '.join(outside)}; choose from "
            f"{', '.join(version.allowed_instance_types)}."
        ]
    if default_volume_gb > max_volume_gb:
        problems["default_volume_gb"] = ["The default volume cannot exceed the largest."]
    _raise_problems(problems)
    offering = Offering.objects.create(
        version=version, title=title.strip(), summary=summary.strip(), published_by=actor
    )
    team_list = list(teams)
    offering.teams.set(team_list)
    constraint = OfferingConstraint.objects.create(
        offering=offering,
        allowed_instance_types=list(allowed_instance_types),
        default_volume_gb=default_volume_gb,
        max_volume_gb=max_volume_gb,
        max_lifetime_days=max_lifetime_days,
        max_live_per_user=max_live_per_user,
        max_live_per_team=max_live_per_team,
        stop_outside_working_hours=stop_outside_working_hours,
        approval_required=approval_required,
    )
    audit_record(
        actor=actor,
        action="offering.publish",
        target=offering,
        after={
            "title": offering.title,
            "version": version.artifact_id,
            "teams": sorted(t.slug for t in team_list),
            "constraint": constraint_values(constraint),
        },
    )
    return offering


def constraint_values(constraint: OfferingConstraint) -> dict[str, Any]:
    return {
        "allowed_instance_types": list(constraint.allowed_instance_types),
        "default_volume_gb": constraint.default_volume_gb,
        "max_volume_gb": constraint.max_volume_gb,
        "max_lifetime_days": constraint.max_lifetime_days,
        "max_live_per_user": constraint.max_live_per_user,
        "max_live_per_team": constraint.max_live_per_team,
        "stop_outside_working_hours": constraint.stop_outside_working_hours,
        "approval_required": constraint.approval_required,
    }


# --- requests and decisions -----------------------------------------------------------------


@transaction.atomic
def workspace_request(
    *,
    actor: User,
    offering: Offering,
    team: Team,
    project: Project,
    name: str,
    instance_type: str,
    volume_size_gb: int,
    end_date: dt.date,
    justification: str,
) -> Workspace:
    """Validate and record a request; auto-approve it when the offering allows and the team's
    budget is healthy. Nothing is written when any rule is broken."""
    # One request at a time per team, so two concurrent requests cannot both pass a quota.
    Team.objects.select_for_update().filter(pk=team.pk).first()
    data = RequestInput(
        offering,
        team,
        project,
        name.strip(),
        instance_type,
        volume_size_gb,
        end_date,
        justification.strip(),
    )
    budget = budget_position(team)
    problems = check_request(user=actor, data=data, budget=budget)
    _raise_problems(problems)
    constraint = offering.constraint  # check_request guarantees a published offering has one
    try:
        estimate = estimate_monthly(
            instance_type=instance_type,
            volume_size_gb=volume_size_gb,
            stop_outside_working_hours=constraint.stop_outside_working_hours,
        )
    except PriceUnknown as exc:
        raise ValidationError({"instance_type": [str(exc)]}) from exc

    workspace = Workspace.objects.create(
        team=team,
        project=project,
        owner=actor,
        offering=offering,
        name=data.name,
        instance_type=instance_type,
        volume_size_gb=volume_size_gb,
        end_date=end_date,
        justification=data.justification,
        estimated_monthly_usd=estimate.monthly_usd,
    )
    audit_record(
        actor=actor,
        action="workspace.request",
        target=workspace,
        team=team,
        after={
            "state": workspace.state,
            "offering": offering.title,
            "instance_type": instance_type,
            "volume_size_gb": volume_size_gb,
            "end_date": end_date.isoformat(),
            "estimated_monthly_usd": str(estimate.monthly_usd),
        },
    )
    auto = not constraint.approval_required and budget.status in {
        BudgetStatus.NONE,
        BudgetStatus.HEALTHY,
    }
    if auto:
        _transition(
            workspace,
            allowed_from=[State.PENDING_APPROVAL],
            to=State.APPROVED,
            actor=None,
            action="workspace.auto_approve",
            verb="approve",
            reason="Auto-approved: within every limit, and the team's budget is healthy.",
            decided_at=timezone.now(),
        )
        _enqueue_provisioning(workspace)
        notify(
            [actor],
            subject=f"Workspace {workspace.name} approved automatically",
            body="It is within every limit of its offering; provisioning starts now.",
            url=_workspace_url(workspace),
        )
    else:
        notify(
            approvers_of(team).exclude(pk=actor.pk),
            subject=f"New workspace request from {actor.display_name}: {workspace.name}",
            body=(
                f"{actor.display_name} asks for {offering.title} ({instance_type}, "
                f"{volume_size_gb} GB) in {team.name} / {project.name}, estimated "
                f"${estimate.monthly_usd}/month.\nJustification: {data.justification}"
            ),
            url=reverse("approval_queue"),
        )
    return workspace


def can_decide(user: User, workspace: Workspace) -> bool:
    """Approvers of the team and admins decide; never on their own request."""
    if workspace.owner_id == user.pk:
        return False
    return user.is_portal_admin or team_role_of(user, workspace.team) == Role.APPROVER


def _require_decider(actor: User, workspace: Workspace) -> None:
    if workspace.owner_id == actor.pk:
        raise PermissionDenied("Nobody approves or rejects their own request.")
    if not can_decide(actor, workspace):
        raise PermissionDenied(f"Only approvers of {workspace.team.name} and admins decide.")


def _require_pending(workspace: Workspace, verb: str) -> None:
    """A decision is only for a pending request: 409 before any 400 about its content."""
    if workspace.state != State.PENDING_APPROVAL:
        raise InvalidTransition(
            f"Cannot {verb} {workspace.name}: it is {workspace.get_state_display().lower()}."
        )


@transaction.atomic
def workspace_approve(
    *, actor: User, workspace: Workspace, reason: str = "", budget_override_reason: str = ""
) -> Workspace:
    """Approve after checking the request again against today's constraints and budget."""
    _require_decider(actor, workspace)
    _require_pending(workspace, "approve")
    data = RequestInput(
        workspace.offering,
        workspace.team,
        workspace.project,
        workspace.name,
        workspace.instance_type,
        workspace.volume_size_gb,
        workspace.end_date,
        workspace.justification,
    )
    budget = budget_position(workspace.team)
    problems = check_request(
        user=workspace.owner, data=data, budget=budget, exclude=workspace, budget_is_blocking=False
    )
    # A request that broke a limit since it was made (a constraint tightened, a quota filled)
    # is no longer approvable as it stands.
    _raise_problems(problems)
    if budget.exhausted and not budget_override_reason.strip():
        raise ValidationError(
            {
                "budget_override_reason": [
                    f"{workspace.team.name} is at {budget.percent} % of its monthly budget; "
                    "approving needs a written override reason."
                ]
            }
        )
    workspace = _transition(
        workspace,
        allowed_from=[State.PENDING_APPROVAL],
        to=State.APPROVED,
        actor=actor,
        action="workspace.approve",
        verb="approve",
        reason=reason.strip(),
        approver=actor,
        decided_at=timezone.now(),
        decision_reason=reason.strip(),
        budget_override_reason=budget_override_reason.strip() if budget.exhausted else "",
    )
    _enqueue_provisioning(workspace)
    notify(
        [workspace.owner],
        subject=f"Workspace {workspace.name} approved",
        body=f"{actor.display_name} approved it. {reason}".strip() + "\nProvisioning starts now.",
        url=_workspace_url(workspace),
    )
    return workspace


@transaction.atomic
def workspace_reject(*, actor: User, workspace: Workspace, reason: str) -> Workspace:
    _require_decider(actor, workspace)
    _require_pending(workspace, "reject")
    if not reason.strip():
        raise ValidationError(
            {"reason": ["Say why the request is rejected; the requester sees it."]}
        )
    workspace = _transition(
        workspace,
        allowed_from=[State.PENDING_APPROVAL],
        to=State.REJECTED,
        actor=actor,
        action="workspace.reject",
        verb="reject",
        reason=reason.strip(),
        approver=actor,
        decided_at=timezone.now(),
        decision_reason=reason.strip(),
    )
    notify(
        [workspace.owner],
        subject=f"Workspace {workspace.name} rejected",
        body=f"{actor.display_name} rejected it: {reason.strip()}",
        url=_workspace_url(workspace),
    )
    return workspace


@transaction.atomic
def workspace_cancel(*, actor: User, workspace: Workspace) -> Workspace:
    if workspace.owner_id != actor.pk:
        raise PermissionDenied("Only the requester can cancel a request.")
    return _transition(
        workspace,
        allowed_from=[State.PENDING_APPROVAL],
        to=State.CANCELLED,
        actor=actor,
        action="workspace.cancel",
        verb="cancel",
        reason="Cancelled by the requester.",
    )


__all__ = [
    "NON_FIELD",
    "InvalidTransition",
    "can_decide",
    "offering_publish",
    "workspace_approve",
    "workspace_cancel",
    "workspace_reject",
    "workspace_request",
]
