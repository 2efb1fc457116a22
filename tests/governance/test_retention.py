"""Retention of compliance history: which results, summaries and runs the daily prune keeps,
checked on the rows left in PostgreSQL, not on the counts the prune reports."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance import retention
from governance.compliance import evaluate_compliance
from governance.models import (
    AuditEvent,
    CompliancePrune,
    ComplianceResult,
    ComplianceSummary,
    EvaluationRun,
)
from governance.retention import compliance_history_prune
from governance.tasks import prune_compliance_history
from portal.celery import app as celery_app
from tests.conftest import World
from tests.governance.support import create_notebook, recorded_run, team_tags
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# A prune at 03:47 UTC on 20 March with every run kept 3 days and history kept 10: every run
# from 17 March 00:00 UTC on is kept; nothing from before 10 March 00:00 UTC is.
NOW = dt.datetime(2026, 3, 20, 3, 47, tzinfo=UTC)
EVERY_RUN_FROM = dt.datetime(2026, 3, 17, tzinfo=UTC)
RETAINED_FROM = dt.datetime(2026, 3, 10, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 23, second: int = 0) -> dt.datetime:
    """A moment in March 2026, UTC."""
    return dt.datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def policy(settings: Any) -> None:
    settings.COMPLIANCE_EVERY_RUN_DAYS = 3
    settings.COMPLIANCE_RETENTION_DAYS = 10


def notebooks(world: World) -> dict[Any, list[str]]:
    return {world.team: ["ds-a", "ds-b"], world.other_team: ["ph-a"]}


def result_pairs() -> set[tuple[int, int]]:
    """(run, team) of every result left."""
    return set(ComplianceResult.objects.values_list("run_id", "team_id").distinct())


def result_ids() -> set[int]:
    return set(ComplianceResult.objects.values_list("pk", flat=True))


def summary_ids() -> set[int]:
    return set(ComplianceSummary.objects.values_list("pk", flat=True))


def run_ids() -> set[int]:
    return set(EvaluationRun.objects.values_list("pk", flat=True))


def both(world: World, run: EvaluationRun) -> set[tuple[int, int]]:
    return {(run.pk, world.team.pk), (run.pk, world.other_team.pk)}


# --- thinning -------------------------------------------------------------------------------


def test_beyond_the_every_run_window_each_team_keeps_only_its_last_run_of_each_day(
    world: World, policy: None
) -> None:
    books = notebooks(world)
    old = {day: [recorded_run(at(day, h), books) for h in (1, 12, 22)] for day in (14, 15)}
    last_of_16th = recorded_run(at(16, 23, 59, 59), books)
    earlier_16th = recorded_run(at(16, 23, 0), books)
    recent = [recorded_run(at(day, h), books) for day in (17, 19) for h in (1, 12, 22)]
    first_kept = recorded_run(EVERY_RUN_FROM, books)  # exactly midnight: inside the window
    rows_per_run = {r.pk: r.results.count() for r in EvaluationRun.objects.all()}
    summaries, runs = summary_ids(), run_ids()

    compliance_history_prune(now=NOW)

    kept = {old[14][-1], old[15][-1], last_of_16th, *recent, first_kept}
    assert result_pairs() == {pair for run in kept for pair in both(world, run)}
    for run in kept:  # every row of a kept run, not a sample
        assert run.results.count() == rows_per_run[run.pk] == 3 * 8
    assert earlier_16th.results.count() == 0
    # Summaries and runs inside the retention window all stay: the trend reads them.
    assert summary_ids() == summaries
    assert run_ids() == runs


def test_a_team_only_run_does_not_cost_another_team_its_evidence(
    world: World, policy: None
) -> None:
    books = notebooks(world)
    everyone = recorded_run(at(15, 22), books)
    team_only = recorded_run(at(15, 23, 40), books, team=world.team)
    recorded_run(at(15, 23, 50), books, status=EvaluationRun.Status.FAILED)
    # The day's last all-teams run found no notebook of the other team: it holds none of its
    # evidence, so the other team's last evidence of the day is still the 22:23 run.
    other_gone = recorded_run(at(15, 23, 55), {world.team: ["ds-a", "ds-b"]})

    compliance_history_prune(now=NOW)

    assert result_pairs() == {(other_gone.pk, world.team.pk), (everyone.pk, world.other_team.pk)}
    assert not team_only.results.exists()
    assert everyone.results.filter(team=world.other_team).count() == 8


def test_days_are_utc_days_whatever_the_display_time_zone(
    world: World, policy: None, settings: Any
) -> None:
    settings.TIME_ZONE = "America/New_York"  # 22:00 UTC is still 15 March there, 02:00 is 14th
    books = notebooks(world)
    late_15th = recorded_run(at(15, 22), books)
    recorded_run(at(15, 2), books)
    first_16th = recorded_run(at(16, 0, 30), books)

    compliance_history_prune(now=NOW)

    assert result_pairs() == both(world, late_15th) | both(world, first_16th)


# --- retention ------------------------------------------------------------------------------


def test_results_summaries_and_runs_older_than_retention_are_deleted(
    world: World, policy: None
) -> None:
    books = notebooks(world)
    failed_long_ago = recorded_run(at(5, 3), books, status=EvaluationRun.Status.FAILED)
    expired = [recorded_run(at(8, 23), books), recorded_run(at(9, 23, 59, 59), books)]
    # Started on 9 March, finished after midnight: its results are from the 10th and stay.
    straddling = recorded_run(at(10, 0, 1), books)
    failed_recently = recorded_run(at(12, 3), books, status=EvaluationRun.Status.FAILED)
    inside = recorded_run(at(12, 23), books)

    compliance_history_prune(now=NOW)

    assert result_pairs() == both(world, straddling) | both(world, inside)
    assert set(ComplianceSummary.objects.values_list("run_id", flat=True)) == {
        straddling.pk,
        inside.pk,
    }
    assert run_ids() == {straddling.pk, failed_recently.pk, inside.pk}
    assert not EvaluationRun.objects.filter(pk__in=[failed_long_ago.pk, *[r.pk for r in expired]])


def test_retention_zero_keeps_old_history_but_still_thins_it(
    world: World, policy: None, settings: Any
) -> None:
    settings.COMPLIANCE_RETENTION_DAYS = 0
    books = notebooks(world)
    long_ago = NOW - dt.timedelta(days=900)
    first = recorded_run(long_ago.replace(hour=1), books)
    last = recorded_run(long_ago.replace(hour=23), books)
    failed = recorded_run(long_ago.replace(hour=12), books, status=EvaluationRun.Status.FAILED)

    prune = compliance_history_prune(now=NOW)

    assert result_pairs() == both(world, last)
    assert set(ComplianceSummary.objects.values_list("run_id", flat=True)) == {first.pk, last.pk}
    assert run_ids() == {first.pk, last.pk, failed.pk}
    assert prune.retained_from is None
    assert (prune.results_expired, prune.summaries_expired, prune.runs_expired) == (0, 0, 0)


# --- whole-history check against the rule written out ------------------------------------------


@pytest.fixture
def history(world: World, policy: None) -> World:
    """Twelve days of three runs a day, a team-only run, a run that found none of the other
    team's notebooks, failed runs, and a run that straddles the retention boundary."""
    books = notebooks(world)
    recorded_run(at(5, 3), books, status=EvaluationRun.Status.FAILED)
    for day in range(8, 20):
        for hour in (5, 17, 23):
            recorded_run(at(day, hour), books)
    recorded_run(at(10, 0, 1), books)
    recorded_run(at(12, 3), books, status=EvaluationRun.Status.FAILED)
    recorded_run(at(15, 23, 40), books, team=world.team)
    recorded_run(at(16, 23, 59, 59), {world.team: ["ds-a"]})
    recorded_run(at(18, 23, 40), books, team=world.other_team)
    return world


