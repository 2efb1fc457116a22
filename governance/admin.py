"""Audit trail (read-only) and the per-team network, encryption and schedule settings.

Settings are written through ``team_settings_set`` so they are validated and audited; the
form shows the service's rules as field errors before anything is saved.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from governance.models import AuditEvent, TeamSettings
from governance.services import TEAM_SETTINGS_FIELDS, team_settings_problems, team_settings_set
from workspaces.admin import PortalAdminOnly, acting_user


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: audit rows are evidence and are never edited."""

    list_display = ["created_at", "actor", "action", "target_repr", "team"]
    list_filter = ["action", "team"]
    search_fields = ["target_repr", "target_id", "actor__username"]
    list_select_related = ["actor", "team"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


class TeamSettingsForm(forms.ModelForm):
    class Meta:
        model = TeamSettings
        fields = ["team", *TEAM_SETTINGS_FIELDS]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if all(data.get(name) is not None for name in TEAM_SETTINGS_FIELDS):
            values = dict(data)
            values["security_group_ids"] = ",".join(
                g.strip() for g in data["security_group_ids"].split(",") if g.strip()
            )
            problems = team_settings_problems(values)
            if problems:
                raise ValidationError(problems)
        return data


@admin.register(TeamSettings)
class TeamSettingsAdmin(PortalAdminOnly):
    form = TeamSettingsForm
    list_display = ["team", "subnet_id", "security_group_ids", "lifecycle_config_name",
                    "time_zone", "updated_at"]  # fmt: skip
    list_select_related = ["team"]
    search_fields = ["team__name", "team__slug", "subnet_id"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["team"] if obj else []

    def save_model(self, request: HttpRequest, obj: TeamSettings, form: Any, change: bool) -> None:
        saved = team_settings_set(
            actor=acting_user(request),
            team=obj.team,
            **{name: form.cleaned_data[name] for name in TEAM_SETTINGS_FIELDS},
        )
        obj.pk = saved.pk
