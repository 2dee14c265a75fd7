"""Property: whatever is done to a valid exported bundle, the import never fails with a 5xx,
and a refusal writes nothing."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.interop import kit

# Values a hostile or broken sender might put anywhere, NaN and infinities included (sent
# as the bare JSON tokens Python's parser accepts).
WEIRD = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        1e308,
        -1e308,
        5e-324,
        -0.0,
        2**63,
        -(2**63),
        "",
        "\x00",
        "x" * 200_000,
        "2026-02-30T10:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "urn:uuid:00000000-0000-0000-0000-000000000000",
        [],
        {},
        True,
    ]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
KINDS = ("delete", "replace", "wrong-type", "duplicate-entry")


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "true"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 12
    if isinstance(value, list):
        return {"0": value[:1]}
    return [value]


def _apply(bundle: dict[str, Any], path: tuple, kind: str, value: Any) -> None:
    parent: Any = bundle
    for key in path[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return  # an earlier mutation removed the way there
    last = path[-1]
    if isinstance(parent, dict) and last not in parent:
        return
    if isinstance(parent, list) and not (isinstance(last, int) and last < len(parent)):
        return
    if not isinstance(parent, dict | list):
        return
    if kind == "delete":
        del parent[last]
    elif kind == "replace":
        parent[last] = value
    elif kind == "wrong-type":
        parent[last] = _wrong_type(parent[last])
    elif kind == "duplicate-entry" and len(path) > 1 and path[0] == "entry":
        entries = bundle.get("entry")
        if isinstance(entries, list) and isinstance(path[1], int) and path[1] < len(entries):
            entries.append(kit.clone(entries[path[1]]))


def test_random_mutations_never_fail_with_5xx_and_refusals_write_nothing(
    app_client, world, full_patient, importer
):
    base = kit.export(app_client, world.clinician_a, full_patient)
    paths = _paths(base)
    headers = {**importer.headers, "Content-Type": "application/json"}
    seen: dict[int, int] = {}

    mutation = st.tuples(st.sampled_from(paths), st.sampled_from(KINDS), WEIRD | JSON)

    @settings(
        max_examples=int(os.environ.get("TP_FUZZ_EXAMPLES", "60")),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(mutation, min_size=1, max_size=3))
    def check(mutations):
        bundle = kit.clone(base)
        # A fresh source identity each time, so the duplicate check does not hide the rest.
        kit.of(bundle, "Patient")[0]["identifier"][1]["value"] = f"urn:uuid:{uuid.uuid4()}"
        for path, kind, value in mutations:
            _apply(bundle, path, kind, value)
        before = kit.patients(app_client, importer.headers)
        resp = app_client.post(
            "/api/fhir/import", content=json.dumps(bundle, allow_nan=True), headers=headers
        )
        seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
        assert resp.status_code < 500, (mutations, resp.text[:2000])
        assert resp.status_code in (201, 409, 422), resp.text[:2000]
        after = kit.patients(app_client, importer.headers)
        assert after == before + (resp.status_code == 201), (mutations, resp.text[:500])

    check()
    assert seen.get(422), seen  # the mutations do reach the checks
