"""Create the demo's teams, projects and people; sync the catalog from the sandbox and publish
an offering per product; set team settings and budgets; load the sandbox's cost history (its
90 days, read as a three-month backfill) so the cost pages, alerts and forecasts have data.
Safe to run again.

Teams and people come first and do not need AWS, so a demo database can be prepared with the
sandbox down; the command says what it skipped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from costs.calendar import cost_today, month_start, previous_month
from costs.models import CostSyncRun, TeamBudget
from costs.services import team_budget_set
from costs.sync import cost_sync
from governance.models import TeamSettings
from governance.services import team_settings_set
from portal import aws, services
from portal.demo_data import (
    BUDGETS,
    OFFERINGS,
    PEOPLE,
    SANDBOX_LIFECYCLE_CONFIG,
    SANDBOX_SECURITY_GROUP_ID,
    SANDBOX_SUBNET_ID,
    TEAMS,
    sandbox_kms_key_arn,
)
from portal.models import Project, Team, User
from workspaces.catalog import catalog_sync
from workspaces.models import Offering, ProductVersion
from workspaces.services import offering_publish

# The sandbox's demo seed carries 90 days of costs: three whole months before this one cover it.
COST_HISTORY_MONTHS = 3


class Command(BaseCommand):
    help = "Seed demo teams, people, catalog offerings, settings and budgets (local runs only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quiet", action="store_true", help="Do not print the logins.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates accounts with known passwords; it runs only "
                "with DJANGO_DEBUG=true."
            )
        teams = self._teams_and_people()
        self._settings_and_budgets(teams)
        if self._catalog(teams):
            self._costs()
        if not options["quiet"]:
            self.stdout.write(self.style.SUCCESS("Demo data ready. Logins:"))
            for person in PEOPLE:
                self.stdout.write(f"  {person.persona:<24} {person.username:<10} {person.password}")

    @transaction.atomic
    def _teams_and_people(self) -> list[Team]:
        teams: dict[str, Team] = {}
        for spec in TEAMS:
            team = Team.objects.filter(slug=spec.slug).first() or services.team_create(
                actor=None,
                name=spec.name,
                slug=spec.slug,
                cost_center=spec.cost_center,
                description=spec.description,
            )
            teams[spec.slug] = team
            for slug, name in spec.projects:
                if not Project.objects.filter(team=team, slug=slug).exists():
                    services.project_create(actor=None, team=team, name=name, slug=slug)
        for person in PEOPLE:
            user = User.objects.filter(username=person.username).first()
            if user is None:
                user = User.objects.create_user(
                    person.username,
                    email=f"{person.username}@agency.example",
                    password=person.password,
                    first_name=person.first_name,
                    last_name=person.last_name,
                )
            user.is_portal_admin = person.is_portal_admin
            user.is_finance = person.is_finance
            user.is_auditor = person.is_auditor
            user.is_staff = user.is_superuser = person.is_portal_admin
            user.save()
            for slug, role in person.teams.items():
                services.membership_set(actor=None, user=user, team=teams[slug], role=role)
        return list(teams.values())

    @transaction.atomic
    def _settings_and_budgets(self, teams: list[Team]) -> None:
        # Only what is missing: running the seed again must not undo an admin's edits.
        for team in teams:
            if not TeamSettings.objects.filter(team=team).exists():
                team_settings_set(
                    actor=None,
                    team=team,
                    subnet_id=SANDBOX_SUBNET_ID,
                    security_group_ids=SANDBOX_SECURITY_GROUP_ID,
                    kms_key_id=sandbox_kms_key_arn(settings.AWS_REGION),
                    lifecycle_config_name=SANDBOX_LIFECYCLE_CONFIG,
                )
            if team.slug in BUDGETS and not TeamBudget.objects.filter(team=team).exists():
                team_budget_set(actor=None, team=team, monthly_usd=Decimal(BUDGETS[team.slug]))

    def _catalog(self, teams: list[Team]) -> bool:
        """Sync the catalog and publish the offerings; False when the sandbox is down."""
        endpoint = settings.AWS_ENDPOINT_URL or "AWS"
        try:
            # One quick attempt first: the gateway's retries would make an absent sandbox
            # look like a hang.
            aws.caller_identity()
            run = catalog_sync(actor=None)
        except aws.AWS_ERRORS as exc:
            self.stdout.write(
                self.style.WARNING(
                    f"The sandbox ({endpoint}) is not reachable ({aws.error_message(exc)}): "
                    "teams and people are ready; the catalog and offerings are not. Start the "
                    "sandbox and run seed_demo again."
                )
            )
            return False
        if run.error:
            self.stdout.write(self.style.WARNING(f"Catalog sync failed: {run.error}"))
            return True
        published = self._offerings(teams)
        self.stdout.write(
            f"Catalog synced from {endpoint}: {len(run.added)} added, {len(run.changed)} "
            f"changed, {len(run.retired)} retired; {published} offerings published."
        )
        return True

    def _costs(self) -> None:
        """The sandbox's cost history as ``cost_backfill --months 3`` loads it (upserted, so
        running again changes nothing), then forecasts, AWS Budgets and alerts."""
        today = cost_today()
        start = month_start(today)
        for _ in range(COST_HISTORY_MONTHS):
            start = previous_month(start)
        run = cost_sync(start=start, end=today, kind=CostSyncRun.Kind.BACKFILL)
        if run.status != CostSyncRun.Status.SUCCEEDED:
            self.stdout.write(self.style.WARNING(f"Cost history not loaded: {run.error}"))
            return
        self.stdout.write(
            f"Cost history loaded: {run.rows_upserted} daily rows from {run.start_day} to "
            f"{run.end_day} in {run.ce_requests} Cost Explorer requests."
        )

    @transaction.atomic
    def _offerings(self, teams: list[Team]) -> int:
        published = 0
        for spec in OFFERINGS:
            if Offering.objects.filter(version__product__name=spec.product_name).exists():
                continue
            version = (
                ProductVersion.objects.filter(
                    product__name=spec.product_name,
                    product__retired_at__isnull=True,
                    retired_at__isnull=True,
                    active=True,
                )
                .order_by("guidance", "-name")  # DEFAULT sorts before DEPRECATED; then newest
                .first()
            )
            if version is None:
                self.stdout.write(self.style.WARNING(f"No {spec.product_name} in the catalog."))
                continue
            offering_publish(
                actor=None,
                version=version,
                title=spec.title,
                summary=spec.summary,
                teams=teams,
                allowed_instance_types=list(spec.allowed_instance_types),
                default_volume_gb=spec.default_volume_gb,
                max_volume_gb=spec.max_volume_gb,
                max_lifetime_days=spec.max_lifetime_days,
                max_live_per_user=spec.max_live_per_user,
                approval_required=spec.approval_required,
            )
            published += 1
        return published
