"""Tasks sent through a real broker run on a real worker process: on Redis against the test
PostgreSQL database, and on the embedded default (SQLite and the filesystem broker)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.db import connection

from portal.models import WorkerHeartbeat
from tests.support.worker import ROOT, celery_worker, database_url_for

REDIS_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")


def wait_for(predicate: Callable[[], bool], timeout: float = 45) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_sent_through_redis_runs_on_a_real_worker(tmp_path: Path) -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()  # no leftovers from an earlier run
    env = {
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CELERY_BROKER_URL": REDIS_URL,
        "DJANGO_DEBUG": "true",
    }
    with celery_worker(env, log_path=tmp_path / "worker.log"):
        producer = Celery("probe", broker=REDIS_URL)
        producer.send_task("portal.tasks.worker_heartbeat", args=["probe-over-redis"])
        ran = wait_for(lambda: WorkerHeartbeat.objects.filter(hostname="probe-over-redis").exists())
    assert ran, (tmp_path / "worker.log").read_text(errors="replace")


@pytest.mark.worker
def test_the_embedded_default_runs_a_task_on_sqlite_and_the_filesystem_broker(
    tmp_path: Path,
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "AWS_ENDPOINT_URL"}
    }
    env.update({"DJANGO_DEBUG": "true", "PORTAL_VAR_DIR": str(tmp_path / "var")})

    def manage(*args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    manage("migrate", "--verbosity", "0")
    with celery_worker(
        {"DJANGO_DEBUG": "true", "PORTAL_VAR_DIR": str(tmp_path / "var")},
        log_path=tmp_path / "worker.log",
        drop=("DATABASE_URL", "CELERY_BROKER_URL"),
    ):
        manage(
            "shell",
            "--no-imports",
            "-c",
            "from portal.tasks import worker_heartbeat; worker_heartbeat.delay('probe-on-disk')",
        )
        database = tmp_path / "var" / "portal.sqlite3"

        def heartbeat_written() -> bool:
            with sqlite3.connect(database, timeout=5) as db:
                row = db.execute(
                    "SELECT count(*) FROM portal_workerheartbeat WHERE hostname = ?",
                    ("probe-on-disk",),
                ).fetchone()
            return bool(row[0])

        ran = wait_for(heartbeat_written)
    assert ran, (tmp_path / "worker.log").read_text(errors="replace")
