"""Forms for the request flow. They check types and shapes only; the rules live in
``workspaces.rules`` and are applied by the services, so the form and the API agree."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.models import Project, Team
from workspaces.models import Offering


class RequestForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    project = forms.ModelChoiceField(queryset=Project.objects.none(), empty_label=None)
    name = forms.CharField(
        max_length=40, help_text="Lower-case letters, digits and hyphens, e.g. readmit-eda."
    )
    instance_type = forms.ChoiceField(label="Instance type")
    volume_size_gb = forms.IntegerField(label="Volume size (GB)", min_value=1)
    end_date = forms.DateField(
        label="End date",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The workspace is stopped on this date and terminated after a grace period.",
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the workspace is for; your approver reads this.",
    )

    def __init__(self, *args: Any, offering: Offering, teams: list[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        constraint = offering.constraint
        team_field: Any = self.fields["team"]
        team_field.queryset = Team.objects.filter(pk__in=[t.pk for t in teams]).order_by("name")
        project_field: Any = self.fields["project"]
        project_field.queryset = (
            Project.objects.filter(team__in=teams, is_active=True)
            .select_related("team")
            .order_by("team__name", "name")
        )
        project_field.label_from_instance = lambda p: f"{p.team.name}: {p.name}"
        self.fields["instance_type"].choices = [  # type: ignore[attr-defined]
            (t, t) for t in constraint.allowed_instance_types
        ]
        volume: Any = self.fields["volume_size_gb"]
        volume.initial = constraint.default_volume_gb
        volume.help_text = f"Up to {constraint.max_volume_gb} GB."
        latest = timezone.localdate() + dt.timedelta(days=constraint.max_lifetime_days)
        self.fields["end_date"].initial = min(latest, timezone.localdate() + dt.timedelta(days=30))
        self.fields["end_date"].help_text += f" At most {constraint.max_lifetime_days} days away."
        self.fields["end_date"].widget.attrs["max"] = latest.isoformat()

    def apply_errors(self, error: ValidationError) -> None:
        """Put the service's rule violations on the fields they name."""
        for field, messages in error.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to reject; the requester sees it.",
    )
    budget_override_reason = forms.CharField(
        required=False,
        label="Budget override reason",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only when the team's budget is exhausted: why approve anyway.",
    )

    def apply_errors(self, error: ValidationError) -> None:
        for field, messages in error.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)


SORTS = {
    "newest": "-created_at",
    "oldest": "created_at",
    "name": "name",
    "state": "state",
    "cost": "-estimated_monthly_usd",
}


class ListFilterForm(forms.Form):
    """Filter and sort for workspace lists; unknown values fall back to the defaults."""

    state = forms.ChoiceField(required=False)
    q = forms.CharField(required=False, label="Name contains", max_length=40)
    sort = forms.ChoiceField(
        required=False,
        choices=[(k, k.capitalize()) for k in SORTS],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from workspaces.models import State

        self.fields["state"].choices = [("", "Any state"), *State.choices]  # type: ignore[attr-defined]
