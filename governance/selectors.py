"""Reads for compliance and the audit trail, already narrowed to what the user may see.

The filter forms live here because they are the selectors' input: the page, its CSV/JSON
export and the API parse the same form into the same queryset, so they cannot disagree about
which rows a filter means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from governance.compliance import GUIDANCE
from governance.models import AuditEvent, CheckStatus, ComplianceResult, ComplianceSummary, Control
from governance.retention import retention_policy
from portal.models import Membership, Role, Team, User
from portal.selectors import teams_visible_to

# --- compliance -----------------------------------------------------------------------------


def latest_summary(team: Team) -> ComplianceSummary | None:
    return (
        ComplianceSummary.objects.filter(team=team)
        .select_related("run")
        .order_by("-evaluated_at", "-id")
        .first()
    )


@dataclass(frozen=True)
class ControlCount:
    control: str
    label: str
    passed: int
    failed: int
    not_applicable: int


def control_counts(summary: ComplianceSummary | None) -> list[ControlCount]:
    """Pass/fail per control in the team's latest run, every control listed (one query)."""
    counts: dict[tuple[str, str], int] = {}
    if summary is not None:
        rows = (
            ComplianceResult.objects.filter(team_id=summary.team_id, run_id=summary.run_id)
            .values("control", "status")
            .annotate(n=Count("id"))
            .order_by()
        )
        counts = {(r["control"], r["status"]): r["n"] for r in rows}
    return [
        ControlCount(
            control,
            label,
            counts.get((control, CheckStatus.PASS), 0),
            counts.get((control, CheckStatus.FAIL), 0),
            counts.get((control, CheckStatus.NOT_APPLICABLE), 0),
        )
        for control, label in Control.choices
    ]


@dataclass
class FailingResource:
    name: str
    arn: str
    workspace_id: Any
    workspace_name: str
    failures: list[ComplianceResult]

    @property
    def managed(self) -> bool:
        return self.workspace_id is not None


def failing_resource_names(
    summary: ComplianceSummary | None,
) -> QuerySet[ComplianceResult, str]:
    """Names of the notebooks failing any control in the latest run, for paging."""
    if summary is None:
        return ComplianceResult.objects.none().values_list("resource_name", flat=True)
    return (
        ComplianceResult.objects.filter(
            team_id=summary.team_id, run_id=summary.run_id, status=CheckStatus.FAIL
        )
        .order_by("resource_name")
        .values_list("resource_name", flat=True)
        .distinct()
    )


def failing_resources(summary: ComplianceSummary, names: list[str]) -> list[FailingResource]:
    """The failing checks of these notebooks, with what to do about each (one query)."""
    rows = (
        ComplianceResult.objects.filter(
            team_id=summary.team_id,
            run_id=summary.run_id,
            status=CheckStatus.FAIL,
            resource_name__in=names,
        )
        .select_related("workspace")
        .order_by("resource_name", "control")
    )
    grouped: dict[str, FailingResource] = {}
    for row in rows:
        item = grouped.setdefault(
            row.resource_name,
            FailingResource(
                row.resource_name,
                row.resource_arn,
                row.workspace_id,
                row.workspace.name if row.workspace else "",
                [],
            ),
        )
        row.guidance = GUIDANCE.get(row.control, "")  # type: ignore[attr-defined]
        item.failures.append(row)
    return [grouped[name] for name in names if name in grouped]


@dataclass(frozen=True)
class TrendPoint:
    day: dt.date
    score: Decimal | None
    resources: int
    noncompliant: int


def trend(team: Team, days: int = 30) -> list[TrendPoint]:
    """The last evaluation of each day over the past ``days`` days, oldest first."""
    since = timezone.now() - dt.timedelta(days=days)
    rows = (
        ComplianceSummary.objects.filter(team=team, evaluated_at__gte=since)
        .order_by("evaluated_at", "id")
        .values_list("evaluated_at", "score", "resources", "noncompliant_resources")
    )
    per_day: dict[dt.date, TrendPoint] = {}
    for at, score, resources, bad in rows:
        day = timezone.localdate(at)
        per_day[day] = TrendPoint(day, score, resources, bad)
    return list(per_day.values())


