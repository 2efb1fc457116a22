"""The demo command, as an operator runs it: no terminal, output to a file, Ctrl-C to stop;
it comes up with the sandbox's cost history loaded for the demo teams, and every page a demo
persona reaches by following links answers. The demo runs on SQLite, which the rest of the
suite (on PostgreSQL) never serves, so the crawl is what notices a query SQLite refuses."""

from __future__ import annotations

import csv
import datetime as dt
import http.cookiejar
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from typing import IO

import pytest
from django.urls import Resolver404, resolve

from portal.demo_data import OFFERINGS, PEOPLE, TEAMS
from tests.support.sandbox import free_port
from tests.support.worker import ROOT

# The crawl's budget: enough to reach every kind of page from the home page, few enough that
# six personas take seconds. Links differing only in an id, slug or query value share a shape
# (see _shape), so 5,000 workspace links cost PAGES_PER_SHAPE fetches.
PAGES_PER_PERSONA = 60
PAGES_PER_SHAPE = 3
# Never followed: signing out ends the crawl's session, OIDC leaves for the identity provider,
# static files are not pages. Admin pages past the index are Django's, not the portal's.
SKIPPED_PREFIXES = ("/accounts/logout/", "/oidc/", "/static/")
ADMIN_INDEX = "/admin/"
# What finance must reach, so a crawl that stops finding links fails rather than shrinks.
COST_PAGES = {"costs_dashboard", "team_costs", "project_costs", "workspace_costs", "cost_alerts"}


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class _PageParser(HTMLParser):
    """What the tests read from a page: its links (and those with an aria-label, by label),
    the values its form fields would submit as they stand, and on an error page with DEBUG,
    the exception (its title names the type and the path, a ``pre`` holds its message)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.labelled_links: dict[str, str] = {}
        self.fields: dict[str, str] = {}
        self.title = ""
        self.exception = ""
        self._in = ""  # "title" or "exception" while inside either
        self._select = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        name = values.get("name") or ""
        if tag == "a" and values.get("href"):
            href = values["href"] or ""
            self.links.append(href)
            if values.get("aria-label"):
                self.labelled_links[values["aria-label"] or ""] = href
        elif tag in {"input", "textarea"} and name:
            self.fields[name] = values.get("value") or ""
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select:
            # The selected option, else the first, as a browser submits it.
            if self._select not in self.fields or "selected" in values:
                self.fields[self._select] = values.get("value") or ""
        elif tag == "title":
            self._in = "title"
        elif tag == "pre" and values.get("class") == "exception_value":
            self._in = "exception"

    def handle_endtag(self, tag: str) -> None:
        if tag in {"title", "pre"}:
            self._in = ""
        elif tag == "select":
            self._select = ""

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "exception":
            self.exception += data

    def error_summary(self) -> str:
        return " ".join(f"{self.title.strip()}: {self.exception.strip()}".split())[:500]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Leaves a redirect as the answer, so a link that bounces (to a login page, say) shows."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


@dataclass(frozen=True)
class _Response:
    status: int
    content_type: str
    location: str
    text: str


class _Browser:
    """One person's session with the demo: one cookie jar, shared by an opener that follows
    redirects (to sign in, to submit a form) and one that does not (to crawl)."""

    def __init__(self, base: str) -> None:
        self.base = base
        jar = http.cookiejar.CookieJar()
        self._following = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self._staying = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(jar), _NoRedirects()
        )

    def open(
        self, path: str, form: dict[str, str] | None = None, *, follow: bool = True
    ) -> _Response:
        """GET ``path``, or POST ``form`` to it; any status is an answer, not an exception."""
        url = f"{self.base}{path}"
        request = urllib.request.Request(  # noqa: S310 (the demo on loopback)
            url,
            data=urllib.parse.urlencode(form).encode() if form is not None else None,
            headers={"Referer": url},
        )
        opener = self._following if follow else self._staying
        try:
            with opener.open(request, timeout=30) as response:
                return _Response(
                    response.status,
                    response.headers.get_content_type(),
                    "",
                    response.read().decode(errors="replace"),
                )
        except urllib.error.HTTPError as error:
            with error:
                return _Response(
                    error.code,
                    error.headers.get_content_type(),
                    error.headers.get("Location", ""),
                    error.read().decode(errors="replace"),
                )


def _sign_in(base: str, username: str, password: str) -> tuple[_Browser, str]:
    """Sign in through the real login form; the signed-in browser, and the HTML of the page
    the form leads to (home, or the login form again with its error)."""
    browser = _Browser(base)
    login = _PageParser(browser.open("/accounts/login/").text)
    token = login.fields.get("csrfmiddlewaretoken")
    assert token, "the login page has no CSRF token"
    answer = browser.open(
        "/accounts/login/",
        {"csrfmiddlewaretoken": token, "username": username, "password": password},
    )
    return browser, answer.text


def _link_target(base: str, page: str, href: str) -> str | None:
    """The path and query a link on ``page`` leads to, or None when the crawl does not follow
    it: a fragment, another scheme (mailto:) or host, a skipped prefix, the admin's inside."""
    href = href.strip()
    if href.startswith("#"):
        return None
    parts = urllib.parse.urlsplit(urllib.parse.urljoin(f"{base}{page}", href))
    if parts.scheme not in {"http", "https"} or parts.netloc != urllib.parse.urlsplit(base).netloc:
        return None
    if parts.path.startswith(SKIPPED_PREFIXES):
        return None
    if parts.path.startswith(ADMIN_INDEX) and parts.path != ADMIN_INDEX:
        return None
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _url_name(target: str) -> str | None:
    try:
        return resolve(target.partition("?")[0]).url_name
    except Resolver404:
        return None


