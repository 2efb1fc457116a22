"""The cost calendar: a day is a UTC day, as Cost Explorer and AWS Budgets count them.

Cost rows, forecasts, budgets and alerts are all kept per UTC day and month, so every cost
page takes "today" and "this month" from here, not from the portal's time zone
(``PORTAL_TIME_ZONE``): in Auckland on the morning of the 1st, AWS's month has not turned
yet, and a page that said otherwise would show an empty month beside last month's alerts.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def cost_today() -> dt.date:
    """Today in UTC, Cost Explorer's calendar."""
    return timezone.now().astimezone(dt.UTC).date()


def month_start(day: dt.date | None = None) -> dt.date:
    """The first of ``day``'s month (default: this month in the cost calendar)."""
    return (day or cost_today()).replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def previous_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
