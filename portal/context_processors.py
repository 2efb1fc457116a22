"""The navigation, built from what the signed-in person's roles allow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from portal import sql
from portal.models import Membership, Notification, Role, User


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    key: str
    active: bool = False


def nav_items_for(user: User, roles: frozenset[str]) -> list[NavItem]:
    """Only links the person may use (``roles``: their roles in their teams); each later
    issue adds its pages here."""
    if not user.is_authenticated:
        return []
    items = [NavItem("Home", reverse("home"), "home")]
    if roles:
        items.append(NavItem("Catalog", reverse("catalog"), "catalog"))
        items.append(NavItem("My workspaces", reverse("my_workspaces"), "workspaces"))
    if Role.APPROVER in roles or user.is_portal_admin:
        items.append(NavItem("Approvals", reverse("approval_queue"), "approvals"))
    if roles or user.sees_every_team:
        label = "Teams" if user.sees_every_team else "My teams"
        items.append(NavItem(label, reverse("team_list"), "teams"))
    if user.is_portal_admin or user.is_finance or user.is_auditor:
        items.append(NavItem("Costs", reverse("costs_dashboard"), "costs"))
    if user.is_portal_admin or user.is_auditor:
        items.append(NavItem("Compliance", reverse("compliance_overview"), "compliance"))
    if user.is_portal_admin or user.is_auditor or Role.APPROVER in roles:
        items.append(NavItem("Audit", reverse("audit_list"), "audit"))
    if user.is_staff:
        items.append(NavItem("Administration", reverse("admin:index"), "admin"))
    if user.is_portal_admin:
        items.append(NavItem("Sign-in groups", reverse("sso_group_mappings"), "sso"))
    items.append(NavItem("API", reverse("api-docs"), "api"))
    return items


@dataclass(frozen=True)
class _PageFacts:
    roles: frozenset[str]  # the user's roles in their teams
    unread: int  # unread notifications
    open_alerts: int  # open budget alerts the banner announces


def _page_facts(user: User) -> _PageFacts:
    """What every page's navigation and banners need of the user, in one statement: a row
    per team role, then the two counts. Written as SQL with bound values (``portal.sql``):
    the ORM took longer to build this query on every page than the database to run it. The
    alerts counted are ``banner_alerts_for``'s, whose SQL is put in as it is."""
    from costs.selectors import banner_alerts_for

    membership, notification = Membership, Notification
    parts = [
        f"SELECT 'role', {sql.name(membership, 'role')}, 0 FROM {sql.name(membership)} "  # noqa: S608 (quoted names, bound values)
        f"WHERE {sql.name(membership, 'user')} = %s",
        f"SELECT 'unread', '', COUNT(*) FROM {sql.name(notification)} "  # noqa: S608
        f"WHERE {sql.name(notification, 'user')} = %s "
        f"AND {sql.name(notification, 'read_at')} IS NULL",
    ]
    params: list[Any] = [user.pk, user.pk]
    alerts = sql.subquery(banner_alerts_for(user).values("pk"))
    if alerts is not None:
        parts.append(f"SELECT 'alerts', '', COUNT(*) FROM ({alerts[0]}) open_alerts")  # noqa: S608
        params.extend(alerts[1])
    roles, counts = set(), {"unread": 0, "alerts": 0}
    for kind, role, count in sql.fetch(" UNION ALL ".join(parts), params, [None] * 3):
        if kind == "role":
            roles.add(role)
        else:
            counts[kind] = count
    return _PageFacts(frozenset(roles), counts["unread"], counts["alerts"])


def navigation(request: HttpRequest) -> dict[str, object]:
    user = request.user
    facts, items = _PageFacts(frozenset(), 0, 0), []
    if isinstance(user, User) and user.is_authenticated:
        facts = _page_facts(user)
        items = nav_items_for(user, facts.roles)
    # The longest matching prefix is the current section ("/" would match everything).
    current = max(
        (i for i in items if request.path.startswith(i.url)), key=lambda i: len(i.url), default=None
    )
    return {
        "unread_notifications": facts.unread,
        "open_budget_alerts": facts.open_alerts,
        "portal_name": settings.PORTAL_NAME,
        "portal_agency": settings.PORTAL_AGENCY,
        # The sign-in page offers single sign-on first when it is switched on.
        "sso_enabled": settings.OIDC_ENABLED,
        "sso_provider_name": settings.OIDC_PROVIDER_NAME,
        "nav_items": [NavItem(i.label, i.url, i.key, i is current) for i in items],
    }
