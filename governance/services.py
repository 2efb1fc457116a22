"""Writes for governance. ``audit_record`` is called by every service that changes state."""

from __future__ import annotations

from typing import Any

from django.db import models

from governance.models import AuditEvent
from portal.models import Team, User
from portal.request_context import current_request_meta


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model,
    team: Team | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit event. Call inside the transaction that makes the change."""
    meta = current_request_meta()
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:255],
        team=team,
        before=before or {},
        after=after or {},
        reason=reason,
        request_id=meta.request_id,
        client_ip=meta.client_ip,
    )
