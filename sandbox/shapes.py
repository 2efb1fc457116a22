"""botocore's service models, the authority for every shape the sandbox sends."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

# SigV4 signing name -> botocore service name, where they differ.
SERVICE_NAMES = {"tagging": "resourcegroupstaggingapi"}


@functools.cache
def service_model(signing_name: str) -> ServiceModel:
    session = botocore.session.get_session()
    name = SERVICE_NAMES.get(signing_name, signing_name)
    return ServiceModel(session.get_service_data(name), service_name=name)


def operation_model(signing_name: str, operation: str) -> OperationModel:
    return service_model(signing_name).operation_model(operation)


def timestamps_to_datetimes(value: Any, shape: Shape | None) -> Any:
    """Turn JSON 1.1 epoch numbers into datetimes where the shape says timestamp (for CBOR)."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        return {
            k: timestamps_to_datetimes(v, members[k]) if k in members else v
            for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [timestamps_to_datetimes(v, shape.member) for v in value]  # type: ignore[attr-defined]
    if kind == "map" and isinstance(value, dict):
        return {k: timestamps_to_datetimes(v, shape.value) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind == "timestamp" and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if kind == "timestamp" and isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value
