"""Team budgets: thresholds validated, the AWS Budget pushed (filter, thresholds, e-mail
subscribers) and re-pushed when its configuration changes, spend read back, and AWS failures
recorded on the budget, which is kept."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from costs.budgets import budget_push
from costs.models import CostSyncRun, TeamBudget
from costs.services import team_budget_set
from costs.sync import cost_sync
from costs.tasks import push_team_budget
from governance.models import AuditEvent
from portal import aws
from tests.conftest import World
from tests.costs.ledger_support import COST_TAGS, days_back, make_workspaces, usage
from tests.factories import UserFactory, published_offering
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.django_db
ACCOUNT = "123456789012"


# --- thresholds -------------------------------------------------------------------------------


def test_defaults_are_50_80_100_of_actual_and_100_of_forecast(world: World) -> None:
    budget = team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("900"))
    assert budget.actual_thresholds == [50, 80, 100]
    assert budget.forecast_thresholds == [100]
    event = AuditEvent.objects.filter(action="budget.set").latest("pk")
    assert event.after == {
        "monthly_usd": "900.00",
        "actual_thresholds": [50, 80, 100],
        "forecast_thresholds": [100],
    }


def test_thresholds_are_kept_sorted_without_repeats_and_survive_a_new_amount(
    world: World,
) -> None:
    team_budget_set(
        actor=world.admin,
        team=world.team,
        monthly_usd=Decimal("500"),
        actual_thresholds=[100, 75, "90", 75],
        forecast_thresholds=[120, 100],
    )
    budget = team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("600"))
    assert budget.actual_thresholds == [75, 90, 100]
    assert budget.forecast_thresholds == [100, 120]
    assert budget.monthly_usd == Decimal("600.00")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"actual_thresholds": [0, 80]}, "actual_thresholds", "0 % is outside 1 to 200 %"),
        ({"actual_thresholds": [80, 201]}, "actual_thresholds", "201 % is outside 1 to 200 %"),
        ({"actual_thresholds": ["eighty"]}, "actual_thresholds", "'eighty' is not a whole"),
        ({"actual_thresholds": [True]}, "actual_thresholds", "True is not a whole"),
        ({"actual_thresholds": [80.5]}, "actual_thresholds", "80.5 is not a whole"),
        ({"actual_thresholds": []}, "actual_thresholds", "at least one threshold"),
        ({"forecast_thresholds": "100"}, "forecast_thresholds", "as a list"),
        (
            {"actual_thresholds": [10, 20, 30, 40], "forecast_thresholds": [90, 100]},
            "forecast_thresholds",
            "6 thresholds in all; AWS Budgets allows 5",
        ),
        ({"monthly_usd": Decimal("0")}, "monthly_usd", "more than zero"),
        ({"monthly_usd": "lots"}, "monthly_usd", "an amount in USD"),
    ],
)
def test_bad_thresholds_and_amounts_are_refused_naming_the_problem(
    world: World, changes: dict[str, Any], field: str, message: str
) -> None:
    events = AuditEvent.objects.count()
    arguments: dict[str, Any] = {"monthly_usd": Decimal("100"), **changes}
    with pytest.raises(ValidationError) as caught:
        team_budget_set(actor=world.finance, team=world.team, **arguments)
    assert message in caught.value.message_dict[field][0]
    assert not TeamBudget.objects.exists()
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("persona", ["analyst", "approver", "auditor"])
def test_only_finance_and_admins_set_budgets(world: World, persona: str) -> None:
    with pytest.raises(PermissionDenied):
        team_budget_set(actor=world.persona(persona), team=world.team, monthly_usd=Decimal("100"))
    assert not TeamBudget.objects.exists()


def test_setting_a_budget_pushes_it_to_aws_after_the_commit(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("100"))
    # The push task is enqueued only when the change commits (Celery's delay_on_commit).
    assert len(callbacks) == 1


# --- the AWS Budget -------------------------------------------------------------------------


def aws_budget(sb: Sandbox, name: str) -> dict[str, Any]:
    client = sb.client("budgets")
    budget = client.describe_budget(AccountId=ACCOUNT, BudgetName=name)["Budget"]
    notifications = client.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=name)[
        "Notifications"
    ]
    found = {}
    for n in notifications:
        plain = {k: v for k, v in n.items() if k != "NotificationState"}
        subscribers = client.describe_subscribers_for_notification(
            AccountId=ACCOUNT, BudgetName=name, Notification=plain
        )["Subscribers"]
        found[(n["NotificationType"], int(n["Threshold"]))] = (
            n["ComparisonOperator"],
            n["ThresholdType"],
            sorted(s["Address"] for s in subscribers if s["SubscriptionType"] == "EMAIL"),
        )
    return {"budget": budget, "notifications": found}


def test_the_aws_budget_has_the_team_filter_thresholds_and_subscribers(
    world: World, sandbox_clean: Sandbox, portal_on_sandbox: Sandbox
) -> None:
    sb = sandbox_clean
    budget = team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("900"))
    assert push_team_budget.apply(args=(world.team.pk,)).get() == "pushed"

    budget.refresh_from_db()
    assert budget.aws_budget_name == "portal-data-science"
    assert budget.aws_error == ""
    assert budget.aws_config_hash
    found = aws_budget(sb, "portal-data-science")
    assert found["budget"]["BudgetLimit"] == {"Amount": "900.00", "Unit": "USD"}
    assert found["budget"]["CostFilters"] == {"TagKeyValue": ["user:portal:team$data-science"]}
    assert (found["budget"]["TimeUnit"], found["budget"]["BudgetType"]) == ("MONTHLY", "COST")
    people = sorted([world.approver.email, world.finance.email])
    assert found["notifications"] == {
        ("ACTUAL", 50): ("GREATER_THAN", "PERCENTAGE", people),
        ("ACTUAL", 80): ("GREATER_THAN", "PERCENTAGE", people),
        ("ACTUAL", 100): ("GREATER_THAN", "PERCENTAGE", people),
        ("FORECASTED", 100): ("GREATER_THAN", "PERCENTAGE", people),
    }


def test_a_changed_budget_is_re_pushed_by_the_sync_and_an_unchanged_one_is_not(
    world: World, sandbox_clean: Sandbox, portal_on_sandbox: Sandbox
) -> None:
    sb = sandbox_clean
    sb.control.cost_tags(active=COST_TAGS)
    offering = published_offering(world.team)
    (ws,) = make_workspaces(world.team, world.project, world.analyst, offering, 1)
    sb.control.ledger([usage(ws, d, 4.0) for d in days_back(5)])
    budget = team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("900"))
    budget_push(budget)

    # Thresholds, amount and people change in the portal (the push task never ran).
    team_budget_set(
        actor=world.finance,
        team=world.team,
        monthly_usd=Decimal("1200"),
        actual_thresholds=[80, 100],
        forecast_thresholds=[90, 100],
    )
    newcomer = UserFactory.create(username="controller", is_finance=True)
    sb.control.reset_calls()
    run = cost_sync()
    assert run.status == CostSyncRun.Status.SUCCEEDED, run.error
    assert sb.control.calls()["budgets:UpdateBudget"] == 1
    people = sorted([world.approver.email, world.finance.email, newcomer.email])
    found = aws_budget(sb, "portal-data-science")
    assert found["budget"]["BudgetLimit"]["Amount"] == "1200.00"
    assert found["notifications"] == {
        ("ACTUAL", 80): ("GREATER_THAN", "PERCENTAGE", people),
        ("ACTUAL", 100): ("GREATER_THAN", "PERCENTAGE", people),
        ("FORECASTED", 90): ("GREATER_THAN", "PERCENTAGE", people),
        ("FORECASTED", 100): ("GREATER_THAN", "PERCENTAGE", people),
    }
    # AWS's view of the month's spend is read back onto the portal's budget.
    budget.refresh_from_db()
    spend = sb.client("budgets").describe_budget(
        AccountId=ACCOUNT, BudgetName="portal-data-science"
    )["Budget"]["CalculatedSpend"]
    assert budget.aws_actual_usd == Decimal(spend["ActualSpend"]["Amount"]).quantize(
        Decimal("0.01")
    )
    assert budget.aws_synced_at is not None

    sb.control.reset_calls()
    assert cost_sync().status == CostSyncRun.Status.SUCCEEDED
    calls = sb.control.calls()
    assert "budgets:UpdateBudget" not in calls
    assert "budgets:CreateBudget" not in calls
    assert calls["budgets:DescribeBudgets"] == 1  # the read-back: one page for every budget


def test_an_aws_failure_is_recorded_on_the_budget_which_is_kept(
    world: World, sandbox_clean: Sandbox, portal_on_sandbox: Sandbox, settings: Any
) -> None:
    sb = sandbox_clean
    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    budget = team_budget_set(actor=world.finance, team=world.team, monthly_usd=Decimal("250"))
    sb.control.throttle(operations=["budgets:CreateBudget"])
    with pytest.raises(aws.ClientError):
        budget_push(budget)
    budget.refresh_from_db()
    assert budget.monthly_usd == Decimal("250.00")
    assert "Could not update the AWS Budget: ThrottlingException" in budget.aws_error
    assert budget.aws_config_hash == ""

    # The sync goes on (costs, alerts) and keeps the error while AWS still refuses ...
    run = cost_sync()
    assert run.status == CostSyncRun.Status.SUCCEEDED, run.error
    budget.refresh_from_db()
    assert "ThrottlingException" in budget.aws_error
    # ... and pushes the budget once AWS accepts it again.
    sb.control.clear_faults()
    assert cost_sync().status == CostSyncRun.Status.SUCCEEDED
    budget.refresh_from_db()
    assert budget.aws_error == ""
    assert aws_budget(sb, "portal-data-science")["budget"]["BudgetLimit"]["Amount"] == "250.00"
