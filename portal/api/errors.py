"""Django's own error pages for the API's URLs, in the API's JSON shape.

A request that never reaches a DRF view (a malformed id that matches no URL pattern, say) would
otherwise get the portal's HTML 404 page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path_info.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path_info.startswith(API_PREFIX):
        return JsonResponse(
            {"detail": "Server error: the portal's operators have the details."}, status=500
        )
    return defaults.server_error(request)
