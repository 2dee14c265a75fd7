"""The public HTTP contract does not change under a refactor: paths, methods, schema names
and their JSON field names recorded in openapi_contract.json all still exist.

Additions are allowed (a new path, a new optional field). To record them, run
`python -m tests.api.test_openapi_contract` and review the diff of the JSON file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from triggerpoint.web.app import create_app

CONTRACT = Path(__file__).with_name("openapi_contract.json")
METHODS = {"get", "post", "put", "patch", "delete"}


def contract_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The parts of an OpenAPI document that clients depend on."""
    paths = {path: sorted(m for m in item if m in METHODS) for path, item in spec["paths"].items()}
    schemas = {
        name: sorted(body.get("properties", {}))
        for name, body in spec.get("components", {}).get("schemas", {}).items()
    }
    return {"paths": dict(sorted(paths.items())), "schemas": dict(sorted(schemas.items()))}


def current() -> dict[str, Any]:
    return contract_of(create_app(migrate=False).openapi())


def test_every_recorded_path_and_method_still_exists() -> None:
    recorded, now = json.loads(CONTRACT.read_text("utf-8")), current()
    missing = [
        f"{method.upper()} {path}"
        for path, methods in recorded["paths"].items()
        for method in methods
        if method not in now["paths"].get(path, [])
    ]
    assert missing == []
    assert len(recorded["paths"]) >= 39  # the file holds the real contract, not a stub


def test_every_recorded_schema_keeps_its_name_and_fields() -> None:
    recorded, now = json.loads(CONTRACT.read_text("utf-8")), current()
    lost = {
        name: sorted(set(fields) - set(now["schemas"].get(name, [])))
        for name, fields in recorded["schemas"].items()
        if name not in now["schemas"] or set(fields) - set(now["schemas"][name])
    }
    assert lost == {}


def test_the_contract_check_notices_a_rename() -> None:
    spec = create_app(migrate=False).openapi()
    recorded = contract_of(spec)
    path = next(iter(spec["paths"]))
    spec["paths"][path.replace("/api/", "/api/renamed/")] = spec["paths"].pop(path)
    assert path not in contract_of(spec)["paths"]
    assert path in recorded["paths"]


if __name__ == "__main__":
    CONTRACT.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n", "utf-8")
    sys.stdout.write(f"wrote {CONTRACT}\n")
