"""How long compliance history is kept: the daily prune of results, summaries and runs.

Hourly evaluations append one result per notebook and control (5,000 notebooks: about 960,000
rows a day). The policy, from ``COMPLIANCE_EVERY_RUN_DAYS`` (E) and ``COMPLIANCE_RETENTION_DAYS``
(R), with days counted in UTC from midnight:

- every run's results from the last E days (since midnight UTC E days ago) are kept;
- on each older UTC day, a team keeps only the results of its latest run that has results for
  it that day, and loses the rest. Per team, because a team-only run ("Evaluate now", after a
  launch) holds no rows of other teams: it must not cost them the day's all-teams run;
- with R > 0, results, summaries and runs from before midnight UTC R days ago are deleted; with
  R = 0 nothing is deleted for age. Summaries inside that window are never deleted: the trend
  and "latest run per team" read them, and there is only one per team and run;
- runs left with neither results nor summaries (failed runs never had any) go only once they
  are older than R.

Deletes go a few thousand rows at a time, each batch in its own transaction, walking one team's
rows in ``evaluated_at`` order (``compliance_team_time_idx``) so no batch rereads what the last
one removed and no statement holds locks for long. Each batch adds its count to the pass's
``CompliancePrune`` row in the same transaction, so the row matches what is gone even if the
pass is cut short; a pass that deleted anything ends with one ``compliance.prune`` audit event
(actor: the system) naming the policy and the totals. Two passes at once do no harm: both
delete what is left, and each counts only the rows it deleted itself.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models import Exists, F, Max, OuterRef, Subquery
from django.utils import timezone

from governance.models import CompliancePrune, ComplianceResult, ComplianceSummary, EvaluationRun
from governance.services import audit_record
from portal.models import Team

# Rows per DELETE: small enough that a batch takes tens of milliseconds.
BATCH_SIZE = 5000


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def _midnight(moment: dt.datetime) -> dt.datetime:
    day = moment.astimezone(dt.UTC).date()
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


@dataclass(frozen=True)
class RetentionPolicy:
    every_run_days: int
    retention_days: int

    @classmethod
    def from_settings(cls) -> RetentionPolicy:
        """The configured policy. portal/settings.py refuses a bad one at start-up; this
        checks again for values changed after it (tests, a shell)."""
        policy = cls(settings.COMPLIANCE_EVERY_RUN_DAYS, settings.COMPLIANCE_RETENTION_DAYS)
        if policy.every_run_days < 1:
            raise ImproperlyConfigured(
                f"COMPLIANCE_EVERY_RUN_DAYS must be at least 1, not {policy.every_run_days}"
            )
        if policy.retention_days < 0 or 0 < policy.retention_days < policy.every_run_days:
            raise ImproperlyConfigured(
                f"COMPLIANCE_RETENTION_DAYS must be 0 (keep forever) or at least "
                f"COMPLIANCE_EVERY_RUN_DAYS ({policy.every_run_days}), "
                f"not {policy.retention_days}"
            )
        return policy

    def every_run_from(self, now: dt.datetime) -> dt.datetime:
        """Every run's results from this moment on are kept."""
        return _midnight(now - dt.timedelta(days=self.every_run_days))

    def retained_from(self, now: dt.datetime) -> dt.datetime | None:
        """Nothing before this moment is kept; None when history is kept forever."""
        if self.retention_days == 0:
            return None
        return _midnight(now - dt.timedelta(days=self.retention_days))

    def describe(self) -> str:
        """The policy in words, for the evidence page and the audit event."""
        kept = f"Every evaluation is kept for {_days(self.every_run_days)}"
        if self.retention_days == 0:
            return f"{kept}, then the last of each day (UTC) for good."
        if self.retention_days == self.every_run_days:
            return f"{kept}, then deleted."
        return (
            f"{kept}, then the last of each day (UTC) until it is {_days(self.retention_days)} old."
        )


def retention_policy() -> RetentionPolicy:
    return RetentionPolicy.from_settings()


