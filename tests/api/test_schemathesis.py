"""Property-based fuzzing of the whole JSON API from its OpenAPI spec: no input gives a 5xx.

Requests carry a real API token (clinician of clinic A), so generated cases reach the
handlers instead of stopping at 401. Each operation gets its own Hypothesis run.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import as_person


def test_api_never_answers_5xx(app_client, world):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app_client.app)
    headers = as_person(app_client, world.clinician_a)
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()
        tried.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_server_error(case) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            )

        no_server_error()
    assert len(tried) >= 15, tried
