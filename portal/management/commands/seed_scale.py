"""Build the agency-sized dataset the load test and the finance benchmark read.

``python manage.py seed_scale`` (60 teams, 1,500 people, 5,000 workspaces, two years of daily
costs); ``--teams/--users/--workspaces/--live/--days`` make it smaller for tests. It refuses to
run twice (``--reset`` empties the portal's tables first) and, being a test-data tool with one
known password, refuses production settings unless ``--force``.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from portal import scale_data


class Command(BaseCommand):
    help = "Seed an agency-sized dataset for load tests and benchmarks (PostgreSQL only)."

    def add_arguments(self, parser: Any) -> None:
        defaults = scale_data.ScaleSpec()
        parser.add_argument("--teams", type=int, default=defaults.teams)
        parser.add_argument(
            "--users", type=int, default=None, help="Default: 25 per team (1,500 for 60 teams)."
        )
        parser.add_argument("--workspaces", type=int, default=defaults.workspaces)
        parser.add_argument(
            "--live", type=int, default=None, help="Live workspaces; default: 40 %% of them."
        )
        parser.add_argument("--days", type=int, default=defaults.days, help="Days of costs.")
        parser.add_argument(
            "--compliance-runs", type=int, default=defaults.compliance_runs, help="Daily runs."
        )
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Empty every portal table (teams, people, workspaces, audit, costs; not "
            "prices) before seeding. For a database kept for load tests only.",
        )
        parser.add_argument(
            "--force", action="store_true", help="Run even with production settings."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_scale writes thousands of accounts with one known password; it runs "
                "with DJANGO_DEBUG=true, or with --force on a database kept for load tests."
            )
        if connection.vendor != "postgresql":
            raise CommandError("seed_scale needs PostgreSQL (it loads the big tables with COPY).")
        try:
            spec = scale_data.ScaleSpec(
                teams=options["teams"],
                users=options["users"] or 25 * options["teams"],
                workspaces=options["workspaces"],
                live=options["live"]
                if options["live"] is not None
                else options["workspaces"] * 2 // 5,
                days=options["days"],
                compliance_runs=options["compliance_runs"],
                seed=options["seed"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        started = time.monotonic()
        with transaction.atomic():
            if options["reset"]:
                scale_data.reset()
                self.stdout.write("Emptied the portal's tables.")
            elif scale_data.already_seeded():
                raise CommandError(
                    "This database already holds scale data (teams named scale-…). Run with "
                    "--reset to empty the portal's tables and seed again."
                )
            self.stdout.write(
                f"Seeding {spec.teams} teams, {spec.users} people, {spec.workspaces} workspaces "
                f"({spec.live} live), {spec.days} days of costs, seed {spec.seed}…"
            )
            counts = scale_data.build(spec, log=self.stdout.write)
        elapsed = time.monotonic() - started
        for name, count in counts.items():
            self.stdout.write(f"  {name:<22} {count:>10,}")
        self.stdout.write(
            self.style.SUCCESS(f"Scale data ready in {elapsed:.1f}s. Every account's password: ")
            + scale_data.PASSWORD
        )
        for username, persona in scale_data.PERSONAS.items():
            self.stdout.write(f"  {persona:<50} {username}")
