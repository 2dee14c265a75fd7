"""Request bodies are capped: 413 over the limit (2 MiB; FHIR import 20 MiB), whether the size
is declared (Content-Length) or only seen as the bytes stream in; free-form JSON inside a
body is capped too (measurement.data: 64 KiB, a 422 naming `data`)."""

from __future__ import annotations

import json

import pytest

from tests.aio import run_async
from tests.api.conftest import hdr, row_counts
from triggerpoint.web.limits import (
    FHIR_IMPORT_PATH,
    BodyLimitMiddleware,
    LimitSettings,
    MiB,
    writable,
)

PATIENT = {"given_name": "Big", "family_name": "Body", "date_of_birth": "1980-01-01"}


def _padded(size: int, **fields) -> bytes:
    """A patient body of about `size` bytes (the padding is an unknown field)."""
    return json.dumps({**PATIENT, "sex": "female", **fields, "pad": "x" * size}).encode()


def test_three_mib_body_is_413_on_a_normal_endpoint(app_client, world):
    before = row_counts()
    resp = app_client.post(
        "/api/patients",
        content=_padded(3 * MiB),
        headers={**hdr(app_client, world.clinician_a), "Content-Type": "application/json"},
    )
    assert resp.status_code == 413, resp.text[:200]
    assert "at most 2 MiB" in resp.json()["detail"]
    assert resp.headers["x-content-type-options"] == "nosniff"  # still gets security headers
    assert row_counts() == before


def test_three_mib_streamed_without_content_length_is_413(app_client, world):
    body = _padded(3 * MiB)

    def chunks():
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    before = row_counts()
    resp = app_client.post(
        "/api/patients",
        content=chunks(),
        headers={**hdr(app_client, world.clinician_a), "Content-Type": "application/json"},
    )
    assert resp.status_code == 413, resp.text[:200]
    assert row_counts() == before


def test_a_streamed_body_under_the_limit_reaches_the_app_whole(app_client, world):
    body = json.dumps({**PATIENT, "sex": "female"}).encode()
    resp = app_client.post(
        "/api/patients",
        content=iter([body[:10], body[10:]]),
        headers={**hdr(app_client, world.clinician_a), "Content-Type": "application/json"},
    )
    assert resp.status_code == 201, resp.text


def test_fhir_import_of_three_mib_is_not_refused_by_size(app_client, world):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [], "pad": "x" * 3 * MiB}
    before = row_counts()
    resp = app_client.post(
        FHIR_IMPORT_PATH,
        content=json.dumps(bundle).encode(),
        headers={**hdr(app_client, world.clinician_a), "Content-Type": "application/json"},
    )
    assert resp.status_code != 413
    assert resp.status_code < 500, resp.text[:300]
    assert row_counts() == before


