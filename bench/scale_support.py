"""What the scale benchmarks share: the small seed_scale database they compare against, and
measuring in a child process (Django is set up once per process, on one database)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
BASE_URL = "postgres://postgres@127.0.0.1:5432/"


def measure_in_subprocess(script: str, database_url: str, *options: str) -> dict[str, Any]:
    """Run ``script --measure DATABASE_URL OPTIONS`` and return the JSON it prints."""
    command = [PY, script, "--measure", database_url, *options]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {database_url} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout))


def seed_small(database_url: str) -> None:
    """Create, migrate and fill the small comparison database (3 teams, 40 workspaces)."""
    import psycopg

    name = database_url.rsplit("/", 1)[-1]
    with psycopg.connect(BASE_URL + "postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DJANGO_DEBUG": "true", "DATABASE_URL": database_url}
    for command in (
        ["migrate", "-v0"],
        ["seed_scale", "--reset", "--teams", "3", "--workspaces", "40", "--days", "30"],
    ):
        subprocess.run([PY, "manage.py", *command], cwd=ROOT, env=env, check=True,
                       capture_output=True)  # fmt: skip


def django_on(database_url: str, *, client: bool = False) -> None:
    """Django set up in this process on ``database_url`` with local settings (no production
    secrets needed). With ``client``: ready for the test client, with requests served as in
    production where it matters for timing (DEBUG off: no debug cursor, no debug pages)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["DJANGO_DEBUG"] = "true"
    os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    if client:
        from django.conf import settings
        from django.test.utils import setup_test_environment

        setup_test_environment()
        settings.ALLOWED_HOSTS = ["testserver"]
        settings.DEBUG = False


def scale_paths(team: str) -> dict[str, str]:
    """The pages and API endpoints the scale benchmarks visit; ``team``'s where one is needed
    (the largest team of the seed)."""
    from django.urls import reverse

    return {
        "home": reverse("home"),
        "my_workspaces": reverse("my_workspaces"),
        "approvals": reverse("approval_queue"),
        "team_compliance": reverse("team_compliance", args=[team]),
        "finance_dashboard": reverse("costs_dashboard"),
        "api_workspaces": reverse("api-workspace-list"),
        "api_teams": reverse("api-team-list"),
        "api_offerings": reverse("api-offering-list"),
        "api_audit_events": reverse("api-audit-events"),
    }
