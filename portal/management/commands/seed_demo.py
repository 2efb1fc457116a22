"""Create the demo's teams, projects and one person per persona. Safe to run again."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal import services
from portal.demo_data import PEOPLE, TEAMS
from portal.models import Project, Team, User


class Command(BaseCommand):
    help = "Seed demo teams, projects and persona accounts (local runs only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quiet", action="store_true", help="Do not print the logins.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates accounts with known passwords; it runs only "
                "with DJANGO_DEBUG=true."
            )
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
        if not options["quiet"]:
            self.stdout.write(self.style.SUCCESS("Demo data ready. Logins:"))
            for person in PEOPLE:
                self.stdout.write(f"  {person.persona:<24} {person.username:<10} {person.password}")
