"""The AWS gateway is the only place that talks to boto3."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from django.test import override_settings

from portal import aws

ROOT = Path(__file__).resolve().parents[2]
APPS = ["portal", "workspaces", "governance", "costs"]
GATEWAY = {ROOT / "portal" / "aws.py", *(ROOT / "portal" / "aws").glob("**/*.py")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_no_module_but_the_gateway_imports_boto3_or_botocore() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if path not in GATEWAY and _imports(path) & {"boto3", "botocore"}
    ]
    assert offenders == []


def test_the_scan_would_catch_an_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from botocore import session\n")
    assert "botocore" in _imports(sneaky)


def test_no_app_imports_the_sandbox() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "sandbox" in _imports(path)
    ]
    assert offenders == []


@override_settings(
    AWS_ENDPOINT_URL="http://127.0.0.1:9",
    AWS_REGION="us-gov-west-1",
    AWS_MAX_ATTEMPTS=4,
    AWS_CONNECT_TIMEOUT=1.5,
    AWS_READ_TIMEOUT=7.0,
)
def test_clients_carry_region_endpoint_retries_and_timeouts() -> None:
    aws.reset_clients()
    try:
        client = aws.client("sagemaker")
        assert client.meta.region_name == "us-gov-west-1"
        assert client.meta.endpoint_url == "http://127.0.0.1:9"
        config = client.meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": 4}
        assert (config.connect_timeout, config.read_timeout) == (1.5, 7.0)
        assert aws.client("sagemaker") is client  # cached per thread
    finally:
        aws.reset_clients()


def test_throttling_is_transient_and_validation_is_not() -> None:
    def error(code: str, status: int) -> botocore.exceptions.ClientError:
        response: Any = {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return botocore.exceptions.ClientError(response, "Op")

    assert aws.is_transient(error("ThrottlingException", 400))
    assert aws.is_transient(error("InternalFailure", 500))
    assert not aws.is_transient(error("ValidationException", 400))
    assert aws.error_message(error("ValidationException", 400)) == "ValidationException: m"


@pytest.mark.django_db
@override_settings(AWS_ENDPOINT_URL="http://127.0.0.1:9")
def test_unreachable_endpoint_is_a_transient_error() -> None:
    aws.reset_clients()
    try:
        with pytest.raises(botocore.exceptions.EndpointConnectionError) as caught:
            aws.caller_identity()
        assert aws.is_transient(caught.value)
    finally:
        aws.reset_clients()
