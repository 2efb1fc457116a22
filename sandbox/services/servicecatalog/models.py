"""Service Catalog's resources as the sandbox keeps them, one store per account and region."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.protocol import AwsError
from sandbox.services.servicecatalog.template import rule_allowed_values

if TYPE_CHECKING:
    from sandbox.services.sagemaker import Notebook


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message)


@dataclass
class Portfolio:
    id: str
    arn: str
    display_name: str
    provider_name: str
    description: str
    created: dt.datetime
    tags: list[dict[str, str]] = field(default_factory=list)
    product_ids: list[str] = field(default_factory=list)
    principals: list[tuple[str, str]] = field(default_factory=list)

    def detail(self) -> dict[str, Any]:
        out = {
            "Id": self.id,
            "ARN": self.arn,
            "DisplayName": self.display_name,
            "CreatedTime": self.created,
            "ProviderName": self.provider_name,
        }
        if self.description:
            out["Description"] = self.description
        return out


@dataclass
class Artifact:
    id: str
    name: str
    description: str
    created: dt.datetime
    template: dict[str, Any]
    template_url: str
    active: bool = True
    guidance: str = "DEFAULT"

    def detail(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "Type": "CLOUD_FORMATION_TEMPLATE",
            "CreatedTime": self.created,
            "Active": self.active,
            "Guidance": self.guidance,
        }


@dataclass
class Product:
    id: str
    view_id: str
    arn: str
    name: str
    owner: str
    description: str
    distributor: str
    support_email: str
    support_description: str
    support_url: str
    created: dt.datetime
    tags: list[dict[str, str]] = field(default_factory=list)
    artifacts: dict[str, Artifact] = field(default_factory=dict)

    def view_summary(self, has_default_path: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Id": self.view_id,
            "ProductId": self.id,
            "Name": self.name,
            "Owner": self.owner,
            "ShortDescription": self.description,
            "Type": "CLOUD_FORMATION_TEMPLATE",
            "HasDefaultPath": has_default_path,
        }
        for key, value in (
            ("Distributor", self.distributor),
            ("SupportEmail", self.support_email),
            ("SupportDescription", self.support_description),
            ("SupportUrl", self.support_url),
        ):
            if value:
                out[key] = value
        return out

    def view_detail(self, has_default_path: bool) -> dict[str, Any]:
        return {
            "ProductViewSummary": self.view_summary(has_default_path),
            "Status": "AVAILABLE",
            "ProductARN": self.arn,
            "CreatedTime": self.created,
        }


@dataclass
class Constraint:
    id: str
    type: str
    description: str
    owner: str
    portfolio_id: str
    product_id: str
    parameters: str

    def detail(self) -> dict[str, Any]:
        out = {
            "ConstraintId": self.id,
            "Type": self.type,
            "Owner": self.owner,
            "ProductId": self.product_id,
            "PortfolioId": self.portfolio_id,
        }
        if self.description:
            out["Description"] = self.description
        return out

    def summary(self) -> dict[str, Any]:
        out = {"Type": self.type}
        if self.description:
            out["Description"] = self.description
        return out

    def rules(self) -> dict[str, Any]:
        if self.type != "TEMPLATE":
            return {}
        return dict(json.loads(self.parameters).get("Rules") or {})


@dataclass
class Record:
    id: str
    type: str  # PROVISION_PRODUCT | TERMINATE_PROVISIONED_PRODUCT
    status: str
    created: dt.datetime
    updated: dt.datetime
    provisioned_product_id: str
    provisioned_product_name: str
    product_id: str
    artifact_id: str
    path_id: str
    tags: list[dict[str, str]]
    # When CREATED gives way to IN_PROGRESS; failures that are known up front land after it.
    starts: dt.datetime
    fails_with: str | None = None
    fails_at: dt.datetime | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    launch_role_arn: str | None = None

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RecordId": self.id,
            "ProvisionedProductName": self.provisioned_product_name,
            "Status": self.status,
            "CreatedTime": self.created,
            "UpdatedTime": self.updated,
            "ProvisionedProductType": "CFN_STACK",
            "RecordType": self.type,
            "ProvisionedProductId": self.provisioned_product_id,
            "ProductId": self.product_id,
            "ProvisioningArtifactId": self.artifact_id,
            "PathId": self.path_id,
            "RecordErrors": list(self.errors),
            "RecordTags": [{"Key": t["Key"], "Value": t["Value"]} for t in self.tags],
        }
        if self.launch_role_arn:
            out["LaunchRoleArn"] = self.launch_role_arn
        return out


@dataclass
class ProvisionedProduct:
    id: str
    arn: str
    name: str
    status: str
    created: dt.datetime
    token: str
    product_id: str
    artifact_id: str
    path_id: str
    tags: list[dict[str, str]]
    last_record_id: str
    last_provisioning_record_id: str
    last_successful_provisioning_record_id: str | None = None
    status_message: str | None = None
    notebook: Notebook | None = None
    outputs: list[dict[str, str]] = field(default_factory=list)
    parameter_values: dict[str, Any] = field(default_factory=dict)
    terminated: bool = False


class CatalogStore:
    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region
        self.portfolios: dict[str, Portfolio] = {}
        self.products: dict[str, Product] = {}
        self.constraints: dict[str, Constraint] = {}
        self.records: dict[str, Record] = {}
        self.provisioned: dict[str, ProvisionedProduct] = {}
        self.provision_tokens: dict[str, str] = {}  # ProvisionToken -> record id
        self.terminate_tokens: dict[str, str] = {}
        self.idempotency: dict[tuple[str, str], str] = {}  # (operation, token) -> resource id

    def arn(self, kind: str, resource_id: str) -> str:
        return f"arn:aws:catalog:{self.region}:{self.account}:{kind}/{resource_id}"

    def portfolio(self, portfolio_id: str | None) -> Portfolio:
        if portfolio_id not in self.portfolios:
            raise not_found(f"Portfolio {portfolio_id} not found.")
        return self.portfolios[str(portfolio_id)]

    def product(self, product_id: str | None = None, name: str | None = None) -> Product:
        if product_id is not None:
            if product_id in self.products:
                return self.products[product_id]
            raise not_found(f"Product {product_id} not found.")
        for product in self.products.values():
            if product.name == name:
                return product
        raise not_found(f"Product {name} not found.")

    def artifact(
        self, product: Product, artifact_id: str | None = None, name: str | None = None
    ) -> Artifact:
        for artifact in product.artifacts.values():
            if artifact.id == artifact_id or (artifact_id is None and artifact.name == name):
                return artifact
        raise not_found(
            f"Provisioning artifact {artifact_id or name} not found for product {product.id}."
        )

    def paths(self, product: Product) -> list[tuple[str, Portfolio]]:
        from sandbox.state import stable_id

        return [
            (stable_id("lpv3-", self.account, self.region, p.id, product.id), p)
            for p in self.portfolios.values()
            if product.id in p.product_ids
        ]

    def path(
        self, product: Product, path_id: str | None = None, path_name: str | None = None
    ) -> tuple[str, Portfolio]:
        paths = self.paths(product)
        if path_id is None and path_name is None:
            if len(paths) == 1:
                return paths[0]
            if not paths:
                raise not_found(f"No launch paths found for product {product.id}.")
            raise AwsError(
                "InvalidParametersException",
                f"Product {product.id} has more than one launch path; a PathId is required.",
            )
        for pid, portfolio in paths:
            if pid == path_id or (path_id is None and portfolio.display_name == path_name):
                return pid, portfolio
        raise not_found(f"Launch path {path_id or path_name} not found for product {product.id}.")

    def constraints_for(self, portfolio_id: str, product_id: str) -> list[Constraint]:
        return [
            c
            for c in self.constraints.values()
            if c.portfolio_id == portfolio_id and c.product_id == product_id
        ]

    def allowed_by_constraints(self, constraints: list[Constraint]) -> dict[str, list[str]]:
        allowed: dict[str, list[str]] = {}
        for constraint in constraints:
            for key, values in rule_allowed_values(constraint.rules()).items():
                allowed[key] = (
                    [v for v in allowed[key] if v in values] if key in allowed else values
                )
        return allowed

    def record(self, record_id: str | None) -> Record:
        if record_id not in self.records:
            raise not_found(f"Record {record_id} not found.")
        return self.records[str(record_id)]

    def live_provisioned(
        self, pp_id: str | None = None, name: str | None = None
    ) -> ProvisionedProduct:
        for pp in self.provisioned.values():
            if pp.terminated:
                continue
            if (pp_id is not None and pp.id == pp_id) or (pp_id is None and pp.name == name):
                return pp
        raise not_found(f"Provisioned product {pp_id or name} not found.")
