"""Typed readers for settings that come from the environment.

Each reader names the variable in its error, so a bad deployment fails at start-up with a
message an operator can act on, rather than somewhere deep inside a request. Any variable
may instead be given as ``NAME_FILE`` pointing at a file holding the value (Docker and
Kubernetes secrets are mounted that way).
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def raw(name: str) -> str | None:
    """The value of ``name``, or of the file named by ``name_FILE``, or None when neither is set."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points at {file_name!r}, which cannot be read: {exc.strerror}"
            ) from exc
    return os.environ.get(name)


def string(name: str, default: str = "") -> str:
    value = raw(name)
    return default if value is None else value


def boolean(name: str, default: bool = False) -> bool:
    value = raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    value = raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def decimal_number(name: str, default: float) -> float:
    value = raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def string_list(name: str, default: list[str] | None = None) -> list[str]:
    value = raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def url(name: str, *, schemes: tuple[str, ...], default: str = "") -> str:
    value = raw(name)
    if value is None or value.strip() == "":
        return default
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in schemes or not rest:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ImproperlyConfigured(f"{name} must be a URL starting with {allowed}; got {value!r}")
    return value


def require(names: list[str]) -> None:
    """Refuse to start when any of ``names`` is unset, naming all of them at once."""
    missing = [name for name in names if not raw(name)]
    if missing:
        raise ImproperlyConfigured(
            "Production settings (DJANGO_DEBUG is off) need these environment variables: "
            + ", ".join(missing)
            + ". Set them (or NAME_FILE pointing at a file), or set DJANGO_DEBUG=true for a"
            " local run."
        )
