"""Start-up with production settings: refuses without what it needs, and passes Django's
deployment checks when given it. These run manage.py in a fresh process, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-secret-key-for-the-test-0123456789abcdef",
    "ALLOWED_HOSTS": "portal.agency.example",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
}


def manage(
    *args: str, env: dict[str, str], drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DJANGO_")}
    full.update(env)
    for name in drop:
        full.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_start_up_without_secret_key_names_it() -> None:
    result = manage(
        "check",
        env={k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"},
        drop=("SECRET_KEY",),
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ALLOWED_HOSTS" not in result.stderr.split("SECRET_KEY")[-1].split("\n")[0]


def test_production_start_up_names_every_missing_variable() -> None:
    result = manage(
        "check", env={"DJANGO_DEBUG": "false"}, drop=("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL")
    )
    assert result.returncode != 0
    assert "SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_DEBUG", "perhaps"),
        ("CELERY_TASK_SOFT_TIME_LIMIT", "soon"),
        ("DATABASE_URL", "mysql://db/portal"),
        ("AWS_ENDPOINT_URL", "localhost:4566"),
        ("CELERY_BROKER_URL", "amqp://guest@localhost//"),
    ],
)
def test_malformed_variable_stops_start_up_with_its_name(name: str, value: str) -> None:
    result = manage("check", env={**PRODUCTION, name: value})
    assert result.returncode != 0
    assert f"{name} must" in result.stderr


def test_production_settings_pass_the_deployment_checks() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_settings_are_secure() -> None:
    code = (
        "from django.conf import settings as s;"
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS,"
        " s.SECURE_SSL_REDIRECT, s.AWS_ENDPOINT_URL == '')"
    )
    result = manage("shell", "--no-imports", "-c", code, env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    # Unset AWS_ENDPOINT_URL in production means real AWS, never the sandbox.
    assert result.stdout.strip().splitlines()[-1].split() == [
        "False",
        "True",
        "True",
        "31536000",
        "True",
        "True",
    ]
