"""SOAP notes over the API on both engines: write, edit with the version, sign, addenda, and
every way around the rules (stale edits, edits after signing, other clinics, bad input)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.notes.conftest import NOTE, Notes, plain_visit
from tests.treatment.test_needling_flow import TRAP
from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import open_session
from triggerpoint.notes.models import SoapNote


def _count(model) -> int:
    with open_session(clinic_id=None) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_create_then_edit_with_the_version(notes, visit_id):
    assert notes.get(visit_id, 404)["detail"] == f"visit {visit_id} has no SOAP note yet"
    created = notes.put(visit_id, NOTE)
    assert created["status"] == "draft" and created["version"] == 1
    assert {k: created[k] for k in NOTE} == NOTE
    edited = notes.put(visit_id, {**NOTE, "plan": "Needling next visit.", "version": 1})
    assert edited["plan"] == "Needling next visit." and edited["version"] == 2
    # a field left out is cleared: the PUT is the whole note as the clinician left it
    assert edited["home_exercise"] == NOTE["home_exercise"]
    cleared = notes.put(visit_id, {"subjective": "Only this", "version": 2})
    assert cleared["plan"] is None and cleared["pain_now_nprs"] is None
    assert notes.get(visit_id)["subjective"] == "Only this"


def test_a_stale_version_or_a_second_create_is_409_and_changes_nothing(notes, visit_id):
    notes.put(visit_id, NOTE)
    notes.put(visit_id, {**NOTE, "plan": "v2", "version": 1})
    stale = notes.put(visit_id, {**NOTE, "plan": "stale", "version": 1}, 409)
    assert "changed by someone else" in stale["detail"]
    again = notes.put(visit_id, {"subjective": "a second note"}, 409)  # no version: a create
    assert "version" in again["detail"]
    assert notes.get(visit_id)["plan"] == "v2"
    assert notes.put(plain_visit(notes.client, notes.person), {"version": 3}, 409)


def test_signed_note_refuses_edits_and_takes_addenda_in_order(notes, visit_id):
    created = notes.put(visit_id, NOTE)
    signed = notes.sign(visit_id, created["version"])
    assert signed["status"] == "signed" and signed["signed_at"] and signed["signer"] == "Alice"
    refused = notes.put(visit_id, {**NOTE, "plan": "changed", "version": signed["version"]}, 409)
    assert f"SOAP note {created['id']}" in refused["detail"] and "addendum" in refused["detail"]
    assert notes.sign(visit_id, signed["version"], 409)["detail"].endswith(
        "add an addendum instead"
    )
    notes.addendum(visit_id, "Patient phoned: headache settled.")
    out = notes.addendum(visit_id, "Second thought: review posture.")
    assert [a["text"] for a in out["addenda"]] == [
        "Patient phoned: headache settled.",
        "Second thought: review posture.",
    ]
    assert out["addenda"][0]["author"] == "Alice" and out["plan"] == NOTE["plan"]


def test_addendum_needs_a_signed_note_and_sign_needs_content(notes, visit_id):
    assert "no SOAP note" in notes.addendum(visit_id, "early", 404)["detail"]
    empty = notes.put(visit_id, {})
    refused = notes.sign(visit_id, empty["version"], 422)
    assert refused["detail"][0]["loc"][-1] == "subjective"
    assert "not signed yet" in notes.addendum(visit_id, "early", 409)["detail"]
    ours = notes.get(visit_id)
    assert ours["addenda"] == [] and ours["status"] == "draft"


def test_sign_needs_the_version_read(notes, visit_id):
    notes.put(visit_id, NOTE)
    assert notes.put(visit_id, {**NOTE, "version": 1})["version"] == 1  # nothing changed
    notes.put(visit_id, {**NOTE, "easing": "Rest", "version": 1})
    assert "changed since you read it" in notes.sign(visit_id, 1, 409)["detail"]
    assert notes.get(visit_id)["status"] == "draft"


def test_signing_the_needling_session_signs_the_visit_note(notes, needled):
    notes.put(needled.visit_id, NOTE)
    session = needled.count_and_sign()
    note = notes.get(needled.visit_id)
    assert note["status"] == "signed" and note["signed_at"] == session["signed_at"]
    assert notes.put(needled.visit_id, {**NOTE, "version": note["version"]}, 409)


def test_a_session_signed_without_a_note_leaves_none(notes, needled):
    needled.count_and_sign()
    assert notes.get(needled.visit_id, 404)
    # the note written after the session is signed on its own
    note = notes.put(needled.visit_id, NOTE)
    assert notes.sign(needled.visit_id, note["version"])["status"] == "signed"


def test_a_refused_session_signature_leaves_the_note_unsigned(notes, needled):
    notes.put(needled.visit_id, NOTE)
    c = needled.clinic
    c.post(f"/api/needling-sessions/{needled.session_id}/entries", TRAP, 201)
    s = c.c.get(f"/api/needling-sessions/{needled.session_id}", headers=c.h).json()
    refused = c.post(f"/api/needling-sessions/{needled.session_id}/sign", {"version": s["version"]})
    assert refused.status_code == 409 and "count the needles" in refused.text
    assert notes.get(needled.visit_id)["status"] == "draft"


def test_another_clinic_gets_404_and_an_assistant_403(app_client, notes, visit_id, carol, bob):
    notes.put(visit_id, NOTE)
    theirs = Notes(app_client, carol)
    for r in (
        theirs.get(visit_id, 404),
        theirs.put(visit_id, NOTE, 404),
        theirs.sign(visit_id, 1, 404),
        theirs.addendum(visit_id, "x", 404),
    ):
        assert r["detail"] == f"visit {visit_id} not found"
    assistant = Notes(app_client, bob)
    assert assistant.get(visit_id, 403) and assistant.put(visit_id, NOTE, 403)
    assert notes.get(visit_id)["version"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"subjective": "%s"}' % ("x" * 20_001), "subjective"),
        ('{"home_exercise": "%s"}' % ("x" * 4_001), "home_exercise"),
        ('{"pain_now_nprs": NaN}', "pain_now_nprs"),
        ('{"pain_now_nprs": 11}', "pain_now_nprs"),
        ('{"next_visit_in_days": 1e400}', "next_visit_in_days"),
        ('{"plan": "a\\ud800b"}', "plan"),
        ('{"assessment": "a\\u0000b"}', "assessment"),
        ('{"template": "../etc"}', "template"),
        ('{"template": "no_such_template"}', "template"),
        ('{"version": 99999999999}', "version"),
        ('{"mood": "fine"}', "mood"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(notes, visit_id, body, field):
    before = _count(SoapNote)
    r = notes.client.put(
        f"/api/visits/{visit_id}/note",
        content=body,
        headers={**notes.person.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert any(e["loc"][-1] == field for e in r.json()["detail"]), r.json()
    assert _count(SoapNote) == before


def test_hostile_addendum_and_template_are_422(notes, visit_id):
    notes.sign(visit_id, notes.put(visit_id, NOTE)["version"])
    r = notes.client.post(
        f"/api/visits/{visit_id}/note/addenda",
        content='{"text": "\\udc00"}',
        headers={**notes.person.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "text"
    r = notes.client.post(
        "/api/note-templates", json={"name": "Empty"}, headers=notes.person.headers
    )
    assert r.status_code == 422 and "at least one section" in r.text


def test_every_write_is_audited(notes, visit_id, alice):
    with open_session(clinic_id=None) as s:
        since = s.scalar(select(func.max(AuditEvent.id))) or 0
    note = notes.put(visit_id, NOTE)
    notes.put(visit_id, {**NOTE, "plan": "x", "version": 1})
    notes.sign(visit_id, 2)
    notes.addendum(visit_id, "later")
    notes.get(visit_id)
    with open_session(clinic_id=None) as s:
        events = s.execute(
            select(AuditEvent.action, AuditEvent.entity_id, AuditEvent.detail)
            .where(AuditEvent.id > since, AuditEvent.entity == "soap_note")
            .order_by(AuditEvent.id)
        ).all()
    actions = [a for a, _, _ in events]
    assert actions[:4] == ["create", "update", "sign", "addendum"] and "read" in actions
    assert {e for _, e, _ in events} == {str(note["id"])}
    assert events[1][2]["fields"] == ["plan"]


def test_has_examination_reads_the_objective_findings_or_the_assessment(notes, visit_id):
    from triggerpoint.notes.schemas import NoteOut
    from triggerpoint.notes.service import has_examination

    assert not has_examination(None)
    history = NoteOut.model_validate(notes.put(visit_id, {"subjective": "History", "plan": "x"}))
    assert not has_examination(history)
    examined = notes.put(visit_id, {"palpation_summary": "Latent TP, no referral", "version": 1})
    assert has_examination(NoteOut.model_validate(examined))