def _shape(target: str) -> str:
    """The view's route and the query's parameter names: what links to one kind of page
    (a workspace, a team's costs sorted by some column) have in common."""
    path, _, query = target.partition("?")
    try:
        route = "/" + resolve(path).route
    except Resolver404:
        route = path
    names = sorted(urllib.parse.parse_qs(query, keep_blank_values=True))
    return f"{route}?{'&'.join(names)}"


@dataclass
class _Crawl:
    visited: dict[str, int] = field(default_factory=dict)  # path and query -> status
    failures: list[str] = field(default_factory=list)


def _crawl(browser: _Browser, persona: str) -> _Crawl:
    """Breadth first from the home page over same-site links, within the budget: links to a
    route not yet queued first, so every kind of page is reached before the budget goes on
    more of one kind (another team, another sort). Every answer other than 200 is a failure,
    named with the page whose link led there."""
    crawl = _Crawl()
    shapes = Counter({_shape("/"): 1})
    routes = {_shape("/").partition("?")[0]}
    new_routes = deque([("/", "signing in")])
    more_of_a_route: deque[tuple[str, str]] = deque()
    queued = {"/"}
    while (new_routes or more_of_a_route) and len(crawl.visited) < PAGES_PER_PERSONA:
        target, linked_from = (new_routes or more_of_a_route).popleft()
        response = browser.open(target, follow=False)
        crawl.visited[target] = response.status
        if response.status != 200:
            why = (
                f"redirects to {response.location}"
                if response.location
                else _PageParser(response.text).error_summary()
                if response.content_type == "text/html"
                else response.text[:200]
            )
            crawl.failures.append(
                f"{persona}: {target} (linked from {linked_from}) answered {response.status}: {why}"
            )
            continue
        if response.content_type != "text/html" or target == ADMIN_INDEX:
            continue
        for href in _PageParser(response.text).links:
            following = _link_target(browser.base, target, href)
            if following is None or following in queued:
                continue
            shape = _shape(following)
            if shapes[shape] >= PAGES_PER_SHAPE:
                continue
            shapes[shape] += 1
            queued.add(following)
            route = shape.partition("?")[0]
            (more_of_a_route if route in routes else new_routes).append((following, target))
            routes.add(route)
    return crawl


def _request_workspace(browser: _Browser, title: str) -> str:
    """Request a workspace of the offering titled ``title`` through the catalog and its form,
    the fields as the form fills them; the page the request leads to."""
    catalog = _PageParser(browser.open("/catalog/").text)
    form_path = catalog.labelled_links[f"Request {title}"]
    fields = _PageParser(browser.open(form_path).text).fields
    fields |= {"name": "crawl-target", "justification": "For the demo test's crawl to reach."}
    return browser.open(form_path, fields).text


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
            # The demo seeds no workspace: the analyst requests one that waits for approval
            # (so nothing runs in the background), for the crawl to reach its pages.
            analyst = next(p for p in PEOPLE if p.username == "analyst")
            browser, _ = _sign_in(base, analyst.username, analyst.password)
            offering = next(o for o in OFFERINGS if o.approval_required)
            requested = _request_workspace(browser, offering.title)
            assert "Your team&#x27;s approvers have been told" in requested, requested
            crawls: dict[str, _Crawl] = {}
            for person in PEOPLE:
                browser, home = _sign_in(base, person.username, person.password)
                assert "Welcome," in home, f"{person.username} could not reach home"
                crawls[person.username] = _crawl(browser, person.username)
            assert "Please enter a correct username" in _sign_in(base, "analyst", "wrong")[1]
            # Finance's dashboard (its CSV holds exactly the page's cells) shows each demo
            # team's spend from the sandbox's cost history, with a forecast.
            finance = next(p for p in PEOPLE if p.username == "finance")
            browser, _ = _sign_in(base, "finance", finance.password)
            export = browser.open("/costs/export.csv")
            assert export.status == 200, export.text
            team_table = export.text.split("\r\n\r\n")[-1]
            by_team = {row["Team"]: row for row in csv.DictReader(team_table.splitlines())}
            first_of_month = dt.datetime.now(dt.UTC).day == 1  # nothing complete this month
            for team in TEAMS:
                row = by_team[team.name]
                spent = row["Selected range (USD)" if first_of_month else "Month to date (USD)"]
                assert float(spent) > 0, row
                assert float(row["Forecast (USD)"]) > 0, row
            # Every page each persona reached answered 200, and finance reached the cost
            # pages (overview, a team, a project, a workspace, the alerts) on SQLite.
            problems = [failure for crawl in crawls.values() for failure in crawl.failures]
            reached = {_url_name(target) for target in crawls["finance"].visited}
            problems += [f"finance never reached a {name} page" for name in COST_PAGES - reached]
            web_log = tmp_path / "var" / "log" / "web.log"
            assert not problems, "\n".join([*problems, f"(tracebacks in {web_log})"])
        finally:
            demo.send_signal(signal.SIGINT)
            exit_code = demo.wait(timeout=30)
    assert exit_code == 0, output.read_text()
    assert _port_closed(web_port), "the web server outlived the demo"
    assert _port_closed(sandbox_port), "the sandbox outlived the demo"
