"""Cost pages: the finance dashboard, the drill-down (team, project, workspace), budgets and
alerts.

Every page and its CSV export call the same selector with the same filter form, so a file
holds exactly the cells the page shows for those filters.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from costs import permissions, selectors, services
from costs.forms import BudgetForm, CostFilter, filters_of
from portal.models import Team
from portal.types import AuthenticatedRequest

ALERT_PAGE_SIZE = 50


def _filters(request: AuthenticatedRequest) -> tuple[CostFilter, dict[str, Any]]:
    form = CostFilter(request.GET or None)
    return form, filters_of(form)


def _query(request: AuthenticatedRequest, *drop: str) -> str:
    query = request.GET.copy()
    for name in drop:
        query.pop(name, None)
    return query.urlencode()


def _freshness() -> dict[str, Any]:
    """The tag warning, the last good sync and a later failed one (one query): what
    ``_tag_warning.html`` and ``_freshness.html`` show."""
    tag_warning, last_sync, sync_failure = selectors.freshness()
    return {"tag_warning": tag_warning, "last_sync": last_sync, "sync_failure": sync_failure}


def _common(request: AuthenticatedRequest, form: CostFilter) -> dict[str, Any]:
    """What every cost page shows above its tables."""
    return {"filter_form": form, **_freshness(), "export_query": _query(request)}


def _csv(filename: str, *tables: selectors.CostTable) -> HttpResponse:
    """The tables as CSV (several are separated by an empty line), attached for download."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for n, table in enumerate(tables):
        if n:
            writer.writerow([])
        writer.writerow(table.header)
        writer.writerows(table.csv_rows())
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _stamp() -> str:
    return timezone.now().strftime("%Y%m%dT%H%M%SZ")


_CELL_SEPARATOR = '</td><td class="text-right" data-cell>'


def _table_rows(table: selectors.CostTable, testid: str, link_query: str = "") -> SafeString:
    """The body rows of ``costs/_table.html``, written here rather than by the template engine:
    the dashboard's daily table has ~1,000 cells, and the engine's per-variable rendering and
    lazy-aware ``escape`` cost more than the rest of the page's template. The markup is the
    template's, byte for byte; every value (key, label, URL, query, cell) is escaped with
    ``html.escape`` (what Django's ``escape`` calls), so ``mark_safe`` covers escaped text and
    the literal tags only."""
    e = html.escape
    testid = e(testid)
    suffix = f"?{e(link_query)}" if link_query else ""
    out = []
    for row, cells in table.formatted:
        label = e(row.label)
        if row.url:
            label = f'<a href="{e(row.url)}{suffix}">{label}</a>'
        elif row.key == "total":
            label = f"<strong>{label}</strong>"
        out.append(
            f'<tr data-testid="{testid}-row" data-key="{e(row.key)}">\n'
            f'    <th scope="row">{label}</th>\n'
            f'    <td class="text-right" data-cell>{_CELL_SEPARATOR.join(map(e, cells))}</td>\n'
            "  </tr>"
        )
    # Accepted (docs/security.md): every value above is escaped with html.escape.
    return mark_safe("".join(out))  # noqa: S308  # nosec B308, B703


def _sort_headers(
    request: AuthenticatedRequest, key: str, descending: bool
) -> list[dict[str, str]]:
    """Column headers that sort server-side: a link toggling the direction, and aria-sort on
    the sorted column only."""
    query = request.GET.copy()
    headers = []
    for name, label in selectors.TEAM_SORTS.items():
        current = name == key
        # Names sort A-Z first; amounts largest first.
        first_descending = name != "team"
        next_descending = not descending if current else first_descending
        query["sort"] = f"-{name}" if next_descending else name
        headers.append(
            {
                "key": name,
                "label": label,
                "url": f"?{query.urlencode()}",
                "aria_sort": ("descending" if descending else "ascending") if current else "",
            }
        )
    return headers


ALERT_TAG_CLASSES = {"exhausted": "bg-secondary-dark", "warning": "bg-accent-warm-darker"}


def _team_lines(
    org: selectors.OrgCosts, table: selectors.CostTable, query: str
) -> list[dict[str, str]]:
    """The teams table's rows as the page writes them, from the cells of the CSV's table (so
    the page shows exactly the exported figures), formatted once here: one plain lookup per
    cell in the template, no number formatting per cell."""
    suffix = f"?{query}" if query else ""
    lines = []
    teams = table.formatted[: len(org.rows)]  # the untagged row, last, is written apart
    for r, (_, cells) in zip(org.rows, teams, strict=True):
        mtd, mean, low, high, source, budget, used, in_range, alert = cells
        lines.append(
            {
                "key": r.team.slug if r.team else "",
                "name": r.label,
                "url": r.url + suffix,
                "mtd": mtd,
                "forecast": mean,
                "forecast_range": f"{low} to {high}; {source}",
                "budget": budget if r.budget_usd else "",
                "used": used,
                "range": in_range,
                "alert": alert,
                "alert_class": ALERT_TAG_CLASSES.get(r.alert.level, ""),
            }
        )
    return lines


