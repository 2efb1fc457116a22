"""Public on-demand prices (us-east-1, USD) for SageMaker notebook instances and ML storage.

They seed the price table so estimates work from the first start; admins edit the table for
their region and any negotiated rates.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

REGION = "us-east-1"
STORAGE_GB_MONTH = Decimal("0.14")
HOURLY = {
    "ml.t3.medium": Decimal("0.05"),
    "ml.t3.large": Decimal("0.10"),
    "ml.t3.xlarge": Decimal("0.20"),
    "ml.t3.2xlarge": Decimal("0.399"),
    "ml.m5.xlarge": Decimal("0.23"),
    "ml.m5.2xlarge": Decimal("0.461"),
    "ml.m5.4xlarge": Decimal("0.922"),
    "ml.c5.xlarge": Decimal("0.204"),
    "ml.c5.2xlarge": Decimal("0.408"),
    "ml.r5.large": Decimal("0.151"),
    "ml.r5.xlarge": Decimal("0.302"),
    "ml.r5.2xlarge": Decimal("0.605"),
    "ml.r5.4xlarge": Decimal("1.21"),
    "ml.g4dn.xlarge": Decimal("0.7364"),
    "ml.g4dn.2xlarge": Decimal("1.0528"),
    "ml.g5.xlarge": Decimal("1.408"),
    "ml.p3.2xlarge": Decimal("3.825"),
}


def seed_public_prices(instance_price: Any, storage_price: Any) -> None:
    """Add the public prices that are missing; never overwrite an admin's edit. Takes the
    model classes so a data migration can pass its historical models."""
    for instance_type, hourly in HOURLY.items():
        instance_price.objects.get_or_create(
            region=REGION, instance_type=instance_type, defaults={"hourly_usd": hourly}
        )
    storage_price.objects.get_or_create(region=REGION, defaults={"gb_month_usd": STORAGE_GB_MONTH})
