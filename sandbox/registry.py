"""The operations the sandbox answers itself instead of passing them to moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.protocol import AwsRequest

Handler = Callable[[AwsRequest], dict[str, Any]]

HANDLERS: dict[str, Handler] = {}


def operation(service: str, name: str) -> Callable[[Handler], Handler]:
    """Register a handler for `service:name` (the SigV4 signing name and the API operation)."""

    def register(func: Handler) -> Handler:
        HANDLERS[f"{service}:{name}"] = func
        return func

    return register
