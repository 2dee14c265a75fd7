"""Every notes route refuses another clinic, and every notes write is audited
(tests/mixins.py): the JSON API and the form alike."""

from __future__ import annotations

from tests.mixins import AuditsEveryWrite, Call, Ids, RefusesAnotherClinic
from tests.personas import Api

BODY = {"subjective": "Neck pain, worse at the desk", "pain_now_nprs": 5}
FORM = {"subjective": "Neck pain", "pain_now_nprs": "5", "red_flags_checked": "yes"}
NOTE_ID = "{note_id}"


def with_note(api: Api, ids: Ids) -> Ids:
    """`prepare` step: a draft note at the owned visit."""
    r = api.client.put(f"/api/visits/{ids['visit_id']}/note", json=BODY, headers=api.person.headers)
    assert r.status_code == 200, r.text
    return {"note_id": r.json()["id"], "note_version": r.json()["version"]}


def with_signed_note(api: Api, ids: Ids) -> Ids:
    """`prepare` step: the owned visit's note, signed."""
    note = with_note(api, ids)
    api.post(f"/api/visits/{ids['visit_id']}/note/sign", {"version": note["note_version"]}, 200)
    return note


class TestNotesRoutes(RefusesAnotherClinic, AuditsEveryWrite):
    domain = "notes"
    calls = {  # noqa: RUF012 - read by the mixins
        ("GET", "/api/visits/{visit_id}/note"): Call(prepare=with_note),
        ("PUT", "/api/visits/{visit_id}/note"): Call(json=BODY, audits=("soap_note", "create")),
        ("POST", "/api/visits/{visit_id}/note/sign"): Call(
            json={"version": "{note_version}"}, prepare=with_note, audits=("soap_note", "sign")
        ),
        ("POST", "/api/visits/{visit_id}/note/addenda"): Call(
            json={"text": "Phoned: better."},
            prepare=with_signed_note,
            audits=("soap_note", "addendum"),
        ),
        ("POST", "/api/note-templates"): Call(
            json={"name": "Neck", "subjective": "Where and since when:"},
            audits=("note_template", "create"),
        ),
        ("GET", "/visits/{visit_id}/note"): Call(prepare=with_note),
        ("POST", "/visits/{visit_id}/note"): (
            Call(form=FORM, audits=("soap_note", "create"), entity_id=None, label="save"),
            Call(
                form={**FORM, "action": "sign", "version": "{note_version}"},
                prepare=with_note,
                audits=("soap_note", "sign"),
                entity_id=NOTE_ID,
                label="sign",
            ),
            Call(
                form={"action": "addendum", "text": "Phoned: better."},
                prepare=with_signed_note,
                audits=("soap_note", "addendum"),
                entity_id=NOTE_ID,
                label="addendum",
            ),
        ),
    }
