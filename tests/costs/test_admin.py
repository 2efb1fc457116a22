"""The price table and budgets in the admin: admins for prices, admins and finance for budgets,
every write through ``costs.services`` and audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from costs.models import InstancePrice, StoragePrice, TeamBudget
from costs.prices import seed_public_prices
from governance.models import AuditEvent
from tests.conftest import PERSONAS, World

pytestmark = pytest.mark.django_db

PAGES = ["costs_instanceprice", "costs_storageprice", "costs_teambudget"]


@pytest.mark.parametrize("page", PAGES)
def test_the_admin_opens_every_price_and_budget_list_and_add_form(
    world: World, client: Client, page: str
) -> None:
    client.force_login(world.admin)
    assert client.get(reverse(f"admin:{page}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:{page}_add")).status_code == 200


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "admin"])
@pytest.mark.parametrize("page", PAGES)
def test_everyone_else_is_sent_to_the_admin_login(
    world: World, client: Client, persona: str, page: str
) -> None:
    client.force_login(world.persona(persona))
    response = client.get(reverse(f"admin:{page}_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.fixture
def finance_staff(world: World) -> World:
    world.finance.is_staff = True
    world.finance.save()
    return world


def test_finance_with_admin_access_sets_budgets_but_not_prices(
    finance_staff: World, client: Client
) -> None:
    world = finance_staff
    client.force_login(world.finance)
    assert client.get(reverse("admin:costs_instanceprice_changelist")).status_code == 403

    response = client.post(
        reverse("admin:costs_teambudget_add"), {"team": world.team.pk, "monthly_usd": "2500"}
    )

    assert response.status_code == 302
    assert TeamBudget.objects.get(team=world.team).monthly_usd == Decimal("2500.00")
    event = AuditEvent.objects.get(action="budget.set")
    assert event.actor == world.finance
    assert event.after == {
        "monthly_usd": "2500.00",
        "actual_thresholds": [50, 80, 100],
        "forecast_thresholds": [100],
    }


def test_a_budget_change_in_the_admin_is_audited_with_before_and_after(
    world: World, client: Client
) -> None:
    client.force_login(world.admin)
    client.post(
        reverse("admin:costs_teambudget_add"), {"team": world.team.pk, "monthly_usd": "1000"}
    )
    budget = TeamBudget.objects.get(team=world.team)

    client.post(reverse("admin:costs_teambudget_change", args=[budget.pk]), {"monthly_usd": "1200"})

    event = AuditEvent.objects.filter(action="budget.set").order_by("id").last()
    assert event is not None
    assert Decimal(event.before["monthly_usd"]) == Decimal(1000)
    assert Decimal(event.after["monthly_usd"]) == Decimal(1200)


def test_a_price_change_in_the_admin_goes_through_the_service(world: World, client: Client) -> None:
    client.force_login(world.admin)
    seed_public_prices(InstancePrice, StoragePrice)  # a transactional test may have flushed them
    price = InstancePrice.objects.get(region="us-east-1", instance_type="ml.t3.medium")

    response = client.post(
        reverse("admin:costs_instanceprice_change", args=[price.pk]), {"hourly_usd": "0.0600"}
    )

    assert response.status_code == 302
    price.refresh_from_db()
    assert price.hourly_usd == Decimal("0.0600")
    event = AuditEvent.objects.get(action="price.set")
    assert event.actor == world.admin
    assert event.after["hourly_usd"] == "0.0600"


def test_a_negative_price_is_refused_and_nothing_changes(world: World, client: Client) -> None:
    client.force_login(world.admin)
    seed_public_prices(InstancePrice, StoragePrice)  # a transactional test may have flushed them
    price = InstancePrice.objects.get(region="us-east-1", instance_type="ml.t3.medium")
    before = price.hourly_usd

    response = client.post(
        reverse("admin:costs_instanceprice_change", args=[price.pk]), {"hourly_usd": "-1"}
    )

    assert response.status_code == 200
    price.refresh_from_db()
    assert price.hourly_usd == before
    assert not AuditEvent.objects.filter(action="price.set").exists()