class _OutOfTime(Exception):
    """The pass used its time budget; it stops between batches."""


class _Pass:
    """One prune: where it stands, and deleting (or, dry, counting) rows batch by batch."""

    def __init__(
        self, prune: CompliancePrune, *, dry_run: bool, batch_size: int, deadline: float | None
    ) -> None:
        self.prune = prune
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.deadline = deadline

    def _check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _OutOfTime

    def _add(self, counter: str, n: int) -> None:
        setattr(self.prune, counter, getattr(self.prune, counter) + n)

    def delete(self, rows: models.QuerySet[Any], *, key: str, counter: str) -> None:
        """Delete ``rows`` in batches along ``key`` (the column its index orders them by),
        adding the count to ``counter`` on the prune row in each batch's transaction."""
        if self.dry_run:
            self._add(counter, rows.count())
            return
        since = None
        while True:
            self._check_time()
            # Rows at ``since`` that the last batch left are read again; the ones it deleted
            # are gone, so no batch rereads the whole range before it.
            page = rows if since is None else rows.filter(**{f"{key}__gte": since})
            batch = list(page.order_by(key).values_list("pk", key)[: self.batch_size])
            if not batch:
                return
            with transaction.atomic():
                deleted, _ = rows.model.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
                CompliancePrune.objects.filter(pk=self.prune.pk).update(
                    **{counter: F(counter) + deleted}
                )
            self._add(counter, deleted)
            if len(batch) < self.batch_size:
                return
            since = batch[-1][1]

    def mark_thinned(self, before: dt.datetime) -> None:
        self.prune.thinned_before = before
        if not self.dry_run:
            CompliancePrune.objects.filter(pk=self.prune.pk).update(thinned_before=before)


def _team_ids() -> list[int]:
    return list(Team.objects.order_by("pk").values_list("pk", flat=True))


def _first_day_with_results(since: dt.datetime | None) -> dt.datetime | None:
    """Midnight UTC of the oldest result's day from ``since`` on: one index probe per team (the
    table has no index on time alone; at agency scale a scan reads hundreds of millions of
    rows). Lets a pass step over days without history instead of asking about each."""
    results = ComplianceResult.objects.filter(team=OuterRef("pk"))
    if since is not None:
        results = results.filter(evaluated_at__gte=since)
    firsts = Team.objects.annotate(
        first=Subquery(results.order_by("evaluated_at").values("evaluated_at")[:1])
    ).values_list("first", flat=True)
    found = [at for at in firsts if at is not None]
    return _midnight(min(found)) if found else None


def _expire(work: _Pass, retained_from: dt.datetime, teams: list[int]) -> None:
    for team_id in teams:
        work.delete(
            ComplianceResult.objects.filter(team_id=team_id, evaluated_at__lt=retained_from),
            key="evaluated_at",
            counter="results_expired",
        )
    for team_id in teams:
        work.delete(
            ComplianceSummary.objects.filter(team_id=team_id, evaluated_at__lt=retained_from),
            key="evaluated_at",
            counter="summaries_expired",
        )
    if work.dry_run:
        # What the deletes above would leave empty.
        newer_results = ComplianceResult.objects.filter(
            run=OuterRef("pk"), evaluated_at__gte=retained_from
        )
        newer_summaries = ComplianceSummary.objects.filter(
            run=OuterRef("pk"), evaluated_at__gte=retained_from
        )
    else:
        newer_results = ComplianceResult.objects.filter(run=OuterRef("pk"))
        newer_summaries = ComplianceSummary.objects.filter(run=OuterRef("pk"))
    work.delete(
        EvaluationRun.objects.filter(started_at__lt=retained_from)
        .exclude(Exists(newer_results))
        .exclude(Exists(newer_summaries)),
        key="started_at",
        counter="runs_expired",
    )


