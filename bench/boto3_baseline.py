"""The bare-boto3 baseline: the AWS calls the portal makes per workspace, back to back, in one
plain process (no Django, no Celery, no database).

For each of ``--count`` workspaces it calls Service Catalog ``provision_product`` with the same
parameters, tags and ``ProvisionToken`` shape the portal uses, one launch after the other; then
it follows every record with ``describe_record`` on the portal's own poll schedule (the first
read 2 s after the launch, then 3, 5, 8, ... s after the previous read), always serving the
record whose next read is due first, until each is ``SUCCEEDED``. Calls the portal made per
workspace beyond those (``--extra OP=N``) are made after a workspace's record succeeds.

    python bench/boto3_baseline.py --endpoint http://127.0.0.1:5000 --spec spec.json

``spec.json`` holds the seeded product (``product_id``, ``artifact_id``, ``path_id``), the
network settings (``subnet_id``, ``security_group_ids``, ``kms_key_arn``,
``lifecycle_config_name``) and the ``instance_type``. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

POLL_SCHEDULE = (2.0, 8.0, 20.0, 40.0, 60.0, 90.0, 120.0)  # workspaces/provisioning.py's schedule
PENDING = {"CREATED", "IN_PROGRESS", "IN_PROGRESS_IN_ERROR"}


def poll_delay(polls_so_far: int, schedule: tuple[float, ...]) -> float:
    return schedule[min(polls_so_far, len(schedule) - 1)]


class Workspace:
    def __init__(self, index: int, team: str) -> None:
        self.id = uuid.uuid4()
        self.name = f"{team}-bench-{index:04d}"  # the portal's notebook name: team slug + name
        self.team = team
        self.launched = 0.0
        self.done = 0.0
        self.record_id = ""
        self.provisioned_product_id = ""
        self.notebook_arn = ""
        self.polls = 0


def _parameters(ws: Workspace, spec: dict[str, Any]) -> list[dict[str, str]]:
    values = {
        "NotebookInstanceName": ws.name,
        "InstanceType": spec["instance_type"],
        "VolumeSizeInGB": "20",
        "KmsKeyId": spec["kms_key_arn"],
        "SubnetId": spec["subnet_id"],
        "SecurityGroupIds": ",".join(spec["security_group_ids"]),
        "DirectInternetAccess": "Disabled",
        "RootAccess": "Disabled",
        "PlatformIdentifier": "notebook-al2-v3",
    }
    if spec.get("lifecycle_config_name"):
        values["LifecycleConfigName"] = spec["lifecycle_config_name"]
    return [{"Key": k, "Value": v} for k, v in values.items()]


def _tags(ws: Workspace) -> list[dict[str, str]]:
    return [
        {"Key": "portal:team", "Value": ws.team},
        {"Key": "portal:project", "Value": "bench"},
        {"Key": "portal:workspace", "Value": str(ws.id)},
        {"Key": "portal:owner", "Value": "bench-analyst"},
        {"Key": "portal:cost-center", "Value": "CC-0000"},
    ]


def extra_calls(sc: Any, sm: Any) -> dict[str, Callable[[Workspace], object]]:
    """Calls the portal might make per workspace besides launch and record reads, by the
    sandbox counter's name."""
    return {
        "sagemaker:DescribeNotebookInstance": lambda ws: sm.describe_notebook_instance(
            NotebookInstanceName=ws.name
        ),
        "sagemaker:ListTags": lambda ws: sm.list_tags(ResourceArn=ws.notebook_arn),
        "servicecatalog:DescribeProvisionedProduct": lambda ws: sc.describe_provisioned_product(
            Id=ws.provisioned_product_id
        ),
        "servicecatalog:GetProvisionedProductOutputs": (
            lambda ws: sc.get_provisioned_product_outputs(
                ProvisionedProductId=ws.provisioned_product_id
            )
        ),
    }


def run(
    endpoint: str,
    spec: dict[str, Any],
    count: int,
    teams: list[str],
    extra: dict[str, int],
    schedule: tuple[float, ...],
) -> dict[str, Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (the sandbox accepts any)
        region_name="us-east-1",
    )
    config = Config(retries={"mode": "standard", "total_max_attempts": 5})
    sc = session.client("servicecatalog", endpoint_url=endpoint, config=config)
    sm = session.client("sagemaker", endpoint_url=endpoint, config=config)
    extras = extra_calls(sc, sm)
    unknown = sorted(set(extra) - set(extras))
    calls: Counter[str] = Counter()
    workspaces = [Workspace(i, teams[i % len(teams)]) for i in range(count)]

    due: list[tuple[float, int]] = []  # (monotonic time of the next read, index)
    start = time.monotonic()
    for i, ws in enumerate(workspaces):
        response = sc.provision_product(
            ProductId=spec["product_id"],
            ProvisioningArtifactId=spec["artifact_id"],
            PathId=spec["path_id"],
            ProvisionedProductName=ws.name,
            ProvisioningParameters=_parameters(ws, spec),
            Tags=_tags(ws),
            ProvisionToken=f"{ws.id.hex}-1",
        )
        calls["servicecatalog:ProvisionProduct"] += 1
        ws.launched = time.monotonic()
        ws.record_id = response["RecordDetail"]["RecordId"]
        ws.provisioned_product_id = response["RecordDetail"].get("ProvisionedProductId", "")
        heapq.heappush(due, (ws.launched + poll_delay(0, schedule), i))

    while due:
        when, i = heapq.heappop(due)
        wait = when - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        ws = workspaces[i]
        record = sc.describe_record(Id=ws.record_id)
        calls["servicecatalog:DescribeRecord"] += 1
        ws.polls += 1
        status = record["RecordDetail"]["Status"]
        if status in PENDING:
            heapq.heappush(due, (time.monotonic() + poll_delay(ws.polls, schedule), i))
            continue
        if status != "SUCCEEDED":
            raise RuntimeError(f"{ws.name}: record {status}: {record['RecordDetail']}")
        outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in record["RecordOutputs"]}
        ws.notebook_arn = outputs.get("NotebookInstanceArn", "")
        for op, n in extra.items():
            if op in extras:
                for _ in range(n):
                    extras[op](ws)
                    calls[op] += 1
        ws.done = time.monotonic()
    elapsed = time.monotonic() - start

    per_ws = sorted(ws.done - start for ws in workspaces)
    return {
        "count": count,
        "seconds_to_all_done": round(elapsed, 3),
        "p50_seconds": round(per_ws[len(per_ws) // 2], 3),
        "p95_seconds": round(per_ws[min(len(per_ws) - 1, int(len(per_ws) * 0.95))], 3),
        "calls": dict(sorted(calls.items())),
        "calls_per_workspace": round(sum(calls.values()) / count, 2),
        "extra_calls_not_replicated": unknown,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--teams", default="bench-a,bench-b")
    parser.add_argument(
        "--extra", action="append", default=[], help="OP=N: N more calls of OP per workspace"
    )
    parser.add_argument("--schedule", default=",".join(str(s) for s in POLL_SCHEDULE))
    args = parser.parse_args(argv)
    extra = {op: int(n) for op, n in (item.split("=", 1) for item in args.extra)}
    result = run(
        args.endpoint,
        json.loads(args.spec.read_text()),
        args.count,
        args.teams.split(","),
        extra,
        tuple(float(s) for s in args.schedule.split(",")),
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
