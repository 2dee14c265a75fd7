"""`triggerpoint export csv|fhir`: identifiers removed, dates shifted consistently, bundle valid."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from fhir.resources.R4B.bundle import Bundle

from tests.reports.conftest import build_course


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_identified_has_identifiers(cli, app_client, alice):
    c = build_course(app_client, alice, given="Idana", family="Ident")
    r = cli("export", "csv", "--clinic", str(alice.clinic_id))
    assert r.exit_code == 0, r.output
    rows = [row for row in _rows(r.stdout) if row["patient_id"] == str(c.patient_id)]
    assert len(rows) == 8 and rows[0]["family_name"] == "Ident"
    assert rows[0]["date_of_birth"] == "1975-03-14" and rows[0]["age_band"] == "50-54"
    nprs_pre = [x for x in rows if x["instrument"] == "nprs" and x["timing"] == "pre"]
    assert nprs_pre[0]["measured_at"].startswith("2026-10-01T10:05")
    assert nprs_pre[0]["session_twitches"] == "4" and nprs_pre[0]["visit_no"] == "1"


def test_csv_deidentified_removes_identifiers_and_shifts_dates_per_patient(cli, app_client, alice):
    a = build_course(app_client, alice, given="Deidra", family="Secretname")
    b = build_course(app_client, alice, given="Other", family="Secretname")
    r = cli("export", "csv", "--deidentify", "--clinic", str(alice.clinic_id))
    assert r.exit_code == 0, r.output
    text = r.stdout
    for secret in ("Secretname", "Deidra", "1975-03-14", "patient_id", "email", "phone"):
        assert secret not in text
    rows = _rows(text)
    assert all(row["research_id"].startswith("R") for row in rows)
    assert all(row["clinic_id"] == str(alice.clinic_id) for row in rows)
    # Find the two course patients by their (shift-invariant) sequence of scores.
    by_id: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_id.setdefault(row["research_id"], []).append(row)
    courses = [v for v in by_id.values() if len(v) == 8 and v[0]["age_band"] == "50-54"]
    assert len(courses) >= 2
    shifts = set()
    for rows_p in courses[-2:]:
        times = [datetime.fromisoformat(x["measured_at"]) for x in rows_p]
        real_first = datetime.fromisoformat("2026-10-01T10:02:00+00:00")  # ODI, first row
        shift = times[0] - real_first
        assert shift.days != 0 and abs(shift.days) <= 365
        # The same shift for every row of the patient: intervals are kept exactly.
        assert (
            times[-1] - times[0] == datetime.fromisoformat("2026-10-08T10:45:00+00:00") - real_first
        )
        visit = datetime.fromisoformat(rows_p[0]["visit_at"])
        assert visit - datetime.fromisoformat("2026-10-01T10:00:00+00:00") == shift
        shifts.add(shift)
    assert a.patient_id != b.patient_id


def test_fhir_export_cli_gives_a_valid_bundle(cli, app_client, alice):
    c = build_course(app_client, alice, given="Fhira", family="Bundle")
    r = cli("export", "fhir", str(c.patient_id))
    assert r.exit_code == 0, r.output
    bundle = json.loads(r.stdout)
    Bundle.model_validate(bundle)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Procedure", "Observation", "AdverseEvent", "Consent"} <= kinds
    assert cli("export", "fhir", "999999").exit_code == 2


def test_csv_for_an_unknown_clinic_is_bad_input(cli, app_client, db):
    result = cli("export", "csv", "--clinic", "999999")
    assert result.exit_code == 2
    assert "--clinic" in result.output and "not found" in result.output


def test_fhir_for_an_unknown_patient_is_bad_input(cli, app_client, db):
    result = cli("export", "fhir", "999999")
    assert result.exit_code == 2 and "not found" in result.output
