"""The price table and team budgets, written through ``costs.services`` (validated, audited).

Prices are for admins; budgets also for finance, who own them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from costs import services
from costs.models import InstancePrice, StoragePrice, TeamBudget
from workspaces.admin import PortalAdminOnly, acting_user


# The services refuse the same values; checking them on the form as well shows a field error
# instead of a failed save.
class InstancePriceForm(forms.ModelForm):
    hourly_usd = forms.DecimalField(min_value=0, max_digits=10, decimal_places=4)

    class Meta:
        model = InstancePrice
        fields = ["region", "instance_type", "hourly_usd"]


class StoragePriceForm(forms.ModelForm):
    gb_month_usd = forms.DecimalField(min_value=0, max_digits=10, decimal_places=4)

    class Meta:
        model = StoragePrice
        fields = ["region", "gb_month_usd"]


class TeamBudgetForm(forms.ModelForm):
    monthly_usd = forms.DecimalField(min_value=Decimal("0.01"), max_digits=12, decimal_places=2)

    class Meta:
        model = TeamBudget
        fields = ["team", "monthly_usd"]


@admin.register(InstancePrice)
class InstancePriceAdmin(PortalAdminOnly):
    form = InstancePriceForm
    list_display = ["instance_type", "region", "hourly_usd", "updated_at"]
    list_filter = ["region"]
    search_fields = ["instance_type"]
    fields = ["region", "instance_type", "hourly_usd"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Region and type are the price's identity; a different one is a new price.
        return ["region", "instance_type"] if obj else []

    def save_model(self, request: HttpRequest, obj: InstancePrice, form: Any, change: bool) -> None:
        saved = services.instance_price_set(
            actor=acting_user(request),
            region=obj.region,
            instance_type=obj.instance_type,
            hourly_usd=obj.hourly_usd,
        )
        obj.pk = saved.pk


@admin.register(StoragePrice)
class StoragePriceAdmin(PortalAdminOnly):
    form = StoragePriceForm
    list_display = ["region", "gb_month_usd", "updated_at"]
    fields = ["region", "gb_month_usd"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["region"] if obj else []

    def save_model(self, request: HttpRequest, obj: StoragePrice, form: Any, change: bool) -> None:
        saved = services.storage_price_set(
            actor=acting_user(request), region=obj.region, gb_month_usd=obj.gb_month_usd
        )
        obj.pk = saved.pk


def _may_set_budgets(request: HttpRequest) -> bool:
    user = acting_user(request)
    return bool(
        user and user.is_active and user.is_staff and (user.is_portal_admin or user.is_finance)
    )


@admin.register(TeamBudget)
class TeamBudgetAdmin(PortalAdminOnly):
    form = TeamBudgetForm
    list_display = ["team", "monthly_usd", "updated_at"]
    list_select_related = ["team"]
    fields = ["team", "monthly_usd"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may_set_budgets(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_set_budgets(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may_set_budgets(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_set_budgets(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["team"] if obj else []

    def save_model(self, request: HttpRequest, obj: TeamBudget, form: Any, change: bool) -> None:
        saved = services.team_budget_set(
            actor=acting_user(request), team=obj.team, monthly_usd=obj.monthly_usd
        )
        obj.pk = saved.pk
