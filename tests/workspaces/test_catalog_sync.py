"""The catalog sync against the sandbox: what is added, changed and retired, and what is not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from governance.models import AuditEvent, TeamSettings
from portal import aws
from portal.models import Team
from tests.conftest import World
from tests.support.sandbox import Sandbox, free_port
from workspaces.catalog import catalog_sync
from workspaces.models import CatalogSyncRun, Offering, Product, ProductVersion
from workspaces.tasks import sync_catalog

GPU = "prod-qta7c8tr168em"
CPU = "prod-hvv4pnljezpd5"
MEMORY = "prod-uqjjjie76koll"

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(sandbox_clean: Sandbox, settings: Any) -> Iterator[Sandbox]:
    """The portal's gateway pointed at a freshly seeded sandbox, one attempt per call so a
    throttle is seen at once rather than after botocore's backoff."""
    sandbox_clean.control.seed("demo")
    settings.AWS_ENDPOINT_URL = sandbox_clean.url
    settings.AWS_SANDBOX_CREDENTIALS = True
    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    yield sandbox_clean
    aws.reset_clients()


def ids(entries: list[dict[str, Any]], kind: str) -> set[str]:
    return {e["id"] for e in entries if e["kind"] == kind}


def artifacts_of(sc: Any, product_id: str) -> dict[str, str]:
    details = sc.list_provisioning_artifacts(ProductId=product_id)["ProvisioningArtifactDetails"]
    return {a["Name"]: a["Id"] for a in details}


def remove_from_catalog(sc: Any, product_id: str) -> None:
    """Delete a product the way an operator must: constraints, portfolio, then the product."""
    for portfolio in sc.list_portfolios()["PortfolioDetails"]:
        holds = sc.search_products_as_admin(PortfolioId=portfolio["Id"])["ProductViewDetails"]
        if product_id not in {p["ProductViewSummary"]["ProductId"] for p in holds}:
            continue
        constraints = sc.list_constraints_for_portfolio(
            PortfolioId=portfolio["Id"], ProductId=product_id
        )["ConstraintDetails"]
        for constraint in constraints:
            sc.delete_constraint(Id=constraint["ConstraintId"])
        sc.disassociate_product_from_portfolio(ProductId=product_id, PortfolioId=portfolio["Id"])
    sc.delete_product(Id=product_id)


def test_first_sync_adds_every_product_and_version_with_their_parameters(
    seeded: Sandbox,
) -> None:
    run = catalog_sync(actor=None)

    assert run.error == ""
    assert run.finished_at is not None
    assert ids(run.added, "product") == {GPU, CPU, MEMORY}
    assert len(ids(run.added, "version")) == 6
    assert run.changed == []
    assert run.retired == []
    gpu_v2 = ProductVersion.objects.get(product__product_id=GPU, name="v2")
    assert gpu_v2.allowed_instance_types == ["ml.g4dn.xlarge", "ml.g4dn.2xlarge"]
    assert gpu_v2.launch_path_id.startswith("lpv3-")
    assert gpu_v2.guidance == "DEFAULT"
    assert gpu_v2.requestable
    volume = next(p for p in gpu_v2.parameters if p["key"] == "VolumeSizeInGB")
    assert volume == {"key": "VolumeSizeInGB", "default": "20", "allowed_values": [],
                      "min_value": "5", "max_value": "200"}  # fmt: skip
    platform = next(p for p in gpu_v2.parameters if p["key"] == "PlatformIdentifier")
    assert platform["allowed_values"] == ["notebook-al2-v3"]
    event = AuditEvent.objects.get(action="catalog.sync")
    assert event.target_id == str(run.pk)
    assert set(event.after["added"]) >= {GPU, CPU, MEMORY}


def test_syncing_twice_without_change_reports_nothing(seeded: Sandbox) -> None:
    catalog_sync(actor=None)

    again = catalog_sync(actor=None)

    assert (again.added, again.changed, again.retired, again.error) == ([], [], [], "")
    assert Product.objects.count() == 3
    assert ProductVersion.objects.count() == 6


