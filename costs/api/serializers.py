"""Output serializers for costs, budgets and alerts (the API only reads)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from costs.models import BudgetAlert, TeamForecast
from portal.models import Team


class CostRowOutSerializer(serializers.Serializer[Any]):
    period = serializers.CharField(help_text="YYYY-MM-DD (daily) or YYYY-MM (monthly).")
    amount_usd = serializers.DecimalField(max_digits=16, decimal_places=2)


class ProjectCostOutSerializer(serializers.Serializer[Any]):
    project = serializers.CharField(help_text='A project\'s name, or "No project".')
    amount_usd = serializers.DecimalField(max_digits=16, decimal_places=2)


class TeamCostsOutSerializer(serializers.Serializer[Any]):
    team = serializers.SlugField()
    start = serializers.DateField()
    end = serializers.DateField(help_text="Included.")
    granularity = serializers.ChoiceField(choices=["daily", "monthly"])
    currency = serializers.CharField()
    total_usd = serializers.DecimalField(max_digits=16, decimal_places=2)
    rows = CostRowOutSerializer(many=True, help_text="Every period of the range, zeros included.")
    projects = ProjectCostOutSerializer(many=True, help_text="The range's spend per project.")


class ForecastOutSerializer(serializers.ModelSerializer[TeamForecast]):
    class Meta:
        model = TeamForecast
        fields = ["month", "mean_usd", "low_usd", "high_usd", "source", "computed_at"]


class AwsBudgetOutSerializer(serializers.Serializer[Any]):
    budget_name = serializers.CharField(source="aws_budget_name")
    synced_at = serializers.DateTimeField(source="aws_synced_at", allow_null=True)
    error = serializers.CharField(source="aws_error")
    actual_usd = serializers.DecimalField(
        source="aws_actual_usd", max_digits=14, decimal_places=2, allow_null=True
    )
    forecast_usd = serializers.DecimalField(
        source="aws_forecast_usd", max_digits=14, decimal_places=2, allow_null=True
    )


class BudgetOutSerializer(serializers.Serializer[Any]):
    team = serializers.SlugField(source="budget.team.slug")
    monthly_usd = serializers.DecimalField(
        source="budget.monthly_usd", max_digits=12, decimal_places=2
    )
    actual_thresholds = serializers.ListField(
        source="budget.actual_thresholds", child=serializers.IntegerField()
    )
    forecast_thresholds = serializers.ListField(
        source="budget.forecast_thresholds", child=serializers.IntegerField()
    )
    month_to_date_usd = serializers.DecimalField(
        source="month_to_date", max_digits=16, decimal_places=2
    )
    percent_used = serializers.IntegerField()
    forecast = ForecastOutSerializer(allow_null=True)
    aws = AwsBudgetOutSerializer(source="budget")


class BudgetAlertOutSerializer(serializers.ModelSerializer[BudgetAlert]):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    acknowledged_by = serializers.SerializerMethodField(help_text="A username, or null.")

    class Meta:
        model = BudgetAlert
        fields = [
            "id",
            "team",
            "month",
            "kind",
            "threshold_percent",
            "budget_usd",
            "amount_usd",
            "raised_at",
            "acknowledged_at",
            "acknowledged_by",
        ]

    def get_acknowledged_by(self, alert: BudgetAlert) -> str | None:
        return alert.acknowledged_by.username if alert.acknowledged_by else None
