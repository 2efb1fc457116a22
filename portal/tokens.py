"""Personal API tokens: the secret is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance.services import audit_record
from portal.models import ApiToken, User

PREFIX = "mlp_"
MAX_DAYS = 365


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def token_issue(
    *, actor: User | None, user: User, name: str, days: int = 90
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it and the secret, which is never stored."""
    if actor is not None and actor.pk != user.pk and not actor.is_portal_admin:
        raise PermissionDenied("People issue tokens for themselves; admins for anyone.")
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError({"days": f"A token lasts 1 to {MAX_DAYS} days."})
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip() or "token",
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
    if actor.pk != token.user_id and not actor.is_portal_admin:
        raise PermissionDenied("Only the token's owner or an admin can revoke it.")
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated:
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
