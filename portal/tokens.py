"""Personal API tokens: the secret is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from governance.services import audit_record
from portal.models import ApiToken, User

PREFIX = "mlp_"
MAX_DAYS = 365
# The lifetimes the settings page offers; the command line may ask for any up to MAX_DAYS.
LIFETIME_CHOICES = (7, 30, 90)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def max_active_tokens() -> int:
    return int(settings.API_TOKEN_MAX_ACTIVE)


def tokens_of(user: User) -> QuerySet[ApiToken]:
    """Every token of ``user``, newest first (revoked and expired ones too: they are history)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def active_tokens_of(user: User) -> QuerySet[ApiToken]:
    return tokens_of(user).filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


def token_of(user: User, pk: int) -> ApiToken:
    """One of ``user``'s own tokens; anyone else's is as good as missing (404)."""
    return get_object_or_404(tokens_of(user), pk=pk)


@transaction.atomic
def token_issue(
    *, actor: User | None, user: User, name: str, days: int = 90
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it and the secret, which is never stored."""
    if actor is not None and actor.pk != user.pk and not actor.is_portal_admin:
        raise PermissionDenied("People issue tokens for themselves; admins for anyone.")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name that says what it is for."})
    if len(name) > 100:
        raise ValidationError({"name": "A token name is at most 100 characters."})
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError({"days": f"A token lasts 1 to {MAX_DAYS} days."})
    # Lock the owner's row so two requests at once cannot both pass the count below.
    User.objects.select_for_update().filter(pk=user.pk).first()
    limit = max_active_tokens()
    if active_tokens_of(user).count() >= limit:
        raise ValidationError(
            f"{user.username} already has {limit} active tokens, the most allowed; "
            "revoke one that is no longer used first."
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:12],
        key_hash=_digest(secret),
        expires_at=timezone.now() + dt.timedelta(days=days),
    )
    audit_record(
        actor=actor,
        action="token.issue",
        target=token,
        after={
            "user": user.username,
            "name": token.name,
            "expires_at": token.expires_at.isoformat(),
        },
    )
    return token, secret


@transaction.atomic
def token_revoke(*, actor: User, token: ApiToken) -> None:
    """Stop ``token`` working at once; revoking twice is an error the caller can show."""
    if actor.pk != token.user_id and not actor.is_portal_admin:
        raise PermissionDenied("Only the token's owner or an admin can revoke it.")
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError(f"The token {token.name!r} was already revoked.")
    token.refresh_from_db(fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="token.revoke",
        target=token,
        after={"user": token.user.username, "name": token.name},
    )


def user_for_secret(secret: str) -> tuple[User, ApiToken] | None:
    """The active user behind a live token, or None (unknown, expired, revoked, inactive)."""
    if not secret.startswith(PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_digest(secret), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    # At most one write a minute per token, so busy scripts do not hammer the row.
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token
