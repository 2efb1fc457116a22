"""Each team's budget mirrored as an AWS Budget, and AWS's view of its spend read back.

The AWS Budget is named ``portal-<team slug>``: COST, MONTHLY, filtered on the team's
``portal:team`` cost-allocation tag, with one notification per threshold (ACTUAL and
FORECASTED, percentage, greater than) e-mailed to the team's approvers and finance. The
portal's budget is the source of truth: a failed push is recorded on it (``aws_error``) and
retried by the next sync; it is never lost or rolled back.

Budgets API calls are not Cost Explorer requests and cost nothing; the read-back uses
``describe_budgets`` (100 budgets a page), so it too does not grow call by call with teams.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from costs.models import TeamBudget
from portal import aws
from portal.models import Membership, Role, Team, User

logger = logging.getLogger(__name__)

NAME_PREFIX = "portal-"
# AWS Budgets: at most 10 e-mail subscribers per notification.
MAX_EMAIL_SUBSCRIBERS = 10
CENT = Decimal("0.01")

_account_ids: dict[tuple[str, str], str] = {}


def account_id() -> str:
    """The AWS account the portal's credentials belong to (Budgets needs it on every call);
    asked of STS once per process and endpoint."""
    key = (settings.AWS_ENDPOINT_URL, settings.AWS_ROLE_ARN)
    if key not in _account_ids:
        _account_ids[key] = str(aws.client("sts").get_caller_identity()["Account"])
    return _account_ids[key]


def budget_name(team: Team) -> str:
    return f"{NAME_PREFIX}{team.slug}"[:100]


def team_tag_filter(team: Team) -> str:
    """The cost filter AWS Budgets expects for a user-defined tag: ``user:<key>$<value>``."""
    return f"user:portal:team${team.slug}"


def recipients_by_team(team_ids: list[int]) -> dict[int, list[str]]:
    """E-mail addresses of each team's approvers, then every finance user (two queries)."""
    approvers: dict[int, list[str]] = defaultdict(list)
    for team_id, email in (
        Membership.objects.filter(team_id__in=team_ids, role=Role.APPROVER, user__is_active=True)
        .exclude(user__email="")
        .order_by("user__username")
        .values_list("team_id", "user__email")
    ):
        approvers[team_id].append(email)
    finance = list(
        User.objects.filter(is_finance=True, is_active=True)
        .exclude(email="")
        .order_by("username")
        .values_list("email", flat=True)
    )
    out = {}
    for team_id in team_ids:
        emails = list(dict.fromkeys(e.lower() for e in approvers[team_id] + finance))
        out[team_id] = emails[:MAX_EMAIL_SUBSCRIBERS]
    return out


def desired_config(budget: TeamBudget, emails: list[str]) -> dict[str, Any]:
    return {
        "name": budget_name(budget.team),
        "limit": str(budget.monthly_usd.quantize(CENT)),
        "filter": team_tag_filter(budget.team),
        "notifications": [["ACTUAL", int(t)] for t in budget.actual_thresholds]
        + [["FORECASTED", int(t)] for t in budget.forecast_thresholds],
        "emails": sorted(emails),
    }


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _notification(kind: str, threshold: float) -> dict[str, Any]:
    return {
        "NotificationType": kind,
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": float(threshold),
        "ThresholdType": "PERCENTAGE",
    }


def _notification_key(n: dict[str, Any]) -> tuple[str, float, str, str]:
    return (
        n["NotificationType"],
        float(n["Threshold"]),
        n.get("ComparisonOperator", ""),
        n.get("ThresholdType", "PERCENTAGE"),
    )


def _push(config: dict[str, Any]) -> None:
    """Create the AWS Budget, or bring an existing one (limit, filter, notifications,
    e-mail subscribers) to ``config``."""
    client = aws.client("budgets")
    account = account_id()
    name = config["name"]
    body = {
        "BudgetName": name,
        "BudgetLimit": {"Amount": config["limit"], "Unit": "USD"},
        "CostFilters": {"TagKeyValue": [config["filter"]]},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
    }
    subscribers = [{"SubscriptionType": "EMAIL", "Address": e} for e in config["emails"]]
    wanted = {
        _notification_key(_notification(kind, t)): _notification(kind, t)
        for kind, t in config["notifications"]
    }
    try:
        client.describe_budget(AccountId=account, BudgetName=name)
    except aws.ClientError as exc:
        if aws.error_code(exc) != "NotFoundException":
            raise
        try:
            client.create_budget(
                AccountId=account,
                Budget=body,
                NotificationsWithSubscribers=[
                    {"Notification": n, "Subscribers": subscribers} for n in wanted.values()
                ]
                if subscribers
                else [],
            )
            return
        except aws.ClientError as exc:
            # Created meanwhile by a concurrent push (the task and the sync): update it.
            if aws.error_code(exc) != "DuplicateRecordException":
                raise
    client.update_budget(AccountId=account, NewBudget=body)
    current = client.describe_notifications_for_budget(
        AccountId=account, BudgetName=name, MaxResults=100
    ).get("Notifications", [])
    present = {}
    for n in current:
        key = _notification_key(n)
        if key in wanted and subscribers:
            present[key] = n
        else:
            client.delete_notification(AccountId=account, BudgetName=name, Notification=_plain(n))
    if not subscribers:
        return
    for key, n in wanted.items():
        if key not in present:
            client.create_notification(
                AccountId=account, BudgetName=name, Notification=n, Subscribers=subscribers
            )
            continue
        have = client.describe_subscribers_for_notification(
            AccountId=account, BudgetName=name, Notification=_plain(present[key]), MaxResults=100
        ).get("Subscribers", [])
        have_emails = {s["Address"] for s in have if s["SubscriptionType"] == "EMAIL"}
        for address in sorted(set(config["emails"]) - have_emails):
            client.create_subscriber(
                AccountId=account,
                BudgetName=name,
                Notification=_plain(present[key]),
                Subscriber={"SubscriptionType": "EMAIL", "Address": address},
            )
        for address in sorted(have_emails - set(config["emails"])):
            client.delete_subscriber(
                AccountId=account,
                BudgetName=name,
                Notification=_plain(present[key]),
                Subscriber={"SubscriptionType": "EMAIL", "Address": address},
            )


