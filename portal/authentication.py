"""``Authorization: Bearer <token>`` for scripts, next to session auth for the browser."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from portal.tokens import user_for_secret


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send the header as 'Authorization: Bearer <token>'.")
        found = user_for_secret(parts[1].decode(errors="replace"))
        if found is None:
            raise AuthenticationFailed("The token is unknown, expired or revoked.")
        return found

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
