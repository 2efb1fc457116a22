"""Start the sandbox as a real process and hand tests a client factory and its controls.

from tests.support.sandbox import sandbox, sandbox_clean  # noqa: F401  (pytest fixtures)

def test_something(sandbox_clean):
    sc = sandbox_clean.client("servicecatalog")
    sandbox_clean.control.seed("demo")
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Control:
    """The sandbox's /_sandbox/ control endpoint (see docs/sandbox.md)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 (always the local sandbox)
            f"{self.url}/_sandbox/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read() or b"null")

    def health(self) -> dict[str, Any]:
        return self.request("GET", "health")

    def seed(self, name: str = "demo", **where: str) -> dict[str, Any]:
        return self.request("POST", "seed", {"name": name, **where})

    def calls(self) -> dict[str, int]:
        return self.request("GET", "calls")

    def reset_calls(self) -> None:
        self.request("DELETE", "calls")

    def throttle(
        self, rate: float = 1.0, operations: list[str] | None = None, count: int | None = None
    ) -> Any:
        return self.request(
            "POST", "faults/throttle", {"rate": rate, "operations": operations, "count": count}
        )

    def latency(self, ms: int, operations: list[str] | None = None) -> Any:
        return self.request("POST", "faults/latency", {"ms": ms, "operations": operations})

    def fail_next_provision(self, message: str) -> Any:
        return self.request("POST", "faults/fail-next-provision", {"message": message})

    def notebook_fault(self, name: str, action: str, **where: str) -> Any:
        return self.request("POST", "faults/notebook", {"name": name, "action": action, **where})

    def clear_faults(self) -> Any:
        return self.request("DELETE", "faults")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self.request("POST", "clock", {"advance_seconds": seconds})

    def clock(self) -> dict[str, Any]:
        return self.request("GET", "clock")

    def settings(self, **changes: Any) -> dict[str, Any]:
        return (
            self.request("POST", "settings", changes)
            if changes
            else self.request("GET", "settings")
        )

    def cost_tags(
        self,
        active: list[str] | None = None,
        inactive: list[str] | None = None,
        backfill: bool = True,
    ) -> dict[str, str]:
        if active is None and inactive is None:
            return self.request("GET", "cost-tags")
        return self.request(
            "POST",
            "cost-tags",
            {"active": active or [], "inactive": inactive or [], "backfill": backfill},
        )

    def ledger(
        self, rows: list[dict[str, Any]] | None = None, *, revise: bool = False
    ) -> dict[str, Any]:
        """The ledger's summary, after appending ``rows`` (see docs/sandbox.md)."""
        if rows is None:
            return self.request("GET", "ledger")
        return self.request("POST", "ledger", {"rows": rows, "revise": revise})

    def reset(self) -> None:
        self.request("POST", "reset", {})


class Sandbox:
    def __init__(self, url: str, process: subprocess.Popen[bytes] | None = None) -> None:
        self.url = url
        self.process = process
        self.control = Control(url)

    def client(self, service_name: str, **kw: Any) -> Any:
        config = kw.pop("config", None) or Config(retries={"mode": "standard", "max_attempts": 3})
        options: dict[str, Any] = {
            "endpoint_url": self.url,
            "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
            "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": CREDENTIALS["AWS_SESSION_TOKEN"],
            "config": config,
        }
        options.update(kw)
        return boto3.session.Session().client(service_name, **options)  # type: ignore[call-overload]

    def reset(self) -> None:
        self.control.reset()

    def env(self) -> dict[str, str]:
        """Environment for a child process (a Celery worker, the CLI) to use this sandbox."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url}


def start_sandbox(
    port: int | None = None, *, seed: str | None = None, speed: float = 100.0, timeout: float = 20.0
) -> Sandbox:
    """Run `python -m sandbox` and wait (bounded) for its ready line and health check."""
    port = port or free_port()
    args = [sys.executable, "-m", "sandbox", "--port", str(port), "--speed", str(speed)]
    if seed:
        args += ["--seed", seed]
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **CREDENTIALS},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if not line.startswith("sandbox ready on "):
        process.kill()
        raise RuntimeError(f"sandbox did not start: {line!r}")
    while time.monotonic() < deadline:
        try:
            if Control(url).health() == {"status": "ok"}:
                return Sandbox(url, process)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sandbox on port {port} not healthy after {timeout}s")


def stop_sandbox(sandbox: Sandbox) -> None:
    if sandbox.process is None:
        return
    sandbox.process.terminate()
    try:
        sandbox.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sandbox.process.kill()
        sandbox.process.wait()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One sandbox process for the test session (speed 100: a 6 s state delay takes 60 ms)."""
    running = start_sandbox()
    try:
        yield running
    finally:
        stop_sandbox(running)


@pytest.fixture
def sandbox_clean(sandbox: Sandbox) -> Sandbox:
    """The session's sandbox, reset to empty (moto's state, the sandbox's, faults, clock, calls)."""
    sandbox.reset()
    return sandbox
