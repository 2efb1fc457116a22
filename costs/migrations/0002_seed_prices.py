"""Public on-demand prices (us-east-1, USD) for SageMaker notebook instances and ML storage,
so estimates work from the first start. Admins edit them in the price table."""

from decimal import Decimal

from django.db import migrations

HOURLY = {
    "ml.t3.medium": "0.05", "ml.t3.large": "0.10", "ml.t3.xlarge": "0.20",
    "ml.t3.2xlarge": "0.399", "ml.m5.xlarge": "0.23", "ml.m5.2xlarge": "0.461",
    "ml.m5.4xlarge": "0.922", "ml.c5.xlarge": "0.204", "ml.c5.2xlarge": "0.408",
    "ml.r5.large": "0.151", "ml.r5.xlarge": "0.302", "ml.r5.2xlarge": "0.605",
    "ml.r5.4xlarge": "1.21", "ml.g4dn.xlarge": "0.7364", "ml.g4dn.2xlarge": "1.0528",
    "ml.g5.xlarge": "1.408", "ml.p3.2xlarge": "3.825",
}


def seed(apps, schema_editor):
    InstancePrice = apps.get_model("costs", "InstancePrice")
    StoragePrice = apps.get_model("costs", "StoragePrice")
    for instance_type, price in HOURLY.items():
        InstancePrice.objects.get_or_create(
            region="us-east-1", instance_type=instance_type,
            defaults={"hourly_usd": Decimal(price)},
        )
    StoragePrice.objects.get_or_create(region="us-east-1",
                                       defaults={"gb_month_usd": Decimal("0.14")})


class Migration(migrations.Migration):
    dependencies = [("costs", "0001_catalog_and_requests")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
