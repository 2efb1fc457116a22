"""Working hours, keep-running exceptions, end dates and their extensions.

Two sweeps run on beat (``portal/celery.py``):

- ``stop_outside_working_hours`` (every 5 minutes) stops available workspaces whose
  offering says so, while their team is outside its working hours (weekdays only, in the
  team's time zone), unless the owner asked to keep that workspace running until a moment
  not yet passed.
- ``enforce_end_dates`` (every 15 minutes) reminds the owner three days and one day before
  the end date (each once per end date, recorded in ``ExpiryNotice``), stops the workspace
  when its end date begins in the team's time zone, and terminates it once the team's grace
  period (``ExpiryPolicy``, default ``DEFAULT_GRACE_DAYS``) is over.

Both act only through the lifecycle services, so every stop and terminate is a
compare-and-swap with its audit event, and a sweep that runs twice (or twice at once) does
nothing twice. Both take ``now`` so that tests control time instead of sleeping.

Extensions move the end date later through approval. The new date is checked against the
offering's ``max_lifetime_days`` counted from the day of the request and again from the day
of the decision (the team's today), as a new request is: a workspace requested for its full
lifetime can still be extended, and every extension is a human decision.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from governance.models import TeamSettings
from governance.services import audit_record
from portal.models import Team, User
from portal.notifications import notify
from portal.selectors import approvers_of
from workspaces import lifecycle
from workspaces.models import (
    ExpiryNotice,
    ExpiryPolicy,
    ExtensionRequest,
    State,
    Workspace,
)
from workspaces.selectors import approver_team_ids
from workspaces.services import InvalidTransition, can_decide

logger = logging.getLogger(__name__)

# TeamSettings' own defaults, for a team an admin has not configured yet.
DEFAULT_TIME_ZONE = "America/New_York"
DEFAULT_START = dt.time(7, 0)
DEFAULT_END = dt.time(19, 0)
WORKDAYS = frozenset(range(5))  # Monday to Friday

# Long enough to cover a weekend (Friday 19:00 to Monday 07:00 is 60 hours) or a long
# training run, short enough that a forgotten exception costs at most three days of runtime.
KEEP_RUNNING_MAX = dt.timedelta(hours=72)
KEEP_RUNNING_STATES = frozenset({State.AVAILABLE, State.STARTING, State.STOPPED})

DEFAULT_GRACE_DAYS = 7
MAX_GRACE_DAYS = 90
NOTICE_DAYS = {ExpiryNotice.Kind.THREE_DAYS: 3, ExpiryNotice.Kind.ONE_DAY: 1}

# Exists (or is about to) and has not been asked to go away.
EXTENDABLE_STATES = frozenset(
    {
        State.APPROVED,
        State.PROVISIONING,
        State.AVAILABLE,
        State.STOPPING,
        State.STOPPED,
        State.STARTING,
        State.FAILED,
    }
)
# Same list and order as the partial index workspace_live_end_date_idx, so the planner
# recognises the sweep's filter as the index's predicate.
_FINAL = ["rejected", "cancelled", "terminated"]


# --- working hours ----------------------------------------------------------------------------


def _as_time(value: dt.time | str) -> dt.time:
    # An unsaved TeamSettings still holds its default as the string "07:00".
    return value if isinstance(value, dt.time) else dt.time.fromisoformat(value)


@dataclass(frozen=True)
class WorkingHours:
    """A team's working hours: weekdays from ``start`` to ``end`` in ``zone``."""

    zone: zoneinfo.ZoneInfo
    start: dt.time = DEFAULT_START
    end: dt.time = DEFAULT_END

    def local(self, now: dt.datetime) -> dt.datetime:
        return now.astimezone(self.zone)

    def today(self, now: dt.datetime) -> dt.date:
        return self.local(now).date()

    def contains(self, now: dt.datetime) -> bool:
        local = self.local(now)
        if local.weekday() not in WORKDAYS:
            return False
        t = local.time()
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # a night shift crossing midnight

    def describe(self) -> str:
        return f"{self.start:%H:%M} to {self.end:%H:%M} on weekdays, {self.zone.key}"


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # The admin's service validates the zone; a bad row must not stop every sweep.
        logger.error("unknown time zone %r, using %s", name, DEFAULT_TIME_ZONE)
        return zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE)