def _thin_day(work: _Pass, start: dt.datetime) -> None:
    """Keep, for each team, only the results of its latest run on this UTC day."""
    end = start + dt.timedelta(days=1)
    day = ComplianceResult.objects.filter(evaluated_at__gte=start, evaluated_at__lt=end)
    keepers = (
        Team.objects.annotate(
            keep=Subquery(
                day.filter(team=OuterRef("pk"))
                .order_by("-evaluated_at", "-run_id")
                .values("run_id")[:1]
            )
        )
        .order_by("pk")
        .values_list("pk", "keep")
    )
    for team_id, keep in keepers:
        if keep is None:  # filtered here: in SQL the subquery would run twice per team
            continue
        work.delete(
            day.filter(team_id=team_id).exclude(run_id=keep),
            key="evaluated_at",
            counter="results_thinned",
        )


def _thin(work: _Pass, every_run_from: dt.datetime, retained_from: dt.datetime | None) -> None:
    """Thin each day not yet thinned, oldest first, recording progress day by day."""
    done_before = CompliancePrune.objects.aggregate(m=Max("thinned_before"))["m"]
    # Days before an earlier pass's mark were thinned by it: nothing adds rows to old days.
    marks = [at for at in (done_before, retained_from) if at is not None]
    day = _first_day_with_results(max(marks) if marks else None)
    while day is not None and day < every_run_from:
        _thin_day(work, day)
        work.mark_thinned(day + dt.timedelta(days=1))
        day = _first_day_with_results(day + dt.timedelta(days=1))
    work.mark_thinned(max(every_run_from, done_before or every_run_from))


def _summary(prune: CompliancePrune) -> dict[str, Any]:
    return {
        "every_run_days": prune.every_run_days,
        "retention_days": prune.retention_days,
        "every_run_from": prune.every_run_from.isoformat(),
        "retained_from": prune.retained_from.isoformat() if prune.retained_from else None,
        "results_thinned": prune.results_thinned,
        "results_expired": prune.results_expired,
        "summaries_expired": prune.summaries_expired,
        "runs_expired": prune.runs_expired,
        "complete": prune.complete,
    }


@transaction.atomic
def _finish(prune: CompliancePrune, policy: RetentionPolicy, *, complete: bool) -> None:
    prune.finished_at = timezone.now()
    prune.complete = complete
    CompliancePrune.objects.filter(pk=prune.pk).update(
        finished_at=prune.finished_at, complete=complete
    )
    prune.refresh_from_db()
    if prune.deleted:
        audit_record(
            actor=None,
            action="compliance.prune",
            target=prune,
            after=_summary(prune),
            reason=f"Retention policy: {policy.describe()}",
        )


def compliance_history_prune(
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    time_budget: dt.timedelta | None = None,
) -> CompliancePrune:
    """Apply the retention policy to compliance history (see the module docstring).

    Returns the pass with its counts: saved, or with ``dry_run`` unsaved, counting what would
    go and changing nothing. With ``time_budget`` the pass stops between batches once it is
    spent (``complete`` is then False); the next pass continues where it stopped.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    policy = RetentionPolicy.from_settings()
    every_run_from, retained_from = policy.every_run_from(now), policy.retained_from(now)
    prune = CompliancePrune(
        started_at=timezone.now(),
        every_run_days=policy.every_run_days,
        retention_days=policy.retention_days,
        every_run_from=every_run_from,
        retained_from=retained_from,
    )
    if not dry_run:
        prune.save()
    deadline = None if time_budget is None else time.monotonic() + time_budget.total_seconds()
    work = _Pass(prune, dry_run=dry_run, batch_size=batch_size, deadline=deadline)
    try:
        if retained_from is not None:
            _expire(work, retained_from, _team_ids())
        _thin(work, every_run_from, retained_from)
    except _OutOfTime:
        complete = False
    except BaseException:
        if not dry_run:
            _finish(prune, policy, complete=False)
        raise
    else:
        complete = True
    if dry_run:
        prune.complete = complete
    else:
        _finish(prune, policy, complete=complete)
    return prune
