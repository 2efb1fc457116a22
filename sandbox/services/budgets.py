"""AWS Budgets with spend computed from the sandbox's cost ledger.

Notifications are evaluated lazily (on AWS calls and clock moves); a crossed threshold is
published once per budget period to the notification's SNS subscribers through moto's SNS, so a
test can read it back from an SQS queue subscribed to the topic.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import ServiceException
from moto.sns.models import sns_backends

from sandbox.protocol import AwsError, AwsRequest
from sandbox.registry import operation
from sandbox.runtime import runtime
from sandbox.server import on_tick
from sandbox.services.costexplorer import ledger
from sandbox.services.costexplorer.handlers import weekday_profile
from sandbox.services.costexplorer.query import amount, check_expression, filtered
from sandbox.state import AccountState, state

TIME_UNITS = ("DAILY", "MONTHLY", "QUARTERLY", "ANNUALLY")
FILTER_DIMENSIONS = {
    "Service": "SERVICE",
    "LinkedAccount": "LINKED_ACCOUNT",
    "Region": "REGION",
    "UsageType": "USAGE_TYPE",
    "InstanceType": "INSTANCE_TYPE",
    "Operation": "OPERATION",
    "PurchaseType": "PURCHASE_TYPE",
}
_last_evaluation = 0.0


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


@dataclass
class Subscription:
    notification: dict[str, Any]
    subscribers: list[dict[str, str]]
    state: str = "OK"
    alarm_period: dt.date | None = None
    # EMAIL subscribers cannot be delivered to; kept so the demo can show what was "sent".
    sent: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Budget:
    account: str
    name: str
    body: dict[str, Any]
    last_updated: dt.datetime
    notifications: list[Subscription] = field(default_factory=list)


def _expression(body: dict[str, Any]) -> dict[str, Any] | None:
    if body.get("FilterExpression"):
        return dict(body["FilterExpression"])
    parts = []
    for key, values in (body.get("CostFilters") or {}).items():
        if key == "TagKeyValue":
            by_key: dict[str, list[str]] = {}
            for item in values:
                tag, _, value = str(item).removeprefix("user:").partition("$")
                by_key.setdefault(tag, []).append(value)
            parts += [{"Tags": {"Key": k, "Values": v}} for k, v in by_key.items()]
        elif key in FILTER_DIMENSIONS:
            parts.append({"Dimensions": {"Key": FILTER_DIMENSIONS[key], "Values": list(values)}})
        else:
            raise invalid(f"Unsupported cost filter {key}")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"And": parts}


def period_bounds(unit: str, today: dt.date) -> tuple[dt.date, dt.date]:
    if unit == "DAILY":
        return today, today + dt.timedelta(days=1)
    if unit == "ANNUALLY":
        return today.replace(month=1, day=1), today.replace(year=today.year + 1, month=1, day=1)
    months = 3 if unit == "QUARTERLY" else 1
    first_month = ((today.month - 1) // months) * months + 1
    start = today.replace(month=first_month, day=1)
    end_month = first_month + months
    end = start.replace(year=start.year + (end_month - 1) // 12, month=(end_month - 1) % 12 + 1)
    return start, end


def spend(account: AccountState, budget: Budget, now: dt.datetime) -> tuple[float, float | None]:
    start, end = period_bounds(budget.body["TimeUnit"], now.date())
    expr = _expression(budget.body)
    rows = filtered(account, ledger.rows(account, now), expr)
    actual = sum(r.cost for r, _ in rows if start <= r.day < end)
    profile = weekday_profile(account, now, expr)
    if profile is None:
        return actual, None
    forecast = actual
    day = max(start, ledger.visible_cutoff(now).date())
    while day < end:
        forecast += profile[day.weekday()][0]
        day += dt.timedelta(days=1)
    return actual, forecast


def describe(account: AccountState, budget: Budget, now: dt.datetime) -> dict[str, Any]:
    out = {k: v for k, v in budget.body.items() if k not in ("CalculatedSpend", "LastUpdatedTime")}
    unit = budget.body.get("BudgetLimit", {}).get("Unit", "USD")
    actual, forecast = spend(account, budget, now)
    calculated: dict[str, Any] = {"ActualSpend": {"Amount": amount(actual), "Unit": unit}}
    if forecast is not None:
        calculated["ForecastedSpend"] = {"Amount": amount(forecast), "Unit": unit}
    out["CalculatedSpend"] = calculated
    out["LastUpdatedTime"] = budget.last_updated
    start, _end = period_bounds(budget.body["TimeUnit"], now.date())
    out.setdefault(
        "TimePeriod",
        {
            "Start": dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC),
            "End": dt.datetime(2087, 6, 15, tzinfo=dt.UTC),
        },
    )
    out.setdefault("CostTypes", _default_cost_types())
    return out


def _default_cost_types() -> dict[str, bool]:
    return {
        "IncludeTax": True,
        "IncludeSubscription": True,
        "UseBlended": False,
        "IncludeRefund": False,
        "IncludeCredit": False,
        "IncludeUpfront": True,
        "IncludeRecurring": True,
        "IncludeOtherSubscription": True,
        "IncludeSupport": True,
        "IncludeDiscount": True,
        "UseAmortized": False,
    }


def _threshold(budget: Budget, notification: dict[str, Any]) -> float:
    value = float(notification["Threshold"])
    if notification.get("ThresholdType", "PERCENTAGE") == "PERCENTAGE":
        return float(budget.body["BudgetLimit"]["Amount"]) * value / 100
    return value


def evaluate(account: AccountState, budget: Budget, now: dt.datetime) -> None:
    if not budget.notifications or "BudgetLimit" not in budget.body:
        return
    actual, forecast = spend(account, budget, now)
    period = period_bounds(budget.body["TimeUnit"], now.date())[0]
    for sub in budget.notifications:
        n = sub.notification
        if sub.alarm_period is not None and sub.alarm_period != period:
            sub.state, sub.alarm_period = "OK", None
        value = actual if n["NotificationType"] == "ACTUAL" else forecast
        if value is None:
            continue
        limit = _threshold(budget, n)
        crossed = {
            "GREATER_THAN": value > limit,
            "LESS_THAN": value < limit,
            "EQUAL_TO": abs(value - limit) < 0.005,
        }[n["ComparisonOperator"]]
        if crossed and sub.state == "OK":
            sub.state, sub.alarm_period = "ALARM", period
            _notify(budget, sub, value, limit)


def _notify(budget: Budget, sub: Subscription, value: float, limit: float) -> None:
    n = sub.notification
    subject = f"AWS Budgets: {budget.name} has exceeded your alert threshold"
    message = (
        f"AWS Budget Notification\n\nAWS Account {budget.account}\n\n"
        f"Dear AWS Customer,\n\nYou requested that we alert you when the "
        f"{'ACTUAL' if n['NotificationType'] == 'ACTUAL' else 'FORECASTED'} Cost associated with "
        f"your {budget.name} budget is greater than {n['Threshold']}"
        f"{'%' if n.get('ThresholdType', 'PERCENTAGE') == 'PERCENTAGE' else ''} "
        f"(${limit:.2f}). The {n['NotificationType'].lower()} cost is ${value:.2f}.\n\n"
        f"Budget Name: {budget.name}\nBudget Type: {budget.body['BudgetType']}\n"
        f"Budgeted Amount: ${float(budget.body['BudgetLimit']['Amount']):.2f}\n"
        f"Alert Type: {n['NotificationType']}\nAlert Threshold: > ${limit:.2f}\n"
        f"{n['NotificationType'].title()} Amount: ${value:.2f}\n"
    )
    for subscriber in sub.subscribers:
        if subscriber["SubscriptionType"] == "SNS":
            arn = subscriber["Address"]
            parts = arn.split(":")
            try:
                sns_backends[parts[4]][parts[3]].publish(message=message, arn=arn, subject=subject)
            except (ServiceException, IndexError, KeyError):
                sub.sent.append({"address": arn, "error": "topic not found"})
                continue
        sub.sent.append({"address": subscriber["Address"], "subject": subject})


def evaluate_all(force: bool = False) -> None:
    global _last_evaluation
    if not force and time.monotonic() - _last_evaluation < 1.0:
        return
    _last_evaluation = time.monotonic()
    now = runtime.clock.now()
    for account in list(state.accounts.values()):
        for budget in account.budgets.values():
            evaluate(account, budget, now)


def _account(req: AwsRequest) -> AccountState:
    account_id = req.params.get("AccountId")
    if not account_id or len(str(account_id)) != 12:
        raise invalid("AccountId must be a 12-digit account id")
    return state.account(str(account_id))


def _budget(account: AccountState, name: Any) -> Budget:
    if name not in account.budgets:
        raise AwsError(
            "NotFoundException", f"Unable to get budget: {name} - the budget doesn't exist."
        )
    return account.budgets[name]


def _validate(body: dict[str, Any]) -> None:
    for key in ("BudgetName", "TimeUnit", "BudgetType"):
        if not body.get(key):
            raise invalid(f"{key} is required")
    if body["TimeUnit"] not in TIME_UNITS:
        raise invalid(f"TimeUnit must be one of {TIME_UNITS}")
    if body["BudgetType"] != "COST":
        raise invalid("The sandbox's ledger only answers COST budgets")
    limit = body.get("BudgetLimit")
    if not limit or float(limit.get("Amount", "0")) <= 0:
        raise invalid("BudgetLimit with a positive Amount is required for a COST budget")
    if body.get("FilterExpression") and body.get("CostFilters"):
        raise invalid("Use either CostFilters or FilterExpression, not both")
    if body.get("FilterExpression"):
        try:
            check_expression(body["FilterExpression"])
        except AwsError as exc:
            raise invalid(exc.message) from None
    _expression(body)


def _validate_notification(n: dict[str, Any], subscribers: list[dict[str, str]]) -> None:
    if n.get("NotificationType") not in ("ACTUAL", "FORECASTED"):
        raise invalid("NotificationType must be ACTUAL or FORECASTED")
    if n.get("ComparisonOperator") not in ("GREATER_THAN", "LESS_THAN", "EQUAL_TO"):
        raise invalid("ComparisonOperator must be GREATER_THAN, LESS_THAN or EQUAL_TO")
    if n.get("ThresholdType", "PERCENTAGE") not in ("PERCENTAGE", "ABSOLUTE_VALUE"):
        raise invalid("ThresholdType must be PERCENTAGE or ABSOLUTE_VALUE")
    if not 1 <= len(subscribers) <= 11:
        raise invalid("A notification needs between 1 and 11 subscribers")
    for s in subscribers:
        if s.get("SubscriptionType") not in ("SNS", "EMAIL"):
            raise invalid("SubscriptionType must be SNS or EMAIL")


def _notification_key(n: dict[str, Any]) -> tuple[Any, ...]:
    return (
        n["NotificationType"],
        n["ComparisonOperator"],
        float(n["Threshold"]),
        n.get("ThresholdType", "PERCENTAGE"),
    )


def _find(budget: Budget, n: dict[str, Any]) -> Subscription:
    for sub in budget.notifications:
        if _notification_key(sub.notification) == _notification_key(n):
            return sub
    raise AwsError("NotFoundException", "Unable to find the notification for this budget.")


def _public_notification(sub: Subscription) -> dict[str, Any]:
    out = {k: v for k, v in sub.notification.items() if k != "NotificationState"}
    out.setdefault("ThresholdType", "PERCENTAGE")
    out["NotificationState"] = sub.state
    return out


@operation("budgets", "CreateBudget")
def create_budget(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    body = dict(req.params.get("Budget") or {})
    _validate(body)
    if body["BudgetName"] in account.budgets:
        raise AwsError(
            "DuplicateRecordException",
            f"Error creating budget: {body['BudgetName']} - the budget already exists.",
        )
    budget = Budget(account.account, body["BudgetName"], body, runtime.clock.now())
    for item in req.params.get("NotificationsWithSubscribers") or []:
        _validate_notification(item["Notification"], item.get("Subscribers") or [])
        budget.notifications.append(
            Subscription(dict(item["Notification"]), list(item["Subscribers"]))
        )
    account.budgets[budget.name] = budget
    evaluate(account, budget, runtime.clock.now())
    return {}


@operation("budgets", "UpdateBudget")
def update_budget(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    body = dict(req.params.get("NewBudget") or {})
    _validate(body)
    budget = _budget(account, body["BudgetName"])
    budget.body, budget.last_updated = body, runtime.clock.now()
    evaluate(account, budget, runtime.clock.now())
    return {}


@operation("budgets", "DescribeBudget")
def describe_budget(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    budget = _budget(account, req.params.get("BudgetName"))
    now = runtime.clock.now()
    evaluate(account, budget, now)
    return {"Budget": describe(account, budget, now)}


@operation("budgets", "DescribeBudgets")
def describe_budgets(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    now = runtime.clock.now()
    budgets = sorted(account.budgets.values(), key=lambda b: b.name)
    start = int(req.params.get("NextToken") or 0)
    limit = int(req.params.get("MaxResults") or 100)
    out: dict[str, Any] = {
        "Budgets": [describe(account, b, now) for b in budgets[start : start + limit]]
    }
    if start + limit < len(budgets):
        out["NextToken"] = str(start + limit)
    return out


@operation("budgets", "DeleteBudget")
def delete_budget(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    _budget(account, req.params.get("BudgetName"))
    del account.budgets[req.params["BudgetName"]]
    return {}


@operation("budgets", "CreateNotification")
def create_notification(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    budget = _budget(account, req.params.get("BudgetName"))
    n, subscribers = dict(req.params["Notification"]), list(req.params.get("Subscribers") or [])
    _validate_notification(n, subscribers)
    try:
        _find(budget, n)
    except AwsError:
        budget.notifications.append(Subscription(n, subscribers))
        evaluate(account, budget, runtime.clock.now())
        return {}
    raise AwsError("DuplicateRecordException", "A notification with these settings already exists.")


@operation("budgets", "UpdateNotification")
def update_notification(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    budget = _budget(account, req.params.get("BudgetName"))
    sub = _find(budget, req.params["OldNotification"])
    _validate_notification(req.params["NewNotification"], sub.subscribers)
    sub.notification = dict(req.params["NewNotification"])
    return {}


@operation("budgets", "DeleteNotification")
def delete_notification(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    budget = _budget(account, req.params.get("BudgetName"))
    budget.notifications.remove(_find(budget, req.params["Notification"]))
    return {}


@operation("budgets", "DescribeNotificationsForBudget")
def describe_notifications(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    budget = _budget(account, req.params.get("BudgetName"))
    evaluate(account, budget, runtime.clock.now())
    return {"Notifications": [_public_notification(s) for s in budget.notifications]}


@operation("budgets", "CreateSubscriber")
def create_subscriber(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    sub = _find(_budget(account, req.params.get("BudgetName")), req.params["Notification"])
    subscriber = dict(req.params["Subscriber"])
    if subscriber in sub.subscribers:
        raise AwsError("DuplicateRecordException", "This subscriber already exists.")
    sub.subscribers.append(subscriber)
    return {}


@operation("budgets", "DeleteSubscriber")
def delete_subscriber(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    sub = _find(_budget(account, req.params.get("BudgetName")), req.params["Notification"])
    subscriber = dict(req.params["Subscriber"])
    if subscriber not in sub.subscribers:
        raise AwsError("NotFoundException", "The subscriber does not exist.")
    sub.subscribers.remove(subscriber)
    return {}


@operation("budgets", "DescribeSubscribersForNotification")
def describe_subscribers(req: AwsRequest) -> dict[str, Any]:
    account = _account(req)
    sub = _find(_budget(account, req.params.get("BudgetName")), req.params["Notification"])
    return {"Subscribers": sub.subscribers}


on_tick(evaluate_all)
