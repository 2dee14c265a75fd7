"""Visits to palpate at: alice's visit without needling, and one with an open session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.notes.conftest import Needled, plain_visit
from tests.personas import Person
from tests.treatment.test_needling_flow import Clinic


@dataclass
class Palpation:
    """A person's calls to the palpation API, each asserted to answer `expect`."""

    client: TestClient
    person: Person

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        r = self.client.request(method, path, json=body, headers=self.person.headers)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def record(self, visit_id: int, body: Any, expect: int = 201) -> Any:
        return self.call("POST", f"/api/visits/{visit_id}/palpation", body, expect)

    def list(self, visit_id: int, expect: int = 200) -> Any:
        return self.call("GET", f"/api/visits/{visit_id}/palpation", None, expect)

    def remove(self, visit_id: int, finding_id: int, expect: int = 200) -> Any:
        return self.call("DELETE", f"/api/visits/{visit_id}/palpation/{finding_id}", None, expect)


@pytest.fixture
def palpation(app_client, alice) -> Palpation:
    return Palpation(app_client, alice)


@pytest.fixture
def visit_id(app_client, alice) -> int:
    return plain_visit(app_client, alice)


@pytest.fixture
def needled(app_client, alice) -> Needled:
    c = Clinic(app_client, alice)
    pid, vid, sid = c.ready()
    return Needled(c, pid, vid, sid)
