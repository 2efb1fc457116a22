"""Personas shared by every test: an analyst and an approver of one team, an admin, a finance
officer, an auditor, and an outsider who is an analyst in another team."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from portal.models import Project, Role, Team, User
from tests.factories import PASSWORD, ProjectFactory, TeamFactory, UserFactory, member
from tests.support.provisioning import seeded, worker  # noqa: F401 (fixtures for every test)
from tests.support.sandbox import sandbox, sandbox_clean  # noqa: F401 (fixtures for every test)


@dataclass
class World:
    team: Team
    other_team: Team
    project: Project
    other_project: Project
    analyst: User
    approver: User
    admin: User
    finance: User
    auditor: User
    outsider: User

    def persona(self, name: str) -> User:
        user: User = getattr(self, name)
        return user


PERSONAS = ["analyst", "approver", "admin", "finance", "auditor", "outsider"]


@pytest.fixture
def world(db: None) -> World:
    team = TeamFactory.create(name="Data Science", slug="data-science", cost_center="CC-1040")
    other = TeamFactory.create(name="Public Health", slug="public-health", cost_center="CC-2210")
    analyst = UserFactory.create(username="analyst")
    approver = UserFactory.create(username="approver")
    outsider = UserFactory.create(username="outsider")
    member(analyst, team, Role.ANALYST)
    member(approver, team, Role.APPROVER)
    member(outsider, other, Role.ANALYST)
    return World(
        team=team,
        other_team=other,
        project=ProjectFactory.create(team=team, name="Claims forecast", slug="claims-forecast"),
        other_project=ProjectFactory.create(
            team=other, name="Outbreak model", slug="outbreak-model"
        ),
        analyst=analyst,
        approver=approver,
        admin=UserFactory.create(
            username="admin", is_portal_admin=True, is_staff=True, is_superuser=True
        ),
        finance=UserFactory.create(username="finance", is_finance=True),
        auditor=UserFactory.create(username="auditor", is_auditor=True),
        outsider=outsider,
    )


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> None:
    # PBKDF2's deliberate slowness costs seconds per persona; tests don't need it.
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def portal_on_sandbox(sandbox: Any, settings: Any) -> Iterator[Any]:  # noqa: F811 (the fixture)
    """Point this process's AWS gateway at the test sandbox (workers get it via env)."""
    from portal import aws

    settings.AWS_ENDPOINT_URL = sandbox.url
    settings.AWS_SANDBOX_CREDENTIALS = True
    aws.reset_clients()
    yield sandbox
    aws.reset_clients()