def _team_rows(lines: list[dict[str, str]]) -> SafeString:
    """The teams table's rows (60 at agency scale), written as ``_table_rows`` writes a cost
    table's: every value escaped with ``html.escape``, the rest literal markup."""
    e = html.escape
    out = []
    for r in lines:
        forecast = (
            f'{e(r["forecast"])}<br><span class="font-sans-3xs">{e(r["forecast_range"])}</span>'
            if r["forecast"]
            else '<span class="text-base">none yet</span>'
        )
        budget = e(r["budget"]) if r["budget"] else '<span class="text-base">none</span>'
        used = f"{e(r['used'])} %" if r["used"] else "\u2013"  # en dash
        alert = (
            f'<span class="usa-tag {e(r["alert_class"])}">{e(r["alert"])}</span>'
            if r["alert_class"]
            else e(r["alert"])
        )
        out.append(
            f'<tr data-testid="team-row" data-key="{e(r["key"])}">\n'
            f'        <th scope="row"><a href="{e(r["url"])}">{e(r["name"])}</a></th>\n'
            f'        <td class="text-right" data-col="mtd">{e(r["mtd"])}</td>\n'
            f'        <td class="text-right" data-col="forecast">{forecast}</td>\n'
            f'        <td class="text-right" data-col="budget">{budget}</td>\n'
            f'        <td class="text-right" data-col="used">{used}</td>\n'
            f'        <td class="text-right" data-col="range">{e(r["range"])}</td>\n'
            f'        <td data-col="alert">{alert}</td>\n'
            "      </tr>"
        )
    # Accepted (docs/security.md): every value above is escaped with html.escape.
    return mark_safe("".join(out))  # noqa: S308  # nosec B308, B703


@require_GET
def dashboard(request: AuthenticatedRequest, fmt: str = "html") -> HttpResponse:
    permissions.require_org_costs(request.user)
    form, filters = _filters(request)
    sort = request.GET.get("sort", "")
    org = selectors.org_costs(request.user, sort=sort, **filters)
    teams = selectors.team_rows_table(org)
    if fmt == "csv":
        return _csv(f"costs-{_stamp()}.csv", org.series, teams)
    key, descending = selectors.parse_sort(sort)
    common = _common(request, form)
    return render(
        request,
        "costs/dashboard.html",
        {
            **common,
            **filters,
            "org": org,
            "team_rows": _team_rows(_team_lines(org, teams, common["export_query"])),
            "sort_headers": _sort_headers(request, key, descending),
            "chart": selectors.chart_data(org.series, "Spend per team"),
            "series_rows": _table_rows(org.series, "series"),
            "can_manage": permissions.can_manage_budgets(request.user),
            "export_url": reverse("costs_dashboard_csv"),
            "sort": sort,
        },
    )


def _drill_rows(request: AuthenticatedRequest, drill: selectors.Drill) -> dict[str, SafeString]:
    """The drill-down tables' rows; the breakdown's links keep the page's filters."""
    return {
        "breakdown_rows": _table_rows(drill.breakdown, "breakdown", _query(request)),
        "series_rows": _table_rows(drill.series, "series"),
    }


def _breadcrumbs(request: AuthenticatedRequest, *crumbs: tuple[str, str]) -> list[dict[str, str]]:
    """The trail down from the dashboard (for those who may see it) or from the team page."""
    query = _query(request, "sort")
    suffix = f"?{query}" if query else ""
    trail = []
    if permissions.can_see_org_costs(request.user):
        trail.append({"label": "Costs", "url": reverse("costs_dashboard") + suffix})
    trail += [{"label": label, "url": url + suffix if url else ""} for label, url in crumbs]
    return trail


def _team_context(team: Team) -> dict[str, Any]:
    month = selectors.team_month(team)
    budget = month.budget
    initial = (
        {
            "monthly_usd": budget.monthly_usd,
            "actual_thresholds": ", ".join(str(t) for t in budget.actual_thresholds),
            "forecast_thresholds": ", ".join(str(t) for t in budget.forecast_thresholds),
        }
        if budget
        else {}
    )
    return {"month": month, "budget_form": BudgetForm(initial=initial)}


@require_GET
def team_costs(request: AuthenticatedRequest, slug: str, fmt: str = "html") -> HttpResponse:
    team = permissions.cost_team_for_user(request.user, slug)
    return _render_team(request, team, fmt=fmt)


def _render_team(
    request: AuthenticatedRequest,
    team: Team,
    *,
    fmt: str = "html",
    budget_form: BudgetForm | None = None,
    status: int = 200,
) -> HttpResponse:
    form, filters = _filters(request)
    drill = selectors.team_drill(team, **filters)
    if fmt == "csv":
        return _csv(f"costs-{team.slug}-{_stamp()}.csv", drill.series, drill.breakdown)
    context = {
        **_common(request, form),
        **filters,
        **_team_context(team),
        "team": team,
        "drill": drill,
        "chart": selectors.chart_data(drill.series, f"Spend of {team.name} per project"),
        **_drill_rows(request, drill),
        "breadcrumbs": _breadcrumbs(request, (team.name, "")),
        "can_manage": permissions.can_manage_budgets(request.user),
        "export_url": reverse("team_costs_csv", args=[team.slug]),
    }
    if budget_form is not None:
        context["budget_form"] = budget_form
    return render(request, "costs/team.html", context, status=status)


