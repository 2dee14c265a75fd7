"""Visits to palpate at: alice's visit without needling, and one with an open session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.calls import ApiCalls
from tests.notes.conftest import Needled, plain_visit
from tests.treatment.test_needling_flow import Clinic


class Palpation(ApiCalls):
    """A person's calls to the palpation API, each asserted to answer `expect`."""

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
