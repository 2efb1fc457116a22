"""Cost filters (pages, exports and the API share them) and the budget form."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms

from costs.calendar import cost_today

DEFAULT_DAYS = 90
# Two years of daily rows is what the portal keeps and what a page can still draw.
LONGEST_RANGE_DAYS = 731


class Granularity:
    DAILY = "daily"
    MONTHLY = "monthly"
    CHOICES = [(DAILY, "Daily"), (MONTHLY, "Monthly")]


def default_range(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last 90 days, today included (today's spend appears as AWS reports it)."""
    end = today or cost_today()
    return end - dt.timedelta(days=DEFAULT_DAYS - 1), end


class CostFilter(forms.Form):
    """A date range (both days included) and a granularity; blank fields take the defaults."""

    start = forms.DateField(
        required=False,
        label="From",
        help_text="First day included (YYYY-MM-DD); 90 days ago when blank.",
        widget=forms.DateInput({"type": "date"}),
    )
    end = forms.DateField(
        required=False,
        label="To",
        help_text="Last day included (YYYY-MM-DD); today when blank.",
        widget=forms.DateInput({"type": "date"}),
    )
    granularity = forms.ChoiceField(
        choices=Granularity.CHOICES,
        required=False,
        label="Granularity",
        help_text="One row per day or per calendar month.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        default_start, default_end = default_range()
        end = data.get("end") or default_end
        start = data.get("start") or (
            end - dt.timedelta(days=DEFAULT_DAYS - 1) if data.get("end") else default_start
        )
        if end < start:
            self.add_error(
                "end", f"The end ({end.isoformat()}) is before the start ({start.isoformat()})."
            )
        elif (end - start).days + 1 > LONGEST_RANGE_DAYS:
            self.add_error(
                "start",
                f"The range covers {(end - start).days + 1} days; the longest is "
                f"{LONGEST_RANGE_DAYS} days (two years).",
            )
        data["start"], data["end"] = start, end
        data["granularity"] = data.get("granularity") or Granularity.DAILY
        return data


def filters_of(form: CostFilter) -> dict[str, Any]:
    """The form's cleaned filters, or the defaults when it is invalid (the page shows why)."""
    if form.is_bound and form.is_valid():
        return {k: form.cleaned_data[k] for k in ("start", "end", "granularity")}
    start, end = default_range()
    return {"start": start, "end": end, "granularity": Granularity.DAILY}


def _percent_list(value: str, field: str) -> list[int]:
    parts = [p.strip().rstrip("%").strip() for p in value.replace(";", ",").split(",")]
    parts = [p for p in parts if p]
    numbers = []
    for part in parts:
        if not part.isdigit():
            raise forms.ValidationError(
                f"“{part}” is not a whole percentage; write numbers such as 50, 80, 100.",
                code=field,
            )
        # The range (and how many AWS allows) is the service's rule; it names the field.
        numbers.append(int(part))
    if len(set(numbers)) != len(numbers):
        raise forms.ValidationError("Each threshold may appear only once.", code=field)
    return sorted(numbers)


class BudgetForm(forms.Form):
    """A team's monthly budget and its alert thresholds (percentages of the budget)."""

    monthly_usd = forms.DecimalField(
        label="Monthly budget (USD)",
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="What the team may spend in a calendar month, e.g. 2500.00.",
    )
    actual_thresholds = forms.CharField(
        label="Alert on actual spend at (%)",
        required=False,
        max_length=100,
        help_text="Comma-separated percentages of the budget; 50, 80, 100 when blank.",
    )
    forecast_thresholds = forms.CharField(
        label="Alert on forecast spend at (%)",
        required=False,
        max_length=100,
        help_text="Comma-separated percentages of the budget; 100 when blank.",
    )

    def clean_actual_thresholds(self) -> list[int] | None:
        value = self.cleaned_data["actual_thresholds"]
        return _percent_list(value, "actual_thresholds") if value.strip() else None

    def clean_forecast_thresholds(self) -> list[int] | None:
        value = self.cleaned_data["forecast_thresholds"]
        return _percent_list(value, "forecast_thresholds") if value.strip() else None
