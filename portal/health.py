"""Liveness and readiness for load balancers, orchestrators and the operator."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import aws
from portal.celery import app as celery_app
from portal.models import WorkerHeartbeat


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)


def _check_aws() -> None:
    aws.caller_identity()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "broker": _check_broker,
    "aws": _check_aws,
}


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; says nothing about its dependencies."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: database, broker and AWS endpoint all answer. 503 names what failed."""
    checks: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # any failure means not ready; the message says which
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            checks[name] = {"ok": True}
        checks[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    failing = [name for name, result in checks.items() if not result["ok"]]
    body: dict[str, object] = {
        "status": "ok" if not failing else "unavailable",
        "checks": checks,
    }
    if failing:
        body["failing"] = failing
    if checks["database"]["ok"]:
        # Informational: a worker that stopped heartbeating shows up here before tasks pile up.
        body["workers"] = {
            hb.hostname: round((timezone.now() - hb.last_seen).total_seconds())
            for hb in WorkerHeartbeat.objects.order_by("hostname")[:20]
        }
    return JsonResponse(body, status=503 if failing else 200)