def working_hours_of(team: Team) -> WorkingHours:
    try:
        settings: TeamSettings = team.settings
    except TeamSettings.DoesNotExist:
        return WorkingHours(zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE))
    return WorkingHours(
        _zone(settings.time_zone),
        _as_time(settings.working_hours_start),
        _as_time(settings.working_hours_end),
    )


def grace_days_of(team: Team) -> int:
    try:
        return int(team.expiry_policy.grace_days)
    except ExpiryPolicy.DoesNotExist:
        return DEFAULT_GRACE_DAYS


@dataclass
class SweepReport:
    """What one sweep did, by workspace name; ``skipped`` lost a race or was in a state that
    no longer allowed the action."""

    notified: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.__dict__.items()}


def stop_outside_working_hours(*, now: dt.datetime | None = None) -> SweepReport:
    now = now or timezone.now()
    report = SweepReport()
    candidates = (
        Workspace.objects.filter(
            state=State.AVAILABLE, offering__constraint__stop_outside_working_hours=True
        )
        .filter(Q(keep_running_until__isnull=True) | Q(keep_running_until__lte=now))
        .select_related("team__settings")
        .order_by("team_id", "pk")
    )
    hours_of: dict[int, WorkingHours] = {}
    for workspace in candidates:
        if workspace.team_id not in hours_of:
            hours_of[workspace.team_id] = working_hours_of(workspace.team)
        hours = hours_of[workspace.team_id]
        if hours.contains(now):
            continue
        try:
            lifecycle.workspace_stop(
                actor=None,
                workspace=workspace,
                reason=f"Stopped outside working hours ({hours.describe()}).",
            )
        except InvalidTransition:
            report.skipped.append(workspace.name)
        else:
            report.stopped.append(workspace.name)
    return report


# --- end dates ----------------------------------------------------------------------------------


def _notice_kind(days_left: int) -> ExpiryNotice.Kind | None:
    """The reminder due with ``days_left`` days to go. A sweep that missed the exact day
    (beat down over a weekend) still sends the nearer one, but never both."""
    if days_left <= 0:
        return None
    if days_left <= NOTICE_DAYS[ExpiryNotice.Kind.ONE_DAY]:
        return ExpiryNotice.Kind.ONE_DAY
    if days_left <= NOTICE_DAYS[ExpiryNotice.Kind.THREE_DAYS]:
        return ExpiryNotice.Kind.THREE_DAYS
    return None


def _workspace_url(workspace: Workspace) -> str:
    return reverse("workspace_detail", args=[workspace.pk])


@transaction.atomic
def _send_notice(
    workspace: Workspace, kind: ExpiryNotice.Kind, *, grace_days: int, now: dt.datetime
) -> bool:
    # The unique constraint makes a concurrent sweep's insert wait and then find this row.
    _, created = ExpiryNotice.objects.get_or_create(
        workspace=workspace, end_date=workspace.end_date, kind=kind, defaults={"sent_at": now}
    )
    if not created:
        return False
    when = "tomorrow" if kind == ExpiryNotice.Kind.ONE_DAY else "in three days"
    terminate_on = workspace.end_date + dt.timedelta(days=grace_days)
    notify(
        [workspace.owner],
        subject=f"Workspace {workspace.name} ends {when} ({workspace.end_date:%Y-%m-%d})",
        body=(
            f"On {workspace.end_date:%Y-%m-%d} it will be stopped, and on "
            f"{terminate_on:%Y-%m-%d} terminated with its data. To keep it longer, request "
            "an extension on its page; an approver of your team decides."
        ),
        url=_workspace_url(workspace),
    )
    audit_record(
        actor=None,
        action="workspace.expiry_notice",
        target=workspace,
        team=workspace.team,
        after={"kind": str(kind), "end_date": workspace.end_date.isoformat()},
    )
    return True


