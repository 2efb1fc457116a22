"""Cost Explorer over the ledger, forecasts, cost-allocation tags, Budgets and notifications."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.conftest import Demo

ACCOUNT = "123456789012"
ROLE = "arn:aws:iam::123456789012:role/PortalNotebookExecution"


def today(demo: Demo) -> dt.date:
    return dt.datetime.fromisoformat(demo.control.clock()["now"]).date()


def all_pages(ce: Any, **kwargs: Any) -> list[dict[str, Any]]:
    results, token = [], None
    while True:
        page = ce.get_cost_and_usage(**kwargs, **({"NextPageToken": token} if token else {}))
        results += page["ResultsByTime"]
        token = page.get("NextPageToken")
        if not token:
            return results


def total(results: list[dict[str, Any]]) -> Decimal:
    out = Decimal(0)
    for r in results:
        if r["Groups"]:
            out += sum(Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for g in r["Groups"])
        elif r["Total"]:
            out += Decimal(r["Total"]["UnblendedCost"]["Amount"])
    return out


def test_totals_agree_across_granularity_and_grouping(demo: Demo) -> None:
    ce = demo.client("ce")
    end = today(demo)
    period = {"Start": (end - dt.timedelta(days=100)).isoformat(), "End": end.isoformat()}
    daily = all_pages(ce, TimePeriod=period, Granularity="DAILY", Metrics=["UnblendedCost"])
    assert len(daily) == 100
    monthly = all_pages(ce, TimePeriod=period, Granularity="MONTHLY", Metrics=["UnblendedCost"])
    by_team = all_pages(
        ce,
        TimePeriod=period,
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "TAG", "Key": "portal:team"}],
    )
    by_two = all_pages(
        ce,
        TimePeriod=period,
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
        GroupBy=[
            {"Type": "TAG", "Key": "portal:workspace"},
            {"Type": "DIMENSION", "Key": "SERVICE"},
        ],
    )
    expected = total(daily)
    assert expected > 100
    for other in (monthly, by_team, by_two):
        assert abs(total(other) - expected) < Decimal("0.0001")
    keys = {tuple(g["Keys"]) for r in by_two for g in r["Groups"]}
    assert ("portal:workspace$ha-readmit-eda", "Amazon SageMaker") in keys
    weekday = [
        Decimal(r["Total"]["UnblendedCost"]["Amount"])
        for r in daily[-30:]
        if dt.date.fromisoformat(r["TimePeriod"]["Start"]).weekday() < 5
    ]
    weekend = [
        Decimal(r["Total"]["UnblendedCost"]["Amount"])
        for r in daily[-30:]
        if dt.date.fromisoformat(r["TimePeriod"]["Start"]).weekday() >= 5
    ]
    assert min(weekday) > max(weekend)


def test_filter_by_team_tag_matches_the_team_group(demo: Demo) -> None:
    ce = demo.client("ce")
    end = today(demo)
    period = {"Start": (end - dt.timedelta(days=30)).isoformat(), "End": end.isoformat()}
    grouped = all_pages(
        ce,
        TimePeriod=period,
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "TAG", "Key": "portal:team"}],
    )
    team_sum: dict[str, Decimal] = defaultdict(Decimal)
    for r in grouped:
        for g in r["Groups"]:
            team_sum[g["Keys"][0]] += Decimal(g["Metrics"]["UnblendedCost"]["Amount"])
    assert set(team_sum) == {"portal:team$health-analytics", "portal:team$transport-planning"}
    filtered = all_pages(
        ce,
        TimePeriod=period,
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
        Filter={
            "And": [
                {"Tags": {"Key": "portal:team", "Values": ["health-analytics"]}},
                {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon SageMaker"]}},
            ]
        },
    )
    assert abs(total(filtered) - team_sum["portal:team$health-analytics"]) < Decimal("0.0001")
    excluded = all_pages(
        ce,
        TimePeriod=period,
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
        Filter={"Not": {"Tags": {"Key": "portal:team", "Values": ["health-analytics"]}}},
    )
    assert abs(total(excluded) - team_sum["portal:team$transport-planning"]) < Decimal("0.0001")


def test_inactive_tag_spend_is_reported_under_an_empty_value(demo: Demo) -> None:
    ce = demo.client("ce")
    demo.control.cost_tags(inactive=["portal:team"])
    end = today(demo)
    period = {"Start": (end - dt.timedelta(days=10)).isoformat(), "End": end.isoformat()}
    results = all_pages(
        ce,
        TimePeriod=period,
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "TAG", "Key": "portal:team"}],
    )
    assert {g["Keys"][0] for r in results for g in r["Groups"]} == {"portal:team$"}
    tags = {t["TagKey"]: t["Status"] for t in ce.list_cost_allocation_tags()["CostAllocationTags"]}
    assert tags["portal:team"] == "Inactive"
    assert tags["portal:workspace"] == "Active"
    assert (
        ce.update_cost_allocation_tags_status(
            CostAllocationTagsStatus=[{"TagKey": "portal:team", "Status": "Active"}]
        )["Errors"]
        == []
    )
    assert {
        t["TagKey"] for t in ce.list_cost_allocation_tags(Status="Active")["CostAllocationTags"]
    } >= {"portal:team"}


def test_pagination_splits_large_results(demo: Demo) -> None:
    ce = demo.client("ce")
    demo.control.settings(ce_page_size=25)
    end = today(demo)
    kwargs = {
        "TimePeriod": {"Start": (end - dt.timedelta(days=60)).isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "TAG", "Key": "portal:workspace"}],
    }
    first = ce.get_cost_and_usage(**kwargs)
    assert "NextPageToken" in first
    assert sum(len(r["Groups"]) for r in first["ResultsByTime"]) == 25
    with pytest.raises(ClientError) as error:
        ce.get_cost_and_usage(**kwargs, NextPageToken="garbage")
    assert error.value.response["Error"]["Code"] == "InvalidNextTokenException"
    assert len(all_pages(ce, **kwargs)) >= 60


def test_live_notebook_usage_reaches_the_ledger_a_day_later(demo: Demo) -> None:
    ce, sm = demo.client("ce"), demo.client("sagemaker")
    sm.create_notebook_instance(
        NotebookInstanceName="meter",
        InstanceType="ml.t3.medium",
        RoleArn=ROLE,
        VolumeSizeInGB=10,
        Tags=[{"Key": "portal:workspace", "Value": "meter"}],
    )
    start = today(demo)
    demo.control.advance_clock(3 * 86400)
    kwargs = {
        "TimePeriod": {
            "Start": start.isoformat(),
            "End": (start + dt.timedelta(days=3)).isoformat(),
        },
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost", "UsageQuantity"],
        "Filter": {"Tags": {"Key": "portal:workspace", "Values": ["meter"]}},
    }
    cost = total(all_pages(ce, **kwargs))
    # Up to two days (the third lags) of ml.t3.medium at $0.05/h plus 10 GB at $0.14/GB-month.
    assert Decimal("1.5") < cost < Decimal("2.6")


def test_forecast_follows_the_weekly_shape(demo: Demo) -> None:
    ce = demo.client("ce")
    start = today(demo)
    out = ce.get_cost_forecast(
        TimePeriod={"Start": start.isoformat(), "End": (start + dt.timedelta(days=14)).isoformat()},
        Metric="UNBLENDED_COST",
        Granularity="DAILY",
        PredictionIntervalLevel=80,
    )
    assert len(out["ForecastResultsByTime"]) == 14
    assert Decimal(out["Total"]["Amount"]) > 0
    for day in out["ForecastResultsByTime"]:
        assert (
            Decimal(day["PredictionIntervalLowerBound"])
            <= Decimal(day["MeanValue"])
            <= Decimal(day["PredictionIntervalUpperBound"])
        )
    with pytest.raises(ClientError) as error:
        ce.get_cost_forecast(
            TimePeriod={
                "Start": (start - dt.timedelta(days=3)).isoformat(),
                "End": start.isoformat(),
            },
            Metric="UNBLENDED_COST",
            Granularity="DAILY",
        )
    assert error.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(
    "bad",
    [
        {"GroupBy": [{"Type": "DIMENSION", "Key": "NOPE"}]},
        {
            "GroupBy": [
                {"Type": "TAG", "Key": "a"},
                {"Type": "TAG", "Key": "b"},
                {"Type": "TAG", "Key": "c"},
            ]
        },
        {
            "Filter": {
                "Tags": {"Key": "portal:team", "Values": ["x"]},
                "Dimensions": {"Key": "SERVICE", "Values": ["y"]},
            }
        },
        {"Metrics": ["Bogus"]},
        {"TimePeriod": {"Start": "2024-02-01", "End": "2024-01-01"}},
    ],
)
def test_malformed_queries_are_validation_errors(demo: Demo, bad: dict[str, Any]) -> None:
    ce = demo.client("ce")
    kwargs = {
        "TimePeriod": {"Start": "2024-01-01", "End": "2024-02-01"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        **bad,
    }
    with pytest.raises(ClientError) as error:
        ce.get_cost_and_usage(**kwargs)
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_budget_spend_matches_cost_explorer_and_notifies_sns(demo: Demo) -> None:
    budgets, ce, sns, sqs = (demo.client(s) for s in ("budgets", "ce", "sns", "sqs"))
    topic = sns.create_topic(Name="budget-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="budget-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    if today(demo).timetuple().tm_yday == 1:
        # On 1 January no day of the year is in Cost Explorer yet, so an annual budget has
        # nothing to cross; two days on, the team's running notebook has spent a whole day.
        demo.control.advance_clock(2 * 86400)
    budget = {
        "BudgetName": "health-analytics",
        "BudgetLimit": {"Amount": "1.0", "Unit": "USD"},
        "TimeUnit": "ANNUALLY",
        "BudgetType": "COST",
        "CostFilters": {"TagKeyValue": ["user:portal:team$health-analytics"]},
    }
    budgets.create_budget(
        AccountId=ACCOUNT,
        Budget=budget,
        NotificationsWithSubscribers=[
            {
                "Notification": {
                    "NotificationType": "ACTUAL",
                    "ComparisonOperator": "GREATER_THAN",
                    "Threshold": 80.0,
                    "ThresholdType": "PERCENTAGE",
                },
                "Subscribers": [{"SubscriptionType": "SNS", "Address": topic}],
            }
        ],
    )
    described = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="health-analytics")["Budget"]
    actual = Decimal(described["CalculatedSpend"]["ActualSpend"]["Amount"])
    now = today(demo)
    start = now.replace(month=1, day=1)
    if start < now:
        results = all_pages(
            ce,
            TimePeriod={"Start": start.isoformat(), "End": now.isoformat()},
            Granularity="MONTHLY",
            Metrics=["UnblendedCost"],
            Filter={"Tags": {"Key": "portal:team", "Values": ["health-analytics"]}},
        )
        assert abs(total(results) - actual) < Decimal("0.0001")
    assert actual > 1
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    assert len(messages) == 1
    assert "health-analytics" in json.loads(messages[0]["Body"])["Message"]
    notes = budgets.describe_notifications_for_budget(
        AccountId=ACCOUNT, BudgetName="health-analytics"
    )["Notifications"]
    assert notes[0]["NotificationState"] == "ALARM"
    budget["BudgetLimit"] = {"Amount": "100000.0", "Unit": "USD"}
    budgets.update_budget(AccountId=ACCOUNT, NewBudget=budget)
    assert budgets.describe_budgets(AccountId=ACCOUNT)["Budgets"][0]["BudgetLimit"]["Amount"] in (
        "100000.0",
        "100000",
    )
    with pytest.raises(budgets.exceptions.DuplicateRecordException):
        budgets.create_budget(AccountId=ACCOUNT, Budget=budget)
    with pytest.raises(budgets.exceptions.NotFoundException):
        budgets.describe_budget(AccountId=ACCOUNT, BudgetName="nope")
    budgets.delete_budget(AccountId=ACCOUNT, BudgetName="health-analytics")
