"""``manage.py cost_backfill --months N`` against the sandbox's demo ledger (90 days)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from costs.calendar import cost_today, month_start, previous_month
from costs.models import CostSyncRun, DailyCost, TeamDailyCost
from tests.costs.ledger_support import ce_calls, ce_truth
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.django_db


def test_backfill_loads_whole_months_one_month_at_a_time(
    sandbox_clean: Sandbox, portal_on_sandbox: Sandbox
) -> None:
    sb = sandbox_clean
    sb.control.seed("demo")
    sb.control.reset_calls()
    out = io.StringIO()
    call_command("cost_backfill", "--months", "3", stdout=out)

    run = CostSyncRun.objects.get()
    today = cost_today()
    start = previous_month(previous_month(previous_month(month_start(today))))
    assert (run.kind, run.status) == (CostSyncRun.Kind.BACKFILL, CostSyncRun.Status.SUCCEEDED)
    assert (run.start_day, run.end_day) == (start, today)
    # Four months (three whole and this one so far), each its own request sequence, plus the
    # tag check; every request counted.
    assert run.pages >= 4
    assert run.ce_requests == run.pages + 1 == ce_calls(sb)
    assert f"{run.ce_requests} Cost Explorer requests" in out.getvalue()

    # Stored to the micro-dollar, as the model keeps amounts.
    truth = {k: v.quantize(Decimal("0.000001")) for k, v in ce_truth(sb, start, today).items()}
    rows = {(r.day, r.workspace_tag, r.service): r.amount_usd for r in DailyCost.objects.all()}
    assert rows == truth
    assert min(day for day, _, _ in rows) == today - dt.timedelta(days=90)
    assert TeamDailyCost.objects.aggregate(t=Sum("amount_usd"))["t"] == sum(truth.values())

    # Running it again changes nothing.
    call_command("cost_backfill", "--months", "3", stdout=io.StringIO())
    again = {(r.day, r.workspace_tag, r.service): r.amount_usd for r in DailyCost.objects.all()}
    assert again == rows


def test_backfill_refuses_a_month_count_cost_explorer_cannot_answer(db: None) -> None:
    with pytest.raises(CommandError, match="--months must be between 1 and 37"):
        call_command("cost_backfill", "--months", "0")
    with pytest.raises(CommandError, match="44 was given"):
        call_command("cost_backfill", "--months", "44")
    assert not CostSyncRun.objects.exists()
