"""docs/operations.md must stay true to the code: every variable it names is read by the
settings (or is a docker compose variable), every ``manage.py`` command exists, and every
metric, task and schedule it names is real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands
from prometheus_client import REGISTRY

from portal import metrics  # noqa: F401 (registers the portal's metrics)
from portal.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "operations.md").read_text()
SETTINGS_SOURCE = (ROOT / "portal" / "settings.py").read_text()
COMPOSE_SOURCE = (ROOT / "docker-compose.yml").read_text()
READ_BY_SETTINGS = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', SETTINGS_SOURCE))
# ${NAME...} in docker-compose.yml: variables of the compose file itself.
COMPOSE_VARIABLES = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", COMPOSE_SOURCE))
# What the web container's gunicorn config reads (its workers, its bind address).
READ_BY_GUNICORN = set(
    re.findall(
        r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]+)"',
        (ROOT / "portal" / "gunicorn_conf.py").read_text(),
    )
)
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def mentioned_variables() -> set[str]:
    quoted = {name for name in re.findall(r"`([^`\s]+)`", GUIDE) if ENV_NAME.match(name)}
    assigned = set(re.findall(r"(?m)^\s*([A-Z][A-Z0-9_]+)=", GUIDE))
    return quoted | assigned


def mentioned_commands() -> set[str]:
    return set(re.findall(r"manage\.py\s+([a-z_]+)", GUIDE))


def test_the_guide_names_variables_and_commands_at_all() -> None:
    assert {"SECRET_KEY", "DATABASE_URL", "METRICS_TOKEN", "AWS_ROLE_EXTERNAL_ID"} <= (
        mentioned_variables()
    )
    assert {"migrate", "createsuperuser", "cost_backfill", "issue_token"} <= mentioned_commands()


def test_every_variable_in_the_guide_exists() -> None:
    def known(name: str) -> bool:
        base = name.removesuffix("_FILE")  # NAME_FILE: the value read from a file
        return base in READ_BY_SETTINGS or name in COMPOSE_VARIABLES | READ_BY_GUNICORN

    assert sorted(name for name in mentioned_variables() if not known(name)) == []


def test_every_manage_py_command_in_the_guide_exists() -> None:
    assert sorted(mentioned_commands() - set(get_commands())) == []


def test_every_metric_in_the_guide_is_exposed() -> None:
    exposed = {
        sample_name
        for family in REGISTRY.collect()
        for sample_name in (family.name, f"{family.name}_total")
    }
    named = set(re.findall(r"`(portal_[a-z_]+)", GUIDE)) | set(
        re.findall(r"\b(portal_[a-z_]+)(?:\{|`)", GUIDE)
    )
    assert named
    assert sorted(named - exposed) == []


def test_every_task_and_schedule_in_the_guide_exists() -> None:
    celery_app.loader.import_default_modules()
    tasks = set(re.findall(r"`(\w+\.tasks\.\w+)`", GUIDE))
    assert tasks
    assert sorted(tasks - set(celery_app.tasks)) == []
    schedules = set(re.findall(r"beat `([a-z-]+)`", GUIDE))
    assert schedules
    assert sorted(schedules - set(celery_app.conf.beat_schedule)) == []


@pytest.mark.parametrize("path", sorted(set(re.findall(r"\]\(([^)#]+)", GUIDE))))
def test_every_linked_document_exists(path: str) -> None:
    assert (ROOT / "docs" / path).resolve().exists(), path