@require_POST
def team_budget(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    """Set the team's budget and thresholds through the service; errors re-render the page."""
    team = permissions.cost_team_for_user(request.user, slug)
    permissions.require_budget_manager(request.user)
    form = BudgetForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.team_budget_set(
                actor=request.user,
                team=team,
                monthly_usd=data["monthly_usd"],
                actual_thresholds=data["actual_thresholds"],
                forecast_thresholds=data["forecast_thresholds"],
            )
        except ValidationError as error:
            _add_errors(form, error)
        except PermissionDenied as error:
            messages.error(request, str(error))
            return redirect("team_costs", slug=team.slug)
        else:
            messages.success(
                request,
                f"Budget of {team.name} set to ${data['monthly_usd']:,.2f} a month; "
                "AWS Budgets is updated in the background.",
            )
            return redirect("team_costs", slug=team.slug)
    return _render_team(request, team, budget_form=form, status=400)


def _add_errors(form: BudgetForm, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


@require_GET
def project_costs(
    request: AuthenticatedRequest, slug: str, project_slug: str, fmt: str = "html"
) -> HttpResponse:
    team, project = permissions.cost_project_for_user(request.user, slug, project_slug)
    form, filters = _filters(request)
    drill = selectors.project_drill(request.user, project, **filters)
    if fmt == "csv":
        return _csv(
            f"costs-{team.slug}-{project.slug}-{_stamp()}.csv", drill.series, drill.breakdown
        )
    return render(
        request,
        "costs/drill.html",
        {
            **_common(request, form),
            **filters,
            "title": f"Costs of {project.name}",
            "subject": project.name,
            "drill": drill,
            "chart": selectors.chart_data(drill.series, f"Spend of {project.name} per workspace"),
            **_drill_rows(request, drill),
            "breadcrumbs": _breadcrumbs(
                request,
                (team.name, reverse("team_costs", args=[team.slug])),
                (project.name, ""),
            ),
            "export_url": reverse("project_costs_csv", args=[team.slug, project.slug]),
            "level": "workspace",
        },
    )


@require_GET
def workspace_costs(request: AuthenticatedRequest, pk: str, fmt: str = "html") -> HttpResponse:
    workspace = permissions.cost_workspace_for_user(request.user, pk)
    form, filters = _filters(request)
    drill = selectors.workspace_drill(workspace, **filters)
    if fmt == "csv":
        return _csv(f"costs-{workspace.name}-{_stamp()}.csv", drill.series, drill.breakdown)
    team, project = workspace.team, workspace.project
    return render(
        request,
        "costs/drill.html",
        {
            **_common(request, form),
            **filters,
            "title": f"Costs of {workspace.name}",
            "subject": workspace.name,
            "workspace": workspace,
            "drill": drill,
            "chart": selectors.chart_data(drill.series, f"Spend of {workspace.name} per service"),
            **_drill_rows(request, drill),
            "breadcrumbs": _breadcrumbs(
                request,
                (team.name, reverse("team_costs", args=[team.slug])),
                (project.name, reverse("project_costs", args=[team.slug, project.slug])),
                (workspace.name, ""),
            ),
            "export_url": reverse("workspace_costs_csv", args=[workspace.pk]),
            "level": "service",
        },
    )


@require_GET
def alert_list(request: AuthenticatedRequest) -> HttpResponse:
    state = request.GET.get("state", "open")
    if state not in dict(selectors.ALERT_STATES):
        state = "open"
    alerts = selectors.alerts_filtered(selectors.alerts_visible_to(request.user), state)
    return render(
        request,
        "costs/alerts.html",
        {
            "page": Paginator(alerts, ALERT_PAGE_SIZE).get_page(request.GET.get("page")),
            "state": state,
            "states": selectors.ALERT_STATES,
            "query": _query(request, "page"),
            "can_acknowledge": permissions.can_manage_budgets(request.user),
            **_freshness(),
        },
    )


@require_POST
def alert_acknowledge(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    alert = permissions.alert_for_user(request.user, pk, acknowledge=True)
    try:
        services.budget_alert_acknowledge(actor=request.user, alert=alert)
    except (services.AlertAlreadyAcknowledged, PermissionDenied) as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Acknowledged: {alert.team.name} at {alert.threshold_percent} % "
            f"({alert.get_kind_display().lower()}).",
        )
    state = request.POST.get("state", "open")
    if state not in dict(selectors.ALERT_STATES):
        state = "open"
    return redirect(reverse("cost_alerts") + f"?state={state}")
