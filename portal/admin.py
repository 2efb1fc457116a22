"""The operator's tool for teams, projects and memberships. Creates and changes go through
the services so they are validated and audited exactly like every other write."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from portal import services
from portal.models import Membership, Project, Team, User


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "is_portal_admin",
        "is_finance",
        "is_auditor",
        "is_active",
    ]
    list_filter = ["is_portal_admin", "is_finance", "is_auditor", "is_active"]
    fieldsets = (
        *UserAdmin.fieldsets,  # type: ignore[misc]
        ("Portal roles", {"fields": ("is_portal_admin", "is_finance", "is_auditor")}),
    )


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "cost_center"]
    search_fields = ["name", "slug", "cost_center"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Team | None = None) -> Any:
        # The slug is the portal:team tag value on live resources; renaming it would orphan
        # their costs and compliance results.
        return ["slug"] if obj else []

    def get_prepopulated_fields(self, request: HttpRequest, obj: Team | None = None) -> Any:
        # A read-only slug is not in the change form; prepopulating it there crashes the page.
        return {} if obj else super().get_prepopulated_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        if change:
            services.team_update(
                actor=actor,
                team=obj,
                name=obj.name,
                cost_center=obj.cost_center,
                description=obj.description,
            )
        else:
            created = services.team_create(
                actor=actor,
                name=obj.name,
                slug=obj.slug,
                cost_center=obj.cost_center,
                description=obj.description,
            )
            obj.pk = created.pk

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            services.membership_remove(actor=actor, membership=deleted)
        for membership in instances:
            services.membership_set(
                actor=actor, user=membership.user, team=form.instance, role=membership.role
            )

    def has_delete_permission(self, request: HttpRequest, obj: Team | None = None) -> bool:
        return False  # teams own cost history and audit events; they are never deleted


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "slug", "is_active"]
    list_filter = ["team", "is_active"]
    search_fields = ["name", "slug"]
    list_select_related = ["team"]

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        if change:
            super().save_model(request, obj, form, change)
        else:
            created = services.project_create(
                actor=actor,
                team=obj.team,
                name=obj.name,
                slug=obj.slug,
                description=obj.description,
            )
            obj.pk = created.pk

    def has_delete_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["team", "role"]
    search_fields = ["user__username", "team__name"]
    list_select_related = ["user", "team"]
    autocomplete_fields = ["user", "team"]

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        saved = services.membership_set(actor=actor, user=obj.user, team=obj.team, role=obj.role)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        actor = request.user if isinstance(request.user, User) else None
        services.membership_remove(actor=actor, membership=obj)
