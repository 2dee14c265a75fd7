"""Questionnaire requests through the service, on both engines: the token is stored only as a
hash, the link refuses every token it should (expired, used, cancelled, guessed, resent), a
submission becomes patient-reported measurements and a drawing with provenance, once, and a
submission refused anywhere writes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, update
from tests.personas import Person, new_patient

from triggerpoint.accounts.service import patient_link_principal
from triggerpoint.audit.models import AuditEvent
from triggerpoint.config import get_settings
from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.errors import Forbidden, InvalidInput, LinkGone, NotFound
from triggerpoint.outcomes.models import Measurement
from triggerpoint.outcomes.schemas import MeasurementIn
from triggerpoint.outcomes.service import record_measurement
from triggerpoint.portal import service
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.portal.schemas import PatientView, RequestIn, SubmissionIn
from triggerpoint.records.models import PainDrawing, Patient
from triggerpoint.records.schemas import VisitIn
from triggerpoint.records.service import create_visit

TEXTS = Path(__file__).parent / "texts"  # placeholder NDI wording (not the licensed text)
NDI_OK = [0, 1, 2, 3, 4, 5, 0, 1, 2, None]


@pytest.fixture(autouse=True)
def licensed_texts(monkeypatch) -> Iterator[None]:
    """The tests' placeholder NDI catalogue, as a clinic would configure licensed wording."""
    monkeypatch.setenv("TRIGGERPOINT_INSTRUMENT_TEXTS_DIR", str(TEXTS))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _patient(person: Person, **fields) -> int:
    with open_session(clinic_id=person.clinic_id) as s:
        pid = new_patient(s, person, **fields)
        s.commit()
    return pid


def _create(person: Person, patient_id: int, **body) -> tuple[int, str]:
    body = {"instruments": ["nprs", "ndi"], "pain_drawing": True, **body}
    with unit_of_work(clinic_id=person.clinic_id) as s:
        row, token = service.create_request(
            s, principal=person.principal, patient_id=patient_id, data=RequestIn(**body)
        )
        return row.id, token


def _submit(token: str, answers=None, drawing=None) -> QuestionnaireRequest:
    data = SubmissionIn(
        answers=answers
        if answers is not None
        else {"nprs": {"current": 6}, "ndi": {"items": NDI_OK}},
        drawing=drawing if drawing is not None else {"marks": ["right_temple"], "complete": True},
    )
    with unit_of_work(clinic_id=None) as s:
        return service.submit_request(s, token=token, data=data)


def _open(token: str) -> PatientView:
    with unit_of_work(clinic_id=None) as s:
        return service.open_request(s, token=token)


def _row(clinic_id: int, request_id: int) -> QuestionnaireRequest:
    with open_session(clinic_id=clinic_id) as s:
        row = s.get(QuestionnaireRequest, request_id)
        assert row is not None
        return row


def _count(clinic_id: int, model, **where) -> int:
    with open_session(clinic_id=clinic_id) as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return s.scalar(q) or 0


def test_token_is_stored_only_as_its_hash(alice):
    pid = _patient(alice)
    rid, token = _create(alice, pid)
    assert len(token) >= 43  # token_urlsafe(32): 256 bits
    with open_session(clinic_id=alice.clinic_id) as s:
        row = s.get(QuestionnaireRequest, rid)
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = [str(getattr(row, c.key)) for c in inspect(QuestionnaireRequest).columns]
        assert not any(token in v for v in stored)
        details = s.scalars(select(AuditEvent.detail)).all()
        assert not any(token in str(d) for d in details)
    assert service.patient_url(token).endswith(f"/r/{token}")


def test_open_shows_only_clinic_first_name_and_what_is_asked(alice):
    pid = _patient(alice, given_name="Rosa", family_name="Secretname")
    rid, token = _create(alice, pid, language="es", instruments=["nprs"])
    view = _open(token)
    assert view.first_name == "Rosa"
    assert view.clinic_name  # the clinic's name
    assert view.instruments == ["nprs"] and view.pain_drawing and view.language == "es"
    assert set(PatientView.model_fields) == {
        "clinic_name",
        "first_name",
        "language",
        "instruments",
        "pain_drawing",
        "draft",
        "expires_at",
    }
    assert "Secretname" not in view.model_dump_json()
    first = _row(alice.clinic_id, rid).opened_at
    assert first is not None
    _open(token)
    assert _row(alice.clinic_id, rid).opened_at == first  # set once
    opens = _count(
        None, AuditEvent, action="open", entity="questionnaire_request", entity_id=str(rid)
    )
    assert opens == 2  # every open audited
    with open_session(clinic_id=None) as s:
        actor = s.scalar(
            select(AuditEvent.actor).where(
                AuditEvent.action == "open", AuditEvent.entity_id == str(rid)
            )
        )
    assert actor == f"patient-link:{rid}"


