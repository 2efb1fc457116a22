"""Load whole months of Cost Explorer history: ``manage.py cost_backfill --months 12``.

Reads the given number of whole months before the current one, and the current month so far,
one calendar month per request sequence and per transaction (a failure keeps the months already
loaded). Recorded as a ``backfill`` CostSyncRun with its Cost Explorer request count; safe to
run again (rows are upserted on their natural key).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from costs.calendar import cost_today, month_start, previous_month
from costs.models import CostSyncRun
from costs.sync import cost_sync

# Cost Explorer keeps 13 months of daily data by default, 38 with multi-year data enabled.
MAX_MONTHS = 37


class Command(BaseCommand):
    help = "Load N whole months of daily costs from Cost Explorer (and this month so far)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--months",
            type=int,
            required=True,
            help=f"Whole months before the current one to load (1 to {MAX_MONTHS}).",
        )

    def handle(self, *args: Any, months: int, **options: Any) -> None:
        if not 1 <= months <= MAX_MONTHS:
            raise CommandError(
                f"--months must be between 1 and {MAX_MONTHS} (Cost Explorer keeps 13 months "
                f"by default, 38 with multi-year data); {months} was given."
            )
        today = cost_today()
        start = month_start(today)
        for _ in range(months):
            start = previous_month(start)
        self.stdout.write(f"Loading {start} to {today} (exclusive), one month at a time...")
        run = cost_sync(start=start, end=today, kind=CostSyncRun.Kind.BACKFILL)
        summary = (
            f"{run.rows_upserted} rows from {run.start_day} to {run.end_day} (exclusive) in "
            f"{run.ce_requests} Cost Explorer requests ({run.pages} pages, "
            f"USD {run.ce_requests / 100:.2f})"
        )
        if run.status != CostSyncRun.Status.SUCCEEDED:
            raise CommandError(f"Backfill failed after {summary}: {run.error}")
        self.stdout.write(self.style.SUCCESS(f"Loaded {summary}."))
