"""FHIR import goes through the service functions and trusts nothing in the bundle.

Each refusal is a 422 (or 409) naming the resource and element, and writes nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.interop import kit
from tests.treatment.test_needling_flow import TRAP, Clinic
from triggerpoint.bodychart.catalog import load_catalog
from triggerpoint.db import open_session
from triggerpoint.treatment.models import NeedlingSession, Screening

RIGHT_ARM = sorted(load_catalog().limbs["right_upper_limb"])


def _import(client, importer, bundle):
    return client.post("/api/fhir/import", json=bundle, headers=importer.headers)


def _refused(client, importer, bundle, expected: str, status: int = 422):
    """The import is refused with `status`, naming `expected`, and no patient is written."""
    before = kit.patients(client, importer.headers)
    resp = _import(client, importer, bundle)
    assert resp.status_code == status, resp.text
    if status == 422:
        assert kit.field(resp).startswith(expected), resp.json()
    assert kit.patients(client, importer.headers) == before
    return resp


def _rows(importer, model, patient_id):
    with open_session(clinic_id=importer.principal.clinic_id) as s:
        rows = list(s.scalars(select(model).where(model.patient_id == patient_id)))
        s.expunge_all()
    return rows


# --- round trip -----------------------------------------------------------------------------


def test_restrictions_travel_as_flags_and_still_block_in_the_new_clinic(
    app_client, world, lymph_patient, importer
):
    from triggerpoint.errors import SafetyBlock
    from triggerpoint.treatment import schemas, service

    original = kit.export(app_client, world.clinician_a, lymph_patient)
    (flag,) = kit.of(original, "Flag")
    assert flag["status"] == "active"
    assert flag["category"][0]["coding"][0]["code"] == "safety"
    assert flag["code"]["text"] == "Lymphoedema: do not needle the affected limb"
    assert kit.restriction(flag) == {"rule": "lymphoedema", "scope": "limb", "regions": RIGHT_ARM}
    assert kit.ext(flag, "screening")["valueReference"]["reference"] in {
        e["fullUrl"] for e in original["entry"]
    }

    resp = _import(app_client, importer, original)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["patient_id"]

    # Recomputed from the answers, the restriction is the same one (same region ids) ...
    (screening,) = _rows(importer, Screening, pid)
    assert [(r["rule"], r["scope"], sorted(r["regions"])) for r in screening.restrictions] == [
        ("lymphoedema", "limb", RIGHT_ARM)
    ]
    again = kit.export_as(app_client, importer.headers, pid)
    assert [kit.restriction(f) for f in kit.of(again, "Flag")] == [kit.restriction(flag)]

    # ... the allowed needle came with its session, marked imported, signer kept ...
    (imported,) = _rows(importer, NeedlingSession, pid)
    assert imported.imported and imported.imported_signer == "clinician_a"
    assert imported.status == "signed"
    assert [(e.muscle_id, e.side) for e in imported.entries] == [("upper_trapezius", "right")]
    (proc,) = kit.of(again, "Procedure")
    assert kit.ext(proc, "imported")["valueBoolean"] is True
    assert kit.ext(proc, "signed-by")["valueString"] == "clinician_a"

    # ... and it still blocks the right arm when charted in the new clinic.
    c = Clinic(app_client, world.clinician_a)
    c.h = importer.headers
    vid = c.visit(pid)
    c.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
    opened = c.post("/api/needling-sessions", {"visit_id": vid}, 201).json()
    assert [r["rule"] for r in opened["restrictions"]] == ["lymphoedema"]
    for muscle in ("deltoid", "biceps brachii"):
        with open_session(clinic_id=importer.principal.clinic_id) as s:
            with pytest.raises(SafetyBlock, match="restricted"):
                service.add_entry(
                    s,
                    principal=importer.principal,
                    needling_id=opened["id"],
                    data=schemas.EntryIn(**{**TRAP, "muscle": muscle}),
                )
            s.rollback()
    c.post(f"/api/needling-sessions/{opened['id']}/entries", TRAP, 201)


def test_each_session_is_checked_against_the_screening_in_force_at_its_time(
    app_client, world, importer
):
    """Right biceps was needled before the lymphoedema was known (a later screening): the
    import checks the session against the screening of its own time, not the newest."""
    c = Clinic(app_client, world.clinician_a)
    pid, _, sid = c.ready()
    c.post(f"/api/needling-sessions/{sid}/entries", {**TRAP, "muscle": "biceps brachii"}, 201)
    s = c.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200).json()
    c.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
    c.screen(pid, lymphoedema="right arm")
    bundle = kit.export(app_client, world.clinician_a, pid)
    resp = _import(app_client, importer, kit.clone(bundle))
    assert resp.status_code == 201, resp.text

    # Had the lymphoedema been known before the session, the same needle is refused.
    early = kit.clone(bundle)
    kit.screening(early, 0)["authored"] = "2026-11-20T09:00:00+00:00"
    kit.screening(early, 1)["authored"] = "2026-11-20T09:30:00+00:00"
    for flag in kit.of(early, "Flag"):
        flag["period"]["start"] = "2026-11-20T09:30:00+00:00"
    kit.of(early, "Patient")[0]["identifier"][1]["value"] = "urn:uuid:another-record"
    _refused(app_client, importer, early, "Procedure[0].needle-entry[0]")


# --- a bundle that breaks its own screening ---------------------------------------------------


def _biceps_with_lymphoedema(bundle):
    entry = kit.needle(bundle)
    kit.set_sub(entry, "muscle_id", valueString="biceps_brachii")
    kit.set_sub(entry, "trigger_point_id", valueString="tp1")
    kit.set_sub(entry, "side", valueString="right")


def _electrical_with_pacemaker(bundle):
    kit.answer(bundle, "pacemaker", True)
    entry = kit.needle(bundle)
    kit.set_sub(entry, "technique", valueString="electrical")
    entry["extension"].append(
        {
            "url": "estim",
            "extension": [
                {"url": "frequency_hz", "valueDecimal": 2},
                {"url": "pulse_width_us", "valueDecimal": 250},
                {"url": "intensity_ma", "valueDecimal": 5},
            ],
        }
    )


@pytest.mark.parametrize("violate", [_biceps_with_lymphoedema, _electrical_with_pacemaker])
def test_a_needle_its_own_screening_forbids_refuses_the_whole_bundle(
    app_client, world, lymph_patient, importer, violate
):
    bundle = kit.export(app_client, world.clinician_a, lymph_patient)
    violate(bundle)
    resp = _refused(app_client, importer, bundle, "Procedure[0].needle-entry[0]")
    assert kit.field(resp) == "Procedure[0].needle-entry[0]"
    assert "restricted" in resp.text or "electrical stimulation" in resp.text


def test_the_electrical_entry_itself_round_trips_without_a_pacemaker(
    app_client, world, lymph_patient, importer
):
    """The estim parameters travel with the entry (so the pacemaker refusal above is the
    screening's doing, not a missing field)."""
    bundle = kit.export(app_client, world.clinician_a, lymph_patient)
    _electrical_with_pacemaker(bundle)
    kit.answer(bundle, "pacemaker", False)
    resp = _import(app_client, importer, bundle)
    assert resp.status_code == 201, resp.text
    (ns,) = _rows(importer, NeedlingSession, resp.json()["patient_id"])
    assert ns.entries[0].technique == "electrical"
    assert ns.entries[0].estim == {"frequency_hz": 2, "pulse_width_us": 250, "intensity_ma": 5}


# --- hostile values -------------------------------------------------------------------------


def _patient(b):
    return kit.of(b, "Patient")[0]


def _nprs(b):
    return kit.index_of(b, "Observation", lambda o: o["code"]["coding"][0]["code"] == "72514-3")


def _set(path_fn, value):
    def mutate(b):
        path_fn(b, value)

    return mutate


def _name_family(b, v):
    _patient(b)["name"][0]["family"] = v


def _name_given(b, v):
    _patient(b)["name"][0]["given"] = [v]


def _birth(b, v):
    _patient(b)["birthDate"] = v


def _email(b, v):
    _patient(b)["telecom"] = [{"system": "email", "value": v}]


def _outcome_code(b, v):
    kit.of(b, "Observation")[_nprs(b)]["code"]["coding"][0] = {
        "system": f"{kit.LOCAL}/outcome",
        "code": v,
    }


def _score(b, v):
    kit.of(b, "Observation")[_nprs(b)]["valueQuantity"]["value"] = v


def _ae_type(b, v):
    kit.of(b, "AdverseEvent")[0]["event"]["coding"][0]["code"] = v


def _entry_part(name, **value):
    def mutate(b):
        kit.set_sub(kit.needle(b), name, **value)

    return mutate


def _three_in_none_out(b):
    proc = kit.of(b, "Procedure")[0]
    entries = kit.exts(proc, "needle-entry")
    proc["extension"].insert(0, kit.clone(entries[0]))
    kit.ext(proc, "needles-out")["valueInteger"] = 0
    assert len(kit.exts(proc, "needle-entry")) == 3


def _screening_outcome(b, v):
    kit.ext(kit.screening(b), "screening-outcome")["valueString"] = v


def _second_diagnosis(b, v):
    kit.of(b, "Condition")[1]["code"]["coding"][0]["code"] = v


def _encounter_start(b, v):
    kit.of(b, "Encounter")[0]["period"]["start"] = v


def _performed(b, v):
    kit.of(b, "Procedure")[0]["performedDateTime"] = v


HOSTILE = [
    ("1 MB name", _set(_name_family, "x" * 1_000_000), "Patient.name.family"),
    ("NUL in name", _set(_name_given, "An\x00na"), "Patient.name.given"),
    ("born 2999", _set(_birth, "2999-01-01"), "Patient.birthDate"),
    ("born 1700", _set(_birth, "1700-01-01"), "Patient.birthDate"),
    ("bad email", _set(_email, "not an email"), "Patient.telecom.email"),
    ("outcome bogus", _set(_outcome_code, "bogus"), "Observation[{nprs}].code"),
    ("score 1e308", _set(_score, 1e308), "Observation[{nprs}].valueQuantity.value"),
    ("score not from items", _set(_score, 3), "Observation[{nprs}].valueQuantity.value"),
    ("unknown adverse event", _set(_ae_type, "alien_abduction"), "AdverseEvent[0].event"),
    ("laser", _entry_part("technique", valueString="laser"), "Procedure[0].needle-entry[0].technique"),
    ("negative depth", _entry_part("depth_mm", valueDecimal=-3), "Procedure[0].needle-entry[0].depth_mm"),
    ("200 mm on 40 mm", _entry_part("depth_mm", valueDecimal=200), "Procedure[0].needle-entry[0].depth_mm"),
    ("unknown muscle", _entry_part("muscle_id", valueString="heart"), "Procedure[0].needle-entry[0].muscle_id"),
    ("3 in, 0 out, signed", _three_in_none_out, "Procedure[0].needles-out"),
    ("outcome anything-goes", _set(_screening_outcome, "anything-goes"), "QuestionnaireResponse[0].screening-outcome"),
    ("outcome stricter than answers", _set(_screening_outcome, "not_cleared"), "QuestionnaireResponse[0].screening-outcome"),
    ("not an ICD-10-CM code", _set(_second_diagnosis, "U99.ZZ"), "Condition[1].code"),
    ("year 0001", _set(_encounter_start, "0001-01-01T00:00:00+00:00"), "Encounter[0].period.start"),
    ("year 0001 east of UTC", _set(_encounter_start, "0001-01-01T00:00:00+05:00"), "Encounter[0].period.start"),
    ("start without a zone", _set(_encounter_start, "2026-11-20T10:00:00"), "Encounter[0].period.start"),
    ("date-only procedure", _set(_performed, "2026-11-20"), "Procedure[0].performedDateTime"),
    ("procedure in the future", _set(_performed, "2099-01-01T10:00:00+00:00"), "Procedure[0].performedDateTime"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "expected"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_hostile_values_are_refused_naming_the_element(
    app_client, world, full_patient, importer, mutate, expected
):
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    expected = expected.format(nprs=_nprs(bundle))
    mutate(bundle)
    _refused(app_client, importer, bundle, expected)


def test_an_unanswered_screening_question_is_refused_by_name(
    app_client, world, full_patient, importer
):
    """An old bundle from before a question existed: every question must be answered."""
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    q = kit.screening(bundle)
    q["item"] = [i for i in q["item"] if i["linkId"] != "pacemaker"]
    resp = _refused(app_client, importer, bundle, "QuestionnaireResponse[0].answers.pacemaker")
    assert "unanswered" in resp.text


def test_a_flag_the_answers_no_longer_give_is_not_dropped_silently(
    app_client, world, lymph_patient, importer
):
    bundle = kit.export(app_client, world.clinician_a, lymph_patient)
    kit.answer(bundle, "lymphoedema", False)
    _screening_outcome(bundle, "cleared")  # consistent with the edited answers
    resp = _refused(app_client, importer, bundle, "Flag[0].restriction")
    assert "would be lost" in resp.text


def test_the_screening_outcome_extension_is_recomputed_not_trusted(
    app_client, world, lymph_patient, importer
):
    """A claimed outcome looser than the answers give is replaced by the recomputed one."""
    bundle = kit.export(app_client, world.clinician_a, lymph_patient)
    _screening_outcome(bundle, "cleared")
    resp = _import(app_client, importer, bundle)
    assert resp.status_code == 201, resp.text
    (s,) = _rows(importer, Screening, resp.json()["patient_id"])
    assert s.outcome == "cleared_with_precautions"


def test_a_date_only_encounter_start_is_the_middle_of_that_day(
    app_client, world, full_patient, importer
):
    from triggerpoint.records.models import Visit

    bundle = kit.export(app_client, world.clinician_a, full_patient)
    _encounter_start(bundle, "2026-11-20")
    resp = _import(app_client, importer, bundle)
    assert resp.status_code == 201, resp.text
    (visit,) = _rows(importer, Visit, resp.json()["patient_id"])
    assert visit.visit_at == datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_an_unknown_resource_or_element_is_refused_not_dropped(
    app_client, world, full_patient, importer
):
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    bundle["entry"].append({"resource": {"resourceType": "AllergyIntolerance", "patient": {}}})
    _refused(app_client, importer, bundle, f"bundle.entry[{len(bundle['entry']) - 1}]")
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    _patient(bundle)["address"] = [{"city": "Galway"}]
    _refused(app_client, importer, bundle, "Patient.address")


# --- duplicates -------------------------------------------------------------------------------


def test_the_same_record_imported_twice_into_one_clinic_is_409(
    app_client, world, full_patient, importer
):
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    assert _import(app_client, importer, bundle).status_code == 201
    resp = _refused(app_client, importer, bundle, "", status=409)
    assert "already imported" in resp.json()["detail"]
    # A later export of the same record is the same record.
    _refused(app_client, importer, kit.export(app_client, world.clinician_a, full_patient), "", 409)
    assert kit.patients(app_client, importer.headers) == 1


def test_a_duplicate_external_id_is_409(app_client, world, importer):
    from tests.conftest import new_patient

    pid = new_patient(app_client, world.clinician_a, external_id=f"MRN-{uuid.uuid4().hex[:12]}")
    bundle = kit.export(app_client, world.clinician_a, pid)
    assert _import(app_client, importer, kit.clone(bundle)).status_code == 201
    kit.of(bundle, "Patient")[0]["identifier"][1]["value"] = "urn:uuid:another-record"
    resp = _refused(app_client, importer, bundle, "", status=409)
    assert "external_id" in resp.json()["detail"]


def test_a_session_needs_a_consent_in_force_at_its_time(app_client, world, full_patient, importer):
    """A consent withdrawn before the procedure (provision.period.end) does not cover it."""
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    (consent,) = kit.of(bundle, "Consent")
    consent["status"] = "inactive"
    consent["provision"]["period"]["end"] = "2026-11-20T09:30:00+00:00"
    resp = _refused(app_client, importer, bundle, "Procedure[0].performedDateTime")
    assert "consent" in resp.text


def test_only_a_clinician_may_import(app_client, world, full_patient):
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    headers = kit.as_person(app_client, world.assistant_a)
    before = kit.patients(app_client, headers)
    resp = app_client.post("/api/fhir/import", json=bundle, headers=headers)
    assert resp.status_code == 403
    assert kit.patients(app_client, headers) == before


def test_the_cli_import_refuses_the_same_way_and_writes_nothing(
    app_client, world, lymph_patient, importer, cli, tmp_path
):
    bundle = kit.export(app_client, world.clinician_a, lymph_patient)
    bad = kit.clone(bundle)
    _biceps_with_lymphoedema(bad)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "good.json").write_text(json.dumps(bundle))
    user = importer.principal.username

    result = cli("import", "fhir", str(tmp_path / "bad.json"), "--user", user)
    assert result.exit_code == 2
    assert "Procedure[0].needle-entry[0]" in " ".join(result.output.split())
    assert kit.patients(app_client, importer.headers) == 0

    result = cli("import", "fhir", str(tmp_path / "good.json"), "--user", user, "--json")
    assert result.exit_code == 0, result.output
    assert kit.patients(app_client, importer.headers) == 1
    result = cli("import", "fhir", str(tmp_path / "good.json"), "--user", user)
    assert result.exit_code == 2 and "already imported" in " ".join(result.output.split())
    assert kit.patients(app_client, importer.headers) == 1


def test_a_research_consent_round_trips_as_research_and_never_covers_needling(
    app_client, world, full_patient, importer
):
    """A research consent travels with its own policy and scope, comes back as a research
    consent, and a needling session cannot rest on it: it is not a consent to be needled."""
    c = Clinic(app_client, world.clinician_a)
    c.post(
        f"/api/patients/{full_patient}/consents",
        {"kind": "research", "signed_by": "Pat Ient", "signed_at": "2026-11-19T09:00:00+00:00"},
        201,
    )
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    by_rule = {r["policyRule"]["coding"][0]["code"]: r for r in kit.of(bundle, "Consent")}
    assert set(by_rule) == {"dry-needling", "research"}
    assert by_rule["research"]["scope"]["coding"][0]["code"] == "research"
    assert by_rule["research"]["status"] == "active"
    assert by_rule["dry-needling"]["scope"]["coding"][0]["code"] == "treatment"

    needling_only_on_research = json.loads(json.dumps(bundle))
    needling_only_on_research["entry"] = [
        e
        for e in needling_only_on_research["entry"]
        if e["resource"].get("policyRule", {}).get("coding", [{}])[0].get("code") != "dry-needling"
    ]
    resp = _refused(app_client, importer, needling_only_on_research, "Procedure[0]")
    assert "dry-needling consent" in resp.text

    resp = _import(app_client, importer, bundle)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["patient_id"]
    from triggerpoint.records.models import Consent

    kinds = sorted(row.kind for row in _rows(importer, Consent, pid))
    assert kinds == ["dry_needling", "research"]


def test_an_unknown_consent_policy_is_refused_by_name(app_client, world, full_patient, importer):
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    (consent,) = kit.of(bundle, "Consent")
    consent["policyRule"]["coding"][0]["code"] = "marketing"
    resp = _refused(app_client, importer, bundle, "Consent[0].policyRule")
    assert "dry-needling, research" in resp.text
