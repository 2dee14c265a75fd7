"""The safety matrix's import cells: every restriction kind crossed with FHIR import (API) and
`triggerpoint import fhir` (CLI).

For each case the patient is screened with the case's answer and has the allowed needle in a
signed session. Its exported bundle imports into a new clinic; the same bundle with that
needle changed to the forbidden one is refused whole, naming the entry, and writes nothing.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import as_person
from tests.interop import kit
from tests.treatment.test_safety_matrix import CASES, IDS, Case, body, ready


def _signed_with_allowed_needle(client, person, case: Case) -> int:
    pid, _, sid = ready(client, person, case.answers)
    h = as_person(client, person)
    r = client.post(
        f"/api/needling-sessions/{sid}/entries",
        json=body(*case.allowed, case.allowed_technique),
        headers=h,
    )
    assert r.status_code == 201, r.text
    s = client.post(f"/api/needling-sessions/{sid}/count", json={"needles_out": 1}, headers=h)
    r = client.post(
        f"/api/needling-sessions/{sid}/sign", json={"version": s.json()["version"]}, headers=h
    )
    assert r.status_code == 200, r.text
    return pid


def _forbidden(bundle: dict, case: Case) -> dict:
    bad = kit.clone(bundle)
    entry = kit.needle(bad)
    muscle, side, tp = case.forbidden
    kit.set_sub(entry, "muscle_id", valueString=muscle)
    kit.set_sub(entry, "side", valueString=side)
    kit.set_sub(entry, "trigger_point_id", valueString=tp)
    kit.set_sub(entry, "technique", valueString=case.technique)
    if case.technique == "electrical":
        estim = [
            {"url": "frequency_hz", "valueDecimal": 2.0},
            {"url": "intensity_ma", "valueDecimal": 5.0},
            {"url": "pulse_width_us", "valueDecimal": 250.0},
        ]
        parts = [e for e in entry["extension"] if e["url"] != "estim"]
        entry["extension"] = [*parts, {"url": "estim", "extension": estim}]
    return bad


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fhir_import(app_client, world, importer, case):
    pid = _signed_with_allowed_needle(app_client, world.clinician_a, case)
    bundle = kit.export(app_client, world.clinician_a, pid)
    refused = app_client.post(
        "/api/fhir/import", json=_forbidden(bundle, case), headers=importer.headers
    )
    assert refused.status_code == 422, refused.text
    assert kit.field(refused).startswith("Procedure[0].needle-entry[0]"), refused.text
    assert kit.patients(app_client, importer.headers) == 0
    ok = app_client.post("/api/fhir/import", json=bundle, headers=importer.headers)
    assert ok.status_code == 201, ok.text
    assert kit.patients(app_client, importer.headers) == 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_import(app_client, world, importer, cli, tmp_path, case):
    pid = _signed_with_allowed_needle(app_client, world.clinician_a, case)
    bundle = kit.export(app_client, world.clinician_a, pid)
    (tmp_path / "bad.json").write_text(json.dumps(_forbidden(bundle, case)))
    (tmp_path / "good.json").write_text(json.dumps(bundle))
    user = importer.principal.username
    result = cli("import", "fhir", str(tmp_path / "bad.json"), "--user", user)
    assert result.exit_code == 2, result.output
    assert "needle-entry[0]" in " ".join(result.output.split())
    assert kit.patients(app_client, importer.headers) == 0
    result = cli("import", "fhir", str(tmp_path / "good.json"), "--user", user, "--json")
    assert result.exit_code == 0, result.output
    assert kit.patients(app_client, importer.headers) == 1
