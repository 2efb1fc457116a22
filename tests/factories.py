"""factory_boy factories. Teams, projects and memberships are created through the services,
so tests set state up the way the portal does (with audit events)."""

from __future__ import annotations

from typing import Any

import factory

from portal import services
from portal.models import Membership, Project, Team, User

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@agency.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()


class TeamFactory(factory.django.DjangoModelFactory[Team]):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")
    cost_center = factory.Sequence(lambda n: f"CC-{1000 + n}")
    description = "A team made by a test."

    @classmethod
    def _create(cls, model_class: type[Team], *args: Any, **kwargs: Any) -> Team:
        return services.team_create(actor=None, **kwargs)


class ProjectFactory(factory.django.DjangoModelFactory[Project]):
    class Meta:
        model = Project

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")

    @classmethod
    def _create(cls, model_class: type[Project], *args: Any, **kwargs: Any) -> Project:
        return services.project_create(actor=None, **kwargs)


def member(user: User, team: Team, role: str) -> Membership:
    return services.membership_set(actor=None, user=user, team=team, role=role)


def published_offering(
    *teams: Team,
    title: str = "Standard CPU notebook",
    allowed: tuple[str, ...] = ("ml.t3.medium", "ml.t3.large"),
    approval_required: bool = True,
    **constraint: Any,
) -> Any:
    """A synced product version published for ``teams`` through the service, and the teams'
    network settings, as an admin would leave them."""
    from django.utils import timezone

    from costs.models import InstancePrice, StoragePrice
    from costs.prices import seed_public_prices
    from governance.models import TeamSettings
    from workspaces.models import Product, ProductVersion
    from workspaces.services import offering_publish

    # Transactional tests flush the rows the data migration seeded.
    seed_public_prices(InstancePrice, StoragePrice)
    now = timezone.now()
    product, _ = Product.objects.get_or_create(
        product_id=f"prod-{title.lower().replace(' ', '-')[:20]}",
        defaults={"name": title, "synced_at": now},
    )
    version = ProductVersion.objects.create(
        product=product,
        artifact_id=f"pa-{ProductVersion.objects.count() + 1:04d}-{product.pk}",
        name="v1",
        launch_path_id="lpv-test",
        synced_at=now,
        allowed_instance_types=["ml.t3.medium", "ml.t3.large", "ml.t3.xlarge", "ml.g4dn.xlarge"],
    )
    for team in teams:
        TeamSettings.objects.get_or_create(
            team=team,
            defaults={
                "subnet_id": "subnet-0a1b2c3d4e5f60718",
                "security_group_ids": "sg-0a1b2c3d4e5f60719",
                "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/test",
            },
        )
    return offering_publish(
        actor=None,
        version=version,
        title=title,
        summary=f"{title} for tests.",
        teams=teams,
        allowed_instance_types=list(allowed),
        approval_required=approval_required,
        **constraint,
    )
