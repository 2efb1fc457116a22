"""Tell people things: a row they see in the portal, and an e-mail sent after the commit."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from portal.models import Notification, User

logger = logging.getLogger(__name__)


def notify(users: Iterable[User], *, subject: str, body: str, url: str = "") -> int:
    """Create one notification per person and e-mail those with an address, once the
    surrounding transaction commits (a rolled-back request sends nothing)."""
    recipients = list({u.pk: u for u in users}.values())
    Notification.objects.bulk_create(
        [Notification(user=u, subject=subject[:200], body=body, url=url) for u in recipients]
    )
    addresses = [u.email for u in recipients if u.email]

    def send() -> None:
        try:
            send_mail(subject, f"{body}\n\n{url}".strip(), settings.DEFAULT_FROM_EMAIL, addresses)
        except OSError:
            # The in-portal notification exists; a mail relay outage must not fail the action.
            logger.exception("could not e-mail %s", addresses)

    if addresses:
        transaction.on_commit(send)
    return len(recipients)
