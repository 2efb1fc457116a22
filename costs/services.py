"""Writes for prices and budgets, audited."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from costs.models import (
    BudgetAlert,
    InstancePrice,
    StoragePrice,
    TeamBudget,
    default_actual_thresholds,
    default_forecast_thresholds,
)
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


# AWS Budgets allows five notifications per budget; each threshold is one notification.
MAX_NOTIFICATIONS = 5
THRESHOLD_RANGE = (1, 200)


class AlertAlreadyAcknowledged(Exception):
    """Someone acknowledged the alert first (HTTP 409)."""


def _thresholds(field: str, values: object, *, required: bool) -> list[int]:
    """Whole percentages from 1 to 200, returned sorted without repeats, or a ValidationError
    naming the field and the bad value."""
    if not isinstance(values, list | tuple):
        raise ValidationError({field: "Give the thresholds as a list of whole percentages."})
    out: set[int] = set()
    low, high = THRESHOLD_RANGE
    for value in values:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        if number is None:
            raise ValidationError({field: f"{value!r} is not a whole percentage."})
        if not low <= number <= high:
            raise ValidationError(
                {field: f"{number} % is outside {low} to {high} %; thresholds are percentages."}
            )
        out.add(number)
    if required and not out:
        raise ValidationError({field: "Give at least one threshold, for example 80 %."})
    return sorted(out)


@transaction.atomic
def team_budget_set(
    *,
    actor: User | None,
    team: Team,
    monthly_usd: Decimal,
    actual_thresholds: Sequence[int | str] | None = None,
    forecast_thresholds: Sequence[int | str] | None = None,
) -> TeamBudget:
    """Set a team's monthly budget and the percentages that raise alerts; the matching AWS
    Budget is pushed by a task once this commits (a failed push is recorded on the budget,
    which is kept)."""
    if actor is not None and not (actor.is_portal_admin or actor.is_finance):
        raise PermissionDenied("Only finance and admins set budgets.")
    try:
        monthly_usd = Decimal(monthly_usd)
    except (ArithmeticError, TypeError, ValueError):
        raise ValidationError({"monthly_usd": "A monthly budget is an amount in USD."}) from None
    if not monthly_usd.is_finite() or monthly_usd <= 0:
        raise ValidationError({"monthly_usd": "A monthly budget must be more than zero."})
    if monthly_usd >= Decimal("1e10"):
        raise ValidationError({"monthly_usd": "A monthly budget must be under $10,000,000,000."})
    monthly_usd = monthly_usd.quantize(Decimal("0.01"))
    existing = TeamBudget.objects.select_for_update().filter(team=team).first()
    actual = _thresholds(
        "actual_thresholds",
        actual_thresholds
        if actual_thresholds is not None
        else (existing.actual_thresholds if existing else default_actual_thresholds()),
        required=True,
    )
    forecast = _thresholds(
        "forecast_thresholds",
        forecast_thresholds
        if forecast_thresholds is not None
        else (existing.forecast_thresholds if existing else default_forecast_thresholds()),
        required=False,
    )
    if len(actual) + len(forecast) > MAX_NOTIFICATIONS:
        raise ValidationError(
            {
                "forecast_thresholds": (
                    f"{len(actual) + len(forecast)} thresholds in all; AWS Budgets allows "
                    f"{MAX_NOTIFICATIONS} per budget (actual and forecast together)."
                )
            }
        )
    before = (
        {
            "monthly_usd": str(existing.monthly_usd),
            "actual_thresholds": existing.actual_thresholds,
            "forecast_thresholds": existing.forecast_thresholds,
        }
        if existing
        else {}
    )
    budget, _ = TeamBudget.objects.update_or_create(
        team=team,
        defaults={
            "monthly_usd": monthly_usd,
            "actual_thresholds": actual,
            "forecast_thresholds": forecast,
        },
    )
    audit_record(
        actor=actor,
        action="budget.set",
        target=budget,
        team=team,
        before=before,
        after={
            "monthly_usd": str(monthly_usd),
            "actual_thresholds": actual,
            "forecast_thresholds": forecast,
        },
    )
    from costs.tasks import push_team_budget

    # delay_on_commit (Celery 5.4+): a rolled-back change pushes nothing to AWS.
    push_team_budget.delay_on_commit(team.pk)  # type: ignore[attr-defined]
    return budget


@transaction.atomic
def budget_alert_acknowledge(*, actor: User, alert: BudgetAlert) -> BudgetAlert:
    """Finance (or an admin) has seen the alert. Only the first acknowledgement counts."""
    if not (actor.is_portal_admin or actor.is_finance):
        raise PermissionDenied("Only finance and admins acknowledge budget alerts.")
    now = timezone.now()
    updated = BudgetAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=actor
    )
    if updated != 1:
        current = BudgetAlert.objects.filter(pk=alert.pk).select_related("acknowledged_by").first()
        if current is None:
            raise AlertAlreadyAcknowledged("This alert no longer exists.")
        who = current.acknowledged_by.display_name if current.acknowledged_by else "someone"
        when = timezone.localtime(current.acknowledged_at) if current.acknowledged_at else None
        raise AlertAlreadyAcknowledged(
            f"This alert was already acknowledged by {who}"
            + (f" on {when:%Y-%m-%d %H:%M}." if when else ".")
        )
    alert.refresh_from_db()
    audit_record(
        actor=actor,
        action="budget.alert_acknowledge",
        target=alert,
        team=alert.team,
        before={"acknowledged_at": None},
        after={"acknowledged_at": now.isoformat()},
    )
    return alert
