"""SageMaker notebook states that take time, presigned URLs, and Config rules on real attributes."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.conftest import Demo

ROLE = "arn:aws:iam::123456789012:role/PortalNotebookExecution"


def wait_status(sm: Any, name: str, status: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        out = sm.describe_notebook_instance(NotebookInstanceName=name)
        if out["NotebookInstanceStatus"] == status or time.monotonic() > deadline:
            return out
        time.sleep(0.02)


def test_notebook_goes_pending_inservice_stopping_stopped_deleting(demo: Demo) -> None:
    sm = demo.client("sagemaker")
    demo.control.settings(speed=1)  # real delays, moved by the clock instead of sleeping
    sm.create_notebook_instance(
        NotebookInstanceName="nb-a", InstanceType="ml.t3.medium", RoleArn=ROLE
    )
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="nb-a")["NotebookInstanceStatus"]
        == "Pending"
    )
    demo.control.advance_clock(10)
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="nb-a")["NotebookInstanceStatus"]
        == "InService"
    )
    sm.stop_notebook_instance(NotebookInstanceName="nb-a")
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="nb-a")["NotebookInstanceStatus"]
        == "Stopping"
    )
    demo.control.advance_clock(10)
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="nb-a")["NotebookInstanceStatus"]
        == "Stopped"
    )
    sm.delete_notebook_instance(NotebookInstanceName="nb-a")
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="nb-a")["NotebookInstanceStatus"]
        == "Deleting"
    )
    demo.control.advance_clock(10)
    with pytest.raises(ClientError) as gone:
        sm.describe_notebook_instance(NotebookInstanceName="nb-a")
    assert gone.value.response["Error"]["Code"] == "ValidationException"


def test_transitions_from_the_wrong_state_are_validation_errors(demo: Demo) -> None:
    sm = demo.client("sagemaker")
    with pytest.raises(ClientError) as error:
        sm.delete_notebook_instance(NotebookInstanceName="ha-readmit-eda")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert (
        "Status (InService) not in ([Stopped, Failed])" in error.value.response["Error"]["Message"]
    )
    with pytest.raises(ClientError):
        sm.start_notebook_instance(NotebookInstanceName="ha-readmit-eda")
    with pytest.raises(ClientError):
        sm.stop_notebook_instance(NotebookInstanceName="nope")


def test_start_from_stopped_returns_to_inservice(demo: Demo) -> None:
    sm = demo.client("sagemaker")
    sm.start_notebook_instance(NotebookInstanceName="ha-readmit-model")
    assert wait_status(sm, "ha-readmit-model", "InService")["NotebookInstanceStatus"] == "InService"
    listed = sm.list_notebook_instances(StatusEquals="InService")["NotebookInstances"]
    assert "ha-readmit-model" in [n["NotebookInstanceName"] for n in listed]


def test_presigned_url_opens_the_local_jupyter_page(demo: Demo) -> None:
    sm = demo.client("sagemaker")
    url = sm.create_presigned_notebook_instance_url(
        NotebookInstanceName="ha-readmit-eda", SessionExpirationDurationInSeconds=1800
    )["AuthorizedUrl"]
    assert url.startswith(demo.sandbox.url)
    with urllib.request.urlopen(url, timeout=5) as page:  # noqa: S310
        assert b"ha-readmit-eda" in page.read()
    demo.control.advance_clock(1801)
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(url, timeout=5)  # noqa: S310
    assert expired.value.code == 403


def test_notebook_stopped_or_deleted_behind_the_portals_back(demo: Demo) -> None:
    sm = demo.client("sagemaker")
    demo.control.notebook_fault("ha-readmit-eda", "stop")
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="ha-readmit-eda")[
            "NotebookInstanceStatus"
        ]
        == "Stopped"
    )
    demo.control.notebook_fault("tp-ridership-forecast", "delete")
    with pytest.raises(ClientError):
        sm.describe_notebook_instance(NotebookInstanceName="tp-ridership-forecast")


def test_config_results_follow_the_notebook_attributes(demo: Demo) -> None:
    config, sm = demo.client("config"), demo.client("sagemaker")
    rule = "sagemaker-notebook-instance-root-access-check"
    summary = config.describe_compliance_by_config_rule(ConfigRuleNames=[rule])[
        "ComplianceByConfigRules"
    ]
    assert summary[0]["Compliance"]["ComplianceType"] == "COMPLIANT"
    sm.update_notebook_instance(NotebookInstanceName="ha-readmit-model", RootAccess="Enabled")
    summary = config.describe_compliance_by_config_rule(ConfigRuleNames=[rule])[
        "ComplianceByConfigRules"
    ]
    assert summary[0]["Compliance"]["ComplianceType"] == "NON_COMPLIANT"
    assert summary[0]["Compliance"]["ComplianceContributorCount"]["CappedCount"] == 1
    details = config.get_compliance_details_by_config_rule(
        ConfigRuleName=rule, ComplianceTypes=["NON_COMPLIANT"]
    )["EvaluationResults"]
    assert [
        d["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"] for d in details
    ] == ["ha-readmit-model"]
    by_resource = config.describe_compliance_by_resource(
        ResourceType="AWS::SageMaker::NotebookInstance", ResourceId="ha-readmit-model"
    )
    assert (
        by_resource["ComplianceByResources"][0]["Compliance"]["ComplianceType"] == "NON_COMPLIANT"
    )
    config.start_config_rules_evaluation(ConfigRuleNames=[rule])
    sm.create_notebook_instance(
        NotebookInstanceName="rogue",
        InstanceType="ml.t3.medium",
        RoleArn=ROLE,
        Tags=[{"Key": "portal:team", "Value": "health-analytics"}],
    )
    tags = config.get_compliance_details_by_config_rule(
        ConfigRuleName="portal-required-tags", ComplianceTypes=["NON_COMPLIANT"]
    )["EvaluationResults"]
    assert [
        t["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"] for t in tags
    ] == ["rogue"]
    with pytest.raises(config.exceptions.NoSuchConfigRuleException):
        config.describe_compliance_by_config_rule(ConfigRuleNames=["nope"])


def test_tagging_finds_team_notebooks_the_portal_did_not_launch(demo: Demo) -> None:
    tagging = demo.client("resourcegroupstaggingapi")
    found = tagging.get_resources(
        ResourceTypeFilters=["sagemaker:notebook-instance"],
        TagFilters=[{"Key": "portal:team", "Values": ["health-analytics"]}],
    )["ResourceTagMappingList"]
    assert sorted(r["ResourceARN"].rsplit("/", 1)[-1] for r in found) == [
        "ha-readmit-eda",
        "ha-readmit-model",
    ]
