"""A persona's calls to one JSON API, each asserted to answer the status it expects, so a
domain's test helper only names its paths (tests/notes, tests/examination)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from tests.personas import Person


@dataclass
class ApiCalls:
    client: TestClient
    person: Person

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        r = self.client.request(method, path, json=body, headers=self.person.headers)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()
