"""Seed the price table with public prices (costs/prices.py) so estimates work at once."""

from django.db import migrations

from costs.prices import seed_public_prices


def seed(apps, schema_editor):
    seed_public_prices(apps.get_model("costs", "InstancePrice"),
                       apps.get_model("costs", "StoragePrice"))


class Migration(migrations.Migration):
    dependencies = [("costs", "0001_catalog_and_requests")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
