"""Wire formats of the AWS protocols the sandbox answers itself.

botocore speaks JSON 1.1 to SageMaker, Config, Cost Explorer and Budgets, and Smithy RPC v2 CBOR to
Service Catalog and the tagging API; moto only understands the former, so this module decodes and
encodes both and the sandbox translates CBOR for moto where it forwards.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import cbor2

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
CBOR_CONTENT_TYPE = "application/cbor"


class AwsError(Exception):
    """An error answered in AWS's own shape: a code botocore maps to an exception class."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


@dataclass
class AwsRequest:
    """One decoded AWS API call."""

    service: str  # the SigV4 signing name, e.g. "servicecatalog", "ce"
    operation: str  # e.g. "ProvisionProduct"
    region: str
    account: str
    params: dict[str, Any]
    wire: str  # "json", "cbor", "query" or "rest"
    headers: dict[str, str] = field(default_factory=dict)
    host_url: str = ""

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        # JSON 1.1 carries timestamps as epoch seconds.
        return value.timestamp()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def decode_body(body: bytes, wire: str) -> dict[str, Any]:
    if not body:
        return {}
    try:
        decoded = cbor2.loads(body) if wire == "cbor" else json.loads(body)
    except (ValueError, cbor2.CBORDecodeError) as exc:
        raise AwsError("SerializationException", f"Could not parse request body: {exc}") from exc
    if not isinstance(decoded, dict):
        raise AwsError("SerializationException", "Request body must be an object")
    return decoded


def encode_body(payload: dict[str, Any], wire: str) -> tuple[bytes, dict[str, str]]:
    request_id = str(uuid.uuid4())
    if wire == "cbor":
        body = cbor2.dumps(_for_cbor(payload), datetime_as_timestamp=True)
        headers = {
            "Content-Type": CBOR_CONTENT_TYPE,
            "smithy-protocol": "rpc-v2-cbor",
            "x-amzn-RequestId": request_id,
        }
    else:
        body = json.dumps(payload, default=_json_default).encode()
        headers = {"Content-Type": JSON_CONTENT_TYPE, "x-amzn-RequestId": request_id}
    return body, headers


def _for_cbor(value: Any) -> Any:
    # Naive datetimes would be rejected by cbor2; every sandbox timestamp is UTC.
    if isinstance(value, dict):
        return {k: _for_cbor(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_cbor(v) for v in value]
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def encode_error(error: AwsError, wire: str) -> tuple[int, bytes, dict[str, str]]:
    payload = {"__type": error.code, "message": error.message}
    body, headers = encode_body(payload, wire)
    headers["x-amzn-ErrorType"] = error.code
    return error.status, body, headers
