"""Time each boto3 call of DESIGN.md's "AWS calls" table against a sandbox seeded with `demo`.

    .venv/bin/python -m sandbox.bench [--rounds 20]

Starts its own sandbox process on a free port, warms each call once, then prints the median and
worst of `rounds` timings per call, and fails (exit 1) if any median is over 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

BUDGET_MS = 100.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _calls(url: str) -> list[tuple[str, Callable[[], Any]]]:
    def client(name: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            name,
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto's fake credentials)
            config=Config(retries={"mode": "standard"}),
        )

    sc, sm, cfg, tag, ce, bud, sns = (
        client(n)
        for n in (
            "servicecatalog",
            "sagemaker",
            "config",
            "resourcegroupstaggingapi",
            "ce",
            "budgets",
            "sns",
        )
    )
    product = sc.search_products_as_admin()["ProductViewDetails"][-1]["ProductViewSummary"]
    product_id = product["ProductId"]
    artifact_id = sc.list_provisioning_artifacts(ProductId=product_id)[
        "ProvisioningArtifactDetails"
    ][-1]["Id"]
    path_id = sc.list_launch_paths(ProductId=product_id)["LaunchPathSummaries"][0]["Id"]
    today = dt.datetime.now(dt.UTC).date()
    period = {"Start": (today - dt.timedelta(days=90)).isoformat(), "End": today.isoformat()}
    forecast = {"Start": today.isoformat(), "End": (today + dt.timedelta(days=30)).isoformat()}
    account = "123456789012"
    topic = sns.create_topic(Name="bench")["TopicArn"]
    budget = {
        "BudgetName": "bench",
        "BudgetLimit": {"Amount": "1000", "Unit": "USD"},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
        "CostFilters": {"TagKeyValue": ["user:portal:team$health-analytics"]},
    }
    bud.create_budget(AccountId=account, Budget=budget)
    notification = {
        "NotificationType": "ACTUAL",
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": 90.0,
    }
    counter = iter(range(10**6))

    launched: list[str] = []

    def provision() -> Any:
        n = next(counter)
        launched.append(f"bench-{n}")
        return sc.provision_product(
            ProductId=product_id,
            ProvisioningArtifactId=artifact_id,
            PathId=path_id,
            ProvisionedProductName=f"bench-{n}",
            ProvisioningParameters=[{"Key": "NotebookInstanceName", "Value": f"bench-{n}"}],
            Tags=[{"Key": "portal:team", "Value": "health-analytics"}],
            ProvisionToken=str(uuid.uuid4()),
        )

    record = provision()["RecordDetail"]
    time.sleep(0.3)

    def stop_start() -> Any:
        # Alternate so each call is legal: the seeded notebook is InService at first.
        name = "ha-readmit-eda"
        status = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
        if status == "InService":
            return sm.stop_notebook_instance(NotebookInstanceName=name)
        if status == "Stopped":
            return sm.start_notebook_instance(NotebookInstanceName=name)
        return None

    made: list[str] = []

    def create_budget() -> Any:
        made.append(f"b{next(counter)}")
        return bud.create_budget(AccountId=account, Budget={**budget, "BudgetName": made[-1]})

    group = [{"Type": "TAG", "Key": "portal:workspace"}, {"Type": "TAG", "Key": "portal:team"}]
    return [
        ("servicecatalog search_products_as_admin", lambda: sc.search_products_as_admin()),
        (
            "servicecatalog list_provisioning_artifacts",
            lambda: sc.list_provisioning_artifacts(ProductId=product_id),
        ),
        ("servicecatalog list_launch_paths", lambda: sc.list_launch_paths(ProductId=product_id)),
        (
            "servicecatalog describe_provisioning_parameters",
            lambda: sc.describe_provisioning_parameters(
                ProductId=product_id, ProvisioningArtifactId=artifact_id, PathId=path_id
            ),
        ),
        ("servicecatalog provision_product", provision),
        ("servicecatalog describe_record", lambda: sc.describe_record(Id=record["RecordId"])),
        (
            "servicecatalog terminate_provisioned_product",
            lambda: sc.terminate_provisioned_product(
                ProvisionedProductName=launched.pop(), TerminateToken=str(uuid.uuid4())
            ),
        ),
        (
            "sagemaker describe_notebook_instance",
            lambda: sm.describe_notebook_instance(NotebookInstanceName="tp-ridership-forecast"),
        ),
        ("sagemaker stop/start_notebook_instance (+describe)", stop_start),
        (
            "sagemaker create_presigned_notebook_instance_url",
            lambda: sm.create_presigned_notebook_instance_url(
                NotebookInstanceName="tp-ridership-forecast"
            ),
        ),
        (
            "config describe_compliance_by_config_rule",
            lambda: cfg.describe_compliance_by_config_rule(),
        ),
        (
            "config get_compliance_details_by_config_rule",
            lambda: cfg.get_compliance_details_by_config_rule(
                ConfigRuleName="portal-required-tags"
            ),
        ),
        (
            "tagging get_resources",
            lambda: tag.get_resources(
                ResourceTypeFilters=["sagemaker:notebook-instance"],
                TagFilters=[{"Key": "portal:team"}],
            ),
        ),
        (
            "ce get_cost_and_usage (90 days DAILY, 2 tags)",
            lambda: ce.get_cost_and_usage(
                TimePeriod=period, Granularity="DAILY", Metrics=["UnblendedCost"], GroupBy=group
            ),
        ),
        (
            "ce get_cost_forecast",
            lambda: ce.get_cost_forecast(
                TimePeriod=forecast, Metric="UNBLENDED_COST", Granularity="MONTHLY"
            ),
        ),
        ("ce list_cost_allocation_tags", lambda: ce.list_cost_allocation_tags()),
        (
            "budgets describe_budget",
            lambda: bud.describe_budget(AccountId=account, BudgetName="bench"),
        ),
        ("budgets update_budget", lambda: bud.update_budget(AccountId=account, NewBudget=budget)),
        ("budgets create_budget", create_budget),
        (
            "budgets describe_notifications_for_budget",
            lambda: bud.describe_notifications_for_budget(AccountId=account, BudgetName="bench"),
        ),
        (
            "budgets create_notification",
            lambda: bud.create_notification(
                AccountId=account,
                BudgetName=made.pop(),
                Notification=notification,
                Subscribers=[{"SubscriptionType": "SNS", "Address": topic}],
            ),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.bench")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (runs this interpreter on this package)
        [sys.executable, "-m", "sandbox", "--port", str(port), "--seed", "demo", "--speed", "100"],
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        if process.stdout is not None:
            process.stdout.readline()
        calls = _calls(f"http://127.0.0.1:{port}")
        worst_median = 0.0
        print(f"{'call':60} {'median ms':>10} {'max ms':>8}")
        for name, call in calls:
            call()
            timings = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                call()
                timings.append((time.perf_counter() - started) * 1000)
            median = statistics.median(timings)
            worst_median = max(worst_median, median)
            print(f"{name:60} {median:10.1f} {max(timings):8.1f}")
        return 0 if worst_median <= BUDGET_MS else 1
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
