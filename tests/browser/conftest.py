"""Browser tests: Playwright drives Debian's Chromium (browser downloads are not possible
here) against the live server; every page visited is scanned with axe-core for WCAG 2.1 AA
and watched for Content-Security-Policy violations."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page

from tests.conftest import World
from tests.factories import PASSWORD

# Playwright's sync API runs an event loop in this thread; Django's ORM would otherwise
# refuse to run from it. The live server itself runs in its own thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
AXE_SOURCE = (ROOT / "node_modules" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    return {
        **browser_type_launch_args,
        "executable_path": chromium,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


class Browser:
    """A signed-in (or not) person in a real browser, with the checks every page must pass."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url.rstrip("/")
        self.csp_violations: list[str] = []
        page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def login(self, username: str, password: str = PASSWORD, *, here: bool = False) -> None:
        """Sign in through the form; ``here`` uses the login page already shown (keeps ?next)."""
        if not here:
            self.goto("/accounts/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()

    def nav_keys(self) -> list[str]:
        return self.page.locator("nav.usa-nav [data-nav]").evaluate_all(
            "links => links.map(a => a.dataset.nav)"
        )

    def assert_accessible(self) -> None:
        """axe-core, WCAG 2.1 A and AA, on the page as it is now; no CSP violations so far."""
        self.page.evaluate(AXE_SOURCE)
        result = self.page.evaluate(
            "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
            WCAG_TAGS,
        )
        violations = [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "targets": [n["target"] for n in v["nodes"]][:5],
            }
            for v in result["violations"]
        ]
        assert violations == [], (
            f"axe found problems on {self.page.url}:\n{json.dumps(violations, indent=2)}"
        )
        assert self.csp_violations == [], self.csp_violations


@pytest.fixture
def browser_as(page: Page, live_server: Any, world: World) -> Browser:
    return Browser(page, live_server.url)
