"""Locust users for the scale load test; ``bench/load_test.py`` drives it and explains it.

Each simulated user is one of the plans in the JSON file named by ``LOADTEST_PLAN``: a persona
with either a signed-in session (cookies from the real login form) or a bearer token, and the
requests that persona makes in turn, with a short think time between them. Anything but a 200
is a failure (redirects are not followed, so a lost session shows as a 302 failure, not as the
login page's 200).

Run standalone (the plan must exist; load_test.py writes it and prints its path):

    LOADTEST_PLAN=var/bench/plan.json .venv/bin/locust -f bench/locustfile.py --headless \
        -u 16 -r 16 -t 60s --host http://127.0.0.1:8765 --csv var/bench/locust
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from typing import Any

from locust import HttpUser, between, task

_PLAN: dict[str, Any] = json.loads(open(os.environ["LOADTEST_PLAN"]).read())  # noqa: SIM115
_NEXT = itertools.count()
_LOCK = threading.Lock()


class PortalUser(HttpUser):
    """A person (or a script) using the portal: its plan's requests, round and round."""

    wait_time = between(*_PLAN["think_seconds"])

    def on_start(self) -> None:
        with _LOCK:
            index = next(_NEXT)
        plans = _PLAN["users"]
        self.plan: dict[str, Any] = plans[index % len(plans)]
        self.steps = itertools.cycle(self.plan["requests"])
        # Production settings mark cookies Secure; over loopback HTTP the client would drop
        # them, so they travel as a header, and the proxy header says the scheme was HTTPS.
        self.headers = {"X-Forwarded-Proto": "https", **self.plan.get("headers", {})}

    @task
    def next_request(self) -> None:
        name, path = next(self.steps)
        with self.client.get(
            path, name=name, headers=self.headers, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} for {self.plan['persona']} at {path}")