def test_submission_is_patient_reported_with_provenance_and_single_use(alice):
    pid = _patient(alice)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        vid = create_visit(
            s,
            principal=alice.principal,
            patient_id=pid,
            data=VisitIn(visit_at=utcnow() + timedelta(days=2)),
        ).id
    rid, token = _create(alice, pid, visit_id=vid)
    row = _submit(token)
    assert row.status == "submitted" and row.submitted_at is not None
    with open_session(clinic_id=alice.clinic_id) as s:
        ms = s.scalars(select(Measurement).where(Measurement.patient_id == pid)).all()
        assert sorted(m.instrument for m in ms) == ["ndi", "nprs"]
        for m in ms:
            assert (m.source, m.request_id, m.recorded_by, m.visit_id) == (
                "patient",
                rid,
                None,
                vid,
            )
            assert m.timing == "pre"  # submitted before the visit: before needling
            assert m.measured_at == row.submitted_at
        ndi = next(m for m in ms if m.instrument == "ndi")
        assert ndi.score == pytest.approx(100 * 18 / 45, abs=0.01)  # 9 answered items, max 5
        d = s.scalars(select(PainDrawing).where(PainDrawing.patient_id == pid)).one()
        assert (d.source, d.request_id, d.drawn_by, d.visit_id) == ("patient", rid, None, vid)
        assert [m.region_id for m in d.marks] == ["right_temple"]
        assert (
            s.scalar(select(QuestionnaireRequest.draft).where(QuestionnaireRequest.id == rid))
            is None
        )
    with pytest.raises(LinkGone) as gone:
        _submit(token)
    assert gone.value.status == 410 and gone.value.reason == "submitted"
    with pytest.raises(LinkGone):
        _open(token)
    assert _count(alice.clinic_id, Measurement, patient_id=pid) == 2  # nothing more stored


def test_clinician_rows_say_clinician(alice):
    pid = _patient(alice)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        m = record_measurement(
            s,
            principal=alice.principal,
            patient_id=pid,
            data=MeasurementIn(instrument="nprs", data={"current": 3}, measured_at=utcnow()),
        )
        assert (m.source, m.request_id, m.recorded_by) == ("clinician", None, alice.user_id)


@pytest.mark.parametrize(
    ("answers", "drawing", "field"),
    [
        (
            {"nprs": {"current": 6}, "ndi": {"items": [0, 1, 2, 9, 0, 0, 0, 0, 0, 0]}},
            None,
            "answers.ndi.items.3",
        ),
        ({"nprs": {"current": 6}, "ndi": {"items": [0, 1]}}, None, "answers.ndi.items"),
        ({"nprs": {"current": 11}, "ndi": {"items": NDI_OK}}, None, "answers.nprs.current"),
        ({"nprs": {"current": 6}}, None, "answers.ndi"),
        (
            {"nprs": {"current": 6}, "ndi": {"items": NDI_OK}, "odi": {"items": []}},
            None,
            "answers.odi",
        ),
        (None, {"marks": ["right_temple", "nowhere_at_all"], "complete": True}, "drawing.marks.1"),
        (None, {"marks": [], "complete": False}, "drawing.marks"),
    ],
)
def test_a_bad_submission_names_the_field_and_writes_nothing(alice, answers, drawing, field):
    pid = _patient(alice)
    rid, token = _create(alice, pid)
    with pytest.raises(InvalidInput) as bad:
        _submit(token, answers, drawing)
    assert bad.value.field == field
    assert _count(alice.clinic_id, Measurement, patient_id=pid) == 0
    assert _count(alice.clinic_id, PainDrawing, patient_id=pid) == 0
    assert _row(alice.clinic_id, rid).status == "open"
    _submit(token)  # the link still works for a good submission
    assert _count(alice.clinic_id, Measurement, patient_id=pid) == 2


def test_a_failure_after_the_first_write_rolls_everything_back(alice, monkeypatch):
    """The drawing fails after the measurements were stored: the transaction takes all back."""
    pid = _patient(alice)
    rid, token = _create(alice, pid)

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(service.records, "create_pain_drawing", boom)
    with pytest.raises(RuntimeError):
        _submit(token)
    assert _count(alice.clinic_id, Measurement, patient_id=pid) == 0
    assert _row(alice.clinic_id, rid).status == "open"


