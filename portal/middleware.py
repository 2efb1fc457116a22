"""Every page needs a signed-in user unless its view says otherwise."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest

# The human-facing API docs page (/api/docs/) keeps the usual redirect to the login page.
API_PREFIXES = ("/api/v1/", "/api/schema/")


class PortalLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Django's login-required default, except for the API.

    API clients must get DRF's 401/403 with a JSON body, not a redirect to an HTML login
    page; DRF's own authentication and IsAuthenticated default guard those views.
    """

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> Any:
        if request.path_info.startswith(API_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
