"""Apply the compliance history retention policy now: ``manage.py compliance_prune [--dry-run]``.

The same pass beat runs daily (governance/retention.py), without its time budget: use it for
the first pass over a long history, or to see with ``--dry-run`` what the policy would delete.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.models import CompliancePrune
from governance.retention import BATCH_SIZE, compliance_history_prune, retention_policy


def _when(prune: CompliancePrune) -> str:
    kept = f"every run kept from {prune.every_run_from:%Y-%m-%d %H:%M} UTC"
    if prune.retained_from is None:
        return f"{kept}; nothing deleted for age"
    return f"{kept}; everything before {prune.retained_from:%Y-%m-%d %H:%M} UTC deleted"


class Command(BaseCommand):
    help = "Delete compliance history the retention policy no longer keeps (--dry-run: count)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted; change nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            help=f"Rows per DELETE statement (default {BATCH_SIZE}).",
        )

    def handle(self, *args: Any, dry_run: bool, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1, not {batch_size}.")
        self.stdout.write(f"Policy: {retention_policy().describe()}")
        prune = compliance_history_prune(dry_run=dry_run, batch_size=batch_size)
        self.stdout.write(f"Applied as: {_when(prune)}.")
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb}:\n"
            f"  {prune.results_thinned} results of runs that were not a team's last of their "
            f"day\n"
            f"  {prune.results_expired} results older than the retention period\n"
            f"  {prune.summaries_expired} summaries older than the retention period\n"
            f"  {prune.runs_expired} runs left with no results or summaries"
        )
        if dry_run:
            self.stdout.write(self.style.SUCCESS("Dry run: nothing was changed."))
        else:
            audited = ", recorded in the audit trail as compliance.prune" if prune.deleted else ""
            self.stdout.write(self.style.SUCCESS(f"Done: {prune.deleted} rows deleted{audited}."))