def test_expired_cancelled_guessed_and_resent_tokens_are_refused(alice):
    pid = _patient(alice)
    _rid, token = _create(alice, pid)
    with pytest.raises(NotFound):
        _open(token[:-1] + ("A" if token[-1] != "A" else "B"))  # guessed: one character off
    with pytest.raises(NotFound):
        _open("x" * 5000)

    rid, token = _create(alice, pid)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        s.execute(
            update(QuestionnaireRequest)
            .where(QuestionnaireRequest.id == rid)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(LinkGone) as gone:
        _submit(token)
    assert gone.value.reason == "expired"

    rid, token = _create(alice, pid, language="es")
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        service.cancel_request(s, principal=alice.principal, request_id=rid)
    with pytest.raises(LinkGone) as gone:
        _open(token)
    assert (gone.value.reason, gone.value.language) == ("cancelled", "es")

    rid, old = _create(alice, pid)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        _, new = service.resend_request(s, principal=alice.principal, request_id=rid)
    assert new != old
    with pytest.raises(NotFound):
        _open(old)
    assert _open(new).instruments == ["nprs", "ndi"]
    assert _count(alice.clinic_id, Measurement, patient_id=pid) == 0


def test_a_link_reports_only_for_its_own_patient_and_request(alice):
    mine, other = _patient(alice), _patient(alice)
    rid, token = _create(alice, mine)
    _submit(token)
    assert _count(alice.clinic_id, Measurement, patient_id=other) == 0
    link = patient_link_principal(clinic_id=alice.clinic_id, patient_id=mine, request_id=rid)
    data = MeasurementIn(instrument="nprs", data={"current": 2}, measured_at=utcnow())
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        with pytest.raises(Forbidden):
            record_measurement(
                s, principal=link, patient_id=other, data=data, source="patient", request_id=rid
            )
        with pytest.raises(Forbidden):  # as a clinician's entry, or for another request
            record_measurement(s, principal=link, patient_id=mine, data=data)
        with pytest.raises(Forbidden):
            record_measurement(
                s, principal=link, patient_id=mine, data=data, source="patient", request_id=rid + 1
            )
        assert not link.can("patient:read") and not link.can("clinical:read")
        with pytest.raises(Forbidden):
            service.list_requests(s, principal=link, patient_id=mine)


def test_another_clinics_ids_are_not_found(alice, erin):
    pid = _patient(alice)
    rid, _ = _create(alice, pid)
    with unit_of_work(clinic_id=erin.clinic_id) as s:
        for call in (
            lambda: service.list_requests(s, principal=erin.principal, patient_id=pid),
            lambda: service.cancel_request(s, principal=erin.principal, request_id=rid),
            lambda: service.resend_request(s, principal=erin.principal, request_id=rid),
            lambda: service.create_request(
                s, principal=erin.principal, patient_id=pid, data=RequestIn(instruments=["nprs"])
            ),
        ):
            with pytest.raises(NotFound):
                call()
    assert _row(alice.clinic_id, rid).status == "open"


def test_assistants_ask_and_follow_up_but_never_read_answers(bob):
    pid = _patient(bob)
    rid, _token = _create(bob, pid)
    with unit_of_work(clinic_id=bob.clinic_id) as s:
        assert [
            r.id for r in service.list_requests(s, principal=bob.principal, patient_id=pid)
        ] == [rid]
        service.cancel_request(s, principal=bob.principal, request_id=rid)
    assert not bob.principal.can("clinical:read")


def test_what_may_be_asked(alice):
    pid = _patient(alice)
    cases = [
        ({"instruments": ["ppt"]}, "instruments.0", "measured by the clinician"),
        ({"instruments": ["nprs", "nprs"]}, "instruments.1", "twice"),
        ({"instruments": [], "pain_drawing": False}, "instruments", "at least one"),
        ({"instruments": ["nprs", "odi"]}, "instruments.1", "no wording for odi in en"),
        ({"instruments": ["nprs"], "language": "fr"}, "language", "no 'fr' catalogue"),
    ]
    for body, field, words in cases:
        with pytest.raises(InvalidInput) as bad, unit_of_work(clinic_id=alice.clinic_id) as s:
            data = RequestIn(**{"pain_drawing": False, **body})
            service.create_request(s, principal=alice.principal, patient_id=pid, data=data)
        assert (bad.value.field, words in str(bad.value)) == (field, True), body
    assert _count(alice.clinic_id, QuestionnaireRequest, patient_id=pid) == 0
    rid, _ = _create(alice, pid, language="es")  # NPRS is ours, NDI the clinic's catalogue
    assert _row(alice.clinic_id, rid).instruments == ["nprs", "ndi"]


def test_language_defaults_to_the_patients_preferred_one(alice):
    pid = _patient(alice)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        s.get(Patient, pid).preferred_language = "es"
    rid, token = _create(alice, pid, instruments=["nprs"])
    assert _row(alice.clinic_id, rid).language == "es"
    assert _open(token).language == "es"


def test_draft_is_saved_and_resumed(alice):
    pid = _patient(alice)
    rid, token = _create(alice, pid)
    with unit_of_work(clinic_id=None) as s:
        service.save_draft(s, token=token, draft={"answers": {"ndi": {"items": [1, 2]}}})
    assert _open(token).draft == {"answers": {"ndi": {"items": [1, 2]}}}
    with pytest.raises(InvalidInput) as bad, unit_of_work(clinic_id=None) as s:
        service.save_draft(s, token=token, draft={"x": "a" * 70_000})
    assert bad.value.field == "draft"
    _submit(token)
    with pytest.raises(LinkGone), unit_of_work(clinic_id=None) as s:
        service.save_draft(s, token=token, draft={})
    saves = _count(None, AuditEvent, action="save_draft", entity_id=str(rid))
    assert saves == 1


def test_peek_is_not_an_open(alice):
    pid = _patient(alice, given_name="Ana")
    rid, token = _create(alice, pid)
    with unit_of_work(clinic_id=None) as s:
        assert service.peek_request(s, token=token).first_name == "Ana"
    assert _row(alice.clinic_id, rid).opened_at is None
    assert _count(None, AuditEvent, action="open", entity_id=str(rid)) == 0
