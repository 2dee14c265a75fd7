"""The note where it leaves the app: the printed visit note (PDF) and the FHIR export (a
Composition with the four SOAP sections; final once signed, preliminary before)."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle

from tests.notes.conftest import NOTE
from tests.reports.test_pdfs import pdf_text


def test_the_visit_note_pdf_carries_the_signed_soap_note_and_its_addenda(notes, needled):
    notes.put(needled.visit_id, NOTE)
    needled.count_and_sign()
    notes.addendum(needled.visit_id, "Phoned two days later: headache gone.")
    text = pdf_text(
        notes.client.get(
            f"/patients/{needled.patient_id}/reports/visit-note.pdf?visit={needled.visit_id}",
            headers=notes.person.headers,
        )
    )
    for words in (
        "SOAP note",
        "Subjective Pain now (NPRS 0-10) 6",
        "Right neck pain since a long drive",
        "Objective Range of motion Rotation R 50°, L 70°",
        "Active trigger point in right upper trapezius",
        "Assessment Myofascial pain, right upper trapezius.",
        "Plan Next visit in (days) 7",
        "Home exercise Levator and trapezius stretch",
        "Note signed by Alice",
        "Phoned two days later: headache gone.",
    ):
        assert words.lower() in text.lower(), words  # labels print in capitals
    assert "Draft: this SOAP note is not signed" not in text


def test_an_unsigned_note_prints_as_a_draft(notes, visit_id):
    pid = notes.put(visit_id, {"subjective": "History only"})["patient_id"]
    text = pdf_text(
        notes.client.get(
            f"/patients/{pid}/reports/visit-note.pdf?visit={visit_id}", headers=notes.person.headers
        )
    )
    assert "History only" in text and "Draft: this SOAP note is not signed" in text
    assert text.count("Nothing written.") == 3  # objective, assessment, plan


def _export(notes, pid) -> dict:
    r = notes.client.get(f"/api/patients/{pid}/fhir", headers=notes.person.headers)
    assert r.status_code == 200, r.text
    Bundle.model_validate(r.json())  # R4B, independent of the exporter's own check
    return r.json()


def _compositions(bundle) -> list[dict]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Composition"
    ]


def test_fhir_export_has_a_final_composition_with_the_four_sections(notes, needled):
    notes.put(needled.visit_id, NOTE)
    needled.count_and_sign()
    notes.addendum(needled.visit_id, "Later words")
    bundle = _export(notes, needled.patient_id)
    (comp,) = _compositions(bundle)
    assert comp["status"] == "final" and comp["title"] == "SOAP note"
    assert comp["type"]["coding"][0]["code"] == "11506-3"
    assert comp["attester"][0]["mode"] == "legal" and comp["attester"][0]["time"]
    assert comp["encounter"]["reference"] in {e["fullUrl"] for e in bundle["entry"]}
    codes = [s["code"]["coding"][0]["code"] for s in comp["section"]]
    assert codes == ["61150-9", "61149-1", "51848-0", "18776-5", "addenda"]
    subjective = comp["section"][0]
    ext = {e["url"].rsplit("/", 1)[-1]: e for e in subjective["extension"]}
    assert ext["soap-text"]["valueString"] == NOTE["subjective"]
    assert ext["pain_now_nprs"]["valueInteger"] == 6
    assert ext["red_flags_checked"]["valueBoolean"] is True
    assert "Pain now (NPRS 0-10): 6" in subjective["text"]["div"]
    assert "Later words" in comp["section"][4]["text"]["div"]
    assert {"url": "urn:triggerpoint:fhir:extension/signed-by", "valueString": "Alice"} in comp[
        "extension"
    ]


def test_fhir_export_of_an_unsigned_note_is_preliminary_and_escaped(notes, visit_id):
    pid = notes.put(visit_id, {"plan": "<b>not markup</b> & more"})["patient_id"]
    (comp,) = _compositions(_export(notes, pid))
    assert comp["status"] == "preliminary" and "attester" not in comp
    assert "&lt;b&gt;not markup&lt;/b&gt; &amp; more" in comp["section"][3]["text"]["div"]
    assert comp["section"][0]["text"]["div"].endswith("<p>Nothing written.</p></div>")
