"""The Celery app and, in one place, every periodic schedule."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Later issues add catalog sync, reconcile, cost sync, compliance and auto-stop here.
app.conf.beat_schedule = {
    "worker-heartbeat": {
        "task": "portal.tasks.worker_heartbeat",
        "schedule": 60.0,
    },
    # Service Catalog changes rarely and admins can sync on demand; once a day, off-hours.
    "sync-catalog": {
        "task": "workspaces.tasks.sync_catalog",
        "schedule": crontab(hour=2, minute=41),
    },
    # Hourly, off the hour so it does not meet every other agency job at :00.
    "evaluate-compliance": {
        "task": "governance.tasks.evaluate_compliance_task",
        "schedule": crontab(minute=23),
    },
    # The outbox sweep: lost work re-enqueued, drift recorded (workspaces/reconcile.py).
    "reconcile-workspaces": {
        "task": "workspaces.tasks.reconcile_workspaces",
        "schedule": 60.0,
    },
    "clear-expired-sessions": {
        "task": "portal.tasks.clear_expired_sessions",
        "schedule": crontab(hour=3, minute=17),
    },
}
