"""The navigation, built from what the signed-in person's roles allow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, Func, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse

from portal.models import Membership, Notification, Role, User


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    key: str
    active: bool = False


def nav_items_for(user: User) -> list[NavItem]:
    """Only links the person may use; each later issue adds its pages here."""
    if not user.is_authenticated:
        return []
    # No ordering: a set needs none, and the default one joins the user and team tables.
    roles = set(Membership.objects.filter(user=user).order_by().values_list("role", flat=True))
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


def _count(rows: QuerySet[Any]) -> Subquery:
    return Subquery(rows.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")[:1])


def _unread_and_open_alerts(user: User) -> tuple[int, int]:
    """Unread notifications and the open budget alerts the banner announces, in one query
    (every page renders both)."""
    from costs.selectors import banner_alerts_for

    counts = (
        User.objects.filter(pk=user.pk)
        .annotate(
            unread=_count(Notification.objects.filter(user=user, read_at__isnull=True)),
            alerts=_count(banner_alerts_for(user)),
        )
        .values_list("unread", "alerts")
        .first()
    )
    return (counts[0] or 0, counts[1] or 0) if counts else (0, 0)


def navigation(request: HttpRequest) -> dict[str, object]:
    user = request.user
    items = nav_items_for(user) if isinstance(user, User) else []
    # The longest matching prefix is the current section ("/" would match everything).
    current = max(
        (i for i in items if request.path.startswith(i.url)), key=lambda i: len(i.url), default=None
    )
    unread, open_alerts = (
        _unread_and_open_alerts(user)
        if isinstance(user, User) and user.is_authenticated
        else (0, 0)
    )
    return {
        "unread_notifications": unread,
        "open_budget_alerts": open_alerts,
        "portal_name": settings.PORTAL_NAME,
        "portal_agency": settings.PORTAL_AGENCY,
        # The sign-in page offers single sign-on first when it is switched on.
        "sso_enabled": settings.OIDC_ENABLED,
        "sso_provider_name": settings.OIDC_PROVIDER_NAME,
        "nav_items": [NavItem(i.label, i.url, i.key, i is current) for i in items],
    }
