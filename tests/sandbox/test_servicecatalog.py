"""Service Catalog: browsing the seeded catalog and the provision -> record -> terminate cycle."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.conftest import Demo


def params(name: str, **overrides: str) -> list[dict[str, str]]:
    values = {
        "NotebookInstanceName": name,
        "InstanceType": "ml.t3.large",
        "VolumeSizeInGB": "20",
        **overrides,
    }
    return [{"Key": k, "Value": v} for k, v in values.items()]


TAGS = [
    {"Key": "portal:team", "Value": "health-analytics"},
    {"Key": "portal:project", "Value": "readmissions"},
    {"Key": "portal:workspace", "Value": "ws-1"},
    {"Key": "portal:owner", "Value": "alice"},
    {"Key": "portal:cost-center", "Value": "CC-1042"},
]


def wait_record(
    sc: Any, record_id: str, final: tuple[str, ...] = ("SUCCEEDED", "FAILED"), timeout: float = 5.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        out = sc.describe_record(Id=record_id)
        if out["RecordDetail"]["Status"] in final or time.monotonic() > deadline:
            return out
        time.sleep(0.02)


def provision(demo: Demo, name: str, token: str | None = None, **overrides: str) -> dict[str, Any]:
    sc = demo.client("servicecatalog")
    product = demo.product()
    return sc.provision_product(
        ProductId=product["product_id"],
        ProvisioningArtifactId=product["artifacts"]["v2"],
        PathId=product["path_id"],
        ProvisionedProductName=name,
        ProvisioningParameters=params(name, **overrides),
        Tags=TAGS,
        ProvisionToken=token or str(uuid.uuid4()),
    )["RecordDetail"]


def test_catalog_sync_calls_describe_the_seeded_products(demo: Demo) -> None:
    sc = demo.client("servicecatalog")
    names = [
        p["ProductViewSummary"]["Name"] for p in sc.search_products_as_admin()["ProductViewDetails"]
    ]
    assert names == ["GPU notebook", "Large-memory notebook", "Standard CPU notebook"]
    product = demo.product()
    artifacts = sc.list_provisioning_artifacts(ProductId=product["product_id"])[
        "ProvisioningArtifactDetails"
    ]
    assert [(a["Name"], a["Guidance"]) for a in artifacts] == [
        ("v1", "DEPRECATED"),
        ("v2", "DEFAULT"),
    ]
    paths = sc.list_launch_paths(ProductId=product["product_id"])["LaunchPathSummaries"]
    assert [p["Id"] for p in paths] == [product["path_id"]]
    assert {c["Type"] for c in paths[0]["ConstraintSummaries"]} == {"LAUNCH", "TEMPLATE"}
    described = sc.describe_provisioning_parameters(
        ProductId=product["product_id"],
        ProvisioningArtifactId=product["artifacts"]["v2"],
        PathId=product["path_id"],
    )
    by_key = {p["ParameterKey"]: p for p in described["ProvisioningArtifactParameters"]}
    assert set(by_key) == {
        "NotebookInstanceName",
        "InstanceType",
        "VolumeSizeInGB",
        "KmsKeyId",
        "SubnetId",
        "SecurityGroupIds",
        "DirectInternetAccess",
        "RootAccess",
        "PlatformIdentifier",
        "LifecycleConfigName",
    }
    assert by_key["InstanceType"]["ParameterConstraints"]["AllowedValues"] == [
        "ml.t3.medium",
        "ml.t3.large",
        "ml.t3.xlarge",
    ]
    assert by_key["DirectInternetAccess"]["ParameterConstraints"]["AllowedValues"] == ["Disabled"]
    assert by_key["KmsKeyId"]["DefaultValue"] == demo.seed["kms_key_arn"]
    assert [o["Key"] for o in described["ProvisioningArtifactOutputKeys"]] == [
        "NotebookInstanceName",
        "NotebookInstanceArn",
    ]
    assert (
        sc.describe_product(Id=product["product_id"])["LaunchPaths"][0]["Id"] == product["path_id"]
    )
    assert sc.search_products()["ProductViewSummaries"]
    assert sc.describe_product_as_admin(Id=product["product_id"])["ProductViewDetail"]["ProductARN"]


def test_provision_moves_record_to_succeeded_and_outputs_name_the_notebook(demo: Demo) -> None:
    sc, sm = demo.client("servicecatalog"), demo.client("sagemaker")
    record = provision(demo, "ws-one")
    assert record["Status"] == "CREATED"
    assert record["RecordType"] == "PROVISION_PRODUCT"
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = sc.describe_record(Id=record["RecordId"])["RecordDetail"]["Status"]
        seen.add(status)
        if status == "SUCCEEDED":
            break
        time.sleep(0.005)
    assert "IN_PROGRESS" in seen
    assert "SUCCEEDED" in seen
    done = sc.describe_record(Id=record["RecordId"])
    outputs = {o["OutputKey"]: o["OutputValue"] for o in done["RecordOutputs"]}
    assert outputs["NotebookInstanceName"] == "ws-one"
    notebook = sm.describe_notebook_instance(NotebookInstanceName="ws-one")
    assert outputs["NotebookInstanceArn"] == notebook["NotebookInstanceArn"]
    assert notebook["NotebookInstanceStatus"] == "InService"
    assert notebook["InstanceType"] == "ml.t3.large"
    assert notebook["VolumeSizeInGB"] == 20
    assert notebook["KmsKeyId"] == demo.seed["kms_key_arn"]
    assert notebook["SubnetId"] == demo.seed["subnet_id"]
    assert notebook["SecurityGroups"] == demo.seed["security_group_ids"]
    assert notebook["DirectInternetAccess"] == "Disabled"
    assert notebook["RootAccess"] == "Disabled"
    assert notebook["PlatformIdentifier"] == "notebook-al2-v3"
    assert notebook["NotebookInstanceLifecycleConfigName"] == demo.seed["lifecycle_config_name"]
    tags = {
        t["Key"]: t["Value"]
        for t in sm.list_tags(ResourceArn=notebook["NotebookInstanceArn"])["Tags"]
    }
    assert {t["Key"]: t["Value"] for t in TAGS}.items() <= tags.items()
    pp = sc.describe_provisioned_product(Id=record["ProvisionedProductId"])[
        "ProvisionedProductDetail"
    ]
    assert pp["Status"] == "AVAILABLE"
    assert pp["LastSuccessfulProvisioningRecordId"] == record["RecordId"]
    got = sc.get_provisioned_product_outputs(ProvisionedProductId=record["ProvisionedProductId"])[
        "Outputs"
    ]
    assert {o["OutputKey"] for o in got} == {"NotebookInstanceName", "NotebookInstanceArn"}
    found = sc.search_provisioned_products(Filters={"SearchQuery": ["name:ws-one"]})[
        "ProvisionedProducts"
    ]
    assert [p["Id"] for p in found] == [record["ProvisionedProductId"]]
    assert sc.list_record_history()["RecordDetails"][0]["RecordId"] == record["RecordId"]


def test_terminate_stops_and_deletes_the_notebook_then_the_product_is_gone(demo: Demo) -> None:
    sc, sm = demo.client("servicecatalog"), demo.client("sagemaker")
    record = provision(demo, "ws-term")
    wait_record(sc, record["RecordId"])
    terminate = sc.terminate_provisioned_product(
        ProvisionedProductId=record["ProvisionedProductId"], TerminateToken=str(uuid.uuid4())
    )
    assert terminate["RecordDetail"]["RecordType"] == "TERMINATE_PROVISIONED_PRODUCT"
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="ws-term")["NotebookInstanceStatus"]
        == "Stopping"
    )
    assert (
        wait_record(sc, terminate["RecordDetail"]["RecordId"])["RecordDetail"]["Status"]
        == "SUCCEEDED"
    )
    with pytest.raises(ClientError) as gone:
        sm.describe_notebook_instance(NotebookInstanceName="ws-term")
    assert gone.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "RecordNotFound",
    }
    with pytest.raises(sc.exceptions.ResourceNotFoundException):
        sc.describe_provisioned_product(Id=record["ProvisionedProductId"])


def test_same_provision_token_returns_the_same_record_and_one_notebook(demo: Demo) -> None:
    token = str(uuid.uuid4())
    first = provision(demo, "ws-idem", token=token)
    second = provision(demo, "ws-idem", token=token)
    assert second["RecordId"] == first["RecordId"]
    assert second["ProvisionedProductId"] == first["ProvisionedProductId"]
    sm = demo.client("sagemaker")
    names = [
        n["NotebookInstanceName"]
        for n in sm.list_notebook_instances(NameContains="ws-idem")["NotebookInstances"]
    ]
    assert names == ["ws-idem"]


def test_injected_failure_fails_the_record_with_the_message(demo: Demo) -> None:
    sc = demo.client("servicecatalog")
    demo.control.fail_next_provision(
        "The account-level service limit 'ml.t3.large for notebook instance usage' is 0"
    )
    record = provision(demo, "ws-fail")
    done = wait_record(sc, record["RecordId"])["RecordDetail"]
    assert done["Status"] == "FAILED"
    assert "service limit" in done["RecordErrors"][0]["Description"]
    pp = sc.describe_provisioned_product(Id=record["ProvisionedProductId"])[
        "ProvisionedProductDetail"
    ]
    assert pp["Status"] == "ERROR"
    assert "service limit" in pp["StatusMessage"]


def test_duplicate_notebook_name_fails_the_record_not_the_call(demo: Demo) -> None:
    sc = demo.client("servicecatalog")
    record = provision(demo, "ws-dupe-a", NotebookInstanceName="ha-readmit-eda")
    done = wait_record(sc, record["RecordId"])["RecordDetail"]
    assert done["Status"] == "FAILED"
    assert "Cannot create a duplicate Notebook Instance" in done["RecordErrors"][0]["Description"]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"InstanceType": "ml.p3.2xlarge"}, "AllowedValues"),
        ({"DirectInternetAccess": "Enabled"}, "AllowedValues"),
        ({"VolumeSizeInGB": "500"}, "not greater than 50"),
        ({"Nonsense": "x"}, "do not exist in the template"),
    ],
)
def test_disallowed_parameters_are_invalid_parameters(
    demo: Demo, overrides: dict[str, str], needle: str
) -> None:
    with pytest.raises(ClientError) as error:
        provision(demo, "ws-bad", **overrides)
    assert error.value.response["Error"]["Code"] == "InvalidParametersException"
    assert needle in error.value.response["Error"]["Message"]


def test_unknown_ids_are_resource_not_found(demo: Demo) -> None:
    sc = demo.client("servicecatalog")
    product = demo.product()
    for kwargs in (
        {"ProductId": "prod-doesnotexist1", "ProvisioningArtifactId": product["artifacts"]["v2"]},
        {"ProductId": product["product_id"], "ProvisioningArtifactId": "pa-doesnotexist1"},
        {
            "ProductId": product["product_id"],
            "ProvisioningArtifactId": product["artifacts"]["v2"],
            "PathId": "lpv3-doesnotexist",
        },
    ):
        with pytest.raises(sc.exceptions.ResourceNotFoundException):
            sc.describe_provisioning_parameters(**kwargs)
    with pytest.raises(sc.exceptions.ResourceNotFoundException):
        sc.describe_record(Id="rec-doesnotexist1")
    with pytest.raises(sc.exceptions.ResourceNotFoundException):
        sc.terminate_provisioned_product(
            ProvisionedProductId="pp-doesnotexist1", TerminateToken="t"
        )


def test_duplicate_provisioned_product_name_is_duplicate_resource(demo: Demo) -> None:
    provision(demo, "ws-same")
    with pytest.raises(ClientError) as error:
        provision(demo, "ws-same", NotebookInstanceName="ws-same-2")
    assert error.value.response["Error"]["Code"] == "DuplicateResourceException"


def test_update_product_changes_only_the_fields_given_and_its_tags(demo: Demo) -> None:
    sc = demo.client("servicecatalog")
    product_id = demo.product()["product_id"]
    before = sc.describe_product_as_admin(Id=product_id)["ProductViewDetail"]["ProductViewSummary"]
    sc.update_product(Id=product_id, AddTags=[{"Key": "stage", "Value": "pilot"}])
    out = sc.update_product(
        Id=product_id,
        Name="Standard notebook",
        Description="For everyday analysis",
        AddTags=[{"Key": "stage", "Value": "approved"}, {"Key": "owner", "Value": "platform"}],
        RemoveTags=["owner-not-there"],
    )
    summary = out["ProductViewDetail"]["ProductViewSummary"]
    assert summary["Name"] == "Standard notebook"
    assert summary["ShortDescription"] == "For everyday analysis"
    assert summary["Owner"] == before["Owner"]  # not given: kept
    assert {t["Key"]: t["Value"] for t in out["Tags"]} == {"stage": "approved", "owner": "platform"}
    described = sc.describe_product_as_admin(Id=product_id)
    assert described["ProductViewDetail"]["ProductViewSummary"]["Name"] == "Standard notebook"
    sc.update_product(Id=product_id, RemoveTags=["stage"])
    assert [t["Key"] for t in sc.describe_product_as_admin(Id=product_id)["Tags"]] == ["owner"]
    # End users browse the new name too.
    found = sc.search_products(Filters={"FullTextSearch": ["Standard notebook"]})
    assert [p["ProductId"] for p in found["ProductViewSummaries"]] == [product_id]


def test_update_product_refuses_unknown_ids_and_empty_names(demo: Demo) -> None:
    sc = demo.client("servicecatalog")
    with pytest.raises(sc.exceptions.ResourceNotFoundException):
        sc.update_product(Id="prod-doesnotexist1", Name="x")
    with pytest.raises(sc.exceptions.InvalidParametersException) as error:
        sc.update_product(Id=demo.product()["product_id"], Name="")
    assert "Name must not be empty" in str(error.value)
