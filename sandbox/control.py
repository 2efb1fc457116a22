"""The control endpoint under /_sandbox/: seed, faults, clock, cost-allocation tags, call counts.

JSON in and out. It is for tests and the demo; AWS has no such thing, so nothing here pretends to
be an AWS API. docs/sandbox.md is its reference.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID

from sandbox.runtime import LatencyRule, ThrottleRule, runtime
from sandbox.state import state

StartResponse = Callable[..., Any]
DEFAULT_REGION = "us-east-1"


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def reset_sandbox() -> None:
    """Forget the sandbox's own state; moto's reset has already cleared moto's backends."""
    state.reset()
    runtime.reset()


def _respond(start_response: StartResponse, status: int, payload: Any) -> Iterable[bytes]:
    data = json.dumps(payload, default=str).encode()
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    start_response(
        f"{status} {reasons.get(status, 'Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ControlError(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _operations(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) and ":" in v for v in value):
        raise ControlError('operations must be a list like ["servicecatalog:ProvisionProduct"]')
    return frozenset(value)


def handle(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "").rstrip("/")
    method = environ.get("REQUEST_METHOD", "GET")
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path.startswith("/_sandbox/notebooks/"):
        from sandbox.jupyter import notebook_page

        return notebook_page(path, query, start_response)
    route = ROUTES.get((method, path))
    if route is None:
        known = sorted({p for _, p in ROUTES})
        if any(p == path for p in known):
            return _respond(start_response, 405, {"error": f"{method} not allowed on {path}"})
        return _respond(
            start_response, 404, {"error": f"no such control path {path}", "paths": known}
        )
    try:
        body = _body(environ) if method in ("POST", "PUT") else {}
        with runtime.lock:
            return _respond(start_response, 200, route(body, query))
    except ControlError as exc:
        return _respond(start_response, exc.status, {"error": str(exc)})


def _health(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    return {"status": "ok"}


def _calls(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    calls = dict(sorted(runtime.calls.calls.items()))
    if query.get("detail"):
        return {"calls": calls, "throttled": dict(sorted(runtime.calls.throttled.items()))}
    return calls


def _calls_reset(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    runtime.calls.reset()
    return {}


def _faults(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    return runtime.faults.as_dict()


def _faults_clear(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    runtime.faults.reset()
    return runtime.faults.as_dict()


def _throttle(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    rate = float(body.get("rate", 1.0))
    if not 0.0 <= rate <= 1.0:
        raise ControlError("rate must be between 0 and 1")
    count = body.get("count")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise ControlError("count must be a non-negative integer")
    runtime.faults.throttles.append(
        ThrottleRule(rate=rate, operations=_operations(body.get("operations")), remaining=count)
    )
    return runtime.faults.as_dict()


def _latency(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    ms = body.get("ms")
    if not isinstance(ms, int) or ms < 0:
        raise ControlError("ms must be a non-negative integer")
    runtime.faults.latencies.append(
        LatencyRule(ms=ms, operations=_operations(body.get("operations")))
    )
    return runtime.faults.as_dict()


def _fail_next_provision(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    message = body.get("message")
    if not isinstance(message, str) or not message:
        raise ControlError("message is required")
    runtime.faults.failing_provisions.append(message)
    return runtime.faults.as_dict()


def _notebook_fault(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    from sandbox.services.sagemaker import GONE, region_notebooks

    name, action = body.get("name"), body.get("action")
    if action not in ("stop", "delete", "fail"):
        raise ControlError("action must be stop, delete or fail")
    region = state.region(
        body.get("account", DEFAULT_ACCOUNT_ID), body.get("region", DEFAULT_REGION)
    )
    notebook = region_notebooks(region).get(str(name))
    if notebook is None:
        raise ControlError(f"no notebook named {name}", 404)
    now = runtime.clock.now()
    if action == "stop":
        notebook.interrupt(now, "Stopped")
    elif action == "fail":
        notebook.interrupt(now, "Failed")
        notebook.failure_reason = str(body.get("message") or "The notebook instance failed")
    else:
        notebook.interrupt(now, GONE)
        del region.notebooks[notebook.name]
    return {"name": notebook.name, "status": notebook.status}


def _clock(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    return {"now": runtime.clock.now().isoformat(), "offset_seconds": runtime.clock.offset}


def _clock_set(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    if "advance_seconds" in body:
        seconds = body["advance_seconds"]
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ControlError("advance_seconds must be a non-negative number")
        runtime.clock.advance(float(seconds))
    elif "now" in body:
        try:
            when = dt.datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ControlError(f"now is not an ISO 8601 time: {exc}") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        runtime.clock.set(when)
    else:
        raise ControlError("give advance_seconds or now")
    from sandbox.server import run_ticks

    run_ticks(force=True)
    return _clock(body, query)


def _settings(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    return runtime.settings.as_dict()


def _settings_set(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    settings = runtime.settings
    if "speed" in body:
        if not isinstance(body["speed"], int | float) or body["speed"] <= 0:
            raise ControlError("speed must be a positive number")
        settings.speed = float(body["speed"])
    for name, seconds in (body.get("delays") or {}).items():
        if name not in settings.delays:
            raise ControlError(f"unknown delay {name}; known: {sorted(settings.delays)}")
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ControlError(f"delay {name} must be a non-negative number")
        settings.delays[name] = float(seconds)
    if "ce_page_size" in body:
        if not isinstance(body["ce_page_size"], int) or body["ce_page_size"] < 1:
            raise ControlError("ce_page_size must be a positive integer")
        settings.ce_page_size = body["ce_page_size"]
    return settings.as_dict()


def _cost_tags(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    from sandbox.services.costexplorer.ledger import tag_statuses

    account = state.account(query.get("account", DEFAULT_ACCOUNT_ID))
    return tag_statuses(account, runtime.clock.now())


def _cost_tags_set(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    from sandbox.services.costexplorer.ledger import set_tag_status

    account = state.account(body.get("account", DEFAULT_ACCOUNT_ID))
    # Unlike the AWS API, the control endpoint backfills by default: tests want the history
    # grouped without waiting for new usage.
    since = None if body.get("backfill", True) else runtime.clock.now()
    for key in body.get("active", []):
        set_tag_status(account, key, "Active", runtime.clock.now(), since=since)
    for key in body.get("inactive", []):
        set_tag_status(account, key, "Inactive", runtime.clock.now(), since=since)
    return _cost_tags({}, {"account": account.account})


def _ledger(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    from sandbox.services.costexplorer.ledger import summary

    account = state.account(query.get("account", DEFAULT_ACCOUNT_ID))
    return summary(account, runtime.clock.now())


def _ledger_add(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    """Append usage rows to the ledger's history in bulk (thousands of workspaces in one
    request); with ``revise`` a row replaces the history rows of the same day, resource and
    usage type, as AWS revises a day it already reported."""
    from sandbox.services.costexplorer.ledger import SERVICE, CostRow, usage_type

    account = state.account(body.get("account", DEFAULT_ACCOUNT_ID))
    items = body.get("rows")
    if not isinstance(items, list) or not items:
        raise ControlError("rows must be a non-empty list")
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ControlError(f"rows[{i}] must be an object")
        try:
            day = dt.date.fromisoformat(str(item["day"]))
            cost = float(item["cost"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ControlError(f"rows[{i}] needs day (YYYY-MM-DD) and cost: {exc}") from exc
        tags = item.get("tags") or {}
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise ControlError(f"rows[{i}].tags must map tag keys to string values")
        if "service" in item and item["service"] != SERVICE:
            raise ControlError(f"rows[{i}].service: the ledger only holds {SERVICE}")
        region = str(item.get("region", DEFAULT_REGION))
        instance_type = str(item.get("instance_type", "ml.t3.medium"))
        rows.append(
            CostRow(
                day=day,
                account=account.account,
                region=region,
                usage_type=str(item.get("usage_type") or usage_type(region, instance_type)),
                instance_type=instance_type,
                resource_id=str(item.get("resource_id") or tags.get("portal:workspace", "")),
                tags=tuple(sorted(tags.items())),
                cost=cost,
                usage=float(item.get("usage", 0.0)),
            )
        )
    if body.get("revise"):
        replaced = {(r.day, r.resource_id, r.usage_type) for r in rows}
        account.history = [
            r for r in account.history if (r.day, r.resource_id, r.usage_type) not in replaced
        ]
    account.history.extend(rows)
    return {"added": len(rows), **_ledger({}, {"account": account.account})}


def _seed(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    from sandbox.seed import seed

    name = body.get("name", "demo")
    try:
        return seed(
            str(name),
            account=body.get("account", DEFAULT_ACCOUNT_ID),
            region=body.get("region", DEFAULT_REGION),
        )
    except ValueError as exc:
        raise ControlError(str(exc)) from exc


def _reset(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    reset_sandbox()
    return {"status": "reset"}


Route = Callable[[dict[str, Any], dict[str, str]], Any]
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/_sandbox/health"): _health,
    ("GET", "/_sandbox/calls"): _calls,
    ("DELETE", "/_sandbox/calls"): _calls_reset,
    ("POST", "/_sandbox/calls/reset"): _calls_reset,
    ("GET", "/_sandbox/faults"): _faults,
    ("DELETE", "/_sandbox/faults"): _faults_clear,
    ("POST", "/_sandbox/faults/throttle"): _throttle,
    ("POST", "/_sandbox/faults/latency"): _latency,
    ("POST", "/_sandbox/faults/fail-next-provision"): _fail_next_provision,
    ("POST", "/_sandbox/faults/notebook"): _notebook_fault,
    ("GET", "/_sandbox/clock"): _clock,
    ("POST", "/_sandbox/clock"): _clock_set,
    ("GET", "/_sandbox/settings"): _settings,
    ("POST", "/_sandbox/settings"): _settings_set,
    ("GET", "/_sandbox/cost-tags"): _cost_tags,
    ("POST", "/_sandbox/cost-tags"): _cost_tags_set,
    ("GET", "/_sandbox/ledger"): _ledger,
    ("POST", "/_sandbox/ledger"): _ledger_add,
    ("POST", "/_sandbox/seed"): _seed,
    ("POST", "/_sandbox/reset"): _reset,
}


def escape(text: str) -> str:
    return html.escape(text, quote=True)
