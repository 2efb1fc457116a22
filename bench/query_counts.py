"""Queries per page do not grow with the data: the load test's pages and API lists, counted
with ``CaptureQueriesContext`` on a small seed_scale database and on the big one.

    .venv/bin/python bench/query_counts.py                 # small: `scale_t`, big: `scale`
    .venv/bin/python bench/query_counts.py --explain       # also EXPLAIN ANALYZE the slowest

The small database is migrated and seeded here (``seed_scale --reset --teams 3 --workspaces
40 --days 30``); the big one must already hold ``seed_scale``'s default data. Each side runs
in its own process (Django is set up once per process), signs the personas in with the test
client, renders every endpoint a few times and reports the query count and the median
in-process time. Exit status 1 when a count differs between the two sizes (or a page does not
answer 200); 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.scale_support import (  # noqa: E402
    BASE_URL,
    django_on,
    measure_in_subprocess,
    scale_paths,
    seed_small,
)

# (persona, endpoint name); the paths are resolved inside the measuring process.
CASES = [
    ("scale-analyst", "home"),
    ("scale-analyst", "my_workspaces"),
    ("scale-approver", "home"),
    ("scale-approver", "approvals"),
    ("scale-approver", "team_compliance"),
    ("scale-approver", "my_workspaces"),
    ("scale-admin", "approvals"),
    ("scale-admin", "team_compliance"),
    ("scale-admin", "finance_dashboard"),
    ("scale-finance", "home"),
    ("scale-finance", "finance_dashboard"),
    ("scale-analyst", "api_workspaces"),
    ("scale-analyst", "api_offerings"),
    ("scale-approver", "api_workspaces"),
    ("scale-approver", "api_teams"),
    ("scale-admin", "api_workspaces"),
    ("scale-admin", "api_audit_events"),
    ("scale-auditor", "api_audit_events"),
    ("scale-auditor", "api_teams"),
]


def measure(database_url: str, runs: int, explain: bool) -> dict[str, Any]:
    """In this process: Django on ``database_url``; counts and times for every case."""
    django_on(database_url, client=True)  # timings without the debug cursor
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from portal import scale_data
    from portal.models import User

    team = scale_data.largest_team_slug()
    paths = scale_paths(team)
    clients: dict[str, Client] = {}
    results: dict[str, Any] = {}
    for username, name in CASES:
        if name not in paths:
            continue
        client = clients.get(username)
        if client is None:
            client = clients[username] = Client()
            client.force_login(User.objects.get(username=username))
        path = paths[name]
        client.get(path)  # warm: templates, caches, connection
        times: list[float] = []
        counts: list[int] = []
        queries: list[dict[str, str]] = []
        status = 0
        for _ in range(runs):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            counts.append(len(captured.captured_queries))
            queries = list(captured.captured_queries)
            status = response.status_code
        key = f"{username} {name}"
        results[key] = {
            "path": path,
            "status": status,
            "queries": max(counts),
            "stable": len(set(counts)) == 1,
            "median_ms": round(statistics.median(times), 1),
            "sql_ms": round(sum(float(q["time"]) for q in queries) * 1000, 1),
            "sql": [q["sql"][:160] for q in queries],
        }
        if explain:
            slowest = sorted(queries, key=lambda q: -float(q["time"]))[:2]
            plans = []
            with connection.cursor() as cursor:
                for query in slowest:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                    plans.append(
                        {
                            "sql": query["sql"][:600],
                            "ms": float(query["time"]) * 1000,
                            "plan": [row[0] for row in cursor.fetchall()],
                        }
                    )
            results[key]["slowest"] = plans
    return {"database": database_url.rsplit("/", 1)[-1], "team": team, "cases": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", default=BASE_URL + "scale_t")
    parser.add_argument("--big", default=BASE_URL + "scale")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.runs, args.explain)))
        return 0
    try:
        seed_small(args.small)
        runs = ["--runs", str(args.runs)]
        small = measure_in_subprocess(__file__, args.small, *runs)
        big = measure_in_subprocess(
            __file__, args.big, *runs, *(["--explain"] if args.explain else [])
        )
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"query_counts could not run: {exc}", file=sys.stderr)
        return 2
    problems = []
    print("| Persona | Endpoint | Queries (small) | Queries (scale) | ms (small) | ms (scale) |")
    print("|---|---|---:|---:|---:|---:|")
    for key, row in big["cases"].items():
        other = small["cases"].get(key, {})
        username, name = key.split(" ", 1)
        print(
            f"| {username} | {name} | {other.get('queries', '-')} | {row['queries']} | "
            f"{other.get('median_ms', '-')} | {row['median_ms']} |"
        )
        if row["status"] != 200 or other.get("status") != 200:
            problems.append(f"{key}: HTTP {other.get('status')} small, {row['status']} scale")
        if other.get("queries") != row["queries"] or not row["stable"]:
            problems.append(f"{key}: {other.get('queries')} queries small, {row['queries']} scale")
    if args.explain:
        for key, row in big["cases"].items():
            for plan in row.get("slowest", []):
                print(
                    f"\n### {key}: {plan['ms']:.1f} ms\n{plan['sql']}\n" + "\n".join(plan["plan"])
                )
    if problems:
        print("Not fixed:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("Every page makes the same number of queries on both sizes.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