def test_changes_in_service_catalog_show_as_added_changed_and_retired(seeded: Sandbox) -> None:
    catalog_sync(actor=None)
    sc = seeded.client("servicecatalog")
    cpu = artifacts_of(sc, CPU)
    sc.update_provisioning_artifact(
        ProductId=CPU, ProvisioningArtifactId=cpu["v1"], Description="Superseded by v2"
    )
    sc.update_provisioning_artifact(ProductId=CPU, ProvisioningArtifactId=cpu["v1"], Active=False)
    template = sc.describe_provisioning_artifact(ProductId=CPU, ProvisioningArtifactId=cpu["v2"])[
        "Info"
    ]["TemplateUrl"]
    v3 = sc.create_provisioning_artifact(
        ProductId=CPU,
        Parameters={
            "Name": "v3",
            "Description": "Same template, new name",
            "Info": {"LoadTemplateFromURL": template},
            "Type": "CLOUD_FORMATION_TEMPLATE",
        },
        IdempotencyToken="test-v3",
    )["ProvisioningArtifactDetail"]["Id"]
    gpu_versions = set(artifacts_of(sc, GPU).values())
    remove_from_catalog(sc, GPU)

    run = catalog_sync(actor=None)

    assert ids(run.added, "version") == {v3}
    assert ids(run.added, "product") == set()
    changed = {e["id"]: e["changes"] for e in run.changed}
    assert changed == {
        cpu["v1"]: {
            "description": {"before": "First approved version", "after": "Superseded by v2"},
            "active": {"before": True, "after": False},
        }
    }
    assert ids(run.retired, "product") == {GPU}
    assert ids(run.retired, "version") == gpu_versions
    # Retired and inactive rows stay, so offerings and history keep their names.
    assert Product.objects.count() == 3
    assert ProductVersion.objects.count() == 7
    gpu = Product.objects.get(product_id=GPU)
    assert gpu.is_retired
    assert not any(v.requestable for v in gpu.versions.all())
    cpu_v1 = ProductVersion.objects.get(artifact_id=cpu["v1"])
    assert not cpu_v1.active
    assert not cpu_v1.requestable
    # AWS will not describe an inactive version; what it allowed before is kept.
    assert cpu_v1.allowed_instance_types == ["ml.t3.medium", "ml.t3.large", "ml.t3.xlarge"]
    assert ProductVersion.objects.get(artifact_id=v3).requestable


def test_every_page_of_products_is_read_and_a_product_outside_any_portfolio_is_kept(
    seeded: Sandbox,
) -> None:
    sc = seeded.client("servicecatalog")
    template = sc.describe_provisioning_artifact(
        ProductId=CPU, ProvisioningArtifactId=artifacts_of(sc, CPU)["v2"]
    )["Info"]["TemplateUrl"]
    for n in range(22):  # the sandbox, like AWS, pages search results 20 at a time
        sc.create_product(
            Name=f"Draft notebook {n:02}",
            Owner="Platform engineering",
            ProductType="CLOUD_FORMATION_TEMPLATE",
            ProvisioningArtifactParameters={
                "Name": "v1",
                "Info": {"LoadTemplateFromURL": template},
                "Type": "CLOUD_FORMATION_TEMPLATE",
            },
            IdempotencyToken=f"draft-{n}",
        )

    run = catalog_sync(actor=None)

    assert len(ids(run.added, "product")) == 25
    draft = ProductVersion.objects.get(product__name="Draft notebook 21")
    # Not in a portfolio yet: no launch path to describe it through, so nothing is allowed.
    assert draft.launch_path_id == ""
    assert draft.allowed_instance_types == []


def test_a_product_that_returns_is_no_longer_retired(seeded: Sandbox) -> None:
    catalog_sync(actor=None)
    seeded.control.reset()
    assert catalog_sync(actor=None).retired  # everything gone from AWS
    assert Product.objects.filter(retired_at__isnull=False).count() == 3

    seeded.control.seed("demo")
    run = catalog_sync(actor=None)

    assert ids(run.changed, "product") == {GPU, CPU, MEMORY}
    assert all(e["changes"]["retired_at"]["after"] is None for e in run.changed)
    assert run.added == []
    assert all(v.requestable for v in ProductVersion.objects.all())


def test_a_renamed_product_is_reported_as_changed(seeded: Sandbox) -> None:
    catalog_sync(actor=None)
    sc = seeded.client("servicecatalog", config=None)
    sc.update_product(Id=MEMORY, Name="High-memory notebook", Description="For big frames")

    run = catalog_sync(actor=None)

    assert run.changed[0]["changes"]["name"] == {
        "before": "Large-memory notebook",
        "after": "High-memory notebook",
    }


