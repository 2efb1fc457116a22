"""The append-only audit trail; compliance and constraints arrive with their issues."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One thing someone (or the system) did, written in the same transaction as the change.

    Rows are never updated or deleted; the governance issue adds a database trigger that
    refuses both.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system acted (a worker, the reconciler, a schedule).",
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=255, blank=True)
    team = models.ForeignKey(
        "portal.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A workspace's or team's timeline: events for one target, newest first.
            models.Index(
                fields=["target_type", "target_id", "-created_at"], name="audit_target_idx"
            ),
            # The audit page filtered by team, newest first.
            models.Index(fields=["team", "-created_at"], name="audit_team_idx"),
            # The audit page filtered by action ("every approval this month"), newest first.
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


class TeamSettings(models.Model):
    """Network, encryption and schedule for a team's workspaces, set by an admin.

    None of these are the analyst's choice. Direct internet access and root access are not
    fields at all: every workspace gets both disabled.
    """

    team = models.OneToOneField("portal.Team", on_delete=models.CASCADE, related_name="settings")
    subnet_id = models.CharField(max_length=64, help_text="Private subnet, e.g. subnet-0abc…")
    security_group_ids = models.CharField(
        max_length=400, help_text="Comma-separated security group ids."
    )
    kms_key_id = models.CharField(max_length=2048, help_text="The agency's KMS key id or ARN.")
    platform_identifier = models.CharField(max_length=64, default="notebook-al2-v3")
    lifecycle_config_name = models.CharField(max_length=63, blank=True)
    time_zone = models.CharField(max_length=64, default="America/New_York")
    working_hours_start = models.TimeField(default="07:00")
    working_hours_end = models.TimeField(default="19:00")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "team settings"

    def __str__(self) -> str:
        return f"Settings of {self.team}"

    @property
    def security_groups(self) -> list[str]:
        return [g.strip() for g in self.security_group_ids.split(",") if g.strip()]


class OfferingConstraint(models.Model):
    """What a team may launch from one offering: the admin's limits, checked on every request
    and again at approval."""

    offering = models.OneToOneField(
        "workspaces.Offering", on_delete=models.CASCADE, related_name="constraint"
    )
    allowed_instance_types = models.JSONField(
        default=list, help_text="A subset of the instance types the product allows."
    )
    default_volume_gb = models.PositiveIntegerField(default=20)
    max_volume_gb = models.PositiveIntegerField(default=100)
    max_lifetime_days = models.PositiveIntegerField(default=90)
    max_live_per_user = models.PositiveIntegerField(default=2)
    max_live_per_team = models.PositiveIntegerField(default=20)
    stop_outside_working_hours = models.BooleanField(
        default=True, help_text="The default schedule: stopped outside the team's working hours."
    )
    approval_required = models.BooleanField(
        default=True,
        help_text="Off allows auto-approval, only for requests within every limit and while the "
        "team's budget is healthy.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(default_volume_gb__lte=models.F("max_volume_gb")),
                name="constraint_default_volume_within_max",
            ),
        ]

    def __str__(self) -> str:
        return f"Constraints of {self.offering}"


# --- compliance -----------------------------------------------------------------------------


class Control(models.TextChoices):
    """What the portal checks on each notebook; the labels are what people read."""

    PORTAL_MANAGED = "portal_managed", "Launched through the portal"
    KMS_KEY = "kms_key", "Encrypted with the team's KMS key"
    NO_INTERNET = "no_internet", "Direct internet access disabled"
    NO_ROOT = "no_root", "Root access disabled"
    TEAM_SUBNET = "team_subnet", "Inside the team's subnet"
    TAGS = "tags", "Cost-allocation tags present and correct"
    PLATFORM = "platform", "Current notebook platform"
    INSTANCE_TYPE = "instance_type", "Instance type still allowed"


class CheckStatus(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class EvaluationRun(models.Model):
    """One compliance evaluation: what AWS said at that moment, for every team or for one.

    Runs and their results are history: a new run adds rows, it never rewrites an old one.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who asked for it; empty for the schedule and the workers.",
    )
    team = models.ForeignKey(
        "portal.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when every team was evaluated.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    resources = models.PositiveIntegerField(default=0)
    aws_calls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Compliance evaluation at {self.started_at:%Y-%m-%d %H:%M}"


class ComplianceResult(models.Model):
    """One control checked on one notebook in one run, beside AWS Config's verdict on it."""

    run = models.ForeignKey(EvaluationRun, on_delete=models.PROTECT, related_name="results")
    team = models.ForeignKey("portal.Team", on_delete=models.PROTECT, related_name="+")
    # Copied from the run so history filtered by date needs no join.
    evaluated_at = models.DateTimeField()
    workspace = models.ForeignKey(
        "workspaces.Workspace",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for a notebook the portal did not launch (unmanaged).",
    )
    resource_name = models.CharField(max_length=63)
    resource_arn = models.CharField(max_length=300, blank=True)
    control = models.CharField(max_length=32, choices=Control.choices)
    status = models.CharField(max_length=16, choices=CheckStatus.choices)
    detail = models.TextField(blank=True, help_text="What was found, in plain words.")
    config_rule = models.CharField(max_length=128, blank=True)
    config_status = models.CharField(
        max_length=32, blank=True, help_text="AWS Config's ComplianceType; empty without a rule."
    )
    config_annotation = models.CharField(max_length=256, blank=True)
    disagrees = models.BooleanField(
        default=False,
        help_text="The portal's check and AWS Config's rule reached opposite results.",
    )

    class Meta:
        ordering = ["resource_name", "control"]
        constraints = [
            # Its index also serves the team page and its export: one team's rows of one
            # (the latest) run, in notebook order.
            models.UniqueConstraint(
                fields=["run", "team", "resource_name", "control"],
                name="compliance_result_once_per_run",
            ),
        ]
        indexes = [
            # Evidence history for a date range, per team.
            models.Index(fields=["team", "evaluated_at"], name="compliance_team_time_idx"),
            # The team page's failing notebooks and per-control counts of one run, without
            # reading the run's passing rows (2,000 for a large team).
            models.Index(
                fields=["run", "team", "status", "resource_name"],
                name="compliance_result_status_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_name} {self.control}: {self.status}"

    @property
    def managed(self) -> bool:
        return self.workspace_id is not None


class ComplianceSummary(models.Model):
    """A team's score in one run, kept so pages never aggregate the raw results history.

    Written even when a team has no notebooks, so "latest run for this team" is always the
    newest summary, including runs that found nothing.
    """

    run = models.ForeignKey(EvaluationRun, on_delete=models.PROTECT, related_name="summaries")
    team = models.ForeignKey("portal.Team", on_delete=models.PROTECT, related_name="+")
    evaluated_at = models.DateTimeField()
    resources = models.PositiveIntegerField(default=0)
    noncompliant_resources = models.PositiveIntegerField(default=0)
    unmanaged_resources = models.PositiveIntegerField(default=0)
    checks_passed = models.PositiveIntegerField(default=0)
    checks_failed = models.PositiveIntegerField(default=0)
    disagreements = models.PositiveIntegerField(default=0)
    score = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Percent of applicable checks passed; empty when there was nothing to check.",
    )

    class Meta:
        ordering = ["-evaluated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "team"], name="compliance_summary_once_per_run"),
        ]
        indexes = [
            # "Latest run per team" (team page, overview) and the 30-day trend.
            models.Index(fields=["team", "-evaluated_at"], name="compliance_summary_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id} at {self.evaluated_at:%Y-%m-%d %H:%M}: {self.score}"


class CompliancePrune(models.Model):
    """One pass of the compliance history retention policy (governance/retention.py).

    The policy in force and what it removed are kept here, counted in the same transaction
    as each batch of deletions, so the row always matches what is gone even if a pass is cut
    short; its audit event ``compliance.prune`` repeats the totals. ``thinned_before`` lets
    the next pass start where this one stopped instead of rereading a year of history.
    """

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    every_run_days = models.PositiveIntegerField()
    retention_days = models.PositiveIntegerField(help_text="0: kept forever.")
    every_run_from = models.DateTimeField(
        help_text="Every run's results from this moment (midnight UTC) on were kept."
    )
    retained_from = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Results, summaries and runs before this moment (midnight UTC) were deleted; "
        "empty when history is kept forever.",
    )
    thinned_before = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Before this moment every UTC day holds at most one run per team.",
    )
    results_thinned = models.PositiveBigIntegerField(default=0)
    results_expired = models.PositiveBigIntegerField(default=0)
    summaries_expired = models.PositiveBigIntegerField(default=0)
    runs_expired = models.PositiveBigIntegerField(default=0)
    complete = models.BooleanField(
        default=False, help_text="False while running, or when it stopped at its time budget."
    )

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Compliance history prune at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def deleted(self) -> int:
        return (
            self.results_thinned + self.results_expired + self.summaries_expired + self.runs_expired
        )
