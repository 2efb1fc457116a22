"""SageMaker notebook instances whose states take time, on top of moto's SageMaker backend.

moto keeps the notebook's attributes and tags (so its tagging API finds them); the sandbox keeps
the status timeline, because moto makes every transition instant and the portal's whole lifecycle
is about the time in between.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import ServiceException
from moto.sagemaker.models import FakeSagemakerNotebookInstance, sagemaker_backends

from sandbox.protocol import AwsError, AwsRequest, validation
from sandbox.registry import operation
from sandbox.runtime import runtime
from sandbox.shapes import service_model
from sandbox.state import RegionState, state

PLATFORMS = ("notebook-al1-v1", "notebook-al2-v1", "notebook-al2-v2", "notebook-al2-v3")
DEFAULT_PLATFORM = "notebook-al2-v3"
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
GONE = "Gone"


@dataclass
class Notebook:
    """The sandbox's timeline for one notebook instance; attributes live on moto's object."""

    account: str
    region: str
    name: str
    moto: FakeSagemakerNotebookInstance
    status: str
    platform: str
    created: dt.datetime
    last_modified: dt.datetime
    failure_reason: str | None = None
    # Transitions still to happen: (when, new status, failure reason).
    pending: list[tuple[dt.datetime, str, str | None]] = field(default_factory=list)
    # Billing: [start, end|None, instance type] while InService; [start, end, GB] while it exists.
    runs: list[list[Any]] = field(default_factory=list)
    volumes: list[list[Any]] = field(default_factory=list)
    deleted: dt.datetime | None = None

    @property
    def arn(self) -> str:
        return str(self.moto.arn)

    @property
    def tags(self) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.moto.tags}

    def schedule(self, now: dt.datetime, steps: list[tuple[str | None, str, str | None]]) -> None:
        """Queue transitions; each step is (delay name or None, status reached, failure)."""
        when = now
        for delay_name, status, reason in steps:
            if delay_name is not None:
                when = when + runtime.settings.delay(delay_name)
            self.pending.append((when, status, reason))

    def set_status(self, when: dt.datetime, status: str, reason: str | None = None) -> None:
        if self.status == "InService" and status != "InService":
            self._close(self.runs, when)
        if status == "InService" and self.status != "InService":
            self.runs.append([when, None, self.moto.instance_type])
        self.status = status
        self.moto.status = status
        self.last_modified = when
        self.moto.last_modified_time = when
        if status == "Failed":
            self.failure_reason = reason
        elif status in ("Pending", "InService"):
            self.failure_reason = None
        if status == GONE:
            self.deleted = when
            self._close(self.volumes, when)
            backend = sagemaker_backends[self.account][self.region]
            backend.notebook_instances.pop(self.name, None)

    @staticmethod
    def _close(intervals: list[list[Any]], when: dt.datetime) -> None:
        if intervals and intervals[-1][1] is None:
            intervals[-1][1] = when

    def settle(self, now: dt.datetime) -> None:
        while self.pending and self.pending[0][0] <= now:
            when, status, reason = self.pending.pop(0)
            self.set_status(when, status, reason)

    def interrupt(self, now: dt.datetime, status: str) -> None:
        """Something outside the portal changed the notebook: forget what was queued."""
        self.settle(now)
        self.pending.clear()
        self.set_status(now, status)


def check_instance_type(instance_type: str) -> None:
    allowed = service_model("sagemaker").shape_for("InstanceType").enum  # type: ignore[attr-defined]
    if instance_type not in allowed:
        raise validation(
            f"1 validation error detected: Value '{instance_type}' at 'instanceType' failed to "
            "satisfy constraint: Member must satisfy enum value set"
        )


def region_notebooks(region: RegionState) -> dict[str, Notebook]:
    now = runtime.clock.now()
    for notebook in list(region.notebooks.values()):
        notebook.settle(now)
        if notebook.status == GONE:
            del region.notebooks[notebook.name]
    return region.notebooks


def get_notebook(region: RegionState, name: str) -> Notebook:
    notebook = region_notebooks(region).get(name)
    if notebook is None:
        raise validation("RecordNotFound")
    return notebook


def create_notebook(
    region: RegionState,
    *,
    name: str,
    instance_type: str,
    role_arn: str,
    volume_size: int = 5,
    kms_key_id: str | None = None,
    subnet_id: str | None = None,
    security_group_ids: list[str] | None = None,
    direct_internet_access: str = "Enabled",
    root_access: str = "Enabled",
    platform: str | None = None,
    lifecycle_config_name: str | None = None,
    tags: list[dict[str, str]] | None = None,
    fail_with: str | None = None,
) -> Notebook:
    """Create a notebook the way CreateNotebookInstance does; Service Catalog reuses it."""
    if not _NAME_RE.match(name):
        raise validation(
            f"1 validation error detected: Value '{name}' at 'notebookInstanceName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: "
            "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
        )
    if name in region_notebooks(region):
        raise validation(
            f"Cannot create a duplicate Notebook Instance ({region.notebooks[name].arn})"
        )
    platform = platform or DEFAULT_PLATFORM
    if platform not in PLATFORMS:
        raise validation(
            f"Invalid PlatformIdentifier: {platform}. Supported values: {list(PLATFORMS)}"
        )
    if direct_internet_access not in ("Enabled", "Disabled"):
        raise validation(f"Invalid DirectInternetAccess: {direct_internet_access}")
    if root_access not in ("Enabled", "Disabled"):
        raise validation(f"Invalid RootAccess: {root_access}")
    if direct_internet_access == "Disabled" and not subnet_id:
        # AWS refuses this combination: without a VPC the notebook would have no network at all.
        raise validation("DirectInternetAccess can be disabled only when a SubnetId is specified")
    if security_group_ids and not subnet_id:
        raise validation("SecurityGroupIds can be specified only with a SubnetId")
    check_instance_type(instance_type)
    backend = sagemaker_backends[region.account][region.region]
    if lifecycle_config_name and (
        lifecycle_config_name not in backend.notebook_instance_lifecycle_configurations
    ):
        raise validation(
            f"Unable to describe Notebook Instance Lifecycle Config ({lifecycle_config_name})"
        )
    try:
        fake = backend.create_notebook_instance(
            notebook_instance_name=name,
            # moto's own list of instance types is years old; botocore's enum was checked above.
            instance_type="ml.t3.medium",
            role_arn=role_arn,
            subnet_id=subnet_id,
            security_group_ids=security_group_ids,
            kms_key_id=kms_key_id,
            tags=list(tags or []),
            lifecycle_config_name=lifecycle_config_name,
            direct_internet_access=direct_internet_access,
            volume_size_in_gb=volume_size,
            root_access=root_access,
        )
    except ServiceException as exc:
        raise AwsError(exc.code, exc.message) from exc
    fake.instance_type = instance_type
    now = runtime.clock.now()
    notebook = Notebook(
        account=region.account,
        region=region.region,
        name=name,
        moto=fake,
        status="Pending",
        platform=platform,
        created=now,
        last_modified=now,
    )
    fake.status = "Pending"
    notebook.volumes.append([now, None, volume_size])
    if fail_with:
        notebook.schedule(now, [("notebook_pending", "Failed", fail_with)])
    else:
        notebook.schedule(now, [("notebook_pending", "InService", None)])
    region.notebooks[name] = notebook
    state.account(region.account).notebooks_ever.append(notebook)
    return notebook


def describe(notebook: Notebook) -> dict[str, Any]:
    fake = notebook.moto
    out: dict[str, Any] = {
        "NotebookInstanceArn": notebook.arn,
        "NotebookInstanceName": notebook.name,
        "NotebookInstanceStatus": notebook.status,
        "Url": f"{notebook.name}.notebook.{notebook.region}.sagemaker.aws",
        "InstanceType": fake.instance_type,
        "RoleArn": fake.role_arn,
        "LastModifiedTime": notebook.last_modified,
        "CreationTime": notebook.created,
        "DirectInternetAccess": fake.direct_internet_access,
        "VolumeSizeInGB": fake.volume_size_in_gb,
        "RootAccess": fake.root_access or "Enabled",
        "PlatformIdentifier": notebook.platform,
        "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": "2"},
    }
    if notebook.failure_reason:
        out["FailureReason"] = notebook.failure_reason
    if fake.subnet_id:
        out["SubnetId"] = fake.subnet_id
        out["NetworkInterfaceId"] = "eni-" + notebook.arn.encode().hex()[-17:]
    if fake.security_group_ids:
        out["SecurityGroups"] = list(fake.security_group_ids)
    if fake.kms_key_id:
        out["KmsKeyId"] = fake.kms_key_id
    if fake.lifecycle_config_name:
        out["NotebookInstanceLifecycleConfigName"] = fake.lifecycle_config_name
    return out


def _region(req: AwsRequest) -> RegionState:
    return state.region(req.account, req.region)


def _name(req: AwsRequest) -> str:
    name = req.params.get("NotebookInstanceName")
    if not isinstance(name, str) or not name:
        raise validation("NotebookInstanceName is required")
    return name


def _require_status(notebook: Notebook, allowed: tuple[str, ...], target: str) -> None:
    if notebook.status not in allowed:
        raise validation(
            f"Status ({notebook.status}) not in ([{', '.join(allowed)}]). Unable to transition "
            f"to ({target}) for Notebook Instance ({notebook.arn})"
        )


@operation("sagemaker", "CreateNotebookInstance")
def create_notebook_instance(req: AwsRequest) -> dict[str, Any]:
    p = req.params
    for required in ("NotebookInstanceName", "InstanceType", "RoleArn"):
        if not p.get(required):
            raise validation(f"{required} is required")
    notebook = create_notebook(
        _region(req),
        name=p["NotebookInstanceName"],
        instance_type=p["InstanceType"],
        role_arn=p["RoleArn"],
        volume_size=int(p.get("VolumeSizeInGB") or 5),
        kms_key_id=p.get("KmsKeyId"),
        subnet_id=p.get("SubnetId"),
        security_group_ids=p.get("SecurityGroupIds"),
        direct_internet_access=p.get("DirectInternetAccess") or "Enabled",
        root_access=p.get("RootAccess") or "Enabled",
        platform=p.get("PlatformIdentifier"),
        lifecycle_config_name=p.get("LifecycleConfigName"),
        tags=p.get("Tags"),
    )
    return {"NotebookInstanceArn": notebook.arn}


@operation("sagemaker", "DescribeNotebookInstance")
def describe_notebook_instance(req: AwsRequest) -> dict[str, Any]:
    return describe(get_notebook(_region(req), _name(req)))


@operation("sagemaker", "ListNotebookInstances")
def list_notebook_instances(req: AwsRequest) -> dict[str, Any]:
    p = req.params
    notebooks = list(region_notebooks(_region(req)).values())
    if p.get("StatusEquals"):
        notebooks = [n for n in notebooks if n.status == p["StatusEquals"]]
    if p.get("NameContains"):
        notebooks = [n for n in notebooks if p["NameContains"] in n.name]
    sort_by = p.get("SortBy", "CreationTime")
    keys = {"Name": lambda n: n.name, "Status": lambda n: n.status}
    notebooks.sort(
        key=keys.get(sort_by, lambda n: n.created), reverse=p.get("SortOrder") != "Ascending"
    )
    start = _token_offset(p.get("NextToken"))
    limit = int(p.get("MaxResults") or 10)
    page = notebooks[start : start + limit]
    out: dict[str, Any] = {"NotebookInstances": [_summary(n) for n in page]}
    if start + limit < len(notebooks):
        out["NextToken"] = str(start + limit)
    return out


def _token_offset(token: Any) -> int:
    if token is None:
        return 0
    try:
        return int(token)
    except (TypeError, ValueError):
        raise validation("Invalid pagination token") from None


def _summary(notebook: Notebook) -> dict[str, Any]:
    full = describe(notebook)
    keys = (
        "NotebookInstanceName",
        "NotebookInstanceArn",
        "NotebookInstanceStatus",
        "Url",
        "InstanceType",
        "CreationTime",
        "LastModifiedTime",
        "NotebookInstanceLifecycleConfigName",
    )
    return {k: full[k] for k in keys if k in full}


@operation("sagemaker", "StopNotebookInstance")
def stop_notebook_instance(req: AwsRequest) -> dict[str, Any]:
    notebook = get_notebook(_region(req), _name(req))
    _require_status(notebook, ("InService",), "Stopping")
    now = runtime.clock.now()
    notebook.set_status(now, "Stopping")
    notebook.schedule(now, [("notebook_stopping", "Stopped", None)])
    return {}


@operation("sagemaker", "StartNotebookInstance")
def start_notebook_instance(req: AwsRequest) -> dict[str, Any]:
    notebook = get_notebook(_region(req), _name(req))
    _require_status(notebook, ("Stopped", "Failed"), "Pending")
    now = runtime.clock.now()
    notebook.set_status(now, "Pending")
    notebook.schedule(now, [("notebook_pending", "InService", None)])
    return {}


@operation("sagemaker", "DeleteNotebookInstance")
def delete_notebook_instance(req: AwsRequest) -> dict[str, Any]:
    notebook = get_notebook(_region(req), _name(req))
    _require_status(notebook, ("Stopped", "Failed"), "Deleting")
    now = runtime.clock.now()
    notebook.set_status(now, "Deleting")
    notebook.schedule(now, [("notebook_deleting", GONE, None)])
    return {}


@operation("sagemaker", "UpdateNotebookInstance")
def update_notebook_instance(req: AwsRequest) -> dict[str, Any]:
    region = _region(req)
    notebook = get_notebook(region, _name(req))
    _require_status(notebook, ("Stopped", "Failed"), "Updating")
    p = req.params
    fake = notebook.moto
    now = runtime.clock.now()
    if p.get("InstanceType"):
        check_instance_type(p["InstanceType"])
        fake.instance_type = p["InstanceType"]
    if p.get("VolumeSizeInGB"):
        if int(p["VolumeSizeInGB"]) < fake.volume_size_in_gb:
            raise validation("VolumeSizeInGB cannot be decreased")
        fake.volume_size_in_gb = int(p["VolumeSizeInGB"])
        notebook._close(notebook.volumes, now)
        notebook.volumes.append([now, None, fake.volume_size_in_gb])
    if p.get("RootAccess"):
        fake.root_access = p["RootAccess"]
    if p.get("RoleArn"):
        fake.role_arn = p["RoleArn"]
    if p.get("DisassociateLifecycleConfig"):
        fake.lifecycle_config_name = None
    elif p.get("LifecycleConfigName"):
        fake.lifecycle_config_name = p["LifecycleConfigName"]
    notebook.set_status(now, "Updating")
    notebook.schedule(now, [("notebook_updating", "Stopped", None)])
    return {}


@operation("sagemaker", "CreatePresignedNotebookInstanceUrl")
def create_presigned_url(req: AwsRequest) -> dict[str, Any]:
    region = _region(req)
    notebook = get_notebook(region, _name(req))
    seconds = int(req.params.get("SessionExpirationDurationInSeconds") or 43200)
    if not 1800 <= seconds <= 43200:
        raise validation(
            f"1 validation error detected: Value '{seconds}' at "
            "'sessionExpirationDurationInSeconds' failed to satisfy constraint: Member must "
            "have value between 1800 and 43200"
        )
    now = runtime.clock.now()
    token = secrets.token_urlsafe(24)
    # AWS: the URL itself must be opened within 5 minutes; the session then lasts the requested
    # number of seconds.
    region.notebook_tokens[token] = (
        notebook.name,
        now + dt.timedelta(minutes=5),
        now + dt.timedelta(seconds=seconds),
    )
    url = f"{req.host_url}/_sandbox/notebooks/{region.account}/{region.region}/{notebook.name}"
    return {"AuthorizedUrl": f"{url}?authToken={token}"}