def enforce_end_dates(*, now: dt.datetime | None = None) -> SweepReport:
    now = now or timezone.now()
    report = SweepReport()
    # No team's local date is more than a day ahead of UTC's.
    horizon = now.astimezone(dt.UTC).date() + dt.timedelta(days=max(NOTICE_DAYS.values()) + 1)
    candidates = list(
        Workspace.objects.exclude(state__in=_FINAL)
        .filter(end_date__lte=horizon)
        .exclude(state__in=[State.PENDING_APPROVAL, State.TERMINATING])
        .select_related("team__settings", "team__expiry_policy", "owner")
        .order_by("end_date", "pk")
    )
    sent = set(
        ExpiryNotice.objects.filter(workspace__in=candidates).values_list(
            "workspace_id", "end_date", "kind"
        )
    )
    for workspace in candidates:
        today = working_hours_of(workspace.team).today(now)
        grace = grace_days_of(workspace.team)
        days_left = (workspace.end_date - today).days
        kind = _notice_kind(days_left)
        if kind is not None:
            if (workspace.pk, workspace.end_date, str(kind)) not in sent and _send_notice(
                workspace, kind, grace_days=grace, now=now
            ):
                report.notified.append(workspace.name)
            continue
        if days_left > 0:
            continue
        terminate_on = workspace.end_date + dt.timedelta(days=grace)
        try:
            if today >= terminate_on and workspace.state in {
                State.AVAILABLE,
                State.STOPPED,
                State.FAILED,
            }:
                lifecycle.workspace_terminate(
                    actor=None,
                    workspace=workspace,
                    reason=f"Ended on {workspace.end_date:%Y-%m-%d} and its {grace}-day grace "
                    "period is over.",
                )
                report.terminated.append(workspace.name)
            elif workspace.state == State.AVAILABLE:
                lifecycle.workspace_stop(
                    actor=None,
                    workspace=workspace,
                    reason=f"Reached its end date {workspace.end_date:%Y-%m-%d}; it will be "
                    f"terminated on {terminate_on:%Y-%m-%d} unless an extension is approved.",
                )
                report.stopped.append(workspace.name)
        except InvalidTransition:
            report.skipped.append(workspace.name)
    return report


# --- keep running -------------------------------------------------------------------------------


