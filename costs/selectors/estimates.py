"""What a workspace will cost a month, from the price table."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from costs.models import (
    InstancePrice,
    StoragePrice,
)
from costs.selectors.tables import CENT

HOURS_PER_MONTH = Decimal("730")
# Weekdays in an average month (365.25 / 12 * 5 / 7).
WEEKDAYS_PER_MONTH = Decimal("21.74")


@dataclass(frozen=True)
class Estimate:
    monthly_usd: Decimal
    hourly_usd: Decimal
    hours_per_month: Decimal
    storage_usd: Decimal


class PriceUnknown(LookupError):
    pass


def estimate_monthly(
    *,
    instance_type: str,
    volume_size_gb: int,
    stop_outside_working_hours: bool,
    working_hours_per_day: Decimal = Decimal("12"),
    region: str | None = None,
) -> Estimate:
    """A month of running this instance (on weekdays' working hours when scheduled) plus its
    volume, at the price table's on-demand prices."""
    region = region or settings.AWS_REGION
    price = InstancePrice.objects.filter(region=region, instance_type=instance_type).first()
    if price is None:
        raise PriceUnknown(
            f"No price is known for {instance_type} in {region}; an admin can add it to the "
            "price table."
        )
    storage = StoragePrice.objects.filter(region=region).first()
    gb_month = storage.gb_month_usd if storage else Decimal("0.14")
    hours = (
        working_hours_per_day * WEEKDAYS_PER_MONTH
        if stop_outside_working_hours
        else HOURS_PER_MONTH
    )
    storage_usd = gb_month * volume_size_gb
    monthly = (price.hourly_usd * hours + storage_usd).quantize(CENT, ROUND_HALF_UP)
    return Estimate(monthly, price.hourly_usd, hours, storage_usd.quantize(CENT))
