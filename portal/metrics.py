"""Prometheus metrics: HTTP requests, Celery tasks, provisioning time and AWS calls.

One process (``runserver``, a test run) keeps its metrics in memory. gunicorn's workers and
Celery's prefork children are separate processes, so with ``PROMETHEUS_MULTIPROC_DIR`` set in
the environment *before the process starts*, prometheus_client writes every value to files in
that directory and whoever serves ``/metrics`` adds them up (``registry_for_scrape``). The
directory must be empty when the service starts (docker-compose mounts a tmpfs there).

Labels are bounded on purpose: the route is the URL pattern's name, never the raw path, and
AWS errors carry AWS's error code, a short fixed list per operation.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import os
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "portal_http_requests",
    "HTTP requests answered, by method, route name and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request, by route name.",
    ["route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TASK_DURATION = Histogram(
    "portal_celery_task_duration_seconds",
    "Time a Celery task ran in the worker, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
TASKS = Counter(
    "portal_celery_tasks",
    "Celery task runs, by task name and outcome (success, failure, retry, ...).",
    ["task", "outcome"],
)
PROVISIONING_DURATION = Histogram(
    "portal_workspace_provisioning_seconds",
    "From approval to the workspace becoming available (a retried launch includes its "
    "failed attempts).",
    buckets=(30, 60, 120, 180, 300, 420, 600, 900, 1200, 1800, 3600, 7200),
)
AWS_CALLS = Counter(
    "portal_aws_calls",
    "AWS API calls made through the gateway (after botocore's own retries), by service and "
    "operation.",
    ["service", "operation"],
)
AWS_ERRORS = Counter(
    "portal_aws_errors",
    "AWS API calls that failed, by service, operation and AWS error code.",
    ["service", "operation", "code"],
)
AWS_RETRIES = Counter(
    "portal_aws_retries",
    "Attempts botocore repeated within a call (throttling, 5xx, connection errors).",
    ["service", "operation"],
)


# --- recording --------------------------------------------------------------------------------


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_REQUEST_DURATION.labels(route=route).observe(seconds)


def record_task(task: str, outcome: str, seconds: float | None) -> None:
    TASKS.labels(task=task, outcome=outcome).inc()
    if seconds is not None:
        TASK_DURATION.labels(task=task).observe(seconds)


def workspace_became_available(workspace: Any) -> None:
    """Observe approval → available for a workspace that just reached AVAILABLE."""
    approved_at = getattr(workspace, "decided_at", None)
    available_at = getattr(workspace, "state_changed_at", None)
    if approved_at is not None and available_at is not None:
        PROVISIONING_DURATION.observe(max(0.0, (available_at - approved_at).total_seconds()))


def _names(model: Any) -> tuple[str, str]:
    return str(model.service_model.service_name), str(model.name)


def _after_call(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    service, operation = _names(model)
    AWS_CALLS.labels(service=service, operation=operation).inc()
    if getattr(http_response, "status_code", 200) >= 300:
        code = str(parsed.get("Error", {}).get("Code", "")) or str(http_response.status_code)
        AWS_ERRORS.labels(service=service, operation=operation, code=code).inc()


def _after_call_error(
    exception: BaseException, event_name: str, service: str = "", **_: Any
) -> None:
    # No HTTP answer at all (connection refused, timeout): botocore raises instead, and this
    # event carries no operation model, only its name: after-call-error.<service-id>.<Operation>.
    operation = event_name.rsplit(".", 1)[-1]
    AWS_CALLS.labels(service=service, operation=operation).inc()
    AWS_ERRORS.labels(service=service, operation=operation, code=type(exception).__name__).inc()


def _needs_retry(attempts: int, operation: Any, **_: Any) -> None:
    # Emitted after every attempt, numbered from 1: each one past the first was a retry.
    if attempts > 1:
        service, name = _names(operation)
        AWS_RETRIES.labels(service=service, operation=name).inc()


def instrument_aws_client(client: Any) -> Any:
    """Count the calls and errors of a boto3 client (portal.aws creates every client)."""
    events = client.meta.events
    events.register("after-call", _after_call, unique_id="portal-metrics-after-call")
    events.register(
        "after-call-error",
        functools.partial(_after_call_error, service=client.meta.service_model.service_name),
        unique_id="portal-metrics-after-call-error",
    )
    events.register("needs-retry", _needs_retry, unique_id="portal-metrics-needs-retry")
    return client


# --- exposing ---------------------------------------------------------------------------------


def multiprocess_dir() -> str:
    """The directory prometheus_client itself writes to (it reads the environment at import)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def registry_for_scrape(path: str = "") -> CollectorRegistry:
    """All processes' values when running multi-process, else this process's registry."""
    path = path or multiprocess_dir()
    if not path:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return registry


def _from_allowed_network(request: HttpRequest) -> bool:
    # A request relayed by a proxy arrives from the proxy's address, which may well sit in an
    # allowed network; only a direct connection (a scraper beside the portal) counts.
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def _has_token(request: HttpRequest) -> bool:
    expected: str = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given, expected)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics`` for Prometheus: 404 when switched off; else only for a direct connection
    from ``METRICS_ALLOWED_NETWORKS`` or with ``Authorization: Bearer <METRICS_TOKEN>``."""
    if not settings.METRICS_ENABLED:
        return HttpResponse("Metrics are switched off (METRICS_ENABLED).", status=404)
    if request.method != "GET":
        return HttpResponse("Use GET.", status=405, headers={"Allow": "GET"})
    if not (_has_token(request) or _from_allowed_network(request)):
        return HttpResponse(
            "Metrics need Authorization: Bearer <METRICS_TOKEN>, or a direct connection from "
            "METRICS_ALLOWED_NETWORKS.",
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            content_type="text/plain",
        )
    body = generate_latest(registry_for_scrape(settings.PROMETHEUS_MULTIPROC_DIR))
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


def start_worker_metrics_server(port: int) -> None:
    """Serve the worker's metrics (every pool process's, when multi-process) on ``port``."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=settings.WORKER_METRICS_ADDRESS, registry=registry_for_scrape())
