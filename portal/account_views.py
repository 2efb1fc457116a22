"""The signed-in person's own settings: personal API tokens (list, create, revoke)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from portal import tokens
from portal.models import ApiToken
from portal.types import AuthenticatedRequest


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, so you recognise it later: “nightly export”.",
        error_messages={"required": "Give the token a name that says what it is for."},
    )
    days = forms.TypedChoiceField(
        label="Expires after",
        coerce=int,
        choices=[(days, f"{days} days") for days in tokens.LIFETIME_CHOICES],
        initial=30,
        error_messages={"invalid_choice": "Choose one of the lifetimes offered."},
    )


def _page(
    request: AuthenticatedRequest, form: TokenCreateForm, *, status: int = 200, **extra: Any
) -> HttpResponse:
    rows = list(tokens.tokens_of(request.user))
    active = sum(1 for token in rows if _status(token) == "active")
    response = render(
        request,
        "portal/account_tokens.html",
        {
            "form": form,
            "tokens": [(token, _status(token)) for token in rows],
            "active_count": active,
            "max_active": tokens.max_active_tokens(),
            **extra,
        },
        status=status,
    )
    # The page may carry a new secret: never keep it in a cache or the browser's history.
    response["Cache-Control"] = "no-store"
    return response


def _status(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= timezone.now() else "active"


@require_http_methods(["GET", "POST"])
def account_tokens(request: AuthenticatedRequest) -> HttpResponse:
    """List the person's tokens; a POST creates one and shows its secret on this response only."""
    if request.method != "POST":
        return _page(request, TokenCreateForm())
    form = TokenCreateForm(request.POST)
    if form.is_valid():
        try:
            token, secret = tokens.token_issue(
                actor=request.user,
                user=request.user,
                name=form.cleaned_data["name"],
                days=form.cleaned_data["days"],
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, error.messages)
        else:
            return _page(request, TokenCreateForm(), new_token=token, secret=secret)
    return _page(request, form, status=400)


@require_http_methods(["GET", "POST"])
def account_token_revoke(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """GET asks to confirm; POST revokes. Only the person's own tokens are found."""
    token = tokens.token_of(request.user, pk)
    if request.method != "POST":
        return render(request, "portal/account_token_revoke.html", {"token": token})
    try:
        tokens.token_revoke(actor=request.user, token=token)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Revoked the token “{token.name}”: it no longer works.")
    return redirect("account_tokens")
