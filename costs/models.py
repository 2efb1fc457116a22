"""Prices for estimates, team budgets and daily cost rows from Cost Explorer."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
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


def default_actual_thresholds() -> list[int]:
    return [50, 80, 100]


def default_forecast_thresholds() -> list[int]:
    return [100]


class TeamBudget(models.Model):
    """A team's monthly budget in USD, set by finance or an admin, mirrored to an AWS Budget.

    Thresholds are percentages of the budget: ``actual_thresholds`` against month-to-date spend,
    ``forecast_thresholds`` against the month-end forecast. The ``aws_*`` fields record the last
    push to (and read back from) AWS Budgets.
    """

    team = models.OneToOneField("portal.Team", on_delete=models.CASCADE, related_name="budget")
    monthly_usd = models.DecimalField(max_digits=12, decimal_places=2)
    actual_thresholds = models.JSONField(default=default_actual_thresholds)
    forecast_thresholds = models.JSONField(default=default_forecast_thresholds)
    aws_budget_name = models.CharField(max_length=100, blank=True)
    aws_synced_at = models.DateTimeField(null=True, blank=True)
    aws_error = models.TextField(blank=True)
    aws_actual_usd = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    aws_forecast_usd = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # Fingerprint of the configuration last pushed to AWS (limit, filter, thresholds,
    # subscribers): the sync re-pushes a budget whose fingerprint no longer matches.
    aws_config_hash = models.CharField(max_length=64, blank=True)
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
    # Resolved from the tag at sync time; null for untagged spend or a tag the portal
    # does not know.
    team = models.ForeignKey(
        "portal.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    project = models.ForeignKey(
        "portal.Project", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
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
            # A workspace's cost on its page and the drill-down below a project.
            models.Index(fields=["workspace", "day"], name="daily_cost_workspace_day_idx"),
            # Drill-down team -> project.
            models.Index(fields=["project", "day"], name="daily_cost_project_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.workspace_tag or '(untagged)'} {self.service}: {self.amount_usd}"


class TeamDailyCost(models.Model):
    """Daily spend per team and project, summed from DailyCost by the sync that wrote those days.

    The organisation dashboard reads these (60 teams x 90 days) instead of summing millions of
    workspace rows. ``team`` and ``project`` are null for untagged or unknown spend. The sync
    replaces the rows of the days it touched in the same transaction as the DailyCost upserts.
    """

    day = models.DateField()
    team = models.ForeignKey(
        "portal.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    project = models.ForeignKey(
        "portal.Project", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount_usd = models.DecimalField(max_digits=16, decimal_places=6, default=Decimal(0))

    class Meta:
        indexes = [
            # Organisation chart and table: every team's days in a range.
            models.Index(fields=["day", "team"], name="team_daily_cost_day_team_idx"),
            # One team's page and its projects.
            models.Index(fields=["team", "day"], name="team_daily_cost_team_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} team={self.team_id} project={self.project_id}: {self.amount_usd}"


class CostSyncRun(models.Model):
    """One run of the Cost Explorer sync or backfill, with what it cost (USD 0.01 per request)."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        BACKFILL = "backfill", "Backfill"
        MANUAL = "manual", "Manual"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SCHEDULED)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    start_day = models.DateField()
    end_day = models.DateField(help_text="Exclusive, as Cost Explorer's TimePeriod.End.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ce_requests = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    rows_upserted = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.start_day}..{self.end_day}: {self.status}"


class CostTagStatus(models.Model):
    """Whether one of the portal's cost-allocation tags is active in the billing account."""

    key = models.CharField(max_length=128, unique=True)
    status = models.CharField(max_length=16)  # "Active" / "Inactive" / "Missing"
    checked_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "cost tag statuses"

    def __str__(self) -> str:
        return f"{self.key}: {self.status}"


class TeamForecast(models.Model):
    """Where a team's month will land, with its range and where the figure came from."""

    class Source(models.TextChoices):
        COST_EXPLORER = "cost_explorer", "AWS Cost Explorer forecast"
        PORTAL = "portal", "Computed by the portal from its daily cost rows"

    team = models.ForeignKey("portal.Team", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="First day of the month forecast.")
    mean_usd = models.DecimalField(max_digits=14, decimal_places=2)
    low_usd = models.DecimalField(max_digits=14, decimal_places=2)
    high_usd = models.DecimalField(max_digits=14, decimal_places=2)
    source = models.CharField(max_length=16, choices=Source.choices)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One forecast per team and month, replaced by each sync.
            models.UniqueConstraint(fields=["team", "month"], name="team_forecast_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id} {self.month:%Y-%m}: {self.mean_usd}"


class BudgetAlert(models.Model):
    """A budget threshold a team crossed in a month, raised once and acknowledged by finance."""

    class Kind(models.TextChoices):
        ACTUAL = "actual", "Actual spend"
        FORECAST = "forecast", "Forecast spend"

    team = models.ForeignKey("portal.Team", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="First day of the budget month.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    threshold_percent = models.PositiveSmallIntegerField()
    budget_usd = models.DecimalField(max_digits=12, decimal_places=2)
    amount_usd = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="Spend (or forecast) when the alert was raised."
    )
    raised_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            # A threshold is raised at most once per team and month (the sync is idempotent).
            models.UniqueConstraint(
                fields=["team", "month", "kind", "threshold_percent"],
                name="budget_alert_once_per_month",
            ),
        ]
        indexes = [
            # The banner: open alerts of the teams a person sees.
            models.Index(fields=["acknowledged_at", "team"], name="budget_alert_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id} {self.month:%Y-%m} {self.kind} {self.threshold_percent}%"
