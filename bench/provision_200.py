"""Benchmark: approve N workspace requests at once, provision them with two Celery workers
against the sandbox, and compare with the same AWS calls made by a bare boto3 script.

    .venv/bin/python bench/provision_200.py [--count 200] [--workers 2] [--speed 1]

Everything is private to the run and removed at the end, also on failure: a PostgreSQL
database (``bench_portal`` on 127.0.0.1:5432, user postgres), Redis DB 9 (flushed before and
after), a sandbox process on a free port, the worker processes. See docs/BENCHMARKS.md.

Prints a JSON summary. Exit status: 0 when the targets are met (at most 8 AWS calls per
workspace, portal time / baseline time under 2), 1 when they are not, 2 when the run itself
failed (a workspace not available in time, a process that would not start).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402

from tests.support.sandbox import CREDENTIALS, Sandbox, start_sandbox, stop_sandbox  # noqa: E402

DB_NAME = "bench_portal"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/9"
PRODUCT = "Standard CPU notebook"
TEAMS = (("bench-a", "Bench A", "CC-9001"), ("bench-b", "Bench B", "CC-9002"))
ANALYSTS_PER_TEAM = 4
TARGET_CALLS_PER_WORKSPACE = 8
TARGET_RATIO = 2.0


class BenchFailure(Exception):
    """The run could not produce its figures (not a missed target)."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 2),
        "p50": round(percentile(values, 0.50), 2),
        "p95": round(percentile(values, 0.95), 2),
        "max": round(max(values), 2),
        "mean": round(statistics.fmean(values), 2),
    }


# --- private resources -------------------------------------------------------------------------


def create_database() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def portal_env(sandbox: Sandbox) -> dict[str, str]:
    return {
        **CREDENTIALS,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "AWS_ENDPOINT_URL": sandbox.url,
        "AWS_SANDBOX_CREDENTIALS": "true",
    }


@contextlib.contextmanager
def celery_workers(
    env: dict[str, str], count: int, log_dir: Path, ready_timeout: float = 120
) -> Iterator[list[Path]]:
    """``count`` worker processes (prefork pool, concurrency 1 each, own node names), each in
    its own process group so that stopping it stops its pool child too."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    files = []
    try:
        for i in range(count):
            path = log_dir / f"worker-{i + 1}.log"
            handle = path.open("wb")
            files.append(handle)
            procs.append(
                subprocess.Popen(
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
                        "1",
                        "--pool",
                        "prefork",
                        "--without-gossip",
                        "--without-mingle",
                        "--hostname",
                        f"bench-{i + 1}-{os.getpid()}@%h",
                    ],
                    cwd=ROOT,
                    env={**os.environ, **env},
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            logs.append(path)
        deadline = time.monotonic() + ready_timeout
        for proc, path in zip(procs, logs, strict=True):
            while b"ready." not in path.read_bytes():
                if proc.poll() is not None:
                    raise BenchFailure(f"worker exited:\n{tail(path)}")
                if time.monotonic() > deadline:
                    raise BenchFailure(f"worker not ready in {ready_timeout}s:\n{tail(path)}")
                time.sleep(0.2)
        yield logs
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for handle in files:
            handle.close()


TASK_LINE = re.compile(
    r"Task workspaces\.tasks\.provision_workspace\[[^\]]+\] succeeded in ([0-9.]+)s: '([^']*)'"
)


def worker_task_times(logs: list[Path]) -> dict[str, Any]:
    """Task runs by outcome (launched, waiting, available) with their run time, from the
    workers' logs: how much worker time each step costs."""
    times: dict[str, list[float]] = {}
    for path in logs:
        for seconds, outcome in TASK_LINE.findall(path.read_text(errors="replace")):
            times.setdefault(outcome, []).append(float(seconds))
    return {
        outcome: {
            "runs": len(values),
            "mean_ms": round(1000 * statistics.fmean(values), 1),
            "p95_ms": round(1000 * percentile(values, 0.95), 1),
            "total_s": round(sum(values), 2),
        }
        for outcome, values in sorted(times.items())
    }


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


# --- the portal side ---------------------------------------------------------------------------


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise BenchFailure(f"migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")


