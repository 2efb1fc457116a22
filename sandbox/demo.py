"""The `demo` seed: an approved portfolio, managed Config rules, two teams and 90 days of costs.

Ids are derived from names, so the same seed gives the same ids on every start.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends

from sandbox.runtime import runtime
from sandbox.services import sagemaker
from sandbox.services.config import put_rule
from sandbox.services.costexplorer.ledger import CostRow, hourly_price, set_tag_status, usage_type
from sandbox.services.servicecatalog.models import Artifact, Constraint, Portfolio, Product
from sandbox.state import stable_id, state

PORTAL_TAGS = (
    "portal:team",
    "portal:project",
    "portal:workspace",
    "portal:owner",
    "portal:cost-center",
)
SUBNET_ID = "subnet-0a1b2c3d4e5f60718"
SECURITY_GROUP_ID = "sg-0a1b2c3d4e5f60719"
LIFECYCLE_CONFIG = "portal-idle-shutdown"
KEY_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"

PRODUCTS = [
    # name, description, allowed instance types, default, largest volume
    (
        "Standard CPU notebook",
        "General-purpose analysis on a burstable CPU instance.",
        ["ml.t3.medium", "ml.t3.large", "ml.t3.xlarge"],
        "ml.t3.medium",
        50,
    ),
    (
        "Large-memory notebook",
        "Memory-optimised instance for large data frames.",
        ["ml.r5.large", "ml.r5.xlarge", "ml.r5.2xlarge"],
        "ml.r5.large",
        200,
    ),
    (
        "GPU notebook",
        "Single-GPU instance for deep learning experiments.",
        ["ml.g4dn.xlarge", "ml.g4dn.2xlarge"],
        "ml.g4dn.xlarge",
        200,
    ),
]
TEAMS = [
    # team, cost centre, project, [(workspace, owner, instance type, volume, live state)]
    (
        "health-analytics",
        "CC-1042",
        "readmissions",
        [
            ("ha-readmit-eda", "alice", "ml.t3.large", 20, "InService"),
            ("ha-readmit-model", "bob", "ml.g4dn.xlarge", 50, "Stopped"),
            ("ha-claims-archive", "alice", "ml.r5.large", 100, None),
        ],
    ),
    (
        "transport-planning",
        "CC-2077",
        "ridership",
        [
            ("tp-ridership-forecast", "carol", "ml.r5.xlarge", 100, "InService"),
            ("tp-gtfs-cleanup", "dave", "ml.t3.medium", 10, "Stopped"),
            ("tp-survey-2024", "erin", "ml.t3.xlarge", 30, None),
        ],
    ),
]
MANAGED_RULES = [
    (
        "sagemaker-notebook-no-direct-internet-access",
        "SAGEMAKER_NOTEBOOK_NO_DIRECT_INTERNET_ACCESS",
        {},
    ),
    (
        "sagemaker-notebook-instance-kms-key-configured",
        "SAGEMAKER_NOTEBOOK_INSTANCE_KMS_KEY_CONFIGURED",
        {},
    ),
    (
        "sagemaker-notebook-instance-root-access-check",
        "SAGEMAKER_NOTEBOOK_INSTANCE_ROOT_ACCESS_CHECK",
        {},
    ),
    ("sagemaker-notebook-instance-inside-vpc", "SAGEMAKER_NOTEBOOK_INSTANCE_INSIDE_VPC", {}),
    (
        "portal-required-tags",
        "REQUIRED_TAGS",
        {f"tag{i + 1}Key": key for i, key in enumerate(PORTAL_TAGS)},
    ),
]


def kms_key_arn(account: str, region: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{KEY_ID}"


def notebook_template(
    account: str, region: str, allowed: list[str], default: str, largest: int, platform: str
) -> dict[str, Any]:
    """The security team's template: everything but the name, size and type is fixed."""
    fixed = "Fixed by the security team"
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Governed SageMaker notebook instance",
        "Parameters": {
            "NotebookInstanceName": {
                "Type": "String",
                "AllowedPattern": "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
                "ConstraintDescription": "Letters, digits and hyphens, at most 63 characters",
                "Description": "Name of the notebook instance",
            },
            "InstanceType": {
                "Type": "String",
                "Default": default,
                "AllowedValues": allowed,
                "Description": "Instance type",
            },
            "VolumeSizeInGB": {
                "Type": "Number",
                "Default": "20",
                "MinValue": "5",
                "MaxValue": str(largest),
                "Description": "ML storage volume size",
            },
            "KmsKeyId": {
                "Type": "String",
                "Default": kms_key_arn(account, region),
                "AllowedValues": [kms_key_arn(account, region)],
                "Description": fixed,
            },
            "SubnetId": {
                "Type": "String",
                "Default": SUBNET_ID,
                "AllowedValues": [SUBNET_ID],
                "Description": fixed,
            },
            "SecurityGroupIds": {
                "Type": "CommaDelimitedList",
                "Default": SECURITY_GROUP_ID,
                "AllowedValues": [SECURITY_GROUP_ID],
                "Description": fixed,
            },
            "DirectInternetAccess": {
                "Type": "String",
                "Default": "Disabled",
                "AllowedValues": ["Disabled"],
                "Description": fixed,
            },
            "RootAccess": {
                "Type": "String",
                "Default": "Disabled",
                "AllowedValues": ["Disabled"],
                "Description": fixed,
            },
            "PlatformIdentifier": {
                "Type": "String",
                "Default": platform,
                "AllowedValues": [platform],
                "Description": fixed,
            },
            "LifecycleConfigName": {
                "Type": "String",
                "Default": LIFECYCLE_CONFIG,
                "AllowedValues": ["", LIFECYCLE_CONFIG],
                "Description": "Lifecycle configuration",
            },
        },
        "Conditions": {
            "HasLifecycle": {"Fn::Not": [{"Fn::Equals": [{"Ref": "LifecycleConfigName"}, ""]}]}
        },
        "Resources": {
            "Notebook": {
                "Type": "AWS::SageMaker::NotebookInstance",
                "Properties": {
                    "NotebookInstanceName": {"Ref": "NotebookInstanceName"},
                    "InstanceType": {"Ref": "InstanceType"},
                    "VolumeSizeInGB": {"Ref": "VolumeSizeInGB"},
                    "KmsKeyId": {"Ref": "KmsKeyId"},
                    "SubnetId": {"Ref": "SubnetId"},
                    "SecurityGroupIds": {"Ref": "SecurityGroupIds"},
                    "DirectInternetAccess": {"Ref": "DirectInternetAccess"},
                    "RootAccess": {"Ref": "RootAccess"},
                    "PlatformIdentifier": {"Ref": "PlatformIdentifier"},
                    "LifecycleConfigName": {
                        "Fn::If": [
                            "HasLifecycle",
                            {"Ref": "LifecycleConfigName"},
                            {"Ref": "AWS::NoValue"},
                        ]
                    },
                    "RoleArn": {
                        "Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/PortalNotebookExecution"
                    },
                },
            }
        },
        "Outputs": {
            "NotebookInstanceName": {
                "Value": {"Fn::GetAtt": ["Notebook", "NotebookInstanceName"]},
                "Description": "Notebook instance name",
            },
            "NotebookInstanceArn": {
                "Value": {"Ref": "Notebook"},
                "Description": "Notebook instance ARN",
            },
        },
    }


