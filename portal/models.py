"""Who may use the portal: people, teams, projects and the roles that tie them together."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A person who signs in. Global roles sit here; team roles live on Membership.

    ``is_portal_admin`` is the portal's admin role (catalog, constraints, every team);
    ``is_staff`` additionally opens Django's admin site and is given to admins only.
    """

    is_portal_admin = models.BooleanField("admin", default=False)
    is_finance = models.BooleanField("finance", default=False)
    is_auditor = models.BooleanField("auditor", default=False)
    # Single sign-on: the groups the identity provider sent at the last sign-in, and the global
    # roles those groups granted, so the next sign-in takes back exactly what SSO gave and
    # never a role an admin granted by hand.
    sso_groups = models.JSONField("groups at last single sign-on", default=list, blank=True)
    sso_global_roles = models.JSONField(
        "global roles granted by single sign-on", default=list, blank=True
    )

    class Meta:
        ordering = ["username"]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def global_roles(self) -> list[str]:
        return [
            label
            for label, held in (
                ("admin", self.is_portal_admin),
                ("finance", self.is_finance),
                ("auditor", self.is_auditor),
            )
            if held
        ]

    @property
    def sees_every_team(self) -> bool:
        """Admins manage every team; finance and auditors read every team."""
        return self.is_portal_admin or self.is_finance or self.is_auditor


class Team(models.Model):
    """A group of analysts who share projects, a budget and network/encryption settings."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    cost_center = models.CharField(
        "cost centre",
        max_length=50,
        help_text="Carried on every resource as the portal:cost-center tag.",
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Two teams named alike ("Data Science" / "data science") confuse approvers.
            models.UniqueConstraint(Lower("name"), name="team_name_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    """A piece of work within a team; carried on resources as the portal:project tag."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            # Tag values must identify one project within a team.
            models.UniqueConstraint(fields=["team", "slug"], name="project_slug_unique_in_team"),
        ]

    def __str__(self) -> str:
        return f"{self.team.name} / {self.name}"


class Role(models.TextChoices):
    ANALYST = "analyst", "Analyst"
    APPROVER = "approver", "Approver"


class MembershipSource(models.TextChoices):
    MANUAL = "manual", "Granted by hand"
    SSO = "sso", "Single sign-on group"


class Membership(models.Model):
    """A person's role in one team. Approvers can do everything analysts can, and approve.

    ``source`` says who owns the row: memberships from single sign-on groups are added,
    changed and removed at each sign-in; those granted by hand are never touched by it.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANALYST)
    source = models.CharField(
        max_length=10, choices=MembershipSource.choices, default=MembershipSource.MANUAL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_one_role_per_team"),
        ]
        indexes = [
            # "Who approves for this team?" (notifications, approval queue).
            models.Index(fields=["team", "role"], name="membership_team_role_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.role}"


class WorkerHeartbeat(models.Model):
    """When each Celery worker last ran the heartbeat task; shown to operators on /readyz."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.last_seen:%Y-%m-%d %H:%M:%S}"


class Notification(models.Model):
    """A message to one person, shown in the portal and (usually) also e-mailed."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The unread count in the header and the notifications page.
            models.Index(fields=["user", "read_at", "-created_at"], name="notification_user_idx"),
        ]

    def __str__(self) -> str:
        return self.subject


class ApiToken(models.Model):
    """A personal bearer token for scripts. Only a SHA-256 of the secret is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class GroupGrant(models.TextChoices):
    """What membership of an identity-provider group gives: a team role or a global role."""

    ANALYST = "analyst", "Analyst in a team"
    APPROVER = "approver", "Approver in a team"
    ADMIN = "admin", "Admin (every team)"
    FINANCE = "finance", "Finance (reads every team)"
    AUDITOR = "auditor", "Auditor (reads every team)"


TEAM_GRANTS = (GroupGrant.ANALYST, GroupGrant.APPROVER)
GLOBAL_GRANTS = (GroupGrant.ADMIN, GroupGrant.FINANCE, GroupGrant.AUDITOR)


class GroupMapping(models.Model):
    """One identity-provider group granting one role, edited by admins in the portal.

    Team roles name a team; global roles name none. At each single sign-on the person's
    roles are reconciled to the mappings of the groups they hold (``portal.oidc``).
    """

    group = models.CharField(max_length=255, help_text="Exactly as the identity provider sends it.")
    grant = models.CharField(max_length=20, choices=GroupGrant.choices)
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="group_mappings"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "grant", "team__name"]
        constraints = [
            # One role per team and group: sign-in looks mappings up by group (this index
            # leads with the group) and must not meet "analyst and approver" for one team.
            models.UniqueConstraint(
                fields=["group", "team"],
                condition=models.Q(team__isnull=False),
                name="group_mapping_one_role_per_team",
            ),
            models.UniqueConstraint(
                fields=["group", "grant"],
                condition=models.Q(team__isnull=True),
                name="group_mapping_global_grant_unique",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(grant__in=[g.value for g in TEAM_GRANTS], team__isnull=False)
                    | models.Q(grant__in=[g.value for g in GLOBAL_GRANTS], team__isnull=True)
                ),
                name="group_mapping_team_role_names_a_team",
            ),
        ]

    def __str__(self) -> str:
        where = f" in {self.team}" if self.team_id else ""
        return f"{self.group} → {self.grant}{where}"