def expected_left() -> tuple[set[int], set[int], set[int]]:
    """Result, summary and run ids the policy keeps, worked out row by row in Python."""
    rows = list(ComplianceResult.objects.values_list("pk", "team_id", "run_id", "evaluated_at"))
    latest: dict[tuple[int, dt.date], tuple[dt.datetime, int]] = {}
    for _, team, run, when in rows:
        key = (team, when.astimezone(UTC).date())
        latest[key] = max(latest.get(key, (when, run)), (when, run))
    results = {
        pk
        for pk, team, run, when in rows
        if when >= RETAINED_FROM
        and (when >= EVERY_RUN_FROM or latest[(team, when.astimezone(UTC).date())][1] == run)
    }
    summaries = set(
        ComplianceSummary.objects.filter(evaluated_at__gte=RETAINED_FROM).values_list(
            "pk", flat=True
        )
    )
    runs = {
        pk
        for pk, started in EvaluationRun.objects.values_list("pk", "started_at")
        if started >= RETAINED_FROM
        or ComplianceResult.objects.filter(pk__in=results, run_id=pk).exists()
        or ComplianceSummary.objects.filter(pk__in=summaries, run_id=pk).exists()
    }
    return results, summaries, runs


@pytest.mark.parametrize("batch_size", [1, 7, 5000])
def test_any_batch_size_leaves_exactly_the_rows_the_policy_keeps(
    history: World, batch_size: int
) -> None:
    results, summaries, runs = expected_left()
    before = len(result_ids()), len(summary_ids()), len(run_ids())

    prune = compliance_history_prune(now=NOW, batch_size=batch_size)

    assert (result_ids(), summary_ids(), run_ids()) == (results, summaries, runs)
    assert prune.results_thinned + prune.results_expired == before[0] - len(results)
    assert prune.summaries_expired == before[1] - len(summaries)
    assert prune.runs_expired == before[2] - len(runs)
    assert prune.complete
    assert prune.thinned_before == EVERY_RUN_FROM


