"""Catalog sync: Service Catalog's products and versions, copied into the portal.

All AWS reads happen first, then the writes in one transaction, so a run either applies one
consistent picture of the catalog or (on an AWS error) changes nothing. A product or version
that is not read is therefore never retired because of a failed call.

Nothing is deleted: offerings and workspaces point at versions, and their history must keep
its names. What disappears is marked retired; what comes back is un-retired.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from governance.services import audit_record
from portal import aws
from portal.models import User
from workspaces.models import CatalogSyncRun, Product, ProductVersion

logger = logging.getLogger(__name__)

INSTANCE_TYPE_PARAMETER = "InstanceType"
PRODUCT_FIELDS = ("name", "owner", "description")
VERSION_FIELDS = (
    "name",
    "description",
    "active",
    "guidance",
    "launch_path_id",
    "allowed_instance_types",
    "parameters",
)


@dataclass
class _Version:
    artifact_id: str
    values: dict[str, Any]
    # Inactive versions cannot be described; their last known parameters are kept.
    described: bool


@dataclass
class _Product:
    product_id: str
    values: dict[str, Any]
    versions: list[_Version] = field(default_factory=list)


def _parameters(described: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    instance_types: list[str] = []
    parameters: list[dict[str, Any]] = []
    for param in described.get("ProvisioningArtifactParameters", []):
        constraints = param.get("ParameterConstraints") or {}
        entry: dict[str, Any] = {
            "key": param["ParameterKey"],
            "default": param.get("DefaultValue", ""),
            "allowed_values": list(constraints.get("AllowedValues") or []),
        }
        for aws_key, key in (("MinValue", "min_value"), ("MaxValue", "max_value")):
            if constraints.get(aws_key) is not None:
                entry[key] = constraints[aws_key]
        parameters.append(entry)
        if entry["key"] == INSTANCE_TYPE_PARAMETER:
            instance_types = entry["allowed_values"]
    return instance_types, parameters


def _is_not_found(error: Exception) -> bool:
    return aws.error_code(error) == "ResourceNotFoundException"


def _read_product(sc: Any, summary: dict[str, Any]) -> _Product | None:
    """One product's versions and parameters; None if it vanished while we were reading."""
    view = summary["ProductViewSummary"]
    product = _Product(
        product_id=view["ProductId"],
        values={
            "name": view.get("Name", ""),
            "owner": view.get("Owner", ""),
            "description": view.get("ShortDescription", ""),
        },
    )
    try:
        artifacts = sc.list_provisioning_artifacts(ProductId=product.product_id)
        paths = [
            path
            for page in sc.get_paginator("list_launch_paths").paginate(ProductId=product.product_id)
            for path in page.get("LaunchPathSummaries", [])
        ]
        path_id = paths[0]["Id"] if paths else ""
        for artifact in artifacts.get("ProvisioningArtifactDetails", []):
            active = bool(artifact.get("Active", True))
            values: dict[str, Any] = {
                "name": artifact.get("Name", ""),
                "description": artifact.get("Description", ""),
                "active": active,
                "guidance": artifact.get("Guidance", "DEFAULT"),
                "launch_path_id": path_id,
            }
            # AWS refuses to describe an inactive version, and without a launch path (the
            # product is in no portfolio) there is nothing to describe it through.
            described = active and bool(path_id)
            if described:
                instance_types, parameters = _parameters(
                    sc.describe_provisioning_parameters(
                        ProductId=product.product_id,
                        ProvisioningArtifactId=artifact["Id"],
                        PathId=path_id,
                    )
                )
                values["allowed_instance_types"] = instance_types
                values["parameters"] = parameters
            product.versions.append(_Version(artifact["Id"], values, described))
    except aws.ClientError as exc:
        if _is_not_found(exc):
            logger.info("Product %s disappeared during the sync", product.product_id)
            return None
        raise
    return product


def _read_catalog() -> list[_Product]:
    sc = aws.client("servicecatalog")
    products = []
    for page in sc.get_paginator("search_products_as_admin").paginate():
        for summary in page.get("ProductViewDetails", []):
            product = _read_product(sc, summary)
            if product is not None:
                products.append(product)
    return products


def _differences(obj: Any, values: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: {"before": getattr(obj, name), "after": values[name]}
        for name in fields
        if name in values and getattr(obj, name) != values[name]
    }


