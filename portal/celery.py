"""The Celery app and, in one place, every periodic schedule."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

from portal.observability import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Request ids into tasks, task timings, the worker's metrics server (portal/observability.py).
connect_celery_signals()

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
    # Compliance history retention (governance/retention.py): once a day, off-hours and off
    # the hour, away from the evaluation at :23 and the session cleanup at 03:17.
    "prune-compliance-history": {
        "task": "governance.tasks.prune_compliance_history",
        "schedule": crontab(hour=3, minute=47),
    },
    # The outbox sweep: lost work re-enqueued, drift recorded (workspaces/reconcile.py).
    "reconcile-workspaces": {
        "task": "workspaces.tasks.reconcile_workspaces",
        "schedule": 60.0,
    },
    # Working hours (workspaces/schedules.py): a workspace runs at most this long past its
    # team's closing time; off the minute so it does not meet the reconciler head-on.
    "stop-outside-working-hours": {
        "task": "workspaces.tasks.stop_outside_working_hours",
        "schedule": crontab(minute="2-59/5"),
    },
    # End dates: reminders, stop at the end date, terminate after the team's grace period.
    "enforce-end-dates": {
        "task": "workspaces.tasks.enforce_end_dates",
        "schedule": crontab(minute="4-59/15"),
    },
    "clear-expired-sessions": {
        "task": "portal.tasks.clear_expired_sessions",
        "schedule": crontab(hour=3, minute=17),
    },
    # Cost Explorer sync (costs/sync.py): every six hours, off the hour; each run costs
    # USD 0.01 per request (1 + pages) whatever the number of teams.
    "sync-costs": {
        "task": "costs.tasks.sync_costs",
        "schedule": crontab(hour="*/6", minute=37),
    },
}
