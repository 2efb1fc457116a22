"""Observability end to end: JSON log lines carrying the request id, the same id in the lines a
real Celery worker writes for the task the request enqueued, and Prometheus metrics for
requests, AWS calls, tasks and provisioning, guarded by network or token."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import Client
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from portal import aws
from portal.observability import ContextFilter, json_formatter
from tests.conftest import World
from tests.support.provisioning import REDIS_URL, offering_from_sandbox, wait_for_state
from tests.support.sandbox import Sandbox, free_port
from tests.support.worker import ROOT, celery_worker, database_url_for
from workspaces import services
from workspaces.models import State

TOKEN = "scrape-" + "s" * 32


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    page: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return page.get((name, frozenset(labels.items())), 0.0)


def scrape(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The request logger written through the production formatter and context filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(ContextFilter())
    request_logger = logging.getLogger("portal.request")
    old_level = request_logger.level
    request_logger.addHandler(handler)
    request_logger.setLevel(logging.DEBUG)
    yield stream
    request_logger.removeHandler(handler)
    request_logger.setLevel(old_level)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def metrics_token(settings: Any) -> str:
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


# --- logs -----------------------------------------------------------------------------------


def test_a_request_logs_a_json_line_with_its_request_id_user_and_path(
    world: World, client: Client, json_log: io.StringIO
) -> None:
    client.force_login(world.analyst)
    response = client.get("/teams/", HTTP_X_REQUEST_ID="req-from-proxy-1")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-from-proxy-1"
    [line] = [entry for entry in json_lines(json_log.getvalue()) if entry["path"] == "/teams/"]
    assert line["request_id"] == "req-from-proxy-1"
    assert line["user_id"] == world.analyst.pk
    assert line["level"] == "INFO"
    assert line["logger"] == "portal.request"
    assert line["route"] == "team_list"
    assert line["status"] == 200
    assert line["message"] == "GET /teams/ 200"
    assert line["time"]


def test_an_anonymous_request_gets_a_fresh_request_id_and_no_user(
    db: None, client: Client, json_log: io.StringIO
) -> None:
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="bad id with spaces")
    generated = response["X-Request-ID"]
    assert generated != "bad id with spaces"
    assert len(generated) == 32
    [line] = json_lines(json_log.getvalue())
    assert line["request_id"] == generated
    assert line["user_id"] is None


def test_production_settings_log_json_and_text_is_a_choice(tmp_path: Path) -> None:
    script = "import logging, django; django.setup(); logging.getLogger('probe').warning('hi')"
    base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "portal.example",
        "DATABASE_URL": "postgres://build/build",
    }
    base.pop("LOG_FORMAT", None)

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**base, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )

    produced = run()
    assert produced.returncode == 0, produced.stderr
    [line] = [entry for entry in json_lines(produced.stderr) if entry["logger"] == "probe"]
    assert line["message"] == "hi"
    assert line["level"] == "WARNING"
    assert line["request_id"] == ""
    assert line["time"].endswith("+00:00")
    text = run(LOG_FORMAT="text")
    assert "WARNING probe [ ] hi" in text.stderr
    refused = run(LOG_FORMAT="xml")
    assert refused.returncode != 0
    assert "LOG_FORMAT must be json or text" in refused.stderr


# --- metrics --------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_and_status(
    db: None, client: Client, metrics_token: str
) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no-such-page/").status_code in {302, 404}
    after = scrape(client)
    key = {"method": "GET", "route": "healthz", "status": "200"}
    assert (
        value(after, "portal_http_requests_total", **key)
        - value(before, "portal_http_requests_total", **key)
        == 3
    )
    count = "portal_http_request_duration_seconds_count"
    assert value(after, count, route="healthz") - value(before, count, route="healthz") == 3
    # Unrouted paths share one label instead of one series per path.
    assert not any("no-such-page" in str(labels) for _, labels in after)


def test_static_files_are_counted_apart_from_unrouted_paths(
    db: None, client: Client, metrics_token: str
) -> None:
    """Static files are served before routing (WhiteNoise in production): they get their own
    label rather than swelling the one unrouted paths and 404s share."""
    before = scrape(client)
    static = client.get("/static/no-such-file.css").status_code
    unrouted = client.get("/no-such-page/").status_code
    after = scrape(client)

    def delta(route: str, status: int) -> float:
        labels = {"method": "GET", "route": route, "status": str(status)}
        total = "portal_http_requests_total"
        return value(after, total, **labels) - value(before, total, **labels)

    assert delta("<static>", static) == 1
    assert delta("<unmatched>", unrouted) == 1
    assert delta("<unmatched>", static) == (1 if unrouted == static else 0)


def test_metrics_count_aws_calls_and_errors_by_operation(
    db: None, client: Client, metrics_token: str, portal_on_sandbox: Sandbox
) -> None:
    before = scrape(client)
    aws.client("sagemaker").list_notebook_instances()
    aws.client("sagemaker").list_notebook_instances()
    with pytest.raises(aws.ClientError):
        aws.client("sagemaker").describe_notebook_instance(NotebookInstanceName="not-there")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        delta("portal_aws_calls_total", service="sagemaker", operation="ListNotebookInstances") == 2
    )
    assert (
        delta("portal_aws_calls_total", service="sagemaker", operation="DescribeNotebookInstance")
        == 1
    )
    assert (
        delta(
            "portal_aws_errors_total",
            service="sagemaker",
            operation="DescribeNotebookInstance",
            code="ValidationException",
        )
        == 1
    )
    assert (
        delta(
            "portal_aws_errors_total",
            service="sagemaker",
            operation="ListNotebookInstances",
            code="ValidationException",
        )
        == 0
    )


def test_an_aws_endpoint_that_does_not_answer_counts_as_an_error_of_its_operation(
    db: None, client: Client, metrics_token: str, settings: Any
) -> None:
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    settings.AWS_SANDBOX_CREDENTIALS = True
    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    try:
        before = scrape(client)
        with pytest.raises(aws.AWS_ERRORS):
            aws.client("sagemaker").list_notebook_instances()
        after = scrape(client)
    finally:
        aws.reset_clients()
    labels = {
        "service": "sagemaker",
        "operation": "ListNotebookInstances",
        "code": "EndpointConnectionError",
    }
    assert (
        value(after, "portal_aws_errors_total", **labels)
        - value(before, "portal_aws_errors_total", **labels)
        == 1
    )


def test_metrics_are_refused_without_the_token_or_an_allowed_network(
    db: None, client: Client, metrics_token: str, settings: Any
) -> None:
    # The test client connects from 127.0.0.1, which the default networks allow.
    assert client.get("/metrics").status_code == 200
    forwarded = client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert forwarded.status_code == 401, "a proxied request must carry the token"
    assert forwarded["WWW-Authenticate"].startswith("Bearer")
    assert b"METRICS_TOKEN" in forwarded.content

    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401

    settings.METRICS_ENABLED = False
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


# --- a request, its task in a real worker, and the worker's metrics -------------------------


@pytest.fixture
def observed_worker(sandbox: Sandbox, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real worker logging JSON, in multi-process metrics mode, serving its metrics."""
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        pytest.fail("these tests need CELERY_BROKER_URL pointing at Redis (bin/test sets it)")
    redis.Redis.from_url(REDIS_URL).flushdb()
    log = tmp_path / "worker.log"
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    port = free_port()
    env = {
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"],
        "DJANGO_DEBUG": "true",
        "AWS_ENDPOINT_URL": sandbox.url,
        "AWS_SANDBOX_CREDENTIALS": "true",
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "WORKER_METRICS_PORT": str(port),
    }
    with celery_worker(env, log_path=log, concurrency=2):
        yield {"log": log, "port": port, "multiproc": multiproc}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_by_a_request_logs_its_request_id_in_the_worker_and_is_measured(
    world: World,
    seeded: dict[str, Any],
    observed_worker: dict[str, Any],
    client: Client,
    metrics_token: str,
    settings: Any,
) -> None:
    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    workspace = services.workspace_request(
        actor=world.analyst,
        offering=offering,
        team=world.team,
        project=world.project,
        name="observed",
        instance_type=offering.constraint.allowed_instance_types[0],
        volume_size_gb=20,
        end_date=workspace_end_date(),
        justification="Observability test workspace.",
    )
    request_id = f"obs-{uuid.uuid4().hex[:12]}"
    client.force_login(world.approver)
    response = client.post(
        reverse("workspace_decide", args=[workspace.pk]),
        {"decision": "approve", "reason": "fine", "budget_override_reason": ""},
        HTTP_X_REQUEST_ID=request_id,
    )
    assert response.status_code == 302, response.content
    log: Path = observed_worker["log"]
    workspace = wait_for_state(workspace, {State.AVAILABLE, State.FAILED}, log)
    assert workspace.state == State.AVAILABLE, workspace.state_reason

    lines = json_lines(log.read_text(errors="replace"))
    ours = [line for line in lines if line.get("request_id") == request_id]
    task_name = "workspaces.tasks.provision_workspace"
    # Celery's own "received" and "succeeded" lines for the task and its follow-up polls.
    assert any(line["task_name"] == task_name and line["task_id"] for line in ours), lines[-20:]
    assert any("succeeded" in line["message"] for line in ours), [line["message"] for line in ours]
    # Lines of other work (the worker starting up) do not claim the id.
    assert any(line.get("request_id") == "" for line in lines)

    url = f"http://127.0.0.1:{observed_worker['port']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        worker_page = samples(answer.read().decode())
    assert value(worker_page, "portal_celery_task_duration_seconds_count", task=task_name) >= 2
    assert value(worker_page, "portal_celery_tasks_total", task=task_name, outcome="success") >= 2
    assert value(worker_page, "portal_workspace_provisioning_seconds_count") == 1
    assert 0 < value(worker_page, "portal_workspace_provisioning_seconds_sum") < 120
    assert (
        value(
            worker_page,
            "portal_aws_calls_total",
            service="servicecatalog",
            operation="ProvisionProduct",
        )
        == 1
    )

    # The web side's /metrics reads a multi-process directory the same way.
    settings.PROMETHEUS_MULTIPROC_DIR = str(observed_worker["multiproc"])
    web_page = scrape(client)
    assert value(web_page, "portal_celery_task_duration_seconds_count", task=task_name) >= 2


def workspace_end_date() -> Any:
    import datetime as dt

    from django.utils import timezone

    return timezone.localdate() + dt.timedelta(days=10)
