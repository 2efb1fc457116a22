"""Print a new API token for a user: ``python manage.py issue_token USERNAME``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portal.models import User
from portal.tokens import MAX_DAYS, token_issue


class Command(BaseCommand):
    help = "Issue a bearer token for scripts and print it (it is not shown again)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="What the token is for.")
        parser.add_argument("--days", type=int, default=90, help=f"Lifetime, 1 to {MAX_DAYS}.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {options['username']!r}.")
        if not 1 <= options["days"] <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS}.")
        _, secret = token_issue(actor=None, user=user, name=options["name"], days=options["days"])
        self.stdout.write(secret)
