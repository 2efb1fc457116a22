"""Writes for prices and budgets, audited."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from costs.models import InstancePrice, StoragePrice, TeamBudget
from governance.services import audit_record
from portal.models import Team, User


@transaction.atomic
def instance_price_set(
    *, actor: User | None, region: str, instance_type: str, hourly_usd: Decimal
) -> InstancePrice:
    if actor is not None and not actor.is_portal_admin:
        raise PermissionDenied("Only admins edit the price table.")
    if hourly_usd < 0:
        raise ValidationError({"hourly_usd": "A price cannot be negative."})
    price = InstancePrice.objects.filter(region=region, instance_type=instance_type).first()
    before = {"hourly_usd": str(price.hourly_usd)} if price else {}
    price, _ = InstancePrice.objects.update_or_create(
        region=region, instance_type=instance_type, defaults={"hourly_usd": hourly_usd}
    )
    audit_record(
        actor=actor,
        action="price.set",
        target=price,
        before=before,
        after={"region": region, "instance_type": instance_type, "hourly_usd": str(hourly_usd)},
    )
    return price


@transaction.atomic
def storage_price_set(*, actor: User | None, region: str, gb_month_usd: Decimal) -> StoragePrice:
    if actor is not None and not actor.is_portal_admin:
        raise PermissionDenied("Only admins edit the price table.")
    price, _ = StoragePrice.objects.update_or_create(
        region=region, defaults={"gb_month_usd": gb_month_usd}
    )
    audit_record(
        actor=actor,
        action="price.storage_set",
        target=price,
        after={"region": region, "gb_month_usd": str(gb_month_usd)},
    )
    return price


@transaction.atomic
def team_budget_set(*, actor: User | None, team: Team, monthly_usd: Decimal) -> TeamBudget:
    if actor is not None and not (actor.is_portal_admin or actor.is_finance):
        raise PermissionDenied("Only finance and admins set budgets.")
    if monthly_usd <= 0:
        raise ValidationError({"monthly_usd": "A monthly budget must be more than zero."})
    existing = TeamBudget.objects.filter(team=team).first()
    before = {"monthly_usd": str(existing.monthly_usd)} if existing else {}
    budget, _ = TeamBudget.objects.update_or_create(
        team=team, defaults={"monthly_usd": monthly_usd}
    )
    audit_record(
        actor=actor,
        action="budget.set",
        target=budget,
        team=team,
        before=before,
        after={"monthly_usd": str(monthly_usd)},
    )
    return budget
