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
    # The owner's exception to the working-hours schedule (workspaces/schedules.py); once the
    # moment passes the schedule applies again without anyone clearing it.
    keep_running_until = models.DateTimeField(
        null=True, blank=True, help_text="Not stopped outside working hours until then."
    )
    keep_running_reason = models.TextField(blank=True)

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
            # Newest first (the API's and the lists' default order): a page of 50 reads 50
            # rows instead of joining and sorting every workspace (bench/query_counts.py).
            models.Index(fields=["-created_at", "id"], name="workspace_newest_idx"),
            # The expiry sweep (schedules.enforce_end_dates): live workspaces whose end date is
            # near or past, a small slice of the table.
            models.Index(
                fields=["end_date"],
                condition=~models.Q(state__in=["rejected", "cancelled", "terminated"]),
                name="workspace_live_end_date_idx",
            ),
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


# --- schedules and expiry (workspaces/schedules.py) -----------------------------------------


class ExpiryPolicy(models.Model):
    """How long a team's workspaces stay stopped after their end date before they are
    terminated. A team without a row gets ``schedules.DEFAULT_GRACE_DAYS``.

    Kept here rather than on ``governance.TeamSettings`` because it is read only by the expiry
    sweep, and changed through ``schedules.expiry_policy_set`` (admins, audited)."""

    team = models.OneToOneField(
        "portal.Team", on_delete=models.CASCADE, related_name="expiry_policy"
    )
    grace_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days between the end date (stop) and termination."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "expiry policies"

    def __str__(self) -> str:
        return f"Expiry policy of {self.team}"


class ExpiryNotice(models.Model):
    """A reminder that a workspace's end date is near, recorded so that a re-run of the sweep
    (or two sweeps at once) never sends it twice. Keyed by the end date it warned about, so
    an extended workspace is reminded again before its new date."""

    class Kind(models.TextChoices):
        THREE_DAYS = "3_days", "Three days before"
        ONE_DAY = "1_day", "One day before"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="expiry_notices"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    end_date = models.DateField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The sweep's "already sent?" lookup and its guarantee of once per date and kind.
            models.UniqueConstraint(
                fields=["workspace", "end_date", "kind"], name="expiry_notice_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.end_date} for {self.workspace_id}"


class ExtensionRequest(models.Model):
    """The owner asks to move a workspace's end date later; an approver of its team or an
    admin (never the requester) decides, as for the workspace request itself."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.PROTECT, related_name="extension_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    current_end_date = models.DateField(help_text="The end date when the extension was asked.")
    new_end_date = models.DateField()
    reason = models.TextField()
    state = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Separation of duties, enforced by the database as the last line of defence.
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True)
                | ~models.Q(decided_by=models.F("requested_by")),
                name="extension_decider_is_not_requester",
            ),
            models.CheckConstraint(
                condition=models.Q(new_end_date__gt=models.F("current_end_date")),
                name="extension_moves_end_date_later",
            ),
            # One open question per workspace; also serves "the pending extension of this
            # workspace" on the workspace page.
            models.UniqueConstraint(
                fields=["workspace"],
                condition=models.Q(state="pending"),
                name="extension_one_pending_per_workspace",
            ),
        ]
        indexes = [
            # The approver's list of pending extensions, oldest first.
            models.Index(fields=["state", "created_at"], name="extension_state_age_idx"),
        ]

    def __str__(self) -> str:
        return f"Extension of {self.workspace_id} to {self.new_end_date}"
