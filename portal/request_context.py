"""The request id and client address of the request being served, for audit rows and logs.

Kept in a context variable so services deep in a call stack can record them without every
function passing the request along. Celery tasks run outside any request and get blanks.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestMeta:
    request_id: str = ""
    client_ip: str | None = None


# RequestMeta is frozen, so sharing one default instance is safe.
_current: contextvars.ContextVar[RequestMeta] = contextvars.ContextVar(
    "portal_request_meta",
    default=RequestMeta(),  # noqa: B039
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current_request_meta() -> RequestMeta:
    return _current.get()


class RequestContextMiddleware:
    """Takes X-Request-ID from the proxy when it is well-formed, or makes one; echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = _current.set(RequestMeta(request_id, request.META.get("REMOTE_ADDR") or None))
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response["X-Request-ID"] = request_id
        return response
