"""Small pieces every app's API views share."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from rest_framework import exceptions
from rest_framework.request import Request

from portal.models import User


def request_user(request: Request) -> User:
    """The signed-in person (every API view requires authentication)."""
    return cast(User, request.user)


def cleaned_query(form: forms.Form) -> dict[str, Any]:
    """A filter form's cleaned data, or the API's one shape for a 400: each field with its
    messages."""
    if not form.is_valid():
        raise exceptions.ValidationError(
            {
                field: [str(message) for message in messages]
                for field, messages in form.errors.items()
            }
        )
    return form.cleaned_data
