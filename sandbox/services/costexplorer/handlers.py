"""Cost Explorer operations over the ledger."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import statistics
from collections import defaultdict
from typing import Any

from sandbox.protocol import AwsError, AwsRequest, validation
from sandbox.registry import operation
from sandbox.runtime import runtime
from sandbox.services.costexplorer import ledger
from sandbox.services.costexplorer.query import (
    amount,
    check_expression,
    check_group_by,
    check_metrics,
    filtered,
    group_keys,
    metric_values,
    periods,
    time_period,
)
from sandbox.state import AccountState, state

FORECAST_METRICS = {
    "AMORTIZED_COST",
    "BLENDED_COST",
    "NET_AMORTIZED_COST",
    "NET_UNBLENDED_COST",
    "UNBLENDED_COST",
}


def _account(req: AwsRequest) -> AccountState:
    return state.account(req.account)


def _token(params: dict[str, Any], offset: int) -> str:
    digest = _request_digest(params)
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "h": digest}).encode()).decode()


def _request_digest(params: dict[str, Any]) -> str:
    stripped = {k: v for k, v in params.items() if k not in ("NextPageToken", "NextToken")}
    return hashlib.sha256(json.dumps(stripped, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def _offset(params: dict[str, Any], key: str = "NextPageToken") -> int:
    token = params.get(key)
    if not token:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        offset = int(decoded["o"])
    except (ValueError, KeyError, TypeError):
        raise AwsError("InvalidNextTokenException", "The pagination token is invalid.") from None
    if decoded.get("h") != _request_digest(params):
        raise AwsError("RequestChangedException", "The request changed between pages.")
    return offset


@operation("ce", "GetCostAndUsage")
def get_cost_and_usage(req: AwsRequest) -> dict[str, Any]:
    p = req.params
    start, end = time_period(p)
    granularity = p.get("Granularity")
    if granularity not in ("DAILY", "MONTHLY", "HOURLY"):
        raise validation("Granularity must be DAILY, MONTHLY or HOURLY")
    if granularity == "HOURLY":
        raise validation("Hourly granularity is not enabled for this account")
    metrics = check_metrics(p.get("Metrics"))
    group_by = list(p.get("GroupBy") or [])
    check_group_by(group_by)
    if p.get("Filter"):
        check_expression(p["Filter"])
    if p.get("BillingViewArn"):
        raise AwsError("ResourceNotFoundException", f"Billing view {p['BillingViewArn']} not found")
    account = _account(req)
    now = runtime.clock.now()
    cutoff = ledger.visible_cutoff(now).date()
    buckets: dict[tuple[dt.date, dt.date], dict[tuple[str, ...], list[float]]] = {}
    spans = periods(start, end, granularity)
    index = {}
    for span in spans:
        buckets[span] = defaultdict(lambda: [0.0, 0.0])
        day = span[0]
        while day < span[1]:
            index[day] = span
            day += dt.timedelta(days=1)
    for row, tags in filtered(account, ledger.rows(account, now), p.get("Filter")):
        found = index.get(row.day)
        if found is None:
            continue
        cell = buckets[found][group_keys(group_by, row, tags) if group_by else ()]
        cell[0] += row.cost
        cell[1] += row.usage
    # One entry per (period, group); a period without groups is still an entry, as AWS returns
    # every period of the range.
    entries: list[tuple[tuple[dt.date, dt.date], tuple[str, ...] | None, list[float]]] = []
    for span in spans:
        cells = buckets[span]
        if not group_by:
            entries.append((span, None, cells.get((), [0.0, 0.0])))
        elif not cells:
            entries.append((span, None, [0.0, 0.0]))
        else:
            entries.extend((span, keys, cells[keys]) for keys in sorted(cells))
    offset = _offset(p)
    size = runtime.settings.ce_page_size
    chunk = entries[offset : offset + size]
    results: list[dict[str, Any]] = []
    for span, keys, (cost, usage) in chunk:
        if not results or results[-1]["_span"] != span:
            results.append(
                {
                    "_span": span,
                    "TimePeriod": {"Start": span[0].isoformat(), "End": span[1].isoformat()},
                    "Total": {} if group_by else metric_values(metrics, cost, usage),
                    "Groups": [],
                    "Estimated": span[1] > cutoff,
                }
            )
        if keys is not None:
            results[-1]["Groups"].append(
                {"Keys": list(keys), "Metrics": metric_values(metrics, cost, usage)}
            )
    for result in results:
        del result["_span"]
    out: dict[str, Any] = {"ResultsByTime": results, "DimensionValueAttributes": []}
    if group_by:
        out["GroupDefinitions"] = [{"Type": g["Type"], "Key": g["Key"]} for g in group_by]
    if offset + size < len(entries):
        out["NextPageToken"] = _token(p, offset + size)
    return out


@operation("ce", "GetCostForecast")
def get_cost_forecast(req: AwsRequest) -> dict[str, Any]:
    p = req.params
    start, end = time_period(p)
    now = runtime.clock.now()
    today = now.date()
    if start < today:
        raise validation(
            "Start date must be equal to or no earlier than the current date to avoid "
            "forecasting historical data"
        )
    granularity = p.get("Granularity")
    if granularity not in ("DAILY", "MONTHLY"):
        raise validation("Granularity must be DAILY or MONTHLY for forecasts")
    if granularity == "DAILY" and end > today + dt.timedelta(days=93):
        raise validation("Daily forecasts are limited to three months")
    if end > today + dt.timedelta(days=366):
        raise validation("Forecasts are limited to twelve months")
    if p.get("Metric") not in FORECAST_METRICS:
        raise validation(f"Metric must be one of {sorted(FORECAST_METRICS)}")
    level = int(p.get("PredictionIntervalLevel") or 80)
    if not 51 <= level <= 99:
        raise validation("PredictionIntervalLevel must be between 51 and 99")
    if p.get("Filter"):
        check_expression(p["Filter"])
    account = _account(req)
    profile = weekday_profile(account, now, p.get("Filter"))
    if profile is None:
        raise AwsError(
            "DataUnavailableException",
            "Insufficient amount of historical data to generate forecast.",
        )
    z = statistics.NormalDist().inv_cdf(0.5 + level / 200)
    results = []
    total_mean = total_var = 0.0
    for span in periods(start, end, granularity):
        mean = var = 0.0
        day = span[0]
        while day < span[1]:
            day_mean, day_sd = profile[day.weekday()]
            mean += day_mean
            var += day_sd**2
            day += dt.timedelta(days=1)
        total_mean += mean
        total_var += var
        spread = z * var**0.5
        results.append(
            {
                "TimePeriod": {"Start": span[0].isoformat(), "End": span[1].isoformat()},
                "MeanValue": amount(mean),
                "PredictionIntervalLowerBound": amount(max(0.0, mean - spread)),
                "PredictionIntervalUpperBound": amount(mean + spread),
            }
        )
    return {
        "Total": {"Amount": amount(total_mean), "Unit": "USD"},
        "ForecastResultsByTime": results,
    }


def weekday_profile(
    account: AccountState, now: dt.datetime, expr: dict[str, Any] | None, weeks: int = 4
) -> dict[int, tuple[float, float]] | None:
    """Mean and spread of daily cost per weekday over the last `weeks` weeks of visible data."""
    last = ledger.visible_cutoff(now).date() - dt.timedelta(days=1)
    first = last - dt.timedelta(days=7 * weeks - 1)
    daily: dict[dt.date, float] = defaultdict(float)
    for row, _tags in filtered(account, ledger.rows(account, now), expr):
        if first <= row.day <= last:
            daily[row.day] += row.cost
    if len(daily) < 7:
        return None
    profile = {}
    for weekday in range(7):
        values = []
        day = first
        while day <= last:
            if day.weekday() == weekday:
                values.append(daily.get(day, 0.0))
            day += dt.timedelta(days=1)
        profile[weekday] = (statistics.fmean(values), statistics.pstdev(values))
    return profile


@operation("ce", "GetTags")
def get_tags(req: AwsRequest) -> dict[str, Any]:
    p = req.params
    start, end = time_period(p)
    if p.get("Filter"):
        check_expression(p["Filter"])
    account = _account(req)
    now = runtime.clock.now()
    found: set[str] = set()
    for row, tags in filtered(account, ledger.rows(account, now), p.get("Filter")):
        if not start <= row.day < end:
            continue
        if p.get("TagKey"):
            if p["TagKey"] in tags:
                found.add(tags[p["TagKey"]])
        else:
            found.update(tags)
    values = sorted(v for v in found if not p.get("SearchString") or p["SearchString"] in v)
    offset = _offset(p)
    limit = int(p.get("MaxResults") or 1000)
    chunk = values[offset : offset + limit]
    out: dict[str, Any] = {"Tags": chunk, "ReturnSize": len(chunk), "TotalSize": len(values)}
    if offset + limit < len(values):
        out["NextPageToken"] = _token(p, offset + limit)
    return out


def _zoned(value: dt.datetime | dt.date) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{value.isoformat()}T00:00:00Z"


@operation("ce", "ListCostAllocationTags")
def list_cost_allocation_tags(req: AwsRequest) -> dict[str, Any]:
    p = req.params
    account = _account(req)
    now = runtime.clock.now()
    if p.get("Type") == "AWSGenerated":
        keys: dict[str, dt.date] = {}
    else:
        keys = ledger.known_tag_keys(account, now)
    tags = []
    for key in sorted(keys):
        status = account.cost_tags.get(key, None)
        item: dict[str, Any] = {
            "TagKey": key,
            "Type": "UserDefined",
            "Status": status.current if status else "Inactive",
            "LastUsedDate": _zoned(keys[key].replace(day=1)),
        }
        if status and status.updated:
            item["LastUpdatedDate"] = _zoned(status.updated)
        tags.append(item)
    if p.get("Status"):
        tags = [t for t in tags if t["Status"] == p["Status"]]
    if p.get("TagKeys"):
        tags = [t for t in tags if t["TagKey"] in p["TagKeys"]]
    offset = _offset(p, "NextToken")
    limit = int(p.get("MaxResults") or 100)
    out: dict[str, Any] = {"CostAllocationTags": tags[offset : offset + limit]}
    if offset + limit < len(tags):
        out["NextToken"] = _token(p, offset + limit)
    return out


@operation("ce", "UpdateCostAllocationTagsStatus")
def update_cost_allocation_tags_status(req: AwsRequest) -> dict[str, Any]:
    entries = req.params.get("CostAllocationTagsStatus") or []
    if not 1 <= len(entries) <= 20:
        raise validation("CostAllocationTagsStatus must contain between 1 and 20 entries")
    account = _account(req)
    now = runtime.clock.now()
    known = ledger.known_tag_keys(account, now)
    errors = []
    for entry in entries:
        key, status = entry.get("TagKey"), entry.get("Status")
        if status not in ("Active", "Inactive"):
            raise validation(f"Status must be Active or Inactive, not {status}")
        if key not in known:
            errors.append(
                {
                    "TagKey": key,
                    "Code": "TagKeysNotFoundException",
                    "Message": f"Tag key {key} was not found",
                }
            )
            continue
        ledger.set_tag_status(account, str(key), status, now, since=now)
    return {"Errors": errors}
