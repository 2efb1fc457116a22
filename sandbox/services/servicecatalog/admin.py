"""Service Catalog administration and browsing: portfolios, products, versions, constraints."""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.exceptions import ServiceException
from moto.s3.models import s3_backends

from sandbox.protocol import AwsError, AwsRequest
from sandbox.registry import operation
from sandbox.runtime import runtime
from sandbox.services.servicecatalog.models import (
    Artifact,
    CatalogStore,
    Constraint,
    Portfolio,
    Product,
    not_found,
)
from sandbox.services.servicecatalog.template import check_template
from sandbox.state import new_id, state

CONSTRAINT_TYPES = ("LAUNCH", "NOTIFICATION", "RESOURCE_UPDATE", "STACKSET", "TEMPLATE")
_S3_URL = re.compile(
    r"^https://(?:(?P<vbucket>[^./]+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com/(?P<vkey>.+)"
    r"|s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com/(?P<pbucket>[^/]+)/(?P<pkey>.+))$"
)


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParametersException", message)


def store(req: AwsRequest) -> CatalogStore:
    return state.region(req.account, req.region).catalog


def page(
    items: list[Any], params: dict[str, Any], default: int = 20
) -> tuple[list[Any], str | None]:
    """Service Catalog's PageSize/PageToken paging; the token is opaque to callers."""
    token = params.get("PageToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise invalid(f"Invalid PageToken: {token}") from None
    size = int(params.get("PageSize") or default)
    chunk = items[start : start + size]
    return chunk, (str(start + size) if start + size < len(items) else None)


def load_template(account: str, info: dict[str, str]) -> tuple[dict[str, Any], str]:
    url = info.get("LoadTemplateFromURL")
    if not url:
        raise invalid("Info must contain LoadTemplateFromURL")
    match = _S3_URL.match(url)
    if not match:
        raise invalid(f"Unable to download the template from {url}: only S3 URLs are reachable")
    bucket = match.group("vbucket") or match.group("pbucket")
    key = match.group("vkey") or match.group("pkey")
    try:
        obj = s3_backends[account]["aws"].get_object(bucket, key)
    except ServiceException:
        obj = None
    if obj is None:
        raise invalid(f"Unable to download the template from {url}: the object does not exist")
    try:
        template = json.loads(obj.value)
    except ValueError:
        raise invalid(
            "Template format error: JSON not well-formed (YAML is not read here)"
        ) from None
    check_template(template)
    return template, url


def new_artifact(account: str, params: dict[str, Any], name_default: str = "v1") -> Artifact:
    template, url = load_template(account, params.get("Info") or {})
    kind = params.get("Type", "CLOUD_FORMATION_TEMPLATE")
    if kind != "CLOUD_FORMATION_TEMPLATE":
        raise invalid(f"Provisioning artifact type {kind} is not supported in the sandbox")
    return Artifact(
        id=new_id("pa-"),
        name=params.get("Name") or name_default,
        description=params.get("Description") or "",
        created=runtime.clock.now(),
        template=template,
        template_url=url,
    )


def _idempotent(catalog: CatalogStore, op: str, token: Any) -> str | None:
    return catalog.idempotency.get((op, str(token))) if token else None


@operation("servicecatalog", "CreatePortfolio")
def create_portfolio(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    existing = _idempotent(catalog, "portfolio", p.get("IdempotencyToken"))
    if existing is None:
        if not p.get("DisplayName") or not p.get("ProviderName"):
            raise invalid("DisplayName and ProviderName are required")
        portfolio_id = new_id("port-")
        catalog.portfolios[portfolio_id] = Portfolio(
            id=portfolio_id,
            arn=catalog.arn("portfolio", portfolio_id),
            display_name=p["DisplayName"],
            provider_name=p["ProviderName"],
            description=p.get("Description") or "",
            created=runtime.clock.now(),
            tags=list(p.get("Tags") or []),
        )
        if p.get("IdempotencyToken"):
            catalog.idempotency[("portfolio", str(p["IdempotencyToken"]))] = portfolio_id
        existing = portfolio_id
    portfolio = catalog.portfolios[existing]
    return {"PortfolioDetail": portfolio.detail(), "Tags": portfolio.tags}


@operation("servicecatalog", "DescribePortfolio")
def describe_portfolio(req: AwsRequest) -> dict[str, Any]:
    portfolio = store(req).portfolio(req.params.get("Id"))
    return {
        "PortfolioDetail": portfolio.detail(),
        "Tags": portfolio.tags,
        "TagOptions": [],
        "Budgets": [],
    }


@operation("servicecatalog", "ListPortfolios")
def list_portfolios(req: AwsRequest) -> dict[str, Any]:
    items, token = page(list(store(req).portfolios.values()), req.params)
    out: dict[str, Any] = {"PortfolioDetails": [p.detail() for p in items]}
    if token:
        out["NextPageToken"] = token
    return out


@operation("servicecatalog", "DeletePortfolio")
def delete_portfolio(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    portfolio = catalog.portfolio(req.params.get("Id"))
    if portfolio.product_ids:
        raise AwsError("ResourceInUseException", "Portfolio has products associated with it.")
    del catalog.portfolios[portfolio.id]
    return {}


@operation("servicecatalog", "CreateProduct")
def create_product(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    existing = _idempotent(catalog, "product", p.get("IdempotencyToken"))
    if existing is None:
        for required in ("Name", "Owner", "ProductType"):
            if not p.get(required):
                raise invalid(f"{required} is required")
        if p["ProductType"] != "CLOUD_FORMATION_TEMPLATE":
            raise invalid(f"ProductType {p['ProductType']} is not supported in the sandbox")
        artifact = new_artifact(req.account, p.get("ProvisioningArtifactParameters") or {})
        product_id = new_id("prod-")
        product = Product(
            id=product_id,
            view_id=new_id("prodview-"),
            arn=catalog.arn("product", product_id),
            name=p["Name"],
            owner=p["Owner"],
            description=p.get("Description") or "",
            distributor=p.get("Distributor") or "",
            support_email=p.get("SupportEmail") or "",
            support_description=p.get("SupportDescription") or "",
            support_url=p.get("SupportUrl") or "",
            created=runtime.clock.now(),
            tags=list(p.get("Tags") or []),
        )
        product.artifacts[artifact.id] = artifact
        catalog.products[product_id] = product
        if p.get("IdempotencyToken"):
            catalog.idempotency[("product", str(p["IdempotencyToken"]))] = product_id
        existing = product_id
    product = catalog.products[existing]
    first = next(iter(product.artifacts.values()))
    return {
        "ProductViewDetail": product.view_detail(bool(catalog.paths(product))),
        "ProvisioningArtifactDetail": first.detail(),
        "Tags": product.tags,
    }


@operation("servicecatalog", "DeleteProduct")
def delete_product(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    product = catalog.product(req.params.get("Id"))
    if catalog.paths(product):
        raise AwsError("ResourceInUseException", "Product is associated with a portfolio.")
    del catalog.products[product.id]
    return {}


_PRODUCT_FIELDS = (
    ("Name", "name"),
    ("Owner", "owner"),
    ("Description", "description"),
    ("Distributor", "distributor"),
    ("SupportEmail", "support_email"),
    ("SupportDescription", "support_description"),
    ("SupportUrl", "support_url"),
)


@operation("servicecatalog", "UpdateProduct")
def update_product(req: AwsRequest) -> dict[str, Any]:
    """Changes the fields given (a field left out keeps its value); RemoveTags by key, then
    AddTags, replacing a tag of the same key. Name and Owner cannot be emptied."""
    catalog, p = store(req), req.params
    if not p.get("Id"):
        raise invalid("Id is required")
    product = catalog.product(p["Id"])
    for key in ("Name", "Owner"):
        if key in p and not p[key]:
            raise invalid(f"{key} must not be empty")
    for key, attribute in _PRODUCT_FIELDS:
        if p.get(key) is not None:
            setattr(product, attribute, p[key])
    removed = set(p.get("RemoveTags") or [])
    added = list(p.get("AddTags") or [])
    keys = {tag["Key"] for tag in added}
    product.tags = [
        tag for tag in product.tags if tag["Key"] not in removed and tag["Key"] not in keys
    ] + added
    return {
        "ProductViewDetail": product.view_detail(len(catalog.paths(product)) == 1),
        "Tags": product.tags,
    }


def _product_from(req: AwsRequest, id_key: str = "Id", name_key: str = "Name") -> Product:
    p = req.params
    if not p.get(id_key) and not p.get(name_key):
        raise invalid(f"Either {id_key} or {name_key} must be given")
    return store(req).product(p.get(id_key), p.get(name_key))


@operation("servicecatalog", "DescribeProductAsAdmin")
def describe_product_as_admin(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    product = _product_from(req)
    return {
        "ProductViewDetail": product.view_detail(len(catalog.paths(product)) == 1),
        "ProvisioningArtifactSummaries": [
            {
                k: v
                for k, v in a.detail().items()
                if k in ("Id", "Name", "Description", "CreatedTime")
            }
            for a in product.artifacts.values()
        ],
        "Tags": product.tags,
        "TagOptions": [],
        "Budgets": [],
    }


def _visible(catalog: CatalogStore) -> list[Product]:
    # Without IAM in the sandbox every caller is treated as a portfolio principal: end users see
    # the products that are in at least one portfolio, as on AWS once access is granted.
    return [p for p in catalog.products.values() if catalog.paths(p)]


@operation("servicecatalog", "DescribeProduct")
def describe_product(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    product = _product_from(req)
    if product not in _visible(catalog):
        raise not_found(f"Product {product.id} not found.")
    return {
        "ProductViewSummary": product.view_summary(len(catalog.paths(product)) == 1),
        "ProvisioningArtifacts": [
            {
                "Id": a.id,
                "Name": a.name,
                "Description": a.description,
                "CreatedTime": a.created,
                "Guidance": a.guidance,
            }
            for a in product.artifacts.values()
            if a.active
        ],
        "Budgets": [],
        "LaunchPaths": [{"Id": pid, "Name": p.display_name} for pid, p in catalog.paths(product)],
    }


def _matches(product: Product, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key == "FullTextSearch":
            text = f"{product.name} {product.description} {product.owner}".lower()
            if not any(v.lower() in text for v in values):
                return False
        elif (key == "Owner" and product.owner not in values) or (
            key == "ProductType" and "CLOUD_FORMATION_TEMPLATE" not in values
        ):
            return False
    return True


def _sorted(products: list[Product], params: dict[str, Any]) -> list[Product]:
    key = params.get("SortBy") or "Title"
    if key not in ("Title", "VersionCount", "CreationDate"):
        raise invalid(f"Invalid SortBy: {key}")
    products.sort(
        key=lambda p: (
            p.name if key == "Title" else p.created if key == "CreationDate" else len(p.artifacts)
        ),
        reverse=params.get("SortOrder") == "DESCENDING",
    )
    return products


@operation("servicecatalog", "SearchProductsAsAdmin")
def search_products_as_admin(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    products = list(catalog.products.values())
    if p.get("PortfolioId"):
        portfolio = catalog.portfolio(p["PortfolioId"])
        products = [x for x in products if x.id in portfolio.product_ids]
    products = _sorted([x for x in products if _matches(x, p.get("Filters") or {})], p)
    items, token = page(products, p)
    out: dict[str, Any] = {
        "ProductViewDetails": [x.view_detail(len(catalog.paths(x)) == 1) for x in items]
    }
    if token:
        out["NextPageToken"] = token
    return out


@operation("servicecatalog", "SearchProducts")
def search_products(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    products = _sorted([x for x in _visible(catalog) if _matches(x, p.get("Filters") or {})], p)
    items, token = page(products, p)
    owners: dict[str, int] = {}
    for product in products:
        owners[product.owner] = owners.get(product.owner, 0) + 1
    out: dict[str, Any] = {
        "ProductViewSummaries": [x.view_summary(len(catalog.paths(x)) == 1) for x in items],
        "ProductViewAggregations": {
            "Owner": [{"Value": k, "ApproximateCount": v} for k, v in owners.items()],
            "ProductType": [
                {"Value": "CLOUD_FORMATION_TEMPLATE", "ApproximateCount": len(products)}
            ],
        },
    }
    if token:
        out["NextPageToken"] = token
    return out


@operation("servicecatalog", "AssociateProductWithPortfolio")
def associate_product(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    product = catalog.product(req.params.get("ProductId"))
    portfolio = catalog.portfolio(req.params.get("PortfolioId"))
    if product.id not in portfolio.product_ids:
        portfolio.product_ids.append(product.id)
    return {}


@operation("servicecatalog", "DisassociateProductFromPortfolio")
def disassociate_product(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    product = catalog.product(req.params.get("ProductId"))
    portfolio = catalog.portfolio(req.params.get("PortfolioId"))
    if product.id not in portfolio.product_ids:
        raise not_found(f"Product {product.id} is not associated with portfolio {portfolio.id}.")
    if catalog.constraints_for(portfolio.id, product.id):
        raise AwsError(
            "ResourceInUseException", "Constraints exist for this product and portfolio."
        )
    portfolio.product_ids.remove(product.id)
    return {}


@operation("servicecatalog", "AssociatePrincipalWithPortfolio")
def associate_principal(req: AwsRequest) -> dict[str, Any]:
    portfolio = store(req).portfolio(req.params.get("PortfolioId"))
    principal = (str(req.params.get("PrincipalARN")), str(req.params.get("PrincipalType") or "IAM"))
    if principal not in portfolio.principals:
        portfolio.principals.append(principal)
    return {}


@operation("servicecatalog", "ListPrincipalsForPortfolio")
def list_principals(req: AwsRequest) -> dict[str, Any]:
    portfolio = store(req).portfolio(req.params.get("PortfolioId"))
    items, token = page(portfolio.principals, req.params)
    out: dict[str, Any] = {
        "Principals": [{"PrincipalARN": a, "PrincipalType": t} for a, t in items]
    }
    if token:
        out["NextPageToken"] = token
    return out


@operation("servicecatalog", "CreateProvisioningArtifact")
def create_provisioning_artifact(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    product = catalog.product(p.get("ProductId"))
    existing = _idempotent(catalog, "artifact", p.get("IdempotencyToken"))
    if existing is None:
        artifact = new_artifact(
            req.account, p.get("Parameters") or {}, f"v{len(product.artifacts) + 1}"
        )
        if any(a.name == artifact.name for a in product.artifacts.values()):
            raise AwsError(
                "DuplicateResourceException",
                f"Provisioning artifact {artifact.name} already exists.",
            )
        product.artifacts[artifact.id] = artifact
        if p.get("IdempotencyToken"):
            catalog.idempotency[("artifact", str(p["IdempotencyToken"]))] = artifact.id
        existing = artifact.id
    artifact = product.artifacts[existing]
    return {
        "ProvisioningArtifactDetail": artifact.detail(),
        "Info": {"TemplateUrl": artifact.template_url},
        "Status": "AVAILABLE",
    }


@operation("servicecatalog", "ListProvisioningArtifacts")
def list_provisioning_artifacts(req: AwsRequest) -> dict[str, Any]:
    product = store(req).product(req.params.get("ProductId"))
    return {"ProvisioningArtifactDetails": [a.detail() for a in product.artifacts.values()]}


@operation("servicecatalog", "DescribeProvisioningArtifact")
def describe_provisioning_artifact(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    product = catalog.product(p.get("ProductId"), p.get("ProductName"))
    artifact = catalog.artifact(
        product, p.get("ProvisioningArtifactId"), p.get("ProvisioningArtifactName")
    )
    out: dict[str, Any] = {
        "ProvisioningArtifactDetail": artifact.detail(),
        "Info": {"TemplateUrl": artifact.template_url},
        "Status": "AVAILABLE",
    }
    if p.get("IncludeProvisioningArtifactParameters"):
        from sandbox.services.servicecatalog.provisioning import parameter_descriptions

        out["ProvisioningArtifactParameters"] = parameter_descriptions(artifact, {})
    return out


@operation("servicecatalog", "UpdateProvisioningArtifact")
def update_provisioning_artifact(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    product = catalog.product(p.get("ProductId"))
    artifact = catalog.artifact(product, p.get("ProvisioningArtifactId"))
    if p.get("Name"):
        artifact.name = p["Name"]
    if p.get("Description") is not None:
        artifact.description = p["Description"]
    if p.get("Active") is not None:
        artifact.active = bool(p["Active"])
    if p.get("Guidance"):
        if p["Guidance"] not in ("DEFAULT", "DEPRECATED"):
            raise invalid(f"Invalid Guidance {p['Guidance']}")
        artifact.guidance = p["Guidance"]
    return {
        "ProvisioningArtifactDetail": artifact.detail(),
        "Info": {"TemplateUrl": artifact.template_url},
        "Status": "AVAILABLE",
    }


@operation("servicecatalog", "CreateConstraint")
def create_constraint(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    existing = _idempotent(catalog, "constraint", p.get("IdempotencyToken"))
    if existing is None:
        portfolio = catalog.portfolio(p.get("PortfolioId"))
        product = catalog.product(p.get("ProductId"))
        if product.id not in portfolio.product_ids:
            raise not_found(
                f"Product {product.id} is not associated with portfolio {portfolio.id}."
            )
        if p.get("Type") not in CONSTRAINT_TYPES:
            raise invalid(f"Invalid constraint Type: {p.get('Type')}")
        try:
            parameters = json.loads(p.get("Parameters") or "")
        except ValueError:
            raise invalid("Parameters must be a JSON document") from None
        if p["Type"] == "TEMPLATE" and not isinstance(parameters.get("Rules"), dict):
            raise invalid("A TEMPLATE constraint needs a Rules object")
        if p["Type"] == "LAUNCH" and not (
            parameters.get("RoleArn") or parameters.get("LocalRoleName")
        ):
            raise invalid("A LAUNCH constraint needs RoleArn or LocalRoleName")
        constraint = Constraint(
            id=new_id("cons-"),
            type=p["Type"],
            description=p.get("Description") or "",
            owner=req.account,
            portfolio_id=portfolio.id,
            product_id=product.id,
            parameters=p["Parameters"],
        )
        catalog.constraints[constraint.id] = constraint
        if p.get("IdempotencyToken"):
            catalog.idempotency[("constraint", str(p["IdempotencyToken"]))] = constraint.id
        existing = constraint.id
    constraint = catalog.constraints[existing]
    return {
        "ConstraintDetail": constraint.detail(),
        "ConstraintParameters": constraint.parameters,
        "Status": "AVAILABLE",
    }


@operation("servicecatalog", "DescribeConstraint")
def describe_constraint(req: AwsRequest) -> dict[str, Any]:
    constraint = store(req).constraints.get(str(req.params.get("Id")))
    if constraint is None:
        raise not_found(f"Constraint {req.params.get('Id')} not found.")
    return {
        "ConstraintDetail": constraint.detail(),
        "ConstraintParameters": constraint.parameters,
        "Status": "AVAILABLE",
    }


@operation("servicecatalog", "DeleteConstraint")
def delete_constraint(req: AwsRequest) -> dict[str, Any]:
    catalog = store(req)
    if catalog.constraints.pop(str(req.params.get("Id")), None) is None:
        raise not_found(f"Constraint {req.params.get('Id')} not found.")
    return {}


@operation("servicecatalog", "ListConstraintsForPortfolio")
def list_constraints(req: AwsRequest) -> dict[str, Any]:
    catalog, p = store(req), req.params
    portfolio = catalog.portfolio(p.get("PortfolioId"))
    constraints = [
        c
        for c in catalog.constraints.values()
        if c.portfolio_id == portfolio.id
        and (not p.get("ProductId") or c.product_id == p["ProductId"])
    ]
    items, token = page(constraints, p)
    out: dict[str, Any] = {"ConstraintDetails": [c.detail() for c in items]}
    if token:
        out["NextPageToken"] = token
    return out