class _Changes:
    def __init__(self) -> None:
        self.added: list[dict[str, Any]] = []
        self.changed: list[dict[str, Any]] = []
        self.retired: list[dict[str, Any]] = []

    @staticmethod
    def entry(kind: str, obj: Product | ProductVersion) -> dict[str, Any]:
        if isinstance(obj, Product):
            return {"kind": kind, "id": obj.product_id, "name": obj.name}
        return {
            "kind": kind,
            "id": obj.artifact_id,
            "name": obj.name,
            "product_id": obj.product.product_id,
        }


def _apply_version(product: Product, seen: _Version, now: dt.datetime, changes: _Changes) -> None:
    version = ProductVersion.objects.filter(artifact_id=seen.artifact_id).first()
    if version is None:
        version = ProductVersion.objects.create(
            product=product, artifact_id=seen.artifact_id, synced_at=now, **seen.values
        )
        changes.added.append(changes.entry("version", version))
        return
    diff = _differences(version, seen.values, VERSION_FIELDS)
    if version.retired_at is not None:
        diff["retired_at"] = {"before": version.retired_at.isoformat(), "after": None}
    for name, value in seen.values.items():
        setattr(version, name, value)
    version.retired_at = None
    version.synced_at = now
    version.save()
    if diff:
        changes.changed.append({**changes.entry("version", version), "changes": diff})


def _apply(products: list[_Product], now: dt.datetime) -> _Changes:
    changes = _Changes()
    # Two runs at once (the daily schedule and an admin's button) wait for each other here
    # instead of both inserting the same new product.
    list(Product.objects.select_for_update().values_list("pk", flat=True))
    seen_products = set()
    seen_versions = set()
    for seen in products:
        seen_products.add(seen.product_id)
        product = Product.objects.filter(product_id=seen.product_id).first()
        if product is None:
            product = Product.objects.create(
                product_id=seen.product_id, synced_at=now, **seen.values
            )
            changes.added.append(changes.entry("product", product))
        else:
            diff = _differences(product, seen.values, PRODUCT_FIELDS)
            if product.retired_at is not None:
                diff["retired_at"] = {"before": product.retired_at.isoformat(), "after": None}
            for name, value in seen.values.items():
                setattr(product, name, value)
            product.retired_at = None
            product.synced_at = now
            product.save()
            if diff:
                changes.changed.append({**changes.entry("product", product), "changes": diff})
        for version in seen.versions:
            seen_versions.add(version.artifact_id)
            _apply_version(product, version, now, changes)

    gone_versions = (
        ProductVersion.objects.filter(retired_at__isnull=True)
        .exclude(artifact_id__in=seen_versions)
        .select_related("product")
    )
    for gone in gone_versions:
        gone.retired_at = now
        gone.save(update_fields=["retired_at"])
        changes.retired.append(changes.entry("version", gone))
    for product in Product.objects.filter(retired_at__isnull=True).exclude(
        product_id__in=seen_products
    ):
        product.retired_at = now
        product.save(update_fields=["retired_at"])
        changes.retired.append(changes.entry("product", product))
    return changes


def _finish(run: CatalogSyncRun, actor: User | None, changes: _Changes | None, error: str) -> None:
    run.finished_at = timezone.now()
    run.error = error
    if changes is not None:
        run.added, run.changed, run.retired = changes.added, changes.changed, changes.retired
    run.save()
    audit_record(
        actor=actor,
        action="catalog.sync",
        target=run,
        after={
            "added": [e["id"] for e in run.added],
            "changed": [e["id"] for e in run.changed],
            "retired": [e["id"] for e in run.retired],
            **({"error": error} if error else {}),
        },
    )


def catalog_sync(*, actor: User | None) -> CatalogSyncRun:
    """Read Service Catalog and bring products and versions up to date; say what changed.

    An AWS error is recorded on the run and nothing else is written. Transient errors are
    raised again so the task retries later; others (access denied, a bad endpoint) would fail
    the same way on every retry, so the run is returned for an operator to read.
    """
    if actor is not None and not actor.is_portal_admin:
        raise PermissionDenied("Only admins sync the catalog.")
    run = CatalogSyncRun.objects.create()
    try:
        products = _read_catalog()
    except aws.AWS_ERRORS as exc:
        with transaction.atomic():
            _finish(run, actor, None, aws.error_message(exc))
        if aws.is_transient(exc):
            raise
        logger.warning("Catalog sync failed: %s", run.error)
        return run
    with transaction.atomic():
        changes = _apply(products, timezone.now())
        _finish(run, actor, changes, "")
    return run
