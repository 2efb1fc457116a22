"""Run the whole portal locally: sandbox, web, worker and beat, seeded with demo data.

Each process writes its log to ``var/log/<name>.log``; this command prints the URL and the
demo logins once the portal answers, and stops everything on Ctrl-C (or SIGTERM, so it can
be scripted without a terminal). If any process dies, all are stopped and the exit code says so.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from portal.demo_data import PEOPLE


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_http(url: str, deadline: float, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise CommandError(
                    f"{name} exited with code {proc.returncode} while starting; "
                    f"see var/log/{name}.log"
                )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise CommandError(f"{url} did not answer in time")


class Command(BaseCommand):
    help = "Start sandbox, web, worker and beat with demo data; Ctrl-C stops them all."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Web port (default 8000).")
        parser.add_argument(
            "--sandbox-speed",
            type=float,
            default=1.0,
            help="Sandbox clock speed; higher makes notebooks come up faster.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("The demo runs only with DJANGO_DEBUG=true.")
        port: int = options["port"]
        sandbox_port = settings.SANDBOX_PORT
        for name, number in (("web", port), ("sandbox", sandbox_port)):
            if not _port_free(number):
                raise CommandError(
                    f"Port {number} for the {name} is in use; stop what holds it "
                    f"or choose another ({'--port' if name == 'web' else 'SANDBOX_PORT'})."
                )
        log_dir = Path(settings.VAR_DIR) / "log"
        log_dir.mkdir(parents=True, exist_ok=True)

        python = sys.executable
        commands = {
            "sandbox": [
                python,
                "-m",
                "sandbox",
                "--port",
                str(sandbox_port),
                "--seed",
                "demo",
                "--speed",
                str(options["sandbox_speed"]),
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--hostname",
                "demo-worker@%h",
            ],
            "beat": [python, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO"],
            "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        }
        procs: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, command in commands.items():
                log = (log_dir / f"{name}.log").open("ab")
                procs[name] = subprocess.Popen(  # noqa: S603 (our own fixed commands)
                    command,
                    cwd=settings.BASE_DIR,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                if name == "sandbox":
                    _wait_http(
                        f"http://127.0.0.1:{sandbox_port}/_sandbox/health",
                        time.monotonic() + 60,
                        procs,
                    )
                    # The seed reads the catalog and the cost history from the sandbox, so it
                    # runs once the sandbox answers and before the web, worker and beat start.
                    self.stdout.write("Preparing the database, the catalog and the costs ...")
                    call_command("migrate", interactive=False, verbosity=0)
                    call_command("seed_demo", quiet=True, stdout=self.stdout)
            _wait_http(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 60, procs)
            self._announce(port, log_dir)
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        raise CommandError(
                            f"{name} stopped unexpectedly (exit code "
                            f"{proc.returncode}); see var/log/{name}.log"
                        )
                time.sleep(0.5)
            self.stdout.write("Stopping ...")
        finally:
            self._stop_all(procs)

    def _announce(self, port: int, log_dir: Path) -> None:
        url = f"http://127.0.0.1:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nThe portal is running at {url}"))
        self.stdout.write("Sign in with any of these demo accounts:")
        for person in PEOPLE:
            self.stdout.write(f"  {person.persona:<24} {person.username:<10} {person.password}")
        self.stdout.write(
            f"Logs: {log_dir}/{{sandbox,web,worker,beat}}.log. Press Ctrl-C to stop everything."
        )
        self.stdout.flush()

    @staticmethod
    def _stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
