"""Lifecycle through the API with a bearer token, against a real worker and the sandbox:
open, stop, start, terminate; 409 in a wrong state, 403 for a visible workspace one may not
operate, 404 for an invisible one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from portal.tokens import token_issue
from tests.conftest import World
from tests.support.provisioning import offering_from_sandbox, request_and_approve, wait_for_state
from tests.support.sandbox import Sandbox
from workspaces.models import State

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def client_for(user: Any) -> APIClient:
    _, secret = token_issue(actor=None, user=user, name="test", days=1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api


def test_the_owner_operates_a_workspace_through_the_api(
    world: World, seeded: dict[str, Any], portal_on_sandbox: Sandbox, worker: Path
) -> None:
    offering = offering_from_sandbox(world, seeded, "Standard CPU notebook")
    workspace = wait_for_state(
        request_and_approve(world, offering, "api-ops"), {State.AVAILABLE}, worker
    )
    owner, approver, outsider = (
        client_for(u) for u in (world.analyst, world.approver, world.outsider)
    )
    base = f"/api/v1/workspaces/{workspace.pk}"

    opened = owner.post(f"{base}/open/")
    assert opened.status_code == 200
    assert opened.json()["url"].startswith(portal_on_sandbox.url)

    assert approver.post(f"{base}/stop/").status_code == 403  # sees it, may not operate it
    assert outsider.post(f"{base}/stop/").status_code == 404
    assert owner.post(f"{base}/start/").status_code == 409  # it is running
    stopped = owner.post(f"{base}/stop/")
    assert stopped.status_code == 200
    assert stopped.json()["state"] == "stopping"
    wait_for_state(workspace, {State.STOPPED}, worker)

    conflict = owner.post(f"{base}/open/")
    assert conflict.status_code == 409
    assert "stopped" in conflict.json()["detail"]
    assert owner.post(f"{base}/start/").status_code == 200
    wait_for_state(workspace, {State.AVAILABLE}, worker)
    assert owner.post(f"{base}/terminate/").json()["state"] == "terminating"
    wait_for_state(workspace, {State.TERMINATED}, worker)
    assert owner.post(f"{base}/retry/").status_code == 409