def test_a_pass_cut_short_is_recorded_and_the_next_pass_finishes_the_job(
    history: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    results, summaries, runs = expected_left()
    total = len(result_ids()) + len(summary_ids()) + len(run_ids())
    batches = iter(range(40))

    def run_out_after_40_batches(self: Any) -> None:
        if next(batches, None) is None:
            raise retention._OutOfTime

    monkeypatch.setattr(retention._Pass, "_check_time", run_out_after_40_batches)
    first = compliance_history_prune(now=NOW, batch_size=10)
    monkeypatch.undo()

    first.refresh_from_db()
    assert not first.complete
    left = len(result_ids()) + len(summary_ids()) + len(run_ids())
    assert first.deleted == total - left > 0  # the row counts what went, batch by batch
    assert first.thinned_before is not None
    assert first.thinned_before < EVERY_RUN_FROM
    event = AuditEvent.objects.get(action="compliance.prune")
    assert event.after["complete"] is False

    second = compliance_history_prune(now=NOW, batch_size=10)

    assert second.complete
    assert (result_ids(), summary_ids(), run_ids()) == (results, summaries, runs)


def test_a_spent_time_budget_stops_the_pass_before_it_deletes_anything(history: World) -> None:
    left = result_ids(), summary_ids(), run_ids()

    prune = compliance_history_prune(now=NOW, time_budget=dt.timedelta(0))

    assert (result_ids(), summary_ids(), run_ids()) == left
    prune.refresh_from_db()
    assert not prune.complete
    assert prune.finished_at is not None
    assert not AuditEvent.objects.filter(action="compliance.prune").exists()


def test_a_second_pass_does_not_reread_days_already_thinned(history: World) -> None:
    compliance_history_prune(now=NOW)
    left = result_ids(), summary_ids(), run_ids()

    with CaptureQueriesContext(connection) as queries:
        again = compliance_history_prune(now=NOW)

    assert again.deleted == 0
    assert (result_ids(), summary_ids(), run_ids()) == left
    # Create the pass; the teams; one read per team for old results and for old summaries;
    # one for empty runs; the last mark and the first result; the new mark; finishing (two
    # statements inside a savepoint). Nothing per day of history already thinned.
    assert len(queries) == 14, [q["sql"] for q in queries.captured_queries]


# --- the audit trail, dry runs, the command, the task ---------------------------------------


def test_a_prune_that_deletes_records_one_audit_event_naming_the_policy_and_counts(
    history: World,
) -> None:
    before = len(result_ids()), len(summary_ids()), len(run_ids())

    prune = compliance_history_prune(now=NOW)

    event = AuditEvent.objects.get(action="compliance.prune")
    assert event.actor is None
    assert (event.target_type, event.target_id) == ("governance.complianceprune", str(prune.pk))
    assert event.reason == (
        "Retention policy: Every evaluation is kept for 3 days, then the last of each day (UTC) "
        "until it is 10 days old."
    )
    after = event.after
    assert (after["every_run_days"], after["retention_days"]) == (3, 10)
    assert after["every_run_from"] == EVERY_RUN_FROM.isoformat()
    assert after["retained_from"] == RETAINED_FROM.isoformat()
    assert after["results_thinned"] + after["results_expired"] == before[0] - len(result_ids())
    assert after["summaries_expired"] == before[1] - len(summary_ids())
    assert after["runs_expired"] == before[2] - len(run_ids())
    assert after["results_thinned"] > 0
    assert after["results_expired"] > 0
    assert after["complete"] is True


def test_a_prune_that_deletes_nothing_writes_no_audit_event(world: World, policy: None) -> None:
    recorded_run(at(19, 5), notebooks(world))

    prune = compliance_history_prune(now=NOW)

    assert prune.deleted == 0
    assert prune.complete
    assert not AuditEvent.objects.filter(action="compliance.prune").exists()


def test_a_dry_run_changes_nothing_and_counts_what_the_real_pass_deletes(
    history: World,
) -> None:
    left = result_ids(), summary_ids(), run_ids()
    events = AuditEvent.objects.count()

    dry = compliance_history_prune(now=NOW, dry_run=True)

    assert (result_ids(), summary_ids(), run_ids()) == left
    assert AuditEvent.objects.count() == events
    assert not CompliancePrune.objects.exists()
    assert dry.pk is None
    real = compliance_history_prune(now=NOW)
    assert (
        dry.results_thinned,
        dry.results_expired,
        dry.summaries_expired,
        dry.runs_expired,
    ) == (real.results_thinned, real.results_expired, real.summaries_expired, real.runs_expired)
    assert real.deleted == sum(map(len, left)) - len(result_ids()) - len(summary_ids()) - len(
        run_ids()
    )


def test_the_command_says_what_would_go_then_what_went(world: World, settings: Any) -> None:
    settings.COMPLIANCE_EVERY_RUN_DAYS = 14
    settings.COMPLIANCE_RETENTION_DAYS = 400
    books = notebooks(world)
    old_day = timezone.now() - dt.timedelta(days=30)
    for hour in (3, 9, 15):
        recorded_run(old_day.replace(hour=hour), books)
    recorded_run(timezone.now() - dt.timedelta(days=500), books)
    left = result_ids(), summary_ids(), run_ids()

    out = io.StringIO()
    call_command("compliance_prune", "--dry-run", stdout=out)
    dry = out.getvalue()
    assert (result_ids(), summary_ids(), run_ids()) == left
    assert "Every evaluation is kept for 14 days" in dry
    assert "Would delete:" in dry
    assert "  48 results of runs that were not a team's last of their day" in dry
    assert "  24 results older than the retention period" in dry
    assert "  2 summaries older than the retention period" in dry
    assert "  1 runs left with no results or summaries" in dry
    assert "Dry run: nothing was changed." in dry

    out = io.StringIO()
    call_command("compliance_prune", "--batch-size", "5", stdout=out)
    done = out.getvalue()
    assert "Deleted:" in done
    assert "Done: 75 rows deleted, recorded in the audit trail as compliance.prune." in done
    assert len(result_ids()) == len(left[0]) - 48 - 24
    assert len(run_ids()) == len(left[2]) - 1


def test_the_daily_task_prunes_and_is_scheduled_off_the_hour(world: World) -> None:
    books = notebooks(world)
    day = timezone.now() - dt.timedelta(days=20)
    early = recorded_run(day.replace(hour=1), books)
    late = recorded_run(day.replace(hour=22), books)

    outcome = prune_compliance_history()

    assert outcome["complete"] is True
    assert outcome["deleted"] == 24
    assert result_pairs() == both(world, late)
    assert not early.results.exists()
    entry = celery_app.conf.beat_schedule["prune-compliance-history"]
    assert entry["task"] == "governance.tasks.prune_compliance_history"
    assert entry["schedule"].minute == {47}
    assert entry["schedule"].hour == {3}


def test_history_written_by_the_real_evaluation_is_thinned(
    portal_aws: Sandbox, world: World, policy: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_notebook(portal_aws, "kept-evidence", team_tags(world.team))
    runs = []
    for moment in (at(14, 6), at(14, 18), at(18, 6)):
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        runs.append(evaluate_compliance())
    monkeypatch.undo()
    morning, evening, recent = runs
    assert morning.results.filter(team=world.team).exists()

    compliance_history_prune(now=NOW)

    assert not morning.results.exists()
    assert evening.results.filter(team=world.team, resource_name="kept-evidence").count() == 8
    assert recent.results.filter(team=world.team, resource_name="kept-evidence").count() == 8
    assert ComplianceSummary.objects.filter(run=morning).exists()


# --- the policy in words, and its settings --------------------------------------------------


@pytest.mark.parametrize(
    ("every_run", "retention", "words"),
    [
        (
            14,
            400,
            "Every evaluation is kept for 14 days, then the last of each day (UTC) until it is "
            "400 days old.",
        ),
        (1, 0, "Every evaluation is kept for 1 day, then the last of each day (UTC) for good."),
        (30, 30, "Every evaluation is kept for 30 days, then deleted."),
    ],
)
def test_the_evidence_filter_states_the_policy_under_the_dates(
    world: World, client: Any, settings: Any, every_run: int, retention: int, words: str
) -> None:
    settings.COMPLIANCE_EVERY_RUN_DAYS = every_run
    settings.COMPLIANCE_RETENTION_DAYS = retention
    client.force_login(world.auditor)

    html = client.get(reverse("team_compliance", args=[world.team.slug])).content.decode()

    assert f'id="evidence-retention" data-testid="retention">{words}</p>' in html
    assert html.count('aria-describedby="evidence-retention"') == 2  # From and To


def test_a_policy_changed_after_start_up_is_checked_again(world: World, settings: Any) -> None:
    settings.COMPLIANCE_EVERY_RUN_DAYS = 14
    settings.COMPLIANCE_RETENTION_DAYS = 7
    with pytest.raises(ImproperlyConfigured, match="COMPLIANCE_RETENTION_DAYS must be 0"):
        compliance_history_prune(now=NOW)
    settings.COMPLIANCE_EVERY_RUN_DAYS = 0
    with pytest.raises(ImproperlyConfigured, match="COMPLIANCE_EVERY_RUN_DAYS must be at least 1"):
        compliance_history_prune(now=NOW)
    assert not CompliancePrune.objects.exists()


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"COMPLIANCE_EVERY_RUN_DAYS": "0"}, "COMPLIANCE_EVERY_RUN_DAYS must be at least 1, not 0"),
        (
            {"COMPLIANCE_EVERY_RUN_DAYS": "fortnight"},
            "COMPLIANCE_EVERY_RUN_DAYS must be a whole number, not 'fortnight'",
        ),
        ({"COMPLIANCE_RETENTION_DAYS": "-1"}, "COMPLIANCE_RETENTION_DAYS must be at least 0"),
        (
            {"COMPLIANCE_RETENTION_DAYS": "7"},
            "COMPLIANCE_RETENTION_DAYS must be 0 (keep forever) or at least "
            "COMPLIANCE_EVERY_RUN_DAYS (14), not 7",
        ),
        (
            {"COMPLIANCE_EVERY_RUN_DAYS": "30", "COMPLIANCE_RETENTION_DAYS": "29"},
            "COMPLIANCE_EVERY_RUN_DAYS (30), not 29",
        ),
    ],
)
def test_a_bad_retention_setting_stops_start_up_naming_the_variable(
    variables: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_DEBUG": "true", **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_good_retention_settings_start() -> None:
    for every_run, kept in (("7", "0"), ("30", "30"), ("1", "1")):
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "from portal import settings as s;"
                "print(s.COMPLIANCE_EVERY_RUN_DAYS, s.COMPLIANCE_RETENTION_DAYS)",
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "DJANGO_DEBUG": "true",
                "COMPLIANCE_EVERY_RUN_DAYS": every_run,
                "COMPLIANCE_RETENTION_DAYS": kept,
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [every_run, kept]
