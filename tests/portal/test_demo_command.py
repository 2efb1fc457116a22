"""The demo command, as an operator runs it: no terminal, output to a file, Ctrl-C to stop;
it comes up with the sandbox's cost history loaded for the demo teams."""

from __future__ import annotations

import csv
import datetime as dt
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from portal.demo_data import PEOPLE, TEAMS
from tests.support.sandbox import free_port
from tests.support.worker import ROOT


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _sign_in(base: str, username: str, password: str, then: str = "") -> str:
    """Sign in through the real login form and return the home page's HTML (or, with
    ``then``, that page's text)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_page = opener.open(f"{base}/accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page)
    assert token, "the login page has no CSRF token"
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token.group(1), "username": username, "password": password}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (the demo on loopback)
        f"{base}/accounts/login/", data=form, headers={"Referer": f"{base}/accounts/login/"}
    )
    home = opener.open(request, timeout=10).read().decode()
    return opener.open(f"{base}{then}", timeout=10).read().decode() if then else home


@pytest.mark.slow
def test_demo_starts_everything_seeds_personas_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    web_port, sandbox_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "AWS_ENDPOINT_URL"}
    }
    env.update(
        {
            "CI": "true",
            "DJANGO_DEBUG": "true",
            "PORTAL_VAR_DIR": str(tmp_path / "var"),
            "SANDBOX_PORT": str(sandbox_port),
        }
    )
    output = tmp_path / "demo.out"
    started = time.monotonic()
    with output.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--port", str(web_port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            while "The portal is running at" not in output.read_text(errors="replace"):
                assert demo.poll() is None, output.read_text(errors="replace")
                assert time.monotonic() - started < 180, "not up within 3 minutes"
                time.sleep(0.5)
            text = output.read_text()
            base = f"http://127.0.0.1:{web_port}"
            assert f"{base}/" in text
            for person in PEOPLE:
                assert person.username in text
                assert person.password in text
                home = _sign_in(base, person.username, person.password)
                assert "Welcome," in home, f"{person.username} could not reach home"
            assert "Please enter a correct username" in _sign_in(base, "analyst", "wrong")
            # Finance's dashboard (its CSV holds exactly the page's cells) shows each demo
            # team's spend from the sandbox's cost history, with a forecast.
            finance = next(p for p in PEOPLE if p.username == "finance")
            export = _sign_in(base, "finance", finance.password, then="/costs/export.csv")
            team_table = export.split("\r\n\r\n")[-1]
            by_team = {row["Team"]: row for row in csv.DictReader(team_table.splitlines())}
            first_of_month = dt.datetime.now(dt.UTC).day == 1  # nothing complete this month
            for team in TEAMS:
                row = by_team[team.name]
                spent = row["Selected range (USD)" if first_of_month else "Month to date (USD)"]
                assert float(spent) > 0, row
                assert float(row["Forecast (USD)"]) > 0, row
        finally:
            demo.send_signal(signal.SIGINT)
            exit_code = demo.wait(timeout=30)
    assert exit_code == 0, output.read_text()
    assert _port_closed(web_port), "the web server outlived the demo"
    assert _port_closed(sandbox_port), "the sandbox outlived the demo"
