"""Launching products: launch paths, parameters, provisioning records, provisioned products.

A provision creates the notebook in moto's SageMaker backend straight away (Pending); the record
is CREATED briefly, then IN_PROGRESS while the notebook is Pending, then SUCCEEDED once it is
InService, as a CloudFormation stack waits for its notebook. Failures CloudFormation would meet
while creating the stack (a duplicate notebook name, a missing lifecycle config, an injected
fault) fail the record, not the API call; parameter and rule violations fail the call.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from sandbox.protocol import AwsError, AwsRequest
from sandbox.registry import operation
from sandbox.runtime import runtime
from sandbox.services import sagemaker
from sandbox.services.servicecatalog.admin import invalid, page, store
from sandbox.services.servicecatalog.models import (
    Artifact,
    CatalogStore,
    Constraint,
    ProvisionedProduct,
    Record,
)
from sandbox.services.servicecatalog.template import (
    NO_VALUE,
    Context,
    check_rules,
    parameters,
    resolve_parameters,
)
from sandbox.state import new_id, state

_TAG_KEY = re.compile(r"^[\w\s.:/=+\-@]*$")
NOTEBOOK_TYPE = "AWS::SageMaker::NotebookInstance"


def parameter_descriptions(
    artifact: Artifact, allowed: dict[str, list[str]]
) -> list[dict[str, Any]]:
    out = []
    for key, spec in parameters(artifact.template).items():
        constraints: dict[str, Any] = {}
        values = [str(v) for v in spec.get("AllowedValues", [])]
        if key in allowed:
            values = [v for v in values if v in allowed[key]] if values else list(allowed[key])
        if values:
            constraints["AllowedValues"] = values
        for name in ("AllowedPattern", "ConstraintDescription"):
            if name in spec:
                constraints[name] = str(spec[name])
        for name in ("MaxLength", "MinLength", "MaxValue", "MinValue"):
            if name in spec:
                constraints[name] = str(spec[name])
        item: dict[str, Any] = {
            "ParameterKey": key,
            "ParameterType": spec.get("Type", "String"),
            "IsNoEcho": bool(spec.get("NoEcho", False)),
            "ParameterConstraints": constraints,
        }
        if "Default" in spec:
            item["DefaultValue"] = str(spec["Default"])
        if "Description" in spec:
            item["Description"] = spec["Description"]
        out.append(item)
    return out


def _outputs_declared(artifact: Artifact) -> list[dict[str, str]]:
    outputs = artifact.template.get("Outputs") or {}
    return [
        {"Key": key, **({"Description": o["Description"]} if o.get("Description") else {})}
        for key, o in outputs.items()
    ]


def _launch_target(
    catalog: CatalogStore, p: dict[str, Any]
) -> tuple[Any, Artifact, str, list[Constraint]]:
    if not p.get("ProductId") and not p.get("ProductName"):
        raise invalid("Either ProductId or ProductName must be given")
    product = catalog.product(p.get("ProductId"), p.get("ProductName"))
    if not p.get("ProvisioningArtifactId") and not p.get("ProvisioningArtifactName"):
        active = [a for a in product.artifacts.values() if a.active and a.guidance == "DEFAULT"]
        if not active:
            raise invalid(f"Product {product.id} has no active provisioning artifact")
        artifact = active[-1]
    else:
        artifact = catalog.artifact(
            product, p.get("ProvisioningArtifactId"), p.get("ProvisioningArtifactName")
        )
    path_id, portfolio = catalog.path(product, p.get("PathId"), p.get("PathName"))
    return product, artifact, path_id, catalog.constraints_for(portfolio.id, product.id)


@operation("servicecatalog", "ListLaunchPaths")
def list_launch_paths(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    product = catalog.product(req.params.get("ProductId"))
    summaries = [
        {
            "Id": path_id,
            "ConstraintSummaries": [
                c.summary() for c in catalog.constraints_for(portfolio.id, product.id)
            ],
            "Tags": portfolio.tags,
            "Name": portfolio.display_name,
        }
        for path_id, portfolio in catalog.paths(product)
    ]
    items, token = page(summaries, req.params)
    out: dict[str, Any] = {"LaunchPathSummaries": items}
    if token:
        out["NextPageToken"] = token
    return out


@operation("servicecatalog", "DescribeProvisioningParameters")
def describe_provisioning_parameters(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    _product, artifact, _path_id, constraints = _launch_target(catalog, req.params)
    if not artifact.active:
        raise invalid(f"Provisioning artifact {artifact.id} is not active")
    instructions = [
        {"Type": "rules", "Value": json.dumps(c.rules())}
        for c in constraints
        if c.type == "TEMPLATE"
    ]
    instructions += [
        {"Type": "launchAsRole", "Value": json.loads(c.parameters).get("RoleArn", "")}
        for c in constraints
        if c.type == "LAUNCH"
    ]
    declared = _outputs_declared(artifact)
    return {
        "ProvisioningArtifactParameters": parameter_descriptions(
            artifact, catalog.allowed_by_constraints(constraints)
        ),
        "ConstraintSummaries": [c.summary() for c in constraints],
        "UsageInstructions": instructions,
        "TagOptions": [],
        "ProvisioningArtifactPreferences": {},
        "ProvisioningArtifactOutputs": declared,
        "ProvisioningArtifactOutputKeys": declared,
    }


def _check_tags(tags: list[dict[str, str]]) -> None:
    if len(tags) > 50:
        raise invalid("Tags: at most 50 tags are allowed")
    for tag in tags:
        key = tag.get("Key", "")
        if not key or len(key) > 128 or not _TAG_KEY.match(key):
            raise invalid(f"Tag key {key!r} is not valid")
        if key.lower().startswith("aws:"):
            raise invalid(f"Tag key {key} uses the reserved prefix aws:")
        if len(tag.get("Value", "")) > 256:
            raise invalid(f"Tag value for {key} is longer than 256 characters")


def refresh(catalog: CatalogStore, record: Record, now: dt.datetime) -> Record:
    """Move a record along its states from what has happened to its notebook by `now`."""
    if record.status in ("SUCCEEDED", "FAILED"):
        return record
    if now < record.starts:
        return record
    if record.status == "CREATED":
        record.status, record.updated = "IN_PROGRESS", record.starts
    pp = catalog.provisioned[record.provisioned_product_id]
    notebook = pp.notebook
    if notebook is not None:
        region = state.region(catalog.account, catalog.region)
        sagemaker.region_notebooks(region)
    if record.type == "PROVISION_PRODUCT":
        if record.fails_with is not None:
            if record.fails_at is not None and now >= record.fails_at:
                _fail(record, pp, record.fails_with, record.fails_at)
        elif notebook is not None and notebook.status == "Failed":
            _fail(
                record,
                pp,
                f"Notebook instance failed: {notebook.failure_reason}",
                notebook.last_modified,
            )
        elif notebook is not None and notebook.status == sagemaker.GONE:
            _fail(
                record, pp, "Resource handler returned message: notebook instance was deleted", now
            )
        elif notebook is not None and notebook.runs:
            record.status, record.updated = "SUCCEEDED", notebook.runs[0][0]
            pp.status, pp.status_message = "AVAILABLE", None
            pp.last_successful_provisioning_record_id = record.id
            pp.outputs = _outputs(catalog, pp)
    elif notebook is None or notebook.deleted is not None:
        record.status = "SUCCEEDED"
        record.updated = notebook.deleted if notebook is not None and notebook.deleted else now
        pp.terminated = True
    return record


def _fail(record: Record, pp: ProvisionedProduct, message: str, when: dt.datetime) -> None:
    record.status, record.updated = "FAILED", when
    record.errors = [{"Code": "ProvisioningFailed", "Description": message}]
    pp.status, pp.status_message = "ERROR", message


def _outputs(catalog: CatalogStore, pp: ProvisionedProduct) -> list[dict[str, str]]:
    product = catalog.products.get(pp.product_id)
    if product is None or pp.notebook is None:
        return []
    artifact = product.artifacts[pp.artifact_id]
    template = artifact.template
    logical = next(k for k, r in template["Resources"].items() if r.get("Type") == NOTEBOOK_TYPE)
    ctx = Context(
        template,
        pp.parameter_values,
        catalog.account,
        catalog.region,
        {logical: {"Ref": pp.notebook.arn, "NotebookInstanceName": pp.notebook.name}},
    )
    out = []
    for key, spec in (template.get("Outputs") or {}).items():
        value = ctx.evaluate(spec.get("Value"))
        item = {
            "OutputKey": key,
            "OutputValue": ",".join(value) if isinstance(value, list) else str(value),
        }
        if spec.get("Description"):
            item["Description"] = spec["Description"]
        out.append(item)
    return out


def _launch_notebook(
    catalog: CatalogStore, artifact: Artifact, values: dict[str, Any], tags: list[dict[str, str]]
) -> sagemaker.Notebook:
    template = artifact.template
    logical, resource = next(
        (k, r) for k, r in template["Resources"].items() if r.get("Type") == NOTEBOOK_TYPE
    )
    ctx = Context(template, values, catalog.account, catalog.region)
    props = ctx.evaluate(resource.get("Properties") or {})
    template_tags = [t for t in props.get("Tags", []) if isinstance(t, dict)]
    region = state.region(catalog.account, catalog.region)

    def text(name: str) -> str | None:
        value = props.get(name)
        return str(value) if value not in (None, "", NO_VALUE) else None

    groups = props.get("SecurityGroupIds")
    return sagemaker.create_notebook(
        region,
        name=text("NotebookInstanceName") or f"{logical}-{new_id('', 12)}",
        instance_type=str(props.get("InstanceType")),
        role_arn=str(props.get("RoleArn")),
        volume_size=int(props.get("VolumeSizeInGB") or 5),
        kms_key_id=text("KmsKeyId"),
        subnet_id=text("SubnetId"),
        security_group_ids=[g for g in groups if g] if isinstance(groups, list) else None,
        direct_internet_access=text("DirectInternetAccess") or "Enabled",
        root_access=text("RootAccess") or "Enabled",
        platform=text("PlatformIdentifier"),
        lifecycle_config_name=text("LifecycleConfigName"),
        tags=[*template_tags, *tags],
    )


@operation("servicecatalog", "ProvisionProduct")
def provision_product(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    token = p.get("ProvisionToken")
    if not token:
        raise invalid("ProvisionToken is required")
    if token in catalog.provision_tokens:
        # AWS's idempotency: the same token answers with the same record, never a second launch.
        record = catalog.records[catalog.provision_tokens[token]]
        return {"RecordDetail": refresh(catalog, record, runtime.clock.now()).detail()}
    name = p.get("ProvisionedProductName")
    if not name:
        raise invalid("ProvisionedProductName is required")
    product, artifact, path_id, constraints = _launch_target(catalog, p)
    if not artifact.active:
        raise invalid(f"Provisioning artifact {artifact.id} is not active")
    if any(pp.name == name and not pp.terminated for pp in catalog.provisioned.values()):
        raise AwsError(
            "DuplicateResourceException", f"A provisioned product named {name} already exists."
        )
    tags = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in p.get("Tags") or []]
    _check_tags(tags)
    given = {x["Key"]: str(x.get("Value", "")) for x in p.get("ProvisioningParameters") or []}
    values = resolve_parameters(artifact.template, given)
    ctx = Context(artifact.template, values, catalog.account, catalog.region)
    for constraint in constraints:
        check_rules(constraint.rules(), ctx)
    check_rules(artifact.template.get("Rules") or {}, ctx)
    now = runtime.clock.now()
    pp_id, record_id = new_id("pp-"), new_id("rec-")
    pp_arn = f"arn:aws:servicecatalog:{catalog.region}:{catalog.account}:stack/{name}/{pp_id}"
    launch_role = next(
        (json.loads(c.parameters).get("RoleArn") for c in constraints if c.type == "LAUNCH"), None
    )
    record = Record(
        id=record_id,
        type="PROVISION_PRODUCT",
        status="CREATED",
        created=now,
        updated=now,
        provisioned_product_id=pp_id,
        provisioned_product_name=name,
        product_id=product.id,
        artifact_id=artifact.id,
        path_id=path_id,
        tags=tags,
        starts=now + runtime.settings.delay("record_created"),
        launch_role_arn=launch_role,
    )
    pp = ProvisionedProduct(
        id=pp_id,
        arn=pp_arn,
        name=name,
        status="UNDER_CHANGE",
        created=now,
        token=token,
        product_id=product.id,
        artifact_id=artifact.id,
        path_id=path_id,
        tags=tags,
        last_record_id=record_id,
        last_provisioning_record_id=record_id,
    )
    pp.parameter_values = values
    injected = runtime.faults.take_failing_provision()
    system_tags = [
        {
            "Key": "aws:servicecatalog:portfolioArn",
            "Value": catalog.arn("portfolio", _portfolio_of(catalog, product.id, path_id)),
        },
        {"Key": "aws:servicecatalog:productArn", "Value": product.arn},
        {"Key": "aws:servicecatalog:provisionedProductArn", "Value": pp_arn},
        {"Key": "aws:servicecatalog:provisioningArtifactIdentifier", "Value": artifact.id},
    ]
    if injected is not None:
        record.fails_with = injected
    else:
        try:
            pp.notebook = _launch_notebook(catalog, artifact, values, [*tags, *system_tags])
        except AwsError as exc:
            record.fails_with = (
                f"{exc.message} (Service: SageMaker, Status Code: 400, Error Code: {exc.code})"
            )
    if record.fails_with is not None:
        record.fails_at = record.starts + runtime.settings.delay("notebook_pending")
    catalog.records[record_id] = record
    catalog.provisioned[pp_id] = pp
    catalog.provision_tokens[token] = record_id
    return {"RecordDetail": record.detail()}


def _portfolio_of(catalog: CatalogStore, product_id: str, path_id: str) -> str:
    product = catalog.products[product_id]
    return catalog.path(product, path_id)[1].id


@operation("servicecatalog", "DescribeRecord")
def describe_record(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    record = refresh(catalog, catalog.record(req.params.get("Id")), runtime.clock.now())
    outputs: list[dict[str, str]] = []
    if record.type == "PROVISION_PRODUCT" and record.status == "SUCCEEDED":
        outputs = catalog.provisioned[record.provisioned_product_id].outputs
    items, token = page(outputs, req.params)
    out: dict[str, Any] = {"RecordDetail": record.detail(), "RecordOutputs": items}
    if token:
        out["NextPageToken"] = token
    return out


@operation("servicecatalog", "ListRecordHistory")
def list_record_history(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    now = runtime.clock.now()
    records = [refresh(catalog, r, now) for r in catalog.records.values()]
    search = p.get("SearchFilter") or {}
    if search:
        key, value = search.get("Key"), search.get("Value")
        if key == "product":
            records = [r for r in records if r.product_id == value]
        elif key == "provisionedproduct":
            records = [
                r
                for r in records
                if value in (r.provisioned_product_id, r.provisioned_product_name)
            ]
        else:
            raise invalid(f"Invalid SearchFilter key {key}; use product or provisionedproduct")
    records.sort(key=lambda r: r.created, reverse=True)
    items, token = page(records, p)
    out: dict[str, Any] = {"RecordDetails": [r.detail() for r in items]}
    if token:
        out["NextPageToken"] = token
    return out


def _refresh_product(catalog: CatalogStore, pp: ProvisionedProduct) -> ProvisionedProduct:
    refresh(catalog, catalog.records[pp.last_record_id], runtime.clock.now())
    return pp


def _pp_detail(pp: ProvisionedProduct) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Name": pp.name,
        "Arn": pp.arn,
        "Type": "CFN_STACK",
        "Id": pp.id,
        "Status": pp.status,
        "CreatedTime": pp.created,
        "IdempotencyToken": pp.token,
        "LastRecordId": pp.last_record_id,
        "LastProvisioningRecordId": pp.last_provisioning_record_id,
        "ProductId": pp.product_id,
        "ProvisioningArtifactId": pp.artifact_id,
    }
    if pp.status_message:
        out["StatusMessage"] = pp.status_message
    if pp.last_successful_provisioning_record_id:
        out["LastSuccessfulProvisioningRecordId"] = pp.last_successful_provisioning_record_id
    return out


def _pp_from(req: AwsRequest) -> tuple[CatalogStore, ProvisionedProduct]:
    catalog, p = store(req), req.params
    for pp in list(catalog.provisioned.values()):
        _refresh_product(catalog, pp)
    id_key = "Id" if "Id" in p or "Name" in p else "ProvisionedProductId"
    name_key = "Name" if id_key == "Id" else "ProvisionedProductName"
    if not p.get(id_key) and not p.get(name_key):
        raise invalid(f"Either {id_key} or {name_key} must be given")
    return catalog, catalog.live_provisioned(p.get(id_key), p.get(name_key))


@operation("servicecatalog", "DescribeProvisionedProduct")
def describe_provisioned_product(req: AwsRequest) -> dict[str, Any]:
    _catalog, pp = _pp_from(req)
    return {"ProvisionedProductDetail": _pp_detail(pp), "CloudWatchDashboards": []}


@operation("servicecatalog", "ScanProvisionedProducts")
def scan_provisioned_products(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    products = [_refresh_product(catalog, pp) for pp in list(catalog.provisioned.values())]
    items, token = page([pp for pp in products if not pp.terminated], req.params)
    out: dict[str, Any] = {"ProvisionedProducts": [_pp_detail(pp) for pp in items]}
    if token:
        out["NextPageToken"] = token
    return out


def _query_match(pp: ProvisionedProduct, query: str) -> bool:
    field, _, value = query.partition(":")
    if not value:
        return query.lower() in pp.name.lower()
    actual = {
        "name": pp.name,
        "id": pp.id,
        "arn": pp.arn,
        "status": pp.status,
        "productId": pp.product_id,
        "provisioningArtifactId": pp.artifact_id,
        "type": "CFN_STACK",
        "idempotencyToken": pp.token,
        "lastRecordId": pp.last_record_id,
    }
    if field.startswith("tags."):
        return {t["Key"]: t["Value"] for t in pp.tags}.get(field[5:]) == value
    return actual.get(field) == value


@operation("servicecatalog", "SearchProvisionedProducts")
def search_provisioned_products(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    products = [_refresh_product(catalog, pp) for pp in list(catalog.provisioned.values())]
    products = [pp for pp in products if not pp.terminated]
    for query in (p.get("Filters") or {}).get("SearchQuery", []):
        products = [pp for pp in products if _query_match(pp, query)]
    sort_by = p.get("SortBy") or "createdTime"
    if sort_by not in ("arn", "id", "name", "lastRecordId", "createdTime"):
        raise invalid(f"Invalid SortBy {sort_by}")
    attr = {"createdTime": "created", "lastRecordId": "last_record_id"}.get(sort_by, sort_by)
    products.sort(key=lambda pp: getattr(pp, attr), reverse=p.get("SortOrder") == "DESCENDING")
    items, token = page(products, p)
    rows = []
    for pp in items:
        row = _pp_detail(pp)
        row.pop("LaunchRoleArn", None)
        product = catalog.products.get(pp.product_id)
        row["Tags"] = pp.tags
        if pp.notebook is not None:
            row["PhysicalId"] = pp.notebook.arn
        if product is not None:
            row["ProductName"] = product.name
            artifact = product.artifacts.get(pp.artifact_id)
            if artifact is not None:
                row["ProvisioningArtifactName"] = artifact.name
        rows.append(row)
    out: dict[str, Any] = {"ProvisionedProducts": rows, "TotalResultsCount": len(products)}
    if token:
        out["NextPageToken"] = token
    return out


@operation("servicecatalog", "GetProvisionedProductOutputs")
def get_provisioned_product_outputs(req: AwsRequest) -> dict[str, Any]:
    _catalog, pp = _pp_from(req)
    outputs = pp.outputs
    keys = req.params.get("OutputKeys")
    if keys:
        outputs = [o for o in outputs if o["OutputKey"] in keys]
    items, token = page(outputs, req.params)
    out: dict[str, Any] = {"Outputs": items}
    if token:
        out["NextPageToken"] = token
    return out


@operation("servicecatalog", "TerminateProvisionedProduct")
def terminate_provisioned_product(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    token = p.get("TerminateToken")
    if token and token in catalog.terminate_tokens:
        record = catalog.records[catalog.terminate_tokens[token]]
        return {"RecordDetail": refresh(catalog, record, runtime.clock.now()).detail()}
    _catalog, pp = _pp_from(req)
    now = runtime.clock.now()
    record = Record(
        id=new_id("rec-"),
        type="TERMINATE_PROVISIONED_PRODUCT",
        status="CREATED",
        created=now,
        updated=now,
        provisioned_product_id=pp.id,
        provisioned_product_name=pp.name,
        product_id=pp.product_id,
        artifact_id=pp.artifact_id,
        path_id=pp.path_id,
        tags=pp.tags,
        starts=now + runtime.settings.delay("record_created"),
    )
    pp.status, pp.last_record_id = "UNDER_CHANGE", record.id
    notebook = pp.notebook
    if notebook is not None and notebook.deleted is None and not p.get("RetainPhysicalResources"):
        notebook.settle(now)
        notebook.pending.clear()
        steps: list[tuple[str | None, str, str | None]] = []
        if notebook.status in ("InService", "Pending", "Updating", "Stopping"):
            if notebook.status != "Stopping":
                notebook.set_status(now, "Stopping")
            steps.append(("notebook_stopping", "Stopped", None))
        steps += [(None, "Deleting", None), ("notebook_deleting", sagemaker.GONE, None)]
        notebook.schedule(now, steps)
    elif notebook is not None and p.get("RetainPhysicalResources"):
        pp.notebook = None
    catalog.records[record.id] = record
    if token:
        catalog.terminate_tokens[token] = record.id
    return {"RecordDetail": record.detail()}
