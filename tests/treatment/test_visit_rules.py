"""The rules the visit flow fixed, each in its one home and met by every path:

* a screening taken at this visit holds for it without a separate confirmation, and
  confirming again after a newer screening moves the confirmation to it (`screening_for_visit`);
* needles out may not exceed needles in (`check_count`): API, bedside form, FHIR import by
  the API and by the CLI;
* the needle length default follows the muscle's typical depth (`default_needle_length_mm`);
* trigger points are named, never given by id, and found by either (`_trigger_point`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import logged_in
from tests.interop import kit
from tests.personas import new_clinic, new_person
from tests.treatment.test_needling_flow import TRAP, Clinic
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.treatment import service
from triggerpoint.treatment.service import NEEDLE_LENGTHS_MM, default_needle_length_mm


@pytest.fixture
def clinic(app_client, alice):
    return Clinic(app_client, alice)


def _visit_now(clinic: Clinic, pid: int, *, hours: float = 0) -> int:
    at = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    return clinic.post(f"/api/patients/{pid}/visits", {"visit_at": at}, 201).json()["id"]


# --- the screening of a visit ---------------------------------------------------------------


def test_a_screening_taken_at_the_visit_opens_the_session_without_a_confirmation(clinic):
    pid = clinic.patient()
    vid = _visit_now(clinic, pid)
    clinic.screen(pid)
    clinic.consent(pid)
    clinic.post("/api/needling-sessions", {"visit_id": vid}, 201)


def test_a_screening_from_another_day_still_needs_the_confirmation(clinic):
    pid = clinic.patient()
    vid = _visit_now(clinic, pid, hours=-(service.SAME_VISIT.total_seconds() / 3600 + 1))
    clinic.screen(pid)
    clinic.consent(pid)
    assert "re-confirm" in clinic.post("/api/needling-sessions", {"visit_id": vid}, 409).text
    clinic.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
    clinic.post("/api/needling-sessions", {"visit_id": vid}, 201)


def test_confirming_after_a_newer_screening_confirms_the_newer_one(clinic):
    pid = clinic.patient()
    vid = clinic.visit(pid)  # 2026-11-20: today's screenings were not taken at it
    clinic.screen(pid)
    clinic.consent(pid)
    clinic.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
    clinic.screen(pid, epilepsy=None)
    assert "re-confirm" in clinic.post("/api/needling-sessions", {"visit_id": vid}, 409).text
    # Before, the first confirmation stayed and this one changed nothing: the session could
    # never open at this visit.
    confirmed = clinic.post(f"/api/visits/{vid}/screening-confirmation", None, 200).json()
    assert confirmed["reasons"]  # the newer screening (epilepsy is a precaution)
    clinic.post("/api/needling-sessions", {"visit_id": vid}, 201)


# --- the count rule --------------------------------------------------------------------------


def _one_needle_in(clinic: Clinic) -> tuple[int, int]:
    _, vid, sid = clinic.ready()
    clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    return vid, sid


def test_the_api_refuses_more_needles_out_than_in_naming_needles_out(clinic):
    _, sid = _one_needle_in(clinic)
    r = clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 5}, 422)
    assert r.json()["detail"][0]["loc"][-1] == "needles_out"
    assert "more than the 1 charted in" in r.text
    s = clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()
    assert s["needles_out"] is None  # nothing stored
    assert clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200)


def test_the_form_refuses_more_needles_out_than_in_beside_the_field(app_client, alice, clinic):
    vid, sid = _one_needle_in(clinic)
    browser, csrf = logged_in(app_client, alice)
    r = browser.post(f"/visits/{vid}/needling/count", data={"csrf_token": csrf, "needles_out": "5"})
    assert r.status_code == 422
    assert 'id="needles_out-error"' in r.text and "more than the 1 charted in" in r.text
    s = clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()
    assert s["needles_out"] is None


def _exported_with_too_many_out(app_client, alice, clinic) -> dict:
    """A signed session of one needle, exported, its count then raised to 5."""
    _vid, sid = _one_needle_in(clinic)
    s = clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200).json()
    clinic.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
    pid = s["patient_id"]
    bundle = kit.export(app_client, alice, pid)
    proc = kit.of(bundle, "Procedure")[0]
    kit.ext(proc, "needles-out")["valueInteger"] = 5
    return bundle


def test_fhir_import_refuses_more_needles_out_than_in(app_client, alice, clinic):
    bundle = _exported_with_too_many_out(app_client, alice, clinic)
    importer = new_person(new_clinic("Count import clinic"), "clinician", prefix="counter")
    r = app_client.post("/api/fhir/import", json=bundle, headers=importer.headers)
    assert r.status_code == 422, r.text
    assert kit.field(r) == "Procedure[0].needles-out" and "more than the 1" in r.text
    assert kit.patients(app_client, importer.headers) == 0


def test_cli_import_refuses_more_needles_out_than_in(app_client, alice, clinic, cli, tmp_path):
    bundle = _exported_with_too_many_out(app_client, alice, clinic)
    importer = new_person(new_clinic("Count CLI clinic"), "clinician", prefix="clicounter")
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    result = cli("import", "fhir", str(tmp_path / "b.json"), "--user", importer.principal.username)
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert "needles-out" in out and "more than the 1" in out
    assert kit.patients(app_client, importer.headers) == 0


# --- needle length and trigger point names --------------------------------------------------


def test_the_default_needle_reaches_every_muscles_deepest_typical_depth():
    for m in load_atlas().muscles.values():
        n = default_needle_length_mm(m.id)
        deepest = m.needling.depth_mm[1]
        assert n in NEEDLE_LENGTHS_MM
        assert n >= min(deepest + service.NEEDLE_MARGIN_MM, NEEDLE_LENGTHS_MM[-1]), m.id
        shorter = [x for x in NEEDLE_LENGTHS_MM if x < n]
        assert not shorter or shorter[-1] < deepest + service.NEEDLE_MARGIN_MM, m.id  # shortest


def test_gluteus_medius_gets_a_needle_for_its_45_mm_depth(clinic):
    assert default_needle_length_mm("Gluteus medius") == 75
    assert default_needle_length_mm("gluteus_medius") == 75
    assert default_needle_length_mm("no such muscle") is None
    _, _, sid = clinic.ready()
    body = {**TRAP, "muscle": "Gluteus medius", "needle_length_mm": 75, "depth_mm": 45}
    clinic.post(f"/api/needling-sessions/{sid}/entries", body, 201)


def test_a_trigger_point_is_found_by_its_name_and_stored_by_its_id(clinic):
    _, _, sid = clinic.ready()
    gm = load_atlas().find_muscle("gluteus medius")
    body = {**TRAP, "muscle": "Gluteus medius", "needle_length_mm": 75, "depth_mm": 40}
    e = clinic.post(
        f"/api/needling-sessions/{sid}/entries",
        {**body, "trigger_point_id": gm.trigger_points[1].name.upper()},
        201,
    ).json()
    assert e["trigger_point_id"] == gm.trigger_points[1].id
    bad = clinic.post(
        f"/api/needling-sessions/{sid}/entries", {**body, "trigger_point_id": "tp9"}, 422
    )
    assert gm.trigger_points[0].name in bad.text  # the choices are named for people
