"""Cost Explorer's query semantics: filter expressions, group keys, periods, metric amounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sandbox.protocol import AwsError, validation
from sandbox.services.costexplorer.ledger import CostRow, visible_tags
from sandbox.state import AccountState

DIMENSIONS = [
    "AZ",
    "INSTANCE_TYPE",
    "LINKED_ACCOUNT",
    "PAYER_ACCOUNT",
    "LINKED_ACCOUNT_NAME",
    "OPERATION",
    "PURCHASE_TYPE",
    "REGION",
    "SERVICE",
    "SERVICE_CODE",
    "USAGE_TYPE",
    "USAGE_TYPE_GROUP",
    "RECORD_TYPE",
    "OPERATING_SYSTEM",
    "TENANCY",
    "SCOPE",
    "PLATFORM",
    "SUBSCRIPTION_ID",
    "LEGAL_ENTITY_NAME",
    "DEPLOYMENT_OPTION",
    "DATABASE_ENGINE",
    "CACHE_ENGINE",
    "INSTANCE_TYPE_FAMILY",
    "BILLING_ENTITY",
    "RESERVATION_ID",
    "RESOURCE_ID",
    "RIGHTSIZING_TYPE",
    "SAVINGS_PLANS_TYPE",
    "SAVINGS_PLAN_ARN",
    "PAYMENT_OPTION",
    "INVOICING_ENTITY",
]
GROUP_DIMENSIONS = [
    "AZ",
    "INSTANCE_TYPE",
    "LEGAL_ENTITY_NAME",
    "INVOICING_ENTITY",
    "LINKED_ACCOUNT",
    "OPERATION",
    "PLATFORM",
    "PURCHASE_TYPE",
    "SERVICE",
    "TENANCY",
    "RECORD_TYPE",
    "USAGE_TYPE",
    "REGION",
    "BILLING_ENTITY",
]
COST_METRICS = (
    "AmortizedCost",
    "BlendedCost",
    "NetAmortizedCost",
    "NetUnblendedCost",
    "UnblendedCost",
)
METRICS = (*COST_METRICS, "UsageQuantity", "NormalizedUsageAmount")
_ROOTS = ("And", "Or", "Not", "Dimensions", "Tags", "CostCategories")


def parse_date(value: Any, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise validation(f"{name} has an invalid date format; use yyyy-MM-dd") from None


def time_period(params: dict[str, Any]) -> tuple[dt.date, dt.date]:
    period = params.get("TimePeriod") or {}
    if "Start" not in period or "End" not in period:
        raise validation("TimePeriod with Start and End is required")
    start, end = parse_date(period["Start"], "Start"), parse_date(period["End"], "End")
    if start >= end:
        raise validation("Start date (and hour) should be before end date (and hour)")
    return start, end


def periods(start: dt.date, end: dt.date, granularity: str) -> list[tuple[dt.date, dt.date]]:
    out = []
    cursor = start
    while cursor < end:
        if granularity == "DAILY":
            stop = cursor + dt.timedelta(days=1)
        else:
            stop = (cursor.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        stop = min(stop, end)
        out.append((cursor, stop))
        cursor = stop
    return out


def check_expression(expr: Any, depth: int = 0) -> None:
    if not isinstance(expr, dict):
        raise validation("Expression must be an object")
    roots = [k for k in _ROOTS if expr.get(k) not in (None, [], {})]
    if len(roots) != 1:
        raise validation(
            "Expression has more than one roots. Only one root operator is allowed for each "
            "expression: And, Or, Not, Dimensions, Tags, CostCategories"
            if roots
            else "Expression must have one root operator: And, Or, Not, Dimensions, Tags, "
            "CostCategories"
        )
    root = roots[0]
    if root in ("And", "Or"):
        if len(expr[root]) < 2:
            raise validation(f"{root} expression must contain at least two expressions")
        for sub in expr[root]:
            check_expression(sub, depth + 1)
    elif root == "Not":
        check_expression(expr["Not"], depth + 1)
    elif root == "Dimensions":
        values = expr["Dimensions"]
        if values.get("Key") not in DIMENSIONS:
            raise validation(
                f"Dimension {values.get('Key')} is not allowed. Allowed values: {DIMENSIONS}"
            )
        _check_values(values)
    elif root == "Tags":
        if not expr["Tags"].get("Key"):
            raise validation("Tags expression requires a Key")
        _check_values(expr["Tags"])
    else:
        raise validation("Cost categories are not defined in this account")


def _check_values(values: dict[str, Any]) -> None:
    options = values.get("MatchOptions") or ["EQUALS"]
    if "ABSENT" not in options and not values.get("Values"):
        raise validation("Values are required unless MatchOptions is ABSENT")


def _match_values(actual: str | None, values: dict[str, Any]) -> bool:
    options = set(values.get("MatchOptions") or ["EQUALS"])
    wanted = [str(v) for v in values.get("Values") or []]
    if "ABSENT" in options:
        return actual is None or actual == ""
    if actual is None:
        # Values [""] is Cost Explorer's way of asking for untagged usage.
        return "" in wanted
    insensitive = "CASE_INSENSITIVE" in options
    probe = actual.lower() if insensitive else actual
    candidates = [w.lower() for w in wanted] if insensitive else wanted
    if "CONTAINS" in options:
        return any(c in probe for c in candidates)
    if "STARTS_WITH" in options:
        return any(probe.startswith(c) for c in candidates)
    if "ENDS_WITH" in options:
        return any(probe.endswith(c) for c in candidates)
    return probe in candidates


def matches(expr: dict[str, Any] | None, row: CostRow, tags: dict[str, str]) -> bool:
    if not expr:
        return True
    if expr.get("And"):
        return all(matches(e, row, tags) for e in expr["And"])
    if expr.get("Or"):
        return any(matches(e, row, tags) for e in expr["Or"])
    if expr.get("Not"):
        return not matches(expr["Not"], row, tags)
    if expr.get("Dimensions"):
        values = expr["Dimensions"]
        return _match_values(row.dimension(values["Key"]) or None, values)
    if expr.get("Tags"):
        values = expr["Tags"]
        return _match_values(tags.get(values["Key"]), values)
    return False


def check_group_by(group_by: list[dict[str, Any]]) -> None:
    if len(group_by) > 2:
        raise validation("You can only group by up to two different groups")
    keys = set()
    for group in group_by:
        kind, key = group.get("Type"), group.get("Key")
        if kind == "DIMENSION":
            if key not in GROUP_DIMENSIONS:
                raise validation(
                    f"Group Definition dimension is invalid. Valid values are {GROUP_DIMENSIONS}"
                )
        elif kind == "TAG":
            if not key:
                raise validation("Group Definition tag key is required")
        elif kind == "COST_CATEGORY":
            raise validation("Cost categories are not defined in this account")
        else:
            raise validation("Group Definition Type must be DIMENSION, TAG or COST_CATEGORY")
        if (kind, key) in keys:
            raise validation("Group Definition keys must be unique")
        keys.add((kind, key))


def group_keys(
    group_by: list[dict[str, Any]], row: CostRow, tags: dict[str, str]
) -> tuple[str, ...]:
    out = []
    for group in group_by:
        if group["Type"] == "TAG":
            # An inactive or missing tag lands under "key$", as in AWS.
            out.append(f"{group['Key']}${tags.get(group['Key'], '')}")
        else:
            out.append(row.dimension(group["Key"]) or "NoDimensionValue")
    return tuple(out)


def check_metrics(metrics: Any) -> list[str]:
    if not metrics:
        raise validation("Metrics is required")
    for metric in metrics:
        if metric not in METRICS:
            raise validation(
                f"Metrics [{metric}] are not supported. Supported metrics: {list(METRICS)}"
            )
    return list(metrics)


def amount(value: float) -> str:
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def metric_values(metrics: list[str], cost: float, usage: float) -> dict[str, dict[str, str]]:
    out = {}
    for metric in metrics:
        if metric in COST_METRICS:
            out[metric] = {"Amount": amount(cost), "Unit": "USD"}
        else:
            out[metric] = {"Amount": amount(usage), "Unit": "N/A"}
    return out


def filtered(
    account: AccountState, rows: list[CostRow], expr: dict[str, Any] | None
) -> list[tuple[CostRow, dict[str, str]]]:
    out = []
    for row in rows:
        tags = visible_tags(account, row)
        if matches(expr, row, tags):
            out.append((row, tags))
    return out


def not_supported(name: str) -> AwsError:
    return validation(f"{name} is not supported")
