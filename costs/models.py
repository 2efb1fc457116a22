"""Prices for estimates, team budgets and daily cost rows from Cost Explorer."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class InstancePrice(models.Model):
    """On-demand hourly price of a SageMaker notebook instance type in a region (USD)."""

    region = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    hourly_usd = models.DecimalField(max_digits=10, decimal_places=4)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["region", "instance_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "instance_type"], name="instance_price_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instance_type} in {self.region}: ${self.hourly_usd}/h"


class StoragePrice(models.Model):
    """ML storage price per GB-month in a region (USD)."""

    region = models.CharField(max_length=32, unique=True)
    gb_month_usd = models.DecimalField(max_digits=10, decimal_places=4)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Storage in {self.region}: ${self.gb_month_usd}/GB-month"


class TeamBudget(models.Model):
    """A team's monthly budget in USD, set by finance or an admin."""

    team = models.OneToOneField("portal.Team", on_delete=models.CASCADE, related_name="budget")
    monthly_usd = models.DecimalField(max_digits=12, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.team}: ${self.monthly_usd}/month"


class DailyCost(models.Model):
    """One day's cost for one workspace tag value and AWS service, as Cost Explorer reports it.

    ``workspace_tag`` is the raw ``portal:workspace`` tag value ("" for untagged spend), so the
    totals always match AWS even for resources the portal does not know.
    """

    day = models.DateField()
    workspace_tag = models.CharField(max_length=64, blank=True)
    service = models.CharField(max_length=128)
    team = models.ForeignKey(
        "portal.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))

    class Meta:
        constraints = [
            # The natural key a cost sync upserts on.
            models.UniqueConstraint(
                fields=["day", "workspace_tag", "service"], name="daily_cost_natural_key"
            ),
        ]
        indexes = [
            # Month-to-date spend of a team (budget position, request validation).
            models.Index(fields=["team", "day"], name="daily_cost_team_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.workspace_tag or '(untagged)'} {self.service}: {self.amount_usd}"