def _raise_problems(problems: dict[str, list[str]]) -> None:
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def workspace_keep_running(
    *,
    actor: User,
    workspace: Workspace,
    until: dt.datetime,
    reason: str,
    now: dt.datetime | None = None,
) -> Workspace:
    """The owner's exception to working hours, with a reason and an end (at most
    ``KEEP_RUNNING_MAX`` ahead). It does not postpone the end date."""
    if workspace.owner_id != actor.pk:
        raise PermissionDenied("Only the workspace's owner asks to keep it running.")
    now = now or timezone.now()
    if workspace.state not in KEEP_RUNNING_STATES:
        raise InvalidTransition(
            f"Cannot keep {workspace.name} running: it is {workspace.get_state_display().lower()}."
        )
    reason = reason.strip()
    problems: dict[str, list[str]] = {}
    if not reason:
        problems["reason"] = ["Say why it must keep running; the audit trail records it."]
    if until <= now:
        problems["until"] = ["Choose a moment in the future."]
    elif until > now + KEEP_RUNNING_MAX:
        hours = int(KEEP_RUNNING_MAX.total_seconds() // 3600)
        problems["until"] = [f"At most {hours} hours ahead; ask again when it runs out."]
    _raise_problems(problems)
    before = {
        "keep_running_until": (
            workspace.keep_running_until.isoformat() if workspace.keep_running_until else None
        )
    }
    Workspace.objects.filter(pk=workspace.pk).update(
        keep_running_until=until, keep_running_reason=reason
    )
    workspace.keep_running_until, workspace.keep_running_reason = until, reason
    audit_record(
        actor=actor,
        action="workspace.keep_running",
        target=workspace,
        team=workspace.team,
        before=before,
        after={"keep_running_until": until.isoformat()},
        reason=reason,
    )
    return workspace


@transaction.atomic
def workspace_keep_running_end(*, actor: User, workspace: Workspace) -> Workspace:
    """Back to the schedule before the exception runs out (the owner or an admin)."""
    if workspace.owner_id != actor.pk and not actor.is_portal_admin:
        raise PermissionDenied("Only the workspace's owner and admins end the exception.")
    if workspace.keep_running_until is None:
        return workspace
    before = {"keep_running_until": workspace.keep_running_until.isoformat()}
    Workspace.objects.filter(pk=workspace.pk).update(
        keep_running_until=None, keep_running_reason=""
    )
    workspace.keep_running_until, workspace.keep_running_reason = None, ""
    audit_record(
        actor=actor,
        action="workspace.keep_running_end",
        target=workspace,
        team=workspace.team,
        before=before,
        after={"keep_running_until": None},
    )
    return workspace


# --- extensions ---------------------------------------------------------------------------------


def latest_end_date(workspace: Workspace, today: dt.date) -> dt.date:
    return today + dt.timedelta(days=workspace.offering.constraint.max_lifetime_days)


def _end_date_problems(workspace: Workspace, new_end_date: dt.date, today: dt.date) -> list[str]:
    latest = latest_end_date(workspace, today)
    if new_end_date <= workspace.end_date:
        return [f"Choose a date after the current end date, {workspace.end_date:%Y-%m-%d}."]
    if new_end_date <= today:
        return ["The new end date must be after today."]
    if new_end_date > latest:
        days = workspace.offering.constraint.max_lifetime_days
        return [f"The longest lifetime is {days} days from today: {latest:%Y-%m-%d} at the latest."]
    return []


def _today(workspace: Workspace, now: dt.datetime | None) -> dt.date:
    return working_hours_of(workspace.team).today(now or timezone.now())


@transaction.atomic
def extension_request(
    *,
    actor: User,
    workspace: Workspace,
    new_end_date: dt.date,
    reason: str,
    now: dt.datetime | None = None,
) -> ExtensionRequest:
    if workspace.owner_id != actor.pk:
        raise PermissionDenied("Only the workspace's owner asks for an extension.")
    if workspace.state not in EXTENDABLE_STATES:
        raise InvalidTransition(
            f"Cannot extend {workspace.name}: it is {workspace.get_state_display().lower()}."
        )
    reason = reason.strip()
    problems: dict[str, list[str]] = {}
    if not reason:
        problems["reason"] = ["Say why it needs longer; your approver reads this."]
    date_problems = _end_date_problems(workspace, new_end_date, _today(workspace, now))
    if date_problems:
        problems["new_end_date"] = date_problems
    if ExtensionRequest.objects.filter(
        workspace=workspace, state=ExtensionRequest.Status.PENDING
    ).exists():
        problems["__all__"] = ["An extension is already waiting for a decision."]
    _raise_problems(problems)
    extension = ExtensionRequest.objects.create(
        workspace=workspace,
        requested_by=actor,
        current_end_date=workspace.end_date,
        new_end_date=new_end_date,
        reason=reason,
    )
    audit_record(
        actor=actor,
        action="workspace.extension_request",
        target=workspace,
        team=workspace.team,
        before={"end_date": workspace.end_date.isoformat()},
        after={"extension": extension.pk, "new_end_date": new_end_date.isoformat()},
        reason=reason,
    )
    notify(
        approvers_of(workspace.team).exclude(pk=actor.pk),
        subject=f"{actor.display_name} asks to extend {workspace.name}",
        body=(
            f"From {workspace.end_date:%Y-%m-%d} to {new_end_date:%Y-%m-%d} "
            f"({workspace.team.name}).\nReason: {reason}"
        ),
        url=reverse("extension_queue"),
    )
    return extension


def can_decide_extension(user: User, extension: ExtensionRequest) -> bool:
    return extension.requested_by_id != user.pk and can_decide(user, extension.workspace)


def _require_extension_decider(actor: User, extension: ExtensionRequest) -> None:
    if extension.requested_by_id == actor.pk or extension.workspace.owner_id == actor.pk:
        raise PermissionDenied("Nobody approves or rejects their own extension.")
    if not can_decide(actor, extension.workspace):
        raise PermissionDenied(
            f"Only approvers of {extension.workspace.team.name} and admins decide."
        )


def _decide(
    extension: ExtensionRequest,
    *,
    actor: User,
    to: ExtensionRequest.Status,
    reason: str,
    now: dt.datetime,
) -> None:
    updated = ExtensionRequest.objects.filter(
        pk=extension.pk, state=ExtensionRequest.Status.PENDING
    ).update(state=to, decided_by=actor, decided_at=now, decision_reason=reason)
    if updated != 1:
        raise InvalidTransition("This extension has already been decided.")
    extension.refresh_from_db()


@transaction.atomic
def extension_approve(
    *,
    actor: User,
    extension: ExtensionRequest,
    reason: str = "",
    now: dt.datetime | None = None,
) -> ExtensionRequest:
    """Move the end date, after checking the new date again against today's constraint."""
    _require_extension_decider(actor, extension)
    now = now or timezone.now()
    workspace = extension.workspace
    if extension.state != ExtensionRequest.Status.PENDING:
        raise InvalidTransition("This extension has already been decided.")
    problems = _end_date_problems(workspace, extension.new_end_date, _today(workspace, now))
    if problems:
        raise ValidationError({"new_end_date": problems})
    _decide(
        extension, actor=actor, to=ExtensionRequest.Status.APPROVED, reason=reason.strip(), now=now
    )
    # The end date it was asked against: a concurrent change means the question is stale.
    moved = Workspace.objects.filter(
        pk=workspace.pk, state__in=EXTENDABLE_STATES, end_date=extension.current_end_date
    ).update(end_date=extension.new_end_date)
    if moved != 1:
        raise InvalidTransition(f"Cannot extend {workspace.name}: it changed meanwhile.")
    before = {"end_date": workspace.end_date.isoformat()}
    workspace.end_date = extension.new_end_date
    audit_record(
        actor=actor,
        action="workspace.extension_approve",
        target=workspace,
        team=workspace.team,
        before=before,
        after={"end_date": extension.new_end_date.isoformat(), "extension": extension.pk},
        reason=reason.strip(),
    )
    body = f"{actor.display_name} moved its end date to {extension.new_end_date:%Y-%m-%d}."
    if reason.strip():
        body += f" {reason.strip()}"
    if workspace.state == State.STOPPED:
        body += "\nIt is stopped; start it from its page when you need it."
    notify(
        [extension.requested_by],
        subject=f"Extension of {workspace.name} approved",
        body=body,
        url=_workspace_url(workspace),
    )
    return extension


@transaction.atomic
def extension_reject(
    *, actor: User, extension: ExtensionRequest, reason: str, now: dt.datetime | None = None
) -> ExtensionRequest:
    _require_extension_decider(actor, extension)
    if not reason.strip():
        raise ValidationError({"reason": ["Say why; the requester sees it."]})
    workspace = extension.workspace
    _decide(
        extension,
        actor=actor,
        to=ExtensionRequest.Status.REJECTED,
        reason=reason.strip(),
        now=now or timezone.now(),
    )
    audit_record(
        actor=actor,
        action="workspace.extension_reject",
        target=workspace,
        team=workspace.team,
        after={"extension": extension.pk, "new_end_date": extension.new_end_date.isoformat()},
        reason=reason.strip(),
    )
    notify(
        [extension.requested_by],
        subject=f"Extension of {workspace.name} rejected",
        body=f"{actor.display_name} rejected moving its end date: {reason.strip()}",
        url=_workspace_url(workspace),
    )
    return extension


def pending_extensions_for(user: User) -> QuerySet[ExtensionRequest]:
    """Pending extensions the user may decide, oldest first; never their own."""
    rows = (
        ExtensionRequest.objects.filter(state=ExtensionRequest.Status.PENDING)
        .exclude(requested_by=user)
        .exclude(workspace__owner=user)
        .select_related("workspace__team", "workspace__owner", "requested_by")
        .order_by("created_at", "id")
    )
    if not user.is_portal_admin:
        rows = rows.filter(workspace__team_id__in=approver_team_ids(user))
    return rows


def pending_extension_of(workspace: Workspace) -> ExtensionRequest | None:
    return ExtensionRequest.objects.filter(
        workspace=workspace, state=ExtensionRequest.Status.PENDING
    ).first()


# --- the admin's grace period -------------------------------------------------------------------


@transaction.atomic
def expiry_policy_set(*, actor: User | None, team: Team, grace_days: int) -> ExpiryPolicy:
    """Admins set how long a team's expired workspaces stay stopped before termination.
    It applies to every live workspace of the team from the next sweep on."""
    if actor is not None and not actor.is_portal_admin:
        raise PermissionDenied("Only admins change the grace period.")
    if not 0 <= grace_days <= MAX_GRACE_DAYS:
        raise ValidationError(
            {"grace_days": [f"Between 0 and {MAX_GRACE_DAYS} days, not {grace_days}."]}
        )
    current = ExpiryPolicy.objects.filter(team=team).first()
    before: dict[str, Any] = {"grace_days": current.grace_days if current else DEFAULT_GRACE_DAYS}
    policy, _ = ExpiryPolicy.objects.update_or_create(
        team=team, defaults={"grace_days": grace_days}
    )
    audit_record(
        actor=actor,
        action="team.expiry_policy",
        target=policy,
        team=team,
        before=before,
        after={"grace_days": grace_days},
    )
    return policy