def _plain(n: dict[str, Any]) -> dict[str, Any]:
    """A notification as the API takes it back (without its current state)."""
    return {k: v for k, v in n.items() if k != "NotificationState"}


def _record_error(budget: TeamBudget, message: str) -> None:
    budget.aws_error = f"{timezone.now():%Y-%m-%d %H:%M} UTC: {message}"[:2000]
    TeamBudget.objects.filter(pk=budget.pk).update(aws_error=budget.aws_error)


def budget_push(budget: TeamBudget, emails: list[str] | None = None) -> None:
    """Push one budget now. Records success (name, fingerprint, no error) or the AWS error on
    the budget, then re-raises the error so a task can retry a transient one."""
    if emails is None:
        emails = recipients_by_team([budget.team_id])[budget.team_id]
    config = desired_config(budget, emails)
    try:
        _push(config)
    except aws.AWS_ERRORS as exc:
        _record_error(budget, f"Could not update the AWS Budget: {aws.error_message(exc)}")
        raise
    budget.aws_budget_name = config["name"]
    budget.aws_config_hash = config_hash(config)
    budget.aws_error = (
        ""
        if emails
        else "No approver of the team and no finance user has an e-mail address, so the AWS "
        "Budget sends no notifications."
    )
    TeamBudget.objects.filter(pk=budget.pk).update(
        aws_budget_name=budget.aws_budget_name,
        aws_config_hash=budget.aws_config_hash,
        aws_error=budget.aws_error,
    )


def budgets_sync() -> dict[str, int]:
    """Re-push every budget whose configuration changed (or whose last push failed), then read
    back AWS's actual and forecast spend of them all. Never raises for AWS errors."""
    budgets = list(TeamBudget.objects.select_related("team"))
    if not budgets:
        return {"pushed": 0, "failed": 0, "read": 0}
    emails = recipients_by_team([b.team_id for b in budgets])
    pushed = failed = 0
    for budget in budgets:
        config = desired_config(budget, emails[budget.team_id])
        # A failed push keeps the previous fingerprint, so it is retried here.
        if budget.aws_config_hash == config_hash(config):
            continue
        if _push_quietly(budget, emails[budget.team_id]):
            pushed += 1
        else:
            failed += 1
    read, missing = budgets_read_back(budgets)
    for budget in missing:
        # Deleted in AWS behind the portal's back: recreate it; it is read at the next sync.
        if _push_quietly(budget, emails[budget.team_id]):
            pushed += 1
        else:
            failed += 1
    return {"pushed": pushed, "failed": failed, "read": read}


def _push_quietly(budget: TeamBudget, emails: list[str]) -> bool:
    try:
        budget_push(budget, emails)
    except aws.AWS_ERRORS:
        logger.warning("budget push for team %s failed", budget.team_id, exc_info=True)
        return False
    return True


def _amount(spend: dict[str, Any], key: str) -> Decimal | None:
    value = spend.get(key, {}).get("Amount")
    return Decimal(str(value)).quantize(CENT) if value is not None else None


def budgets_read_back(budgets: list[TeamBudget]) -> tuple[int, list[TeamBudget]]:
    """AWS's actual and forecast spend of every portal budget, a page of 100 per call; also
    the budgets pushed before but missing from AWS."""
    client = aws.client("budgets")
    by_name: dict[str, dict[str, Any]] = {}
    try:
        account = account_id()
        token: str | None = None
        while True:
            page = client.describe_budgets(
                AccountId=account, MaxResults=100, **({"NextToken": token} if token else {})
            )
            for item in page.get("Budgets", []):
                by_name[item["BudgetName"]] = item.get("CalculatedSpend") or {}
            token = page.get("NextToken")
            if not token:
                break
    except aws.AWS_ERRORS as exc:
        for budget in budgets:
            _record_error(
                budget, f"Could not read spend from AWS Budgets: {aws.error_message(exc)}"
            )
        return 0, []
    now = timezone.now()
    read, missing = [], []
    for budget in budgets:
        name = budget.aws_budget_name or budget_name(budget.team)
        if name not in by_name:
            if budget.aws_config_hash:
                missing.append(budget)
            continue
        budget.aws_actual_usd = _amount(by_name[name], "ActualSpend")
        budget.aws_forecast_usd = _amount(by_name[name], "ForecastedSpend")
        budget.aws_synced_at = now
        read.append(budget)
    TeamBudget.objects.bulk_update(read, ["aws_actual_usd", "aws_forecast_usd", "aws_synced_at"])
    return len(read), missing