def test_fhir_import_over_twenty_mib_is_413(app_client, world):
    resp = app_client.post(
        FHIR_IMPORT_PATH,
        content=b'{"pad": "' + b"x" * (20 * MiB) + b'"}',
        headers={**hdr(app_client, world.clinician_a), "Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert "at most 20 MiB" in resp.json()["detail"]


def _measurement(clinics, extra: str) -> dict:
    return {
        "instrument": "nprs",
        "data": {"current": 5, "extra": extra},
        "visit_id": clinics["a"]["visit_id"],
        "measured_at": "2026-11-20T10:00:00+00:00",
    }


def test_measurement_data_over_64_kib_is_422_naming_data(app_client, world, clinics):
    before = row_counts()
    resp = app_client.post(
        f"/api/patients/{clinics['a']['patient_id']}/measurements",
        json=_measurement(clinics, "x" * 100_000),
        headers=hdr(app_client, world.clinician_a),
    )
    assert resp.status_code == 422
    (error,) = resp.json()["detail"]
    assert error["loc"] == ["body", "data"]
    assert "64 KiB" in error["msg"]
    assert row_counts() == before


def test_measurement_with_a_five_mb_extra_key_is_refused(app_client, world, clinics):
    """Over the API the body cap answers first (413); the schema itself refuses it with a
    422 naming `data` (tests/test_inputs.py), for the paths that take bigger bodies."""
    before = row_counts()
    resp = app_client.post(
        f"/api/patients/{clinics['a']['patient_id']}/measurements",
        json=_measurement(clinics, "x" * 5_000_000),
        headers=hdr(app_client, world.clinician_a),
    )
    assert resp.status_code == 413
    assert row_counts() == before


# --- the middleware on its own ------------------------------------------------------------


def _run(middleware, *, path="/api/x", headers=(), chunks=(b"",)):
    """Drive an ASGI request through `middleware`; returns (status, body, what the app read)."""
    seen: dict = {"called": False, "body": b""}
    sent: list = []
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def app(scope, receive, send):
        seen["called"] = True
        while True:
            m = await receive()
            seen["body"] += m.get("body", b"")
            if not m.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "POST", "headers": list(headers)}
    run_async(middleware(app)(scope, receive, send))
    status = sent[0]["status"]
    return status, b"".join(m.get("body", b"") for m in sent[1:]), seen


def _limited(app, limit=100, overrides=None):
    return BodyLimitMiddleware(app, limit=limit, overrides=overrides or {"/big": 1000})


def test_declared_length_over_the_limit_is_refused_unread():
    status, body, seen = _run(_limited, headers=[(b"content-length", b"101")], chunks=(b"x",))
    assert status == 413 and not seen["called"]
    assert json.loads(body)["detail"].startswith("request body too large")


def test_declared_length_at_the_limit_passes():
    status, _, seen = _run(_limited, headers=[(b"content-length", b"100")], chunks=(b"x" * 100,))
    assert status == 200 and seen["body"] == b"x" * 100


def test_undeclared_length_is_counted_as_it_streams():
    status, _, seen = _run(_limited, chunks=(b"x" * 60, b"x" * 60))
    assert status == 413 and not seen["called"]
    status, _, seen = _run(_limited, chunks=(b"x" * 50, b"x" * 50))
    assert status == 200 and seen["body"] == b"x" * 100


def test_per_path_override():
    status, _, _ = _run(_limited, path="/big", headers=[(b"content-length", b"999")])
    assert status == 200
    status, _, _ = _run(_limited, path="/big/", chunks=(b"x" * 1001,))
    assert status == 413


def test_bad_content_length_is_400_and_pages_get_text():
    status, body, seen = _run(_limited, path="/patients", headers=[(b"content-length", b"lots")])
    assert status == 400 and not seen["called"]
    assert body == b"Content-Length is not a number"


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRIGGERPOINT_MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("TRIGGERPOINT_MAX_IMPORT_BODY_BYTES", "8192")
    assert LimitSettings().max_body_bytes == 4096
    middleware = BodyLimitMiddleware(lambda *a: None)
    assert middleware.limit_for("/api/patients") == 4096
    assert middleware.limit_for(FHIR_IMPORT_PATH) == 8192
    monkeypatch.delenv("TRIGGERPOINT_MAX_BODY_BYTES")
    monkeypatch.delenv("TRIGGERPOINT_MAX_IMPORT_BODY_BYTES")
    defaults = LimitSettings(_env_file=None)
    assert (defaults.max_body_bytes, defaults.max_import_body_bytes) == (2 * MiB, 20 * MiB)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        ("a\ud800b", "a\\ud800b"),
        ({"\udfff": [float("inf")]}, {"\\udfff": ["inf"]}),
        (1.5, 1.5),
    ],
)
def test_refused_input_is_echoed_writably(value, shown):
    assert writable(value) == shown
    json.dumps(writable(value), allow_nan=False).encode("utf-8")


def test_a_browser_posting_a_form_too_large_gets_a_page_naming_the_limit(app_client, world):
    before = row_counts()
    resp = app_client.post(
        "/patients/new",
        content=b"given_name=" + b"x" * (3 * MiB),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
        },
    )
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-store"
    assert "<h1>The form was too large to send</h1>" in resp.text and "at most 2 MiB" in resp.text
    assert row_counts() == before


def test_a_program_posting_to_a_page_too_large_keeps_plain_text(app_client, world):
    resp = app_client.post(
        "/patients/new",
        content=b"given_name=" + b"x" * (3 * MiB),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text.startswith("request body too large")
