"""Load test: 16 people and scripts at once against gunicorn on loopback, on the scale data.

    .venv/bin/python manage.py seed_scale            # once: the agency-sized database `scale`
    .venv/bin/python bench/load_test.py              # 16 users, 60 s, 2 gunicorn workers

It starts gunicorn with production settings (``DJANGO_DEBUG=false``, whitenoise serving the
collected static files, Redis cache) on a free loopback port, signs the personas of the scale
data in through the real login form, issues them bearer tokens, and runs
``bench/locustfile.py`` headless for a bounded time. Pages: home, my workspaces, the approvals
queue, a team's compliance page, the finance dashboard (when its URL exists); API lists:
workspaces, teams, offerings, audit events; and ``/healthz`` in the same run as the yardstick.

Server times come from gunicorn's access log (``%(D)s``: from the worker reading the request
to the response written, so the queue in front of the workers is not counted); client times
and throughput from locust. For each endpoint it reports p50/p95 and their ratio to /healthz's.

Exit status: 0 when every page's server p95 is under the target (150 ms) with no failed
request; 1 when a target is missed (figures still printed); 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.scale_support import django_on, scale_paths  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
TARGET_P95_MS = 150.0
PAGES = ("home", "my_workspaces", "approvals", "team_compliance", "finance_dashboard")


class RunFailed(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


# --- set-up through Django (DEBUG settings, same database) ---------------------------------


def _scale_facts(skip: set[str]) -> dict[str, Any]:
    """The personas, the team to look at, the paths; fresh tokens for the API users."""
    from django.db import connection
    from django.urls import reverse

    from portal import scale_data
    from portal.models import User
    from portal.tokens import active_tokens_of, token_issue, token_revoke

    try:
        team = scale_data.largest_team_slug()
    except LookupError as exc:
        raise RunFailed(str(exc)) from exc
    paths = {"healthz": reverse("healthz"), **scale_paths(team)}
    for name in skip:
        paths.pop(name, None)
    tokens = {}
    for username in ("scale-analyst", "scale-approver", "scale-admin", "scale-auditor"):
        user = User.objects.get(username=username)
        for old in active_tokens_of(user).filter(name="load test"):
            token_revoke(actor=user, token=old)
        tokens[username] = token_issue(actor=None, user=user, name="load test", days=1)[1]
    connection.close()
    return {"team": team, "paths": paths, "tokens": tokens, "password": scale_data.PASSWORD}


def _plans(facts: dict[str, Any], users: int) -> list[dict[str, Any]]:
    """Who the simulated users are (cycled when --users is not 16) and what each asks for."""
    paths = facts["paths"]

    def steps(*names: str) -> list[list[str]]:
        return [[name, paths[name]] for name in (*names, "healthz") if name in paths]

    pages = {
        "scale-analyst": steps("home", "my_workspaces"),
        "scale-approver": steps("home", "approvals", "team_compliance", "my_workspaces"),
        "scale-finance": steps("home", "finance_dashboard"),
        "scale-admin": steps("home", "approvals", "team_compliance", "finance_dashboard"),
    }
    api = {
        "scale-analyst": steps("api_workspaces", "api_offerings"),
        "scale-approver": steps("api_workspaces", "api_teams"),
        "scale-admin": steps("api_audit_events", "api_workspaces", "api_teams", "api_offerings"),
        "scale-auditor": steps("api_audit_events", "api_teams"),
    }
    mix = [
        ("page", "scale-analyst"),
        ("page", "scale-approver"),
        ("page", "scale-finance"),
        ("page", "scale-admin"),
        ("api", "scale-analyst"),
        ("page", "scale-analyst"),
        ("page", "scale-approver"),
        ("api", "scale-admin"),
        ("page", "scale-finance"),
        ("page", "scale-admin"),
        ("api", "scale-approver"),
        ("page", "scale-analyst"),
        ("api", "scale-auditor"),
        ("page", "scale-approver"),
        ("page", "scale-admin"),
        ("page", "scale-analyst"),
    ]
    plans = []
    for i in range(users):
        kind, username = mix[i % len(mix)]
        plans.append(
            {
                "persona": f"{username} ({kind})",
                "kind": kind,
                "username": username,
                "requests": (pages if kind == "page" else api)[username],
            }
        )
    return plans


# --- the server ------------------------------------------------------------------------------


def _server_env(args: argparse.Namespace, static_root: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "AWS_", "OIDC_", "CELERY_", "CACHE_", "DATABASE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DJANGO_DEBUG="false",
        SECRET_KEY="load-test-" + secrets.token_urlsafe(40),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=args.database_url,
        CACHE_URL=args.redis_url,
        CELERY_BROKER_URL=args.redis_url,
        STATIC_ROOT=str(static_root),
        SECURE_SSL_REDIRECT="false",
        # No page under test should call AWS; if one does, it fails at once and visibly
        # (nothing listens on port 9) instead of reaching a real account.
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_SANDBOX_CREDENTIALS="true",
        AWS_MAX_ATTEMPTS="1",
        AWS_CONNECT_TIMEOUT="1",
    )
    return env


@contextlib.contextmanager
def _gunicorn(
    args: argparse.Namespace, env: dict[str, str], port: int, out: Path
) -> Iterator[Path]:
    access_log = out / "gunicorn-access.log"
    access_log.unlink(missing_ok=True)
    error_log = out / "gunicorn-error.log"
    command = [
        str(VENV_BIN / "gunicorn"),
        "portal.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        "%(U)s %(s)s %(D)s",
        "--error-logfile",
        str(error_log),
        "--timeout",
        "60",
    ]
    with open(out / "gunicorn-stdout.log", "wb") as stdout:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stdout)
    try:
        deadline = time.monotonic() + 60
        import requests

        while True:
            if process.poll() is not None:
                raise RunFailed(f"gunicorn exited ({process.returncode}); see {error_log}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            if time.monotonic() > deadline:
                raise RunFailed(f"gunicorn did not answer /healthz in 60 s; see {error_log}")
            time.sleep(0.3)
        yield access_log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _sign_in(base: str, username: str, password: str) -> str:
    """Through the real login form; returns the Cookie header of the signed-in session."""
    import requests

    headers = {"X-Forwarded-Proto": "https"}
    form = requests.get(f"{base}/accounts/login/", headers=headers, timeout=30)
    form.raise_for_status()
    # Whatever the cookies are called (``__Host-`` prefixes in production), pass them on.
    cookies = dict(form.cookies)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    if not match or not any("csrf" in name for name in cookies):
        raise RunFailed("The login page gave no CSRF token.")
    answer = requests.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": match[1]},
        headers={
            **headers,
            # Secure cookies are not sent over plain HTTP by clients; pass them ourselves.
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            "Referer": f"https://{base.removeprefix('http://')}/accounts/login/",
        },
        allow_redirects=False,
        timeout=60,
    )
    answered = answer.cookies.get_dict()
    cookies.update(answered)
    if answer.status_code != 302 or not any("session" in name for name in answered):
        raise RunFailed(f"Signing in as {username} failed: HTTP {answer.status_code}.")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


# --- figures ---------------------------------------------------------------------------------


def _server_times(access_log: Path, offset: int, names: dict[str, str]) -> dict[str, Any]:
    times: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    unknown = 0
    with open(access_log, "rb") as log:
        log.seek(offset)
        for raw in log:
            parts = raw.decode().split()
            if len(parts) != 3:
                continue
            path, status, micros = parts
            name = names.get(path)
            if name is None:
                unknown += 1
                continue
            times[name].append(int(micros) / 1000)
            if status != "200":
                errors[name] += 1
    return {"times": times, "errors": errors, "unknown": unknown}


def _locust_stats(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def _report(
    server: dict[str, Any], client: dict[str, dict[str, str]], duration: float, names: list[str]
) -> dict[str, Any]:
    times = server["times"]
    if not times.get("healthz"):
        raise RunFailed("/healthz got no requests in the run; no yardstick to compare with.")
    h50, h95 = _percentile(times["healthz"], 50), _percentile(times["healthz"], 95)
    rows = {}
    for name in names:
        samples = times.get(name, [])
        row: dict[str, Any] = {"requests": len(samples), "errors": server["errors"].get(name, 0)}
        stats = client.get(name)
        if stats:
            row["failures"] = int(stats["Failure Count"])
            row["client_p50_ms"] = float(stats["50%"])
            row["client_p95_ms"] = float(stats["95%"])
            row["per_second"] = round(float(stats["Requests/s"]), 2)
        else:
            row["failures"] = 0
            row["per_second"] = round(len(samples) / duration, 2)
        if samples:
            p50, p95 = _percentile(samples, 50), _percentile(samples, 95)
            row.update(
                p50_ms=round(p50, 1),
                p95_ms=round(p95, 1),
                p50_ratio=round(p50 / h50, 1),
                p95_ratio=round(p95 / h95, 1),
            )
        rows[name] = row
    total = client.get("Aggregated", {})
    return {
        "healthz_p50_ms": round(h50, 2),
        "healthz_p95_ms": round(h95, 2),
        "endpoints": rows,
        "requests": int(total.get("Request Count", 0)),
        "failures": int(total.get("Failure Count", 0)),
        "per_second": round(float(total.get("Requests/s", 0)), 1),
        "unmatched_requests": server["unknown"],
    }


def _misses(report: dict[str, Any], target: float) -> list[str]:
    misses = []
    for name, row in report["endpoints"].items():
        if not row["requests"]:
            misses.append(f"{name}: no request was measured")
            continue
        if row["errors"] or row["failures"]:
            misses.append(f"{name}: {row['errors'] or row['failures']} failed requests")
        if row["p95_ms"] >= target:
            misses.append(f"{name}: server p95 {row['p95_ms']} ms, target under {target:.0f} ms")
    if report["failures"]:
        misses.append(f"{report['failures']} requests failed in all")
    return misses


def _markdown(summary: dict[str, Any]) -> str:
    report = summary["report"]
    lines = [
        f"Run of {summary['started']} on {summary['machine']}: {summary['users']} users, "
        f"{summary['duration_s']} s, {summary['workers']} gunicorn workers, think time "
        f"{summary['think_seconds'][0]}-{summary['think_seconds'][1]} s; "
        f"{report['requests']:,} requests ({report['per_second']}/s), "
        f"{report['failures']} failed. /healthz: p50 {report['healthz_p50_ms']} ms, "
        f"p95 {report['healthz_p95_ms']} ms.",
        "",
        "| Endpoint | Requests | Req/s | Server p50 (ms) | Server p95 (ms) | p50 ÷ healthz "
        "| p95 ÷ healthz | Client p95 (ms) | Failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["endpoints"].items():
        lines.append(
            f"| {name} | {row['requests']} | {row['per_second']} | {row.get('p50_ms', '-')} | "
            f"{row.get('p95_ms', '-')} | {row.get('p50_ratio', '-')} | "
            f"{row.get('p95_ratio', '-')} | {row.get('client_p95_ms', '-')} | "
            f"{row['errors'] or row['failures']} |"
        )
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    django_on(args.database_url)
    facts = _scale_facts(set(args.skip))
    plans = _plans(facts, args.users)
    static_root = out / "static"
    env = _server_env(args, static_root)
    print("collectstatic …", file=sys.stderr)
    subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = args.port or _free_port()
    base = f"http://127.0.0.1:{port}"
    names = {path: name for name, path in facts["paths"].items()}
    measured = [
        name for name in facts["paths"] if any(name == s[0] for p in plans for s in p["requests"])
    ]
    import requests

    with _gunicorn(args, env, port, out) as access_log:
        print(f"gunicorn on {base}; signing in {len(plans)} users …", file=sys.stderr)
        sessions: dict[str, str] = {}
        for plan in plans:
            if plan["kind"] == "page":
                # One session per simulated user, as 16 browsers would have.
                cookie = _sign_in(base, plan["username"], facts["password"])
                plan["headers"] = {"Cookie": cookie}
                sessions[plan["username"]] = cookie
            else:
                plan["headers"] = {"Authorization": f"Bearer {facts['tokens'][plan['username']]}"}
        plan_file = out / "plan.json"
        plan_file.write_text(json.dumps({"think_seconds": args.think, "users": plans}, indent=2))
        # Warm every worker up (imports, templates, connections) before measuring: each
        # endpoint a few times per worker, one request at a time.
        for plan in plans:
            for name, path in plan["requests"]:
                for _ in range(args.workers * 2 if plan is plans[0] or name != "healthz" else 0):
                    requests.get(
                        base + path,
                        headers={"X-Forwarded-Proto": "https", **plan["headers"]},
                        allow_redirects=False,
                        timeout=60,
                    )
        time.sleep(0.5)
        offset = access_log.stat().st_size
        prefix = out / "locust"
        print(f"locust: {args.users} users for {args.duration} s …", file=sys.stderr)
        started = time.strftime("%Y-%m-%d %H:%M")
        t0 = time.monotonic()
        subprocess.run(
            [
                str(VENV_BIN / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(args.users),
                "-t",
                f"{args.duration}s",
                "--host",
                base,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--exit-code-on-error",
                "0",
            ],
            cwd=ROOT,
            env={**os.environ, "LOADTEST_PLAN": str(plan_file)},
            check=True,
            timeout=args.duration + 120,
        )
        duration = time.monotonic() - t0
        time.sleep(0.5)  # the last access-log lines
        server = _server_times(access_log, offset, names)
    report = _report(server, _locust_stats(prefix), duration, measured)
    summary = {
        "started": started,
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()})",
        "database": args.database_url.rsplit("/", 1)[-1],
        "users": args.users,
        "duration_s": args.duration,
        "workers": args.workers,
        "think_seconds": args.think,
        "target_p95_ms": TARGET_P95_MS,
        "report": report,
    }
    summary["misses"] = _misses(report, TARGET_P95_MS)
    summary["markdown"] = _markdown(summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/scale", help="Seeded."
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=int, default=60, help="Seconds of load.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument("--think", type=float, nargs=2, default=[0.5, 1.5], metavar=("MIN", "MAX"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--skip", action="append", default=[], help="Leave an endpoint out (by name)."
    )
    parser.add_argument("--output-dir", default=str(ROOT / "var" / "bench" / "load"))
    parser.add_argument("--json", help="Also write the summary here.")
    args = parser.parse_args(argv)
    try:
        summary = run(args)
    except (RunFailed, subprocess.SubprocessError, OSError) as exc:
        print(f"The load test could not run: {exc}", file=sys.stderr)
        return 2
    print(summary["markdown"])
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "markdown"}, indent=2),
          file=sys.stderr)  # fmt: skip
    if summary["misses"]:
        print("Targets missed:\n  " + "\n  ".join(summary["misses"]), file=sys.stderr)
        return 1
    print("All targets met.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
