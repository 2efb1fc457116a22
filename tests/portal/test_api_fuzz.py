"""Schemathesis over the whole OpenAPI document, as every persona with a bearer token issued
through the service: no request, however odd, gets a 5xx or a response the schema does not
describe (status code and body)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from portal.tokens import token_issue
from tests.conftest import PERSONAS, World
from tests.governance.support import approved_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# The document /api/schema/ serves (test_the_served_schema_is_the_fuzzed_one checks they agree),
# built once here because serving it needs a signed-in caller and a database.
RAW = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
schema = schemathesis.openapi.from_dict(RAW)
schema.app = get_wsgi_application()

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# Each operation gets this many generated requests, each sent once per persona, on top of the
# coverage phase's boundary cases: the whole module takes about 20 s on a small machine.
EXAMPLES = 6
_coverage_turn = itertools.count()


@pytest.fixture(autouse=True)
def _keep_the_test_transaction() -> Iterator[None]:
    # The WSGI handler closes the database connection after each request, which would end the
    # test's transaction; Django's test client switches this off the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def real_ids(world: World) -> dict[str, str]:
    """Path parameters naming real objects: a team's approved workspace and the team."""
    workspace = approved_workspace(world)
    return {"id": str(workspace.pk), "slug": world.team.slug}


@pytest.fixture
def bearer_headers(world: World) -> dict[str, dict[str, str]]:
    headers = {}
    for persona in PERSONAS:
        user = world.persona(persona)
        _, secret = token_issue(actor=user, user=user, name="fuzz", days=1)
        headers[persona] = {"Authorization": f"Bearer {secret}"}
    return headers


def test_the_served_schema_is_the_fuzzed_one(bearer_headers: dict[str, dict[str, str]]) -> None:
    response = APIClient().get(
        "/api/schema/?format=json", HTTP_AUTHORIZATION=bearer_headers["analyst"]["Authorization"]
    )
    assert response.status_code == 200
    served = json.loads(response.content)
    assert served["paths"].keys() == RAW["paths"].keys()
    assert len(RAW["paths"]) >= 15


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_as_every_persona(
    case: Any, bearer_headers: dict[str, dict[str, str]], real_ids: dict[str, str]
) -> None:
    generated = dict(case.path_parameters or {})
    real = {name: real_ids.get(name, value) for name, value in generated.items()}
    personas = list(enumerate(PERSONAS))
    if case.meta is not None and case.meta.phase.name == TestPhase.COVERAGE:
        # The coverage phase's boundary cases (hundreds per operation) go once each, to the
        # personas in turn: every persona still meets them, in a fraction of the time.
        turn = next(_coverage_turn)
        personas = [personas[turn % len(personas)]]
    for n, persona in personas:
        # Random ids find nothing (404); every other persona aims at the real objects instead,
        # so permission refusals, conflicts and real bodies are checked too.
        case.path_parameters = real if n % 2 else generated
        case.call_and_validate(headers=bearer_headers[persona], checks=CHECKS)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/workspaces/not-a-uuid/", "/api/v1/no-such-endpoint/", "/api/v1/teams/a/b/c/"],
)
def test_api_urls_that_match_no_view_answer_404_in_json(
    bearer_headers: dict[str, dict[str, str]], path: str
) -> None:
    response = APIClient().get(path, HTTP_AUTHORIZATION=bearer_headers["analyst"]["Authorization"])
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_pages_that_match_no_view_still_get_the_html_404(world: World) -> None:
    client = Client()
    client.force_login(world.analyst)
    response = client.get("/workspaces/not-a-uuid/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