def seed_demo(account: str, region: str) -> dict[str, Any]:
    acct = state.account(account)
    if "demo" in acct.seeded and region in acct.seeded["demo"]:
        return dict(acct.seeded["demo"][region])
    now = runtime.clock.now()
    reg = state.region(account, region)
    catalog = reg.catalog
    backend = sagemaker_backends[account][region]
    if LIFECYCLE_CONFIG not in backend.notebook_instance_lifecycle_configurations:
        backend.create_notebook_instance_lifecycle_config(LIFECYCLE_CONFIG, [], [])

    bucket = f"sandbox-catalog-templates-{account}-{region}"
    s3 = s3_backends[account]["aws"]
    if bucket not in s3.buckets:
        s3.create_bucket(bucket, region)

    created = now - dt.timedelta(days=120)
    portfolio = Portfolio(
        id=stable_id("port-", account, region, "approved"),
        arn="",
        display_name="Approved ML workspaces",
        provider_name="Agency security team",
        description=(
            "SageMaker notebooks approved for analysts: private subnet, agency KMS key, "
            "no internet, no root."
        ),
        created=created,
        tags=[{"Key": "portal:managed", "Value": "true"}],
    )
    portfolio.arn = catalog.arn("portfolio", portfolio.id)
    catalog.portfolios[portfolio.id] = portfolio
    products_out = []
    for name, description, allowed, default, largest in PRODUCTS:
        product_id = stable_id("prod-", account, region, name)
        product = Product(
            id=product_id,
            view_id=stable_id("prodview-", account, region, name),
            arn=catalog.arn("product", product_id),
            name=name,
            owner="Agency security team",
            description=description,
            distributor="Platform engineering",
            support_email="ml-platform@agency.example",
            support_description="Ask the ML platform team",
            support_url="https://agency.example/ml-platform",
            created=created,
        )
        versions = [
            ("v1", "notebook-al2-v2", "First approved version", "DEPRECATED"),
            ("v2", "notebook-al2-v3", "Amazon Linux 2, JupyterLab 4", "DEFAULT"),
        ]
        for version, platform, text, guidance in versions:
            template = notebook_template(account, region, allowed, default, largest, platform)
            key = f"{product_id}/{version}.json"
            s3.put_object(bucket, key, json.dumps(template).encode())
            artifact = Artifact(
                id=stable_id("pa-", account, region, name, version),
                name=version,
                description=text,
                created=created + dt.timedelta(days=30 if version == "v2" else 0),
                template=template,
                template_url=f"https://{bucket}.s3.amazonaws.com/{key}",
                guidance=guidance,
            )
            product.artifacts[artifact.id] = artifact
        catalog.products[product_id] = product
        portfolio.product_ids.append(product_id)
        launch = Constraint(
            id=stable_id("cons-", account, region, name, "launch"),
            type="LAUNCH",
            description="Launched as the portal's provisioning role",
            owner=account,
            portfolio_id=portfolio.id,
            product_id=product_id,
            parameters=json.dumps(
                {"RoleArn": f"arn:aws:iam::{account}:role/PortalServiceCatalogLaunch"}
            ),
        )
        rules = Constraint(
            id=stable_id("cons-", account, region, name, "template"),
            type="TEMPLATE",
            description="Security baseline: approved instance types, private network, agency key",
            owner=account,
            portfolio_id=portfolio.id,
            product_id=product_id,
            parameters=json.dumps(
                {
                    "Rules": {
                        "ApprovedInstanceTypes": {
                            "Assertions": [
                                {
                                    "Assert": {"Fn::Contains": [allowed, {"Ref": "InstanceType"}]},
                                    "AssertDescription": "Instance type must be one of "
                                    + ", ".join(allowed),
                                }
                            ]
                        },
                        "NoInternet": {
                            "Assertions": [
                                {
                                    "Assert": {
                                        "Fn::Equals": [{"Ref": "DirectInternetAccess"}, "Disabled"]
                                    },
                                    "AssertDescription": "Direct internet access must be disabled",
                                }
                            ]
                        },
                    }
                }
            ),
        )
        catalog.constraints[launch.id] = launch
        catalog.constraints[rules.id] = rules
        path_id = catalog.paths(product)[0][0]
        products_out.append(
            {
                "name": name,
                "product_id": product_id,
                "artifacts": {a.name: a.id for a in product.artifacts.values()},
                "path_id": path_id,
                "instance_types": allowed,
                "max_volume_gb": largest,
            }
        )

    for rule_name, identifier, params in MANAGED_RULES:
        put_rule(reg, rule_name, identifier, json.dumps(params) if params else "")

    teams_out = _seed_teams(account, region, now)
    for key in PORTAL_TAGS:
        set_tag_status(acct, key, "Active", now, since=None)
    summary = {
        "account": account,
        "region": region,
        "portfolio_id": portfolio.id,
        "products": products_out,
        "kms_key_arn": kms_key_arn(account, region),
        "subnet_id": SUBNET_ID,
        "security_group_ids": [SECURITY_GROUP_ID],
        "lifecycle_config_name": LIFECYCLE_CONFIG,
        "config_rules": [r[0] for r in MANAGED_RULES],
        "teams": teams_out,
        "cost_history_days": 90,
    }
    acct.seeded.setdefault("demo", {})[region] = summary
    return dict(summary)


