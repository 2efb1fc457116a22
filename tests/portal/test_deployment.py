"""docker compose cannot run on the build machines, so check what the deployment files refer
to: every command, module, setting and file must exist in the code."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


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
    argv = _argv("web")
    assert argv[:3] == ["gunicorn", "--config", "portal/gunicorn_conf.py"]
    assert (ROOT / argv[2]).exists()
    target = argv[3]
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


@pytest.mark.slow
def test_gunicorn_as_configured_logs_only_json_lines_and_one_per_request(tmp_path: Path) -> None:
    """The web container's gunicorn, run here with its config and production settings: every
    line it writes (its own and the portal's) is a JSON object, and a request is logged once,
    by the portal, with its status, whether it reaches a view or is redirected to HTTPS."""
    from tests.support.sandbox import free_port

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": "deployment-test-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    env.pop("LOG_FORMAT", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        command = [sys.executable, "-m", "gunicorn", *_argv("web")[1:]]
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(base + "/healthz")
            redirected = _status(base + "/accounts/login/")
            served = _status(base + "/healthz", proto="https")
        finally:
            server.terminate()
            server.wait(timeout=20)
    assert (redirected, served) == (301, 200)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    loggers = {r["logger"] for r in records}
    assert "gunicorn.error" in loggers  # its own lines, as JSON
    assert "gunicorn.access" not in loggers
    requests = [r for r in records if r["logger"] == "portal.request"]
    # /healthz is logged at DEBUG (probes every few seconds), the redirect at INFO.
    assert [(r["path"], r["status"]) for r in requests] == [("/accounts/login/", 301)]
    assert requests[0]["request_id"]


def _status(url: str, proto: str = "") -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": proto} if proto else {})  # noqa: S310 (loopback)
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _wait_for(url: str) -> None:
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            _status(url, proto="https")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