def set_up_portal(seeded: dict[str, Any], count: int) -> dict[str, Any]:
    """Teams, people, network settings, the synced catalog and one published offering, all
    through the portal's services; then ``count`` requests, pending approval."""
    from django.utils import timezone

    from governance.services import team_settings_set
    from portal.models import Role, User
    from portal.services import membership_set, project_create, team_create
    from workspaces import services
    from workspaces.catalog import catalog_sync
    from workspaces.models import ProductVersion

    admin = User.objects.create_user("bench-admin", is_portal_admin=True)
    teams: list[dict[str, Any]] = []
    for slug, name, cost_center in TEAMS:
        team = team_create(actor=admin, name=name, slug=slug, cost_center=cost_center)
        project = project_create(actor=admin, team=team, name="Bench", slug="bench")
        approver = User.objects.create_user(f"{slug}-approver")
        membership_set(actor=admin, user=approver, team=team, role=Role.APPROVER)
        analysts = []
        for i in range(ANALYSTS_PER_TEAM):
            analyst = User.objects.create_user(f"{slug}-analyst-{i + 1}")
            membership_set(actor=admin, user=analyst, team=team, role=Role.ANALYST)
            analysts.append(analyst)
        team_settings_set(
            actor=admin,
            team=team,
            subnet_id=seeded["subnet_id"],
            security_group_ids=seeded["security_group_ids"],
            kms_key_id=seeded["kms_key_arn"],
            lifecycle_config_name=seeded["lifecycle_config_name"],
        )
        teams.append({"team": team, "project": project, "approver": approver, "analysts": analysts})

    run = catalog_sync(actor=admin)
    if run.error:
        raise BenchFailure(f"catalog sync failed: {run.error}")
    version = ProductVersion.objects.get(product__name=PRODUCT, name="v2")
    offering = services.offering_publish(
        actor=admin,
        version=version,
        title=f"{PRODUCT} (bench)",
        summary="Benchmark offering.",
        teams=[t["team"] for t in teams],
        allowed_instance_types=version.allowed_instance_types[:1],
        max_volume_gb=50,
        max_live_per_user=count,  # quotas raised so that every request is approvable
        max_live_per_team=count,
    )
    end_date = timezone.localdate() + dt.timedelta(days=30)
    workspaces = []
    for i in range(count):
        group = teams[i % len(teams)]
        analyst = group["analysts"][(i // len(teams)) % ANALYSTS_PER_TEAM]
        workspaces.append(
            services.workspace_request(
                actor=analyst,
                offering=offering,
                team=group["team"],
                project=group["project"],
                name=f"bench-{i:04d}",
                instance_type=offering.constraint.allowed_instance_types[0],
                volume_size_gb=20,
                end_date=end_date,
                justification="Benchmark workspace: 200 approvals at once.",
            )
        )
    return {
        "teams": teams,
        "workspaces": workspaces,
        "instance_type": offering.constraint.allowed_instance_types[0],
        "version": version,
    }


def approve_all(world: dict[str, Any]) -> dt.datetime:
    """Approve every request in one transaction; t0 is the moment it commits (the enqueues run
    on commit, right after)."""
    from django.db import transaction
    from django.utils import timezone

    from workspaces import services

    approvers = {g["team"].pk: g["approver"] for g in world["teams"]}
    stamp: dict[str, dt.datetime] = {}
    with transaction.atomic():
        transaction.on_commit(lambda: stamp.setdefault("t0", timezone.now()))
        for workspace in world["workspaces"]:
            services.workspace_approve(
                actor=approvers[workspace.team_id], workspace=workspace, reason="bench"
            )
    return stamp["t0"]


def wait_until_available(count: int, timeout: float, logs: list[Path]) -> float:
    from workspaces.models import State, Workspace

    started = time.monotonic()
    deadline = started + timeout
    last_report = 0.0
    while True:
        states = Counter(Workspace.objects.values_list("state", flat=True))
        if states.get(State.AVAILABLE, 0) == count:
            return time.monotonic() - started
        if states.get(State.FAILED, 0):
            reasons = list(
                Workspace.objects.filter(state=State.FAILED).values_list("name", "state_reason")[:5]
            )
            raise BenchFailure(f"workspaces failed: {dict(states)} {reasons}")
        now = time.monotonic()
        if now > deadline:
            worker_tails = "\n".join(f"--- {p.name}\n{tail(p)}" for p in logs)
            raise BenchFailure(
                f"not all {count} available after {timeout:.0f}s: {dict(states)}\n{worker_tails}"
            )
        if now - last_report >= 15:
            log(f"{now - started:6.1f}s {dict(sorted(states.items()))}")
            last_report = now
        time.sleep(0.5)


def portal_timings(t0: dt.datetime, sandbox: Sandbox) -> dict[str, Any]:
    """Per workspace, seconds from t0: when a worker took it (the provision audit event), when
    AWS finished the launch (the record's UpdatedTime), and when the portal saw it available."""
    from governance.models import AuditEvent
    from workspaces.models import State, Workspace

    rows = list(
        Workspace.objects.filter(state=State.AVAILABLE).values_list(
            "pk", "state_changed_at", "sc_record_id"
        )
    )
    taken = dict(
        AuditEvent.objects.filter(action="workspace.provision").values_list(
            "target_id", "created_at"
        )
    )
    sc = sandbox.client("servicecatalog")
    available, started, aws_done, lag = [], [], [], []
    for pk, changed_at, record_id in rows:
        available.append((changed_at - t0).total_seconds())
        started.append((taken[str(pk)] - t0).total_seconds())
        updated = sc.describe_record(Id=record_id)["RecordDetail"]["UpdatedTime"]
        aws_done.append((updated - t0).total_seconds())
        lag.append((changed_at - updated).total_seconds())
    return {
        "seconds_to_all_available": round(max(available), 2),
        "approval_to_available": spread(available),
        "approval_to_worker_start": spread(started),
        "approval_to_aws_succeeded": spread(aws_done),
        "aws_succeeded_to_portal_available": spread(lag),
    }


def provisioned_product_count(sandbox: Sandbox) -> int:
    sc = sandbox.client("servicecatalog")
    names: list[str] = []
    token = ""
    while True:
        page = sc.search_provisioned_products(
            PageSize=100, **({"PageToken": token} if token else {})
        )
        names += [p["Name"] for p in page["ProvisionedProducts"]]
        token = page.get("NextPageToken", "")
        if not token:
            break
    return sum(1 for n in names if n.startswith(tuple(slug for slug, _, _ in TEAMS)))


# --- the baseline ------------------------------------------------------------------------------


def run_baseline(
    sandbox: Sandbox, world: dict[str, Any], seeded: dict[str, Any], count: int, extra: dict
) -> dict[str, Any]:
    from workspaces.provisioning import POLL_SCHEDULE

    version = world["version"]
    spec = {
        "product_id": version.product.product_id,
        "artifact_id": version.artifact_id,
        "path_id": version.launch_path_id,
        "instance_type": world["instance_type"],
        "subnet_id": seeded["subnet_id"],
        "security_group_ids": seeded["security_group_ids"],
        "kms_key_arn": seeded["kms_key_arn"],
        "lifecycle_config_name": seeded["lifecycle_config_name"],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
        spec_path = handle.name
    args = [
        sys.executable,
        str(ROOT / "bench" / "boto3_baseline.py"),
        "--endpoint",
        sandbox.url,
        "--spec",
        spec_path,
        "--count",
        str(count),
        "--teams",
        ",".join(slug for slug, _, _ in TEAMS),
        "--schedule",
        ",".join(str(s) for s in POLL_SCHEDULE),
    ]
    for op, n in extra.items():
        args += ["--extra", f"{op}={n}"]
    # A plain process: none of the portal's settings in its environment.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "DATABASE", "CELERY", "AWS_"))
    }
    try:
        result = subprocess.run(
            args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False
        )
    finally:
        os.unlink(spec_path)
    if result.returncode != 0:
        raise BenchFailure(f"baseline failed:\n{result.stderr[-4000:]}")
    baseline: dict[str, Any] = json.loads(result.stdout)
    return baseline


# --- the run -----------------------------------------------------------------------------------


def bench(args: argparse.Namespace, stack: contextlib.ExitStack, summary: dict[str, Any]) -> None:
    count = args.count
    create_database()
    stack.callback(drop_database)
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    stack.callback(broker.flushdb)

    log(f"sandbox at speed {args.speed}")
    sandbox = start_sandbox(speed=args.speed)
    stack.callback(stop_sandbox, sandbox)
    seeded = sandbox.control.seed("demo")
    env = portal_env(sandbox)
    os.environ.update(env)
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"  # this process

    log("migrating bench_portal")
    migrate(env)
    import django

    django.setup()
    from django.db import connections

    stack.callback(connections.close_all)  # before the database is dropped

    log(f"setting up teams, offering and {count} requests")
    world = set_up_portal(seeded, count)

    log_dir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    log(f"starting {args.workers} workers (logs in {log_dir})")
    with celery_workers(env, args.workers, log_dir) as logs:
        sandbox.control.reset_calls()
        log(f"approving {count} requests in one transaction")
        t0 = approve_all(world)
        polled = wait_until_available(count, args.timeout, logs)
        calls: dict[str, int] = sandbox.control.calls()
    log(f"all {count} available after {polled:.1f}s (by polling the database)")
    summary["worker_tasks"] = worker_task_times(logs)
    shutil.rmtree(log_dir, ignore_errors=True)  # kept when the run fails, for reading

    timings = portal_timings(t0, sandbox)
    products = provisioned_product_count(sandbox)
    total = sum(calls.values())
    per_op = {op: round(n / count, 2) for op, n in sorted(calls.items())}
    summary["portal"] = {
        **timings,
        "seconds_to_all_available_polled": round(polled, 2),
        "aws_calls_total": total,
        "aws_calls_per_workspace": round(total / count, 2),
        "aws_calls_by_operation": dict(sorted(calls.items())),
        "aws_calls_per_workspace_by_operation": per_op,
        "provisioned_products": products,
    }
    if products != count:
        raise BenchFailure(f"{products} provisioned products for {count} workspaces")

    # The baseline: a fresh sandbox state at the same speed, the same calls per workspace.
    sandbox.control.reset()
    sandbox.control.seed("demo")
    sandbox.control.reset_calls()
    extra = {
        op: round(n / count)
        for op, n in calls.items()
        if op not in {"servicecatalog:ProvisionProduct", "servicecatalog:DescribeRecord"}
        and round(n / count) > 0
    }
    log(f"bare boto3 baseline: {count} launches back to back, extra per workspace {extra}")
    baseline = run_baseline(sandbox, world, seeded, count, extra)
    baseline["aws_calls_seen_by_sandbox"] = sandbox.control.calls()
    summary["baseline"] = baseline

    ratio = timings["seconds_to_all_available"] / baseline["seconds_to_all_done"]
    summary["ratio_portal_to_baseline"] = round(ratio, 2)
    summary["targets"] = {
        "aws_calls_per_workspace_at_most_8": total / count <= TARGET_CALLS_PER_WORKSPACE,
        "ratio_under_2": ratio < TARGET_RATIO,
    }


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM behaves like Ctrl-C, so the clean-up still runs."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="worker processes, concurrency 1")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="sandbox speed (1: a notebook takes 1 s + 6 s)"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for all")
    parser.add_argument("--output", type=Path, help="also write the JSON summary here")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _interrupt)
    summary: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "count": args.count,
        "workers": f"{args.workers} processes x concurrency 1 (prefork)",
        "sandbox_speed": args.speed,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    status = 2
    try:
        with contextlib.ExitStack() as stack:
            bench(args, stack, summary)
        status = 0 if all(summary["targets"].values()) else 1
    except (BenchFailure, KeyboardInterrupt) as exc:
        summary["error"] = str(exc) or type(exc).__name__
        log(f"FAILED: {summary['error']}")
    except Exception as exc:  # still print what was measured
        summary["error"] = "".join(traceback.format_exception(exc))
        log(f"FAILED: {summary['error']}")
    summary["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary["exit_status"] = status
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
