"""docker compose cannot run on the build machines, so check what the deployment files refer
to: every command, module, setting and file must exist in the code."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.urls import resolve

from portal.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTINGS_SOURCE = (ROOT / "portal" / "settings.py").read_text()
README = (ROOT / "README.md").read_text()
# Variables the settings read, through portal.env helpers or env.require([...]).
READ_BY_SETTINGS = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', SETTINGS_SOURCE)) | set(
    re.findall(r'"([A-Z][A-Z0-9_]+)"', SETTINGS_SOURCE.split("env.require(")[1].split(")")[0])
)
PORTAL_SERVICES = ["migrate", "web", "worker", "beat"]


def test_the_stack_has_every_service_of_the_design() -> None:
    assert set(COMPOSE["services"]) >= {"postgres", "redis", "web", "worker", "beat", "sandbox"}
    assert COMPOSE["services"]["sandbox"]["profiles"] == ["sandbox"]


@pytest.mark.parametrize("service", PORTAL_SERVICES)
def test_every_environment_variable_given_to_the_portal_is_read_by_the_settings(
    service: str,
) -> None:
    names = set(COMPOSE["services"][service]["environment"])
    assert names - READ_BY_SETTINGS == set()


def test_every_variable_the_settings_read_is_documented_in_the_readme() -> None:
    undocumented = sorted(name for name in READ_BY_SETTINGS if f"`{name}`" not in README)
    assert undocumented == []


def _argv(service: str) -> list[str]:
    command = COMPOSE["services"][service]["command"]
    return command if isinstance(command, list) else shlex.split(command)


def test_celery_commands_name_our_app_and_its_schedule_names_real_tasks() -> None:
    for service in ("worker", "beat"):
        argv = _argv(service)
        assert argv[:3] == ["celery", "-A", "portal"]
    celery_app.loader.import_default_modules()
    for entry in celery_app.conf.beat_schedule.values():
        assert entry["task"] in celery_app.tasks, entry["task"]


def test_gunicorn_target_and_healthcheck_path_exist() -> None:
    target = _argv("web")[1]
    module, _, attribute = target.partition(":")
    assert module == "portal.wsgi"
    assert attribute == "application"
    assert (ROOT / "portal" / "wsgi.py").exists()
    assert target in DOCKERFILE
    assert resolve("/healthz").url_name == "healthz"


def test_migrate_and_sandbox_commands_exist() -> None:
    assert _argv("migrate")[:3] == ["python", "manage.py", "migrate"]
    sandbox = _argv("sandbox")
    assert sandbox[:3] == ["python", "-m", "sandbox"]
    help_text = subprocess.run(
        [sys.executable, "-m", "sandbox", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for flag in (arg for arg in sandbox if arg.startswith("--")):
        assert flag in help_text, f"python -m sandbox has no {flag}"


def test_every_file_the_dockerfile_copies_exists() -> None:
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            *sources, _destination = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_the_images_collectstatic_step_works_with_production_settings(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": "build-only",
        "ALLOWED_HOSTS": "build",
        "DATABASE_URL": "postgres://build/build",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
        check=True,
    )
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    for asset in ("uswds/css/uswds.min.css", "htmx/htmx.min.js", "portal/portal.css"):
        assert asset in manifest