def _seed_teams(account: str, region: str, now: dt.datetime) -> list[dict[str, Any]]:
    reg = state.region(account, region)
    acct = state.account(account)
    rng = random.Random(f"{account}/{region}")
    out = []
    today = now.date()
    for team, cost_center, project, workspaces in TEAMS:
        names = []
        for workspace, owner, instance_type, volume, live in workspaces:
            tags = {
                "portal:team": team,
                "portal:project": project,
                "portal:workspace": workspace,
                "portal:owner": owner,
                "portal:cost-center": cost_center,
            }
            arn = f"arn:aws:sagemaker:{region}:{account}:notebook-instance/{workspace}"
            if live:
                nb = sagemaker.create_notebook(
                    reg,
                    name=workspace,
                    instance_type=instance_type,
                    role_arn=f"arn:aws:iam::{account}:role/PortalNotebookExecution",
                    volume_size=volume,
                    kms_key_id=kms_key_arn(account, region),
                    subnet_id=SUBNET_ID,
                    security_group_ids=[SECURITY_GROUP_ID],
                    direct_internet_access="Disabled",
                    root_access="Disabled",
                    platform="notebook-al2-v3",
                    lifecycle_config_name=LIFECYCLE_CONFIG,
                    tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                )
                # Seeded notebooks have been up for weeks: no Pending phase to wait through.
                nb.pending.clear()
                nb.created = now - dt.timedelta(days=90)
                nb.volumes = [[now, None, volume]]
                nb.set_status(now, "InService")
                if live == "Stopped":
                    nb.set_status(now, "Stopped")
                arn = nb.arn
            names.append(workspace)
            # Retired workspaces stopped accruing a month ago.
            last_day = 90 if live else 60
            tag_tuple = tuple(sorted(tags.items()))
            for days_ago in range(last_day, 0, -1):
                day = today - dt.timedelta(days=days_ago)
                if live is None and days_ago < 30:
                    break
                weekend = day.weekday() >= 5
                hours = rng.uniform(0, 1.5) if weekend else rng.uniform(6, 10)
                acct.history.append(
                    CostRow(
                        day=day,
                        account=account,
                        region=region,
                        usage_type=usage_type(region, instance_type),
                        instance_type=instance_type,
                        resource_id=arn,
                        tags=tag_tuple,
                        cost=hours * hourly_price(instance_type),
                        usage=hours,
                    )
                )
                gb_months = volume * 24 / 730
                acct.history.append(
                    CostRow(
                        day=day,
                        account=account,
                        region=region,
                        usage_type=usage_type(region, "VolumeUsage.gp2"),
                        instance_type="",
                        resource_id=arn,
                        tags=tag_tuple,
                        cost=gb_months * 0.14,
                        usage=gb_months,
                    )
                )
        out.append(
            {"team": team, "cost_center": cost_center, "project": project, "workspaces": names}
        )
    return out
