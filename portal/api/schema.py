"""OpenAPI descriptions drf-spectacular cannot infer on its own."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A personal token from your account's API tokens page (/accounts/tokens/), "
                "or `python manage.py issue_token USERNAME` for an operator."
            ),
        }


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": ERROR_REF}},
        **extra,
    }


def document_common_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Answers every API operation can give, whatever its view says: 401 without a valid token
    or session, 429 past the caller's rate, and 404 for a page number past the end."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "ErrorOut",
        {
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        },
    )
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", _error("No valid token or session."))
            responses.setdefault(
                "429",
                _error(
                    "Too many requests from this caller; try again after Retry-After seconds.",
                    headers={
                        "Retry-After": {
                            "schema": {"type": "integer"},
                            "description": "Seconds until the next request is allowed.",
                        }
                    },
                ),
            )
            names = {p.get("name") for p in operation.get("parameters", [])}
            if "page" in names:
                responses.setdefault("404", _error("No such page (or no such object)."))
    return result
