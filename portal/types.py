"""Types shared across apps."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from portal.models import User


class AuthenticatedRequest(HttpRequest):
    """A request that LoginRequiredMiddleware (or DRF's IsAuthenticated) has let through."""

    user: User
    htmx: HtmxDetails
