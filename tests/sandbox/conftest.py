"""Fixtures for the sandbox tests: a clean sandbox with the demo seed, shape-checked clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.sandbox.shapes import ShapeRecorder
from tests.support.sandbox import Sandbox, sandbox, sandbox_clean  # noqa: F401


class Demo:
    def __init__(self, running: Sandbox, seed: dict[str, Any], shapes: ShapeRecorder) -> None:
        self.sandbox = running
        self.seed = seed
        self.shapes = shapes
        self.control = running.control

    def client(self, service: str, **kw: Any) -> Any:
        return self.shapes.attach(self.sandbox.client(service, **kw))

    def product(self, name: str = "Standard CPU notebook") -> dict[str, Any]:
        return next(p for p in self.seed["products"] if p["name"] == name)


@pytest.fixture
def shapes() -> Iterator[ShapeRecorder]:
    recorder = ShapeRecorder()
    yield recorder
    # Every response a test received must fit botocore's model.
    assert recorder.errors == []


@pytest.fixture
def demo(sandbox_clean: Sandbox, shapes: ShapeRecorder) -> Demo:  # noqa: F811
    return Demo(sandbox_clean, sandbox_clean.control.seed("demo"), shapes)