def trend_chart_data(points: list[TrendPoint]) -> dict[str, Any]:
    """What static/portal/charts.js draws; the same points the data table lists."""
    return {
        "type": "line",
        "label": "Compliance score (%)",
        "labels": [p.day.isoformat() for p in points],
        "values": [float(p.score) if p.score is not None else None for p in points],
        "min": 0,
        "max": 100,
    }


class EvidenceFilter(forms.Form):
    """Which result rows an auditor wants: the current run, or history over dates."""

    SCOPES = [("current", "Current results"), ("history", "History for a date range")]

    scope = forms.ChoiceField(choices=SCOPES, required=False, label="Show")
    start = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    control = forms.ChoiceField(choices=[("", "Any control"), *Control.choices], required=False)
    status = forms.ChoiceField(
        choices=[("", "Any result"), *CheckStatus.choices], required=False, label="Result"
    )
    managed = forms.ChoiceField(
        choices=[("", "Managed and unmanaged"), ("yes", "Managed"), ("no", "Unmanaged")],
        required=False,
        label="Launched by",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The range must end on or after its start.")
        return data

    @property
    def retention_note(self) -> str:
        """What history a date range can find: the retention policy, in words."""
        return retention_policy().describe()


def evidence_rows(
    team: Team, summary: ComplianceSummary | None, filters: dict[str, Any]
) -> QuerySet[ComplianceResult]:
    """Result rows for the filters; ``filters`` is an ``EvidenceFilter``'s cleaned data."""
    rows = ComplianceResult.objects.filter(team=team).select_related("workspace")
    history = filters.get("scope") == "history"
    if history:
        if filters.get("start"):
            rows = rows.filter(evaluated_at__date__gte=filters["start"])
        if filters.get("end"):
            rows = rows.filter(evaluated_at__date__lte=filters["end"])
    elif summary is None:
        return rows.none()
    else:
        rows = rows.filter(run_id=summary.run_id)
    if filters.get("control"):
        rows = rows.filter(control=filters["control"])
    if filters.get("status"):
        rows = rows.filter(status=filters["status"])
    if filters.get("managed") == "yes":
        rows = rows.filter(workspace__isnull=False)
    elif filters.get("managed") == "no":
        rows = rows.filter(workspace__isnull=True)
    if not history:
        # One run: every row has the run's time, so the order is the unique index's
        # (run, team, resource_name, control) and a page reads only its own rows.
        return rows.order_by("resource_name", "control", "id")
    return rows.order_by("-evaluated_at", "resource_name", "control", "id")


EVIDENCE_COLUMNS = [
    "id",
    "evaluated_at",
    "run",
    "team",
    "resource_name",
    "resource_arn",
    "managed",
    "workspace",
    "control",
    "control_label",
    "status",
    "detail",
    "config_rule",
    "config_status",
    "disagrees",
]


def evidence_record(row: ComplianceResult, team: Team) -> dict[str, Any]:
    """One result as the exports (and the API) spell it."""
    return {
        "id": row.pk,
        "evaluated_at": row.evaluated_at.isoformat(),
        "run": row.run_id,
        "team": team.slug,
        "resource_name": row.resource_name,
        "resource_arn": row.resource_arn,
        "managed": row.workspace_id is not None,
        "workspace": str(row.workspace_id) if row.workspace_id else "",
        "control": row.control,
        "control_label": Control(row.control).label,
        "status": row.status,
        "detail": row.detail,
        "config_rule": row.config_rule,
        "config_status": row.config_status,
        "disagrees": row.disagrees,
    }


@dataclass
class OverviewRow:
    team: Team
    summary: ComplianceSummary | None

    @property
    def sort_score(self) -> Decimal:
        # Teams never evaluated, or with nothing to check, go after every scored team.
        if self.summary is None or self.summary.score is None:
            return Decimal(101)
        return self.summary.score


OVERVIEW_SORTS = {
    "score": ("Score, worst first", lambda r: (r.sort_score, r.team.name.lower())),
    "-score": ("Score, best first", lambda r: (-r.sort_score, r.team.name.lower())),
    "team": ("Team name", lambda r: (r.team.name.lower(),)),
    "noncompliant": (
        "Most non-compliant resources",
        lambda r: (-(r.summary.noncompliant_resources if r.summary else -1), r.team.name.lower()),
    ),
}


def compliance_overview(user: User, sort: str = "score") -> list[OverviewRow]:
    """Every visible team with its latest score, in two queries whatever the history size."""
    teams = list(
        teams_visible_to(user)
        .annotate(
            latest_summary_id=Subquery(
                ComplianceSummary.objects.filter(team=OuterRef("pk"))
                .order_by("-evaluated_at", "-id")
                .values("id")[:1]
            )
        )
        .order_by("name")
    )
    ids = [t.latest_summary_id for t in teams if t.latest_summary_id]
    summaries = {s.pk: s for s in ComplianceSummary.objects.filter(pk__in=ids)}
    rows = [OverviewRow(t, summaries.get(t.latest_summary_id)) for t in teams]
    key = OVERVIEW_SORTS.get(sort, OVERVIEW_SORTS["score"])[1]
    return sorted(rows, key=key)


# --- audit trail ----------------------------------------------------------------------------


def audit_events_for(user: User) -> QuerySet[AuditEvent]:
    """Everything for auditors and admins; an approver's own teams' events; nothing else."""
    events = AuditEvent.objects.select_related("actor", "team")
    if user.is_portal_admin or user.is_auditor:
        return events
    approves = Membership.objects.filter(user=user, role=Role.APPROVER).values("team_id")
    return events.filter(team_id__in=approves)


class AuditFilter(forms.Form):
    actor = forms.CharField(required=False, label="Actor (username)", max_length=150)
    team = forms.SlugField(required=False)
    action = forms.CharField(required=False, max_length=64)
    target = forms.CharField(
        required=False, max_length=255, help_text="A target's type, id or name."
    )
    start = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The range must end on or after its start.")
        return data


def audit_filtered(events: QuerySet[AuditEvent], filters: dict[str, Any]) -> QuerySet[AuditEvent]:
    """``filters`` is an ``AuditFilter``'s cleaned data; "system" finds events with no actor."""
    actor = (filters.get("actor") or "").strip()
    if actor.lower() == "system":
        events = events.filter(actor__isnull=True)
    elif actor:
        events = events.filter(actor__username=actor)
    if filters.get("team"):
        events = events.filter(team__slug=filters["team"])
    if filters.get("action"):
        events = events.filter(action=filters["action"].strip())
    target = (filters.get("target") or "").strip()
    if target:
        events = events.filter(
            Q(target_type=target) | Q(target_id=target) | Q(target_repr__icontains=target)
        )
    if filters.get("start"):
        events = events.filter(created_at__date__gte=filters["start"])
    if filters.get("end"):
        events = events.filter(created_at__date__lte=filters["end"])
    return events.order_by("-created_at", "-id")


AUDIT_COLUMNS = [
    "id",
    "created_at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "team",
    "before",
    "after",
    "reason",
    "request_id",
    "client_ip",
]


def audit_record_of(event: AuditEvent) -> dict[str, Any]:
    """One event as the CSV export and the API spell it."""
    return {
        "id": event.pk,
        "created_at": event.created_at.isoformat(),
        "actor": event.actor.username if event.actor else "system",
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "team": event.team.slug if event.team else "",
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "request_id": event.request_id,
        "client_ip": event.client_ip or "",
    }
