"""Budget alerts from the portal's own rows after a sync against the sandbox ledger: raised
once per threshold with a portal notification and an e-mail, forecast alerts, finance's
acknowledgement, and the request flow refusing a team the sync put at 100 %."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from costs.calendar import cost_today, month_start
from costs.models import BudgetAlert, CostSyncRun, DailyCost, TeamForecast
from costs.selectors import budget_position
from costs.services import AlertAlreadyAcknowledged, budget_alert_acknowledge, team_budget_set
from costs.sync import cost_sync
from governance.models import AuditEvent
from portal.models import Notification
from tests.conftest import World
from tests.costs.ledger_support import COST_TAGS, days_back, make_workspaces, usage
from tests.factories import published_offering
from tests.support.sandbox import Sandbox
from workspaces.models import State, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def sb(sandbox_clean: Sandbox, portal_on_sandbox: Sandbox) -> Sandbox:
    sandbox_clean.control.cost_tags(active=COST_TAGS)
    return sandbox_clean


def synced(capture: Any) -> CostSyncRun:
    """One sync, with the e-mails sent after its commit."""
    with capture(execute=True):
        run = cost_sync()
    assert run.status == CostSyncRun.Status.SUCCEEDED, run.error
    return run


def spent_85_of_100_yesterday(world: World, sb: Sandbox) -> tuple[Workspace, dt.date]:
    """The team's budget is USD 100 and its one workspace spent 85 yesterday in the ledger (not
    synced yet); the outbox is empty. Returns the workspace and yesterday."""
    offering = published_offering(world.team)
    (ws,) = make_workspaces(world.team, world.project, world.analyst, offering, 1)
    yesterday = days_back(1)[0]
    team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("100"))
    sb.control.ledger([usage(ws, yesterday, 85.0)])
    mail.outbox.clear()
    return ws, yesterday


def test_crossing_80_percent_raises_an_alert_a_notification_and_an_email_within_one_sync(
    world: World, sb: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    ws, yesterday = spent_85_of_100_yesterday(world, sb)

    synced(django_capture_on_commit_callbacks)

    alerts = BudgetAlert.objects.filter(team=world.team)
    assert {(a.kind, a.threshold_percent) for a in alerts} == {("actual", 50), ("actual", 80)}
    alert = alerts.get(threshold_percent=80)
    assert (alert.month, alert.amount_usd, alert.budget_usd) == (
        month_start(yesterday),
        Decimal("85.00"),
        Decimal("100.00"),
    )
    assert alert.acknowledged_at is None
    # One notification per person (approvers of the team and finance), in the portal ...
    told = Notification.objects.filter(subject__contains="Budget alert")
    assert sorted(n.user.username for n in told) == ["approver", "finance"]
    note = told.get(user=world.approver)
    assert "Data Science spent 80 % or more" in note.subject
    assert "85.00" in note.body
    assert "85 % of its $100.00 budget" in note.body
    # It links to the team's cost page, where the alert and the budget are.
    assert note.url == reverse("team_costs", args=[world.team.slug])
    # ... and by e-mail.
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == sorted([world.approver.email, world.finance.email])
    assert "Budget alert: Data Science" in mail.outbox[0].subject
    assert AuditEvent.objects.filter(action="budget.alert_raise").count() == 2

    # The next sync raises nothing again.
    synced(django_capture_on_commit_callbacks)
    assert BudgetAlert.objects.count() == 2
    assert Notification.objects.filter(subject__contains="Budget alert").count() == 2
    assert len(mail.outbox) == 1

    # AWS revises the day upwards: the 100 % threshold is raised, once.
    sb.control.ledger([usage(ws, yesterday, 104.0)], revise=True)
    synced(django_capture_on_commit_callbacks)
    assert BudgetAlert.objects.filter(threshold_percent=100, kind="actual").count() == 1
    assert len(mail.outbox) == 2
    assert "spent 100 % or more" in mail.outbox[1].subject


def test_a_failing_forecast_neither_loses_the_rows_nor_silences_the_alerts_on_actual_spend(
    world: World,
    sb: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The steps after the rows run independently: a fault in forecasting fails the run with
    a reason naming the step, while the rows stay and the 80 % alert still goes out."""
    import costs.forecast

    def broken(*, today: dt.date) -> int:
        raise RuntimeError("no forecast today")

    monkeypatch.setattr(costs.forecast, "forecasts_compute", broken)
    _, yesterday = spent_85_of_100_yesterday(world, sb)

    with django_capture_on_commit_callbacks(execute=True):
        run = cost_sync()

    assert run.status == CostSyncRun.Status.FAILED
    assert run.error == "The cost rows are stored, but forecasts: RuntimeError: no forecast today"
    stored = DailyCost.objects.filter(team=world.team, day=yesterday)
    assert stored.aggregate(total=Sum("amount_usd"))["total"] == Decimal("85")
    alerts = BudgetAlert.objects.filter(team=world.team)
    assert {(a.kind, a.threshold_percent) for a in alerts} == {("actual", 50), ("actual", 80)}
    assert len(mail.outbox) == 1


