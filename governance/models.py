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
