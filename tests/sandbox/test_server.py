"""The process contract: ready line, health, control endpoint, call counts, faults, reset."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
import uuid

import cbor2
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.sandbox.conftest import Demo
from tests.support.sandbox import Sandbox, start_sandbox


def test_process_prints_ready_and_stops_on_sigterm() -> None:
    running = start_sandbox(seed="demo")
    assert running.process is not None
    assert running.control.health() == {"status": "ok"}
    sc = running.client("servicecatalog")
    assert len(sc.search_products_as_admin()["ProductViewDetails"]) == 3
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=10) == 0


def test_calls_are_counted_per_operation_and_reset(demo: Demo) -> None:
    demo.control.reset_calls()
    sc = demo.client("servicecatalog")
    sc.search_products_as_admin()
    sc.search_products_as_admin()
    demo.client("sagemaker").describe_notebook_instance(NotebookInstanceName="ha-readmit-eda")
    assert demo.control.calls() == {
        "sagemaker:DescribeNotebookInstance": 1,
        "servicecatalog:SearchProductsAsAdmin": 2,
    }
    demo.control.reset_calls()
    assert demo.control.calls() == {}


def test_throttling_surfaces_as_throttling_exception_without_retries(demo: Demo) -> None:
    demo.control.throttle(operations=["servicecatalog:SearchProductsAsAdmin"])
    sc = demo.client(
        "servicecatalog", config=Config(retries={"mode": "standard", "max_attempts": 1})
    )
    with pytest.raises(ClientError) as error:
        sc.search_products_as_admin()
    assert error.value.response["Error"]["Code"] == "ThrottlingException"
    assert demo.client("sagemaker").list_notebook_instances()["NotebookInstances"]


def test_standard_retry_mode_rides_out_two_throttles(demo: Demo) -> None:
    demo.control.reset_calls()
    demo.control.throttle(operations=["sagemaker:DescribeNotebookInstance"], count=2)
    sm = demo.client("sagemaker")
    out = sm.describe_notebook_instance(NotebookInstanceName="ha-readmit-eda")
    assert out["ResponseMetadata"]["RetryAttempts"] == 2
    assert demo.control.calls()["sagemaker:DescribeNotebookInstance"] == 3


def test_a_share_of_calls_is_throttled(demo: Demo) -> None:
    demo.control.throttle(rate=0.5)
    # Legacy mode with one attempt: botocore's standard mode sleeps even on its last attempt.
    sm = demo.client(
        "sagemaker", config=Config(retries={"mode": "legacy", "total_max_attempts": 1})
    )
    outcomes = []
    for _ in range(40):
        try:
            sm.list_notebook_instances()
            outcomes.append(True)
        except ClientError:
            outcomes.append(False)
    assert 5 < outcomes.count(False) < 35


def test_latency_is_added(demo: Demo) -> None:
    demo.control.latency(150, operations=["ce:GetCostForecast", "sagemaker:ListNotebookInstances"])
    sm = demo.client("sagemaker")
    started = time.monotonic()
    sm.list_notebook_instances()
    assert time.monotonic() - started >= 0.15
    demo.control.clear_faults()
    assert demo.control.request("GET", "faults")["latency"] == []


def test_moto_reset_clears_the_sandbox_state_too(demo: Demo) -> None:
    request = urllib.request.Request(f"{demo.sandbox.url}/moto-api/reset", data=b"", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
    sc = demo.client("servicecatalog")
    assert sc.search_products_as_admin()["ProductViewDetails"] == []
    assert demo.client("sagemaker").list_notebook_instances()["NotebookInstances"] == []


def test_control_errors_are_json(sandbox_clean: Sandbox) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        sandbox_clean.control.request("GET", "nope")
    assert missing.value.code == 404
    assert "paths" in json.loads(missing.value.read())
    with pytest.raises(urllib.error.HTTPError) as bad:
        sandbox_clean.control.request("POST", "faults/throttle", {"rate": 3})
    assert bad.value.code == 400


def test_rpc_v2_cbor_requests_are_answered_in_cbor(demo: Demo) -> None:
    # botocore may pick Service Catalog's Smithy RPC v2 CBOR protocol; the sandbox speaks both.
    body = cbor2.dumps({"ProductId": demo.product()["product_id"]})
    req = urllib.request.Request(  # noqa: S310
        f"{demo.sandbox.url}/service/AWS242ServiceCatalogService/operation/ListLaunchPaths",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/cbor",
            "smithy-protocol": "rpc-v2-cbor",
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/servicecatalog/"
                "aws4_request, SignedHeaders=host, Signature=x"
            ),
        },
    )
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
        assert resp.headers["smithy-protocol"] == "rpc-v2-cbor"
        paths = cbor2.loads(resp.read())["LaunchPathSummaries"]
    assert paths[0]["Id"] == demo.product()["path_id"]


def test_unknown_product_in_provision_is_not_an_html_500(demo: Demo) -> None:
    sc = demo.client("servicecatalog")
    with pytest.raises(ClientError) as error:
        sc.provision_product(
            ProductId="prod-x",
            ProvisioningArtifactId="pa-x",
            ProvisionedProductName="n",
            ProvisionToken=str(uuid.uuid4()),
        )
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