def test_a_forecast_over_budget_raises_a_forecast_alert(
    world: World, sb: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    offering = published_offering(world.team)
    (ws,) = make_workspaces(world.team, world.project, world.analyst, offering, 1)
    sb.control.ledger([usage(ws, d, 10.0) for d in days_back(35)])
    synced(django_capture_on_commit_callbacks)
    forecast = TeamForecast.objects.get(team=world.team, month=month_start(cost_today()))
    assert forecast.source == TeamForecast.Source.PORTAL
    # A budget just under the forecast: the month is going to overrun it.
    budget = (forecast.mean_usd * Decimal("0.98")).quantize(Decimal("0.01"))
    team_budget_set(actor=world.finance, team=world.team, monthly_usd=budget)
    synced(django_capture_on_commit_callbacks)
    alert = BudgetAlert.objects.get(team=world.team, kind="forecast")
    assert alert.threshold_percent == 100
    assert alert.amount_usd == forecast.mean_usd
    assert "is forecast to spend" in mail.outbox[-1].body


def an_alert(world: World, threshold: int = 80) -> BudgetAlert:
    return BudgetAlert.objects.create(
        team=world.team,
        month=month_start(cost_today()),
        kind=BudgetAlert.Kind.ACTUAL,
        threshold_percent=threshold,
        budget_usd=Decimal("100"),
        amount_usd=Decimal("81"),
        raised_at=timezone.now(),
    )


@pytest.mark.parametrize("persona", ["analyst", "approver", "auditor", "outsider"])
def test_only_finance_and_admins_acknowledge_alerts(world: World, persona: str) -> None:
    alert = an_alert(world)
    with pytest.raises(PermissionDenied):
        budget_alert_acknowledge(actor=world.persona(persona), alert=alert)
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not AuditEvent.objects.filter(action="budget.alert_acknowledge").exists()


def test_finance_acknowledges_once_and_a_second_time_is_a_clear_error(world: World) -> None:
    alert = an_alert(world)
    done = budget_alert_acknowledge(actor=world.finance, alert=alert)
    assert done.acknowledged_by == world.finance
    assert done.acknowledged_at is not None
    assert AuditEvent.objects.filter(action="budget.alert_acknowledge").count() == 1
    with pytest.raises(AlertAlreadyAcknowledged, match="already acknowledged by"):
        budget_alert_acknowledge(actor=world.admin, alert=BudgetAlert.objects.get(pk=alert.pk))
    assert BudgetAlert.objects.get(pk=alert.pk).acknowledged_by == world.finance
    assert AuditEvent.objects.filter(action="budget.alert_acknowledge").count() == 1
    other = budget_alert_acknowledge(actor=world.admin, alert=an_alert(world, 100))
    assert other.acknowledged_by == world.admin


# --- the request flow refuses a team the sync put at 100 % -------------------------------------


def test_a_team_the_sync_puts_at_100_percent_is_refused_unless_an_approver_overrides(
    world: World, sb: Sandbox, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.workspaces.test_request_form import form_data, post, request_via_service

    if cost_today().day == 1 or timezone.localdate() != cost_today():
        pytest.skip("no complete day of this month in Cost Explorer yet")
    offering = published_offering(
        world.team, max_volume_gb=50, max_lifetime_days=30, max_live_per_user=5
    )
    pending = request_via_service(world, offering, name="before-the-overrun")
    (ws,) = make_workspaces(world.team, world.project, world.analyst, offering, 1)
    team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("100"))
    sb.control.ledger([usage(ws, days_back(1)[0], 100.0)])
    assert not budget_position(world.team).exhausted

    synced(django_capture_on_commit_callbacks)
    assert budget_position(world.team).exhausted

    client.force_login(world.analyst)
    response = post(client, offering, form_data(world, name="one-more"))
    assert response.status_code == 400
    reason = response.context["form"].errors["team"][0]
    assert "spent 100 % of its monthly budget" in reason
    assert "($100.00 of $100.00)" in reason
    assert not Workspace.objects.filter(name="one-more").exists()

    client.force_login(world.approver)
    url = reverse("workspace_decide", args=[pending.pk])
    assert (
        "needs a written override reason"
        in client.post(url, {"decision": "approve"}).content.decode()
    )
    response = client.post(
        url, {"decision": "approve", "budget_override_reason": "Grant deadline on Friday."}
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.state == State.APPROVED
    assert pending.budget_override_reason == "Grant deadline on Friday."


def test_last_months_overrun_neither_refuses_the_team_nor_alerts_this_month(
    world: World, sb: Sandbox, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    """Budgets are monthly: twice the budget spent on the last day of last month counts for
    nothing this month. Runs every day, the 1st included, when the test above has no complete
    day of the month to go on."""
    from tests.workspaces.test_request_form import form_data, post

    offering = published_offering(
        world.team, max_volume_gb=50, max_lifetime_days=30, max_live_per_user=5
    )
    (ws,) = make_workspaces(world.team, world.project, world.analyst, offering, 1)
    team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("100"))
    this_month = month_start(cost_today())
    last_day_of_last_month = this_month - dt.timedelta(days=1)
    sb.control.ledger([usage(ws, last_day_of_last_month, 200.0)])

    synced(django_capture_on_commit_callbacks)  # a first sync reads last month too

    read = DailyCost.objects.filter(team=world.team, day=last_day_of_last_month)
    assert read.aggregate(total=Sum("amount_usd"))["total"] == Decimal("200")
    position = budget_position(world.team)
    assert (position.spent_usd, position.exhausted) == (Decimal(0), False)
    assert not BudgetAlert.objects.filter(team=world.team, month=this_month).exists()

    client.force_login(world.analyst)
    response = post(client, offering, form_data(world, name="new-month"))
    assert response.status_code == 302, response.context["form"].errors
    assert Workspace.objects.get(name="new-month").state == State.PENDING_APPROVAL
