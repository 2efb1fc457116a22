"""Checks a response against botocore's output shape: the model is the authority, not the sandbox.

Both the raw body (JSON or CBOR, before botocore forgives anything) and the parsed response are
walked: required members present, no member the model does not declare, types and enums right.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import cbor2
from botocore.model import OperationModel, Shape


def check(value: Any, shape: Shape | None, path: str = "$", raw: bool = False) -> list[str]:
    if shape is None:
        return []
    errors: list[str] = []
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected object, got {type(value).__name__}"]
        members = shape.members  # type: ignore[attr-defined]
        for name in shape.required_members:
            if name not in value:
                errors.append(f"{path}: missing required {name}")
        for name, item in value.items():
            if name == "ResponseMetadata" and not raw:
                continue
            if name not in members:
                errors.append(f"{path}: {name} is not in the model")
                continue
            errors += check(item, members[name], f"{path}.{name}", raw)
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected list"]
        for i, item in enumerate(value):
            errors += check(item, shape.member, f"{path}[{i}]", raw)  # type: ignore[attr-defined]
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected map"]
        for key, item in value.items():
            errors += check(key, shape.key, f"{path}<key>", raw)  # type: ignore[attr-defined]
            errors += check(item, shape.value, f"{path}[{key}]", raw)  # type: ignore[attr-defined]
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected string, got {type(value).__name__}"]
        if shape.enum and value not in shape.enum:  # type: ignore[attr-defined]
            errors.append(f"{path}: {value!r} is not one of {shape.enum}")  # type: ignore[attr-defined]
        errors += _bounds(len(value), shape, path)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path}: expected integer, got {value!r}"]
        errors += _bounds(value, shape, path)
    elif kind in ("double", "float"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return [f"{path}: expected number"]
    elif kind == "boolean":
        if not isinstance(value, bool):
            return [f"{path}: expected boolean, got {value!r}"]
    elif kind == "timestamp":
        ok = isinstance(value, dt.datetime) or (
            raw and isinstance(value, int | float) and not isinstance(value, bool)
        )
        if not ok:
            errors.append(f"{path}: expected timestamp, got {value!r}")
    return errors


def _bounds(size: int, shape: Shape, path: str) -> list[str]:
    metadata = shape.metadata
    if "min" in metadata and size < metadata["min"]:
        return [f"{path}: below min {metadata['min']}"]
    if "max" in metadata and size > metadata["max"]:
        return [f"{path}: above max {metadata['max']}"]
    return []


def decode(body: bytes, content_type: str) -> Any:
    if not body:
        return {}
    if "cbor" in content_type:
        return cbor2.loads(body)
    if "json" in content_type:
        return json.loads(body)
    return None  # XML from moto's own services (SNS): the parsed check still applies


class ShapeRecorder:
    """Collects raw responses from a boto3 client and checks each against the model."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.errors: list[str] = []

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model

        def received(
            response_dict: Any = None, parsed_response: Any = None, context: Any = None, **kw: Any
        ) -> None:
            if response_dict is None or response_dict.get("status_code", 500) >= 300:
                return
            # The event is "response-received.<service-id>.<OperationName>".
            model = service.operation_model(kw["event_name"].rsplit(".", 1)[-1])
            self.record(model, response_dict, parsed_response)

        client.meta.events.register("response-received", received)
        return client

    def record(self, model: OperationModel, response_dict: Any, parsed_response: Any) -> None:
        headers = response_dict.get("headers", {})
        raw = decode(
            response_dict["body"], headers.get("content-type", headers.get("Content-Type", ""))
        )
        self.checked.append(model.name)
        if raw is not None:
            found = check(raw, model.output_shape, raw=True)
            self.errors += [f"{model.name} raw {e}" for e in found]
        if parsed_response is not None:
            self.errors += [
                f"{model.name} parsed {e}" for e in check(parsed_response, model.output_shape)
            ]
