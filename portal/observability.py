"""Who and what every log line is about, carried from a request into the tasks it enqueues.

- ``ContextFilter`` (on the log handler, see ``LOGGING`` in settings) stamps every record with
  ``request_id``, ``user_id``, ``path``, ``task_name`` and ``task_id``, blank when unknown.
- ``ObservabilityMiddleware`` remembers the request being served, counts and times it for
  Prometheus (by route name) and logs one line when it is answered.
- ``connect_celery_signals`` (called from ``portal/celery.py``): a task published during a
  request carries the request id in its message headers; the worker restores it around the
  task, so the worker's lines carry the same ``request_id`` plus the task's name and id. It
  also times every task, and starts the worker's metrics server when asked.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from portal import metrics
from portal.request_context import current_request_meta

logger = logging.getLogger("portal.request")

REQUEST_ID_HEADER = "portal_request_id"


@dataclass(frozen=True)
class TaskMeta:
    request_id: str = ""
    task_name: str = ""
    task_id: str = ""


_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "portal_observed_request", default=None
)
_task: contextvars.ContextVar[TaskMeta | None] = contextvars.ContextVar(
    "portal_observed_task", default=None
)


def current_request_id() -> str:
    """The id of the request being served, or of the request that enqueued this task."""
    task = _task.get()
    return current_request_meta().request_id or (task.request_id if task else "")


def _user_id(request: HttpRequest) -> int | None:
    # Never evaluate a lazy user here: that is a database query from inside logging (which
    # could log again). Once authentication has looked (or DRF has set it) the id is known.
    user = request.__dict__.get("user")
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None
    pk = getattr(user, "pk", None)
    return pk if isinstance(pk, int) else None


class ContextFilter(logging.Filter):
    """Adds request and task context to every record passing through the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _request.get()
        task = _task.get()
        record.request_id = current_request_id()
        record.user_id = _user_id(request) if request is not None else None
        record.path = request.path if request is not None else ""
        record.task_name = task.task_name if task else ""
        record.task_id = task.task_id if task else ""
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, message and the context above."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601 in UTC
    )


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        if request.path.startswith(settings.STATIC_URL or "/static/"):
            return "<static>"  # served by WhiteNoise before routing
        return "<unmatched>"  # 404s and redirects before routing: one label, not one per path
    return match.view_name or "<unnamed>"


QUIET_ROUTES = frozenset({"healthz", "readyz", "metrics"})


class ObservabilityMiddleware:
    """Counts, times and logs each request; sits right after RequestContextMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        token = _request.set(request)
        try:
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            route = _route(request)
            metrics.record_request(request.method or "", route, response.status_code, seconds)
            # Probes and scrapes every few seconds would drown the log; they stay at DEBUG.
            logger.log(
                logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
            return response
        finally:
            _request.reset(token)


# --- Celery ---------------------------------------------------------------------------------


def _before_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = current_request_id()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


_started: dict[str, float] = {}
_task_tokens: dict[str, contextvars.Token[TaskMeta | None]] = {}


def _task_prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
    request_id = str(getattr(task.request, REQUEST_ID_HEADER, None) or "") if task else ""
    name = getattr(task, "name", "") or ""
    _task_tokens[task_id] = _task.set(TaskMeta(request_id, name, task_id))
    _started[task_id] = time.perf_counter()


def _task_postrun(task_id: str = "", task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id, None)
    seconds = time.perf_counter() - started if started is not None else None
    metrics.record_task(getattr(task, "name", "") or "", (state or "unknown").lower(), seconds)
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            _task.reset(token)
        except ValueError:  # set in another context (eager runs nest): just clear it
            _task.set(None)


def _worker_ready(**_: Any) -> None:
    port: int = settings.WORKER_METRICS_PORT
    if port:
        metrics.start_worker_metrics_server(port)
        logging.getLogger(__name__).info("Worker metrics on port %s", port)


def _worker_process_shutdown(pid: int | None = None, **_: Any) -> None:
    if metrics.multiprocess_dir() and pid:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(_before_publish, weak=False)
    signals.task_prerun.connect(_task_prerun, weak=False)
    signals.task_postrun.connect(_task_postrun, weak=False)
    signals.worker_ready.connect(_worker_ready, weak=False)
    signals.worker_process_shutdown.connect(_worker_process_shutdown, weak=False)
