"""The catalog (Service Catalog products and published offerings) and workspaces."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Product(models.Model):
    """A Service Catalog product, as last read by the catalog sync. Never deleted: a product
    that disappears from AWS is marked retired so history keeps its name."""

    product_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    owner = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


class ProductVersion(models.Model):
    """A provisioning artifact (version) of a product, with the launch path and the
    parameters' allowed values that describe_provisioning_parameters returned."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="versions")
    artifact_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True, help_text="AWS's Active flag for the version.")
    guidance = models.CharField(max_length=32, default="DEFAULT")
    launch_path_id = models.CharField(max_length=100, blank=True)
    allowed_instance_types = models.JSONField(default=list)
    parameters = models.JSONField(default=list, help_text="Parameter keys and allowed values.")
    retired_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["product__name", "name"]

    def __str__(self) -> str:
        return f"{self.product.name} {self.name}"

    @property
    def requestable(self) -> bool:
        return self.active and self.retired_at is None and self.product.retired_at is None


class CatalogSyncRun(models.Model):
    """One run of the catalog sync and what it changed."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    added = models.JSONField(default=list)
    changed = models.JSONField(default=list)
    retired = models.JSONField(default=list)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Catalog sync at {self.started_at:%Y-%m-%d %H:%M}"


class Offering(models.Model):
    """A product version an admin has published for chosen teams, with constraints
    (``governance.OfferingConstraint``)."""

    version = models.ForeignKey(ProductVersion, on_delete=models.PROTECT, related_name="offerings")
    title = models.CharField(max_length=120)
    summary = models.TextField(help_text="What this workspace is for, shown on the catalog card.")
    teams = models.ManyToManyField("portal.Team", related_name="offerings", blank=True)
    is_active = models.BooleanField(default=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class State(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    PROVISIONING = "provisioning", "Provisioning"
    AVAILABLE = "available", "Available"
    FAILED = "failed", "Failed"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    STARTING = "starting", "Starting"
    TERMINATING = "terminating", "Terminating"
    TERMINATED = "terminated", "Terminated"


# States in which a workspace exists, or is about to (counts against quotas, keeps its name).
LIVE_STATES = frozenset(
    {
        State.PENDING_APPROVAL,
        State.APPROVED,
        State.PROVISIONING,
        State.AVAILABLE,
        State.FAILED,
        State.STOPPING,
        State.STOPPED,
        State.STARTING,
        State.TERMINATING,
    }
)
FINAL_STATES = frozenset({State.REJECTED, State.CANCELLED, State.TERMINATED})


class Workspace(models.Model):
    """A requested SageMaker notebook workspace and where it is in its life."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("portal.Team", on_delete=models.PROTECT, related_name="workspaces")
    project = models.ForeignKey(
        "portal.Project", on_delete=models.PROTECT, related_name="workspaces"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="workspaces"
    )
    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="workspaces")
    name = models.SlugField(max_length=40)
    instance_type = models.CharField(max_length=64)
    volume_size_gb = models.PositiveIntegerField()
    end_date = models.DateField()
    justification = models.TextField()
    estimated_monthly_usd = models.DecimalField(max_digits=12, decimal_places=2)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING_APPROVAL)
    state_reason = models.TextField(blank=True, help_text="Why it is in this state (AWS's text).")
    state_changed_at = models.DateTimeField(auto_now_add=True)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approved_workspaces",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    budget_override_reason = models.TextField(blank=True)
    # What Service Catalog and SageMaker call it, filled in as provisioning goes.
    provision_attempt = models.PositiveIntegerField(
        default=1, help_text="Part of the ProvisionToken; a retry after failure is a new attempt."
    )
    sc_record_id = models.CharField(max_length=100, blank=True)
    sc_provisioned_product_id = models.CharField(max_length=100, blank=True)
    notebook_arn = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Separation of duties, enforced by the database as the last line of defence.
            models.CheckConstraint(
                condition=models.Q(approver__isnull=True) | ~models.Q(approver=models.F("owner")),
                name="workspace_approver_is_not_owner",
            ),
            # A live workspace's name identifies it within its team (and in the notebook name).
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=~models.Q(state__in=["rejected", "cancelled", "terminated"]),
                name="workspace_live_name_unique_in_team",
            ),
        ]
        indexes = [
            # Approval queue (team, state, oldest first) and team workspace lists.
            models.Index(fields=["team", "state", "created_at"], name="workspace_team_state_idx"),
            # "My workspaces" and per-user quotas.
            models.Index(fields=["owner", "state"], name="workspace_owner_state_idx"),
            # The reconciler: what has sat in a state too long.
            models.Index(fields=["state", "state_changed_at"], name="workspace_state_age_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.team.slug})" if self.team_id else self.name

    @property
    def provision_token(self) -> str:
        """Idempotency key for ProvisionProduct: a redelivered task cannot launch twice."""
        return f"{self.pk.hex}-{self.provision_attempt}"

    @property
    def notebook_name(self) -> str:
        """Unique in the account: team slug and workspace name, within SageMaker's 63."""
        return f"{self.team.slug}-{self.name}"[:63]