def test_a_throttled_sync_records_the_error_writes_nothing_and_raises_for_a_retry(
    seeded: Sandbox,
) -> None:
    seeded.control.throttle(operations=["servicecatalog:ListProvisioningArtifacts"], count=1)

    with pytest.raises(aws.ClientError) as raised:
        catalog_sync(actor=None)

    assert aws.is_transient(raised.value)
    run = CatalogSyncRun.objects.get()
    assert "ThrottlingException" in run.error
    assert run.finished_at is not None
    assert not Product.objects.exists()
    assert AuditEvent.objects.get(action="catalog.sync").after["error"] == run.error


def test_an_unreachable_endpoint_is_recorded_on_the_run_and_raised_for_a_retry(
    settings: Any,
) -> None:
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    settings.AWS_SANDBOX_CREDENTIALS = True
    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    try:
        with pytest.raises(aws.AWS_ERRORS):
            catalog_sync(actor=None)
    finally:
        aws.reset_clients()
    assert "Could not connect" in CatalogSyncRun.objects.get().error


def test_only_admins_sync_the_catalog(world: World) -> None:
    for person in (world.analyst, world.approver, world.finance, world.auditor):
        with pytest.raises(PermissionDenied):
            catalog_sync(actor=person)
    assert not CatalogSyncRun.objects.exists()


def test_the_task_syncs_and_says_what_changed(seeded: Sandbox, world: World) -> None:
    result = sync_catalog.apply(kwargs={"actor_id": world.admin.pk}).get()

    assert (result["added"], result["changed"], result["retired"]) == (9, 0, 0)
    assert AuditEvent.objects.get(action="catalog.sync").actor == world.admin


def test_the_daily_schedule_runs_the_task() -> None:
    from portal.celery import app

    entries = {e["task"] for e in app.conf.beat_schedule.values()}
    assert "workspaces.tasks.sync_catalog" in entries


def test_the_admin_button_enqueues_a_sync_on_commit(
    world: World, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(world.admin)
    url = reverse("admin:workspaces_product_sync")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url, follow=True)

    assert response.status_code == 200
    assert "Catalog sync queued" in response.content.decode()
    assert len(callbacks) == 1


def test_the_admin_button_needs_a_post_and_an_admin(world: World, client: Client) -> None:
    url = reverse("admin:workspaces_product_sync")
    client.force_login(world.admin)
    assert client.get(url).status_code == 405
    client.force_login(world.analyst)
    assert client.post(url).status_code == 302  # to the admin login


# --- the demo seed --------------------------------------------------------------------------


def test_the_demo_seed_syncs_the_catalog_and_publishes_an_offering_per_product(
    seeded: Sandbox, settings: Any
) -> None:
    settings.DEBUG = True

    call_command("seed_demo", quiet=True)
    call_command("seed_demo", quiet=True)  # idempotent

    assert Product.objects.count() == 3
    offerings = Offering.objects.select_related("constraint", "version__product")
    assert offerings.count() == 3
    teams = set(Team.objects.values_list("slug", flat=True))
    for offering in offerings:
        assert {t.slug for t in offering.teams.all()} == teams
        assert offering.version.requestable
        assert offering.version.guidance == "DEFAULT"
    gpu = offerings.get(version__product__product_id=GPU)
    assert gpu.constraint.approval_required
    cpu = offerings.get(version__product__product_id=CPU)
    assert not cpu.constraint.approval_required
    assert cpu.constraint.allowed_instance_types == ["ml.t3.medium", "ml.t3.large"]
    for team_settings in TeamSettings.objects.all():
        assert team_settings.subnet_id == "subnet-0a1b2c3d4e5f60718"
        assert team_settings.security_groups == ["sg-0a1b2c3d4e5f60719"]
        assert team_settings.kms_key_id.endswith(":key/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
        assert team_settings.lifecycle_config_name == "portal-idle-shutdown"
    assert TeamSettings.objects.count() == 2
    assert all(hasattr(team, "budget") for team in Team.objects.all())
    assert CatalogSyncRun.objects.count() == 2


def test_the_demo_seed_still_makes_teams_and_people_without_the_sandbox(
    settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.DEBUG = True
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    settings.AWS_SANDBOX_CREDENTIALS = True
    aws.reset_clients()
    try:
        call_command("seed_demo", quiet=True)
    finally:
        aws.reset_clients()

    assert "not reachable" in capsys.readouterr().out
    assert Team.objects.count() == 2
    assert not Product.objects.exists()
    assert not Offering.objects.exists()
