"""Housekeeping tasks. Tasks stay thin: they call a service and carry only JSON-safe ids."""

from __future__ import annotations

import socket

from celery import shared_task
from django.core import management
from django.utils import timezone

from portal.models import WorkerHeartbeat


@shared_task(acks_late=True, soft_time_limit=30, time_limit=60)
def worker_heartbeat(hostname: str = "") -> str:
    """Record that a worker is alive and can reach the database.

    Idempotent (an upsert on the hostname), so redelivery after a crash is harmless.
    """
    name = hostname or socket.gethostname()
    WorkerHeartbeat.objects.update_or_create(hostname=name, defaults={"last_seen": timezone.now()})
    return name


@shared_task(soft_time_limit=120, time_limit=180)
def clear_expired_sessions() -> None:
    management.call_command("clearsessions")
