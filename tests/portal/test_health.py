"""/healthz and /readyz against the real database, broker and sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client, override_settings

from portal import aws
from portal.celery import app as celery_app
from tests.support.sandbox import Sandbox, free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    aws.reset_clients()
    yield
    aws.reset_clients()


def test_healthz_answers_without_login(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_when_database_broker_and_aws_answer(
    client: Client, sandbox: Sandbox, fresh_clients: None
) -> None:
    with override_settings(AWS_ENDPOINT_URL=sandbox.url):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "aws": True,
    }


def test_readyz_names_the_aws_endpoint_when_it_is_down(client: Client, fresh_clients: None) -> None:
    with override_settings(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}"):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["aws"]
    assert "EndpointConnectionError" in body["checks"]["aws"]["error"]


def test_readyz_names_the_broker_when_it_is_down(
    client: Client, sandbox: Sandbox, fresh_clients: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setattr(celery_app.conf, "broker_url", down)
    monkeypatch.setattr(celery_app.conf, "broker_write_url", down)
    with override_settings(AWS_ENDPOINT_URL=sandbox.url):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["broker"]
    assert body["checks"]["database"]["ok"] is True
