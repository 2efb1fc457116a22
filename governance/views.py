"""Compliance pages, evidence exports and the audit trail.

Each export reads the same selector with the same filter form as its page, so a file holds
exactly the rows the page lists for those filters (every page of them).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from governance import permissions, selectors
from governance.tasks import evaluate_compliance_task
from portal.models import Team
from portal.types import AuthenticatedRequest

EVIDENCE_PAGE_SIZE = 50
FAILING_PAGE_SIZE = 10
AUDIT_PAGE_SIZE = 50


def _query_without(params: QueryDict, *names: str) -> str:
    query = params.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


class _Echo:
    """csv.writer writes into this and the response streams what it returns."""

    def write(self, value: str) -> str:
        return value


def _csv_response(
    filename: str, columns: list[str], records: Iterable[dict[str, Any]]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(columns)
        for record in records:
            yield writer.writerow(
                [
                    json.dumps(record[c], cls=DjangoJSONEncoder)
                    if isinstance(record[c], dict | list)
                    else record[c]
                    for c in columns
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- compliance -----------------------------------------------------------------------------


def _evidence(request: AuthenticatedRequest, team: Team) -> dict[str, Any]:
    """The team's latest summary, the evidence filter and the rows it selects."""
    summary = selectors.latest_summary(team)
    form = selectors.EvidenceFilter(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    return {
        "summary": summary,
        "form": form,
        "filters": filters,
        "rows": selectors.evidence_rows(team, summary, filters),
    }


@require_GET
def team_compliance(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    team = permissions.compliance_team_for_user(request.user, slug)
    evidence = _evidence(request, team)
    summary = evidence["summary"]
    failing_page = Paginator(selectors.failing_resource_names(summary), FAILING_PAGE_SIZE).get_page(
        request.GET.get("failing")
    )
    points = selectors.trend(team)
    return render(
        request,
        "governance/team_compliance.html",
        {
            "team": team,
            **evidence,
            "controls": selectors.control_counts(summary),
            "failing_page": failing_page,
            "failing": selectors.failing_resources(summary, [str(n) for n in failing_page])
            if summary
            else [],
            "failing_query": _query_without(request.GET, "failing"),
            "trend": points,
            "chart": selectors.trend_chart_data(points),
            "page": Paginator(evidence["rows"], EVIDENCE_PAGE_SIZE).get_page(
                request.GET.get("page")
            ),
            "query": _query_without(request.GET, "page", "failing"),
            "export_query": _query_without(request.GET, "page", "failing"),
            "can_evaluate": permissions.can_evaluate_compliance(request.user),
        },
    )


@require_GET
def team_compliance_export(
    request: AuthenticatedRequest, slug: str, fmt: str
) -> HttpResponse | StreamingHttpResponse:
    team = permissions.compliance_team_for_user(request.user, slug)
    evidence = _evidence(request, team)
    records = (selectors.evidence_record(r, team) for r in evidence["rows"].iterator(2000))
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        return _csv_response(
            f"compliance-{team.slug}-{stamp}.csv", selectors.EVIDENCE_COLUMNS, records
        )
    body = {
        "team": team.slug,
        "generated_at": timezone.now().isoformat(),
        "filters": {k: v for k, v in request.GET.items() if k not in {"page", "failing"}},
        "results": list(records),
    }
    response = HttpResponse(
        json.dumps(body, cls=DjangoJSONEncoder, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="compliance-{team.slug}-{stamp}.json"'
    return response


@require_GET
def compliance_overview(request: AuthenticatedRequest) -> HttpResponse:
    permissions.require_compliance_overview(request.user)
    sort = request.GET.get("sort", "score")
    if sort not in selectors.OVERVIEW_SORTS:
        sort = "score"
    return render(
        request,
        "governance/overview.html",
        {
            "rows": selectors.compliance_overview(request.user, sort),
            "sort": sort,
            "sorts": [(key, label) for key, (label, _) in selectors.OVERVIEW_SORTS.items()],
            "can_evaluate": permissions.can_evaluate_compliance(request.user),
        },
    )


@require_POST
def compliance_evaluate(request: AuthenticatedRequest) -> HttpResponse:
    """Queue an evaluation now (admins), for one team or all; the page shows it when done."""
    permissions.require_evaluate_compliance(request.user)
    slug = request.POST.get("team", "")
    team = permissions.compliance_team_for_user(request.user, slug) if slug else None
    evaluate_compliance_task.delay_on_commit(  # type: ignore[attr-defined]
        team_id=team.pk if team else None, actor_id=request.user.pk
    )
    messages.success(
        request, "Evaluation queued; results appear here in a minute. Refresh to see them."
    )
    if team is not None:
        return redirect("team_compliance", slug=team.slug)
    return redirect("compliance_overview")


# --- audit trail ----------------------------------------------------------------------------


def _audit_rows(request: AuthenticatedRequest) -> tuple[selectors.AuditFilter, Any]:
    permissions.require_audit_reader(request.user)
    form = selectors.AuditFilter(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    return form, selectors.audit_filtered(selectors.audit_events_for(request.user), filters)


@require_GET
def audit_list(request: AuthenticatedRequest) -> HttpResponse:
    form, rows = _audit_rows(request)
    return render(
        request,
        "governance/audit.html",
        {
            "form": form,
            "page": Paginator(rows, AUDIT_PAGE_SIZE).get_page(request.GET.get("page")),
            "query": _query_without(request.GET, "page"),
            "export_query": _query_without(request.GET, "page"),
        },
    )


@require_GET
def audit_export(request: AuthenticatedRequest) -> StreamingHttpResponse:
    _, rows = _audit_rows(request)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return _csv_response(
        f"audit-{stamp}.csv",
        selectors.AUDIT_COLUMNS,
        (selectors.audit_record_of(e) for e in rows.iterator(2000)),
    )
