"""A real Celery worker process for tests, on the real broker, against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def database_url_for(settings_dict: dict[str, Any]) -> str:
    """The URL of the database Django is using now (the test database under pytest)."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


@contextmanager
def celery_worker(
    env: dict[str, str],
    *,
    log_path: Path,
    concurrency: int = 1,
    ready_timeout: float = 60,
    drop: tuple[str, ...] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``celery worker`` with ``env`` layered over ours (less the ``drop`` names); stop it
    with SIGTERM, then SIGKILL."""
    full_env = {k: v for k, v in os.environ.items() if k not in drop}
    full_env.update(env)
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"test-worker-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + ready_timeout
        while b"ready." not in log_path.read_bytes():
            if proc.poll() is not None:
                raise RuntimeError("worker exited:\n" + log_path.read_text(errors="replace"))
            if time.monotonic() > deadline:
                raise RuntimeError("worker not ready:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
