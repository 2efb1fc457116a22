"""Benchmark (issue 7): the finance dashboard on two years of daily costs for 5,000 workspaces,
against running its own SQL directly.

    .venv/bin/python manage.py seed_scale                  # once: the database `scale`
    .venv/bin/python bench/finance_dashboard.py            # big `scale`, small `scale_t`

For each view of the dashboard (the default: last 90 days, daily; and the longest: two years,
monthly) it signs the finance persona in with the test client, renders the page through the
whole middleware stack a few times to warm up, then N times, and takes the median server
time. Then the page is requested N times more under ``CaptureQueriesContext`` (not
timed: capturing forces a debug cursor) for the statements it ran; exactly those statements
are then executed N times on a raw cursor (fetching every row, inside a
transaction that is rolled back), and their median total is the "underlying SQL" time.

Targets: server time under 150 ms, server time / SQL time under 2, and the same number of
queries on the small dataset (``seed_scale --teams 3 --workspaces 40 --days 30``, seeded here
into ``scale_t``) as on the big one. Exit status 1 when a target is missed, 2 when the run
failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.scale_support import BASE_URL, django_on, measure_in_subprocess, seed_small  # noqa: E402

TARGET_MS = 150.0
TARGET_RATIO = 2.0


def measure(database_url: str, runs: int, warmup: int) -> dict[str, Any]:
    django_on(database_url, client=True)
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from costs.models import DailyCost, TeamDailyCost
    from portal.models import User
    from workspaces.models import Workspace

    client = Client()
    client.force_login(User.objects.get(username="scale-finance"))
    today = timezone.localdate()
    variants = {
        "default (last 90 days, daily)": {},
        "two years, monthly": {
            "start": (today - dt.timedelta(days=729)).isoformat(),
            "end": today.isoformat(),
            "granularity": "monthly",
        },
    }
    path = reverse("costs_dashboard")
    out: dict[str, Any] = {
        "database": database_url.rsplit("/", 1)[-1],
        "daily_cost_rows": DailyCost.objects.count(),
        "team_daily_cost_rows": TeamDailyCost.objects.count(),
        "workspaces": Workspace.objects.count(),
        "variants": {},
    }
    for label, params in variants.items():
        for _ in range(warmup):
            response = client.get(path, params)
            if response.status_code != 200:
                raise RuntimeError(f"{path} {params} answered {response.status_code}")
        times: list[float] = []
        for _ in range(runs):  # timed as served: no query capture (it forces a debug cursor)
            started = time.perf_counter()
            client.get(path, params)
            times.append((time.perf_counter() - started) * 1000)
        counts: list[int] = []
        statements: list[str] = []
        for _ in range(runs):  # then the same requests again, to capture what they ran
            with CaptureQueriesContext(connection) as captured:
                client.get(path, params)
            counts.append(len(captured.captured_queries))
            statements = [q["sql"] for q in captured.captured_queries]
        sql_times: list[float] = []
        with transaction.atomic(), connection.cursor() as wrapper:
            raw = wrapper.cursor  # psycopg's own cursor: no Django wrapping
            for _ in range(warmup):
                for statement in statements:
                    raw.execute(statement)
                    if raw.description is not None:
                        raw.fetchall()
            for _ in range(runs):
                started = time.perf_counter()
                for statement in statements:
                    raw.execute(statement)
                    if raw.description is not None:
                        raw.fetchall()
                sql_times.append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)
        server = statistics.median(times)
        sql = statistics.median(sql_times)
        out["variants"][label] = {
            "params": params,
            "server_ms": round(server, 1),
            "server_p90_ms": round(sorted(times)[int(len(times) * 0.9) - 1], 1),
            "sql_ms": round(sql, 2),
            "ratio": round(server / sql, 2),
            "queries": max(counts),
            "queries_stable": len(set(counts)) == 1,
            "statements": [s[:300] for s in statements],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", default=BASE_URL + "scale")
    parser.add_argument("--small", default=BASE_URL + "scale_t")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", help="Also write the summary here.")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.runs, args.warmup)))
        return 0
    try:
        seed_small(args.small)
        timing = ["--runs", str(args.runs), "--warmup", str(args.warmup)]
        small = measure_in_subprocess(__file__, args.small, *timing)
        big = measure_in_subprocess(__file__, args.big, *timing)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"The benchmark could not run: {exc}", file=sys.stderr)
        return 2
    misses = []
    print(
        f"Finance dashboard on `{big['database']}`: {big['daily_cost_rows']:,} daily cost rows, "
        f"{big['team_daily_cost_rows']:,} team-day rows, {big['workspaces']:,} workspaces "
        f"(small: {small['daily_cost_rows']:,} rows); median of {args.runs} runs after "
        f"{args.warmup} warm-up, {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()} "
        f"({os.cpu_count()} CPUs).\n"
    )
    print("| View | Server (ms) | p90 (ms) | Its SQL (ms) | Ratio | Queries (small / big) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, row in big["variants"].items():
        other = small["variants"][label]
        print(
            f"| {label} | {row['server_ms']} | {row['server_p90_ms']} | {row['sql_ms']} | "
            f"{row['ratio']} | {other['queries']} / {row['queries']} |"
        )
        if row["server_ms"] >= TARGET_MS:
            misses.append(f"{label}: {row['server_ms']} ms, target under {TARGET_MS:.0f} ms")
        if row["ratio"] >= TARGET_RATIO:
            misses.append(f"{label}: ratio {row['ratio']}, target under {TARGET_RATIO}")
        if other["queries"] != row["queries"] or not row["queries_stable"]:
            misses.append(f"{label}: {other['queries']} queries small, {row['queries']} big")
    if args.json:
        Path(args.json).write_text(json.dumps({"small": small, "big": big}, indent=2))
    if misses:
        print("Targets missed:\n  " + "\n  ".join(misses), file=sys.stderr)
        return 1
    print("All targets met.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
