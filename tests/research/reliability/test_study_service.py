"""Service rules of reliability studies: design checks, blinding, order, locking, status,
permissions and research consent (`research/reliability/service.py`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.research.reliability.studykit import (
    CRITERIA,
    all_cells,
    consented_patient,
    grid,
    make_study,
    record_and_submit,
    second_clinician,
    study_body,
)
from triggerpoint.db import open_session
from triggerpoint.errors import Conflict, Forbidden, InvalidInput, NotFound
from triggerpoint.records import service as records
from triggerpoint.research.reliability import schemas, service


def _create(who, body):
    with open_session(clinic_id=who.clinic_id) as s:
        return service.create_study(s, principal=who, data=schemas.StudyIn.model_validate(body))


def test_a_study_needs_two_examiners_and_a_criterion(alice):
    with pytest.raises(ValidationError) as exc:
        schemas.StudyIn.model_validate(study_body([alice.user_id], criteria=[]))
    fields = {e["loc"][0] for e in exc.value.errors()}
    assert fields == {"examiners", "criteria"}


def test_unknown_muscle_is_named_with_the_nearest_names(alice):
    other = second_clinician(alice.clinic_id)
    body = study_body(
        [alice.user_id, other.user_id],
        sites=[
            {"muscle": "upper_trapezius", "side": "right"},
            {"muscle": "trapezius upr", "side": "left"},
        ],
    )
    with pytest.raises(InvalidInput) as exc:
        _create(alice.principal, body)
    assert exc.value.field == "sites.1.muscle"


def test_a_muscle_may_be_named_by_its_atlas_name(alice):
    other = second_clinician(alice.clinic_id)
    body = study_body(
        [alice.user_id, other.user_id], sites=[{"muscle": "Upper trapezius", "side": "left"}]
    )
    out = _create(alice.principal, body)
    assert [(s.muscle, s.side) for s in out.sites] == [("upper_trapezius", "left")]


def test_examiners_are_clinicians_of_this_clinic(alice, bob, erin):
    with pytest.raises(InvalidInput) as exc:
        _create(alice.principal, study_body([alice.user_id, bob.user_id]))
    assert exc.value.field == "examiners.1" and "assistant" in exc.value.message
    with pytest.raises(InvalidInput) as exc:
        _create(alice.principal, study_body([erin.user_id, alice.user_id]))
    assert exc.value.field == "examiners.0"


def test_an_assistant_may_not_create_or_read_studies(alice, bob):
    other = second_clinician(alice.clinic_id)
    with pytest.raises(Forbidden):
        _create(bob.principal, study_body([alice.user_id, other.user_id]))
    with open_session(clinic_id=bob.clinic_id) as s, pytest.raises(Forbidden):
        service.list_studies(s, principal=bob.principal)


def test_an_examiner_sees_only_their_own_findings_until_all_submitted(alice):
    other = second_clinician(alice.clinic_id)
    study, (p1,) = make_study(alice.principal, [alice.user_id, other.user_id], codes=("P01",))
    record_and_submit(alice.principal, study, p1, all_cells(True))
    with open_session(clinic_id=alice.clinic_id) as s:
        theirs = service.my_findings(
            s, principal=other.principal, study_id=study, participant_id=p1
        )
        mine = service.my_findings(s, principal=alice.principal, study_id=study, participant_id=p1)
        status = service.get_study(s, principal=alice.principal, study_id=study)
        report = service.report(s, principal=alice.principal, study_id=study, boot=0)
    assert theirs.findings == [] and theirs.sequence is None
    assert len(mine.findings) == 4 and all(f.present for f in mine.findings)
    assert "present" not in status.model_dump_json()
    assert report.complete_participants == 0
    assert all(r.n == 0 for r in report.rows)


def test_the_order_of_examiners_is_recorded(alice):
    other = second_clinician(alice.clinic_id)
    study, (p1, p2) = make_study(
        alice.principal, [alice.user_id, other.user_id], codes=("P01", "P02")
    )
    record_and_submit(other.principal, study, p1, all_cells(False), submit=False)
    record_and_submit(alice.principal, study, p1, all_cells(True))
    record_and_submit(alice.principal, study, p2, all_cells(True))
    record_and_submit(other.principal, study, p2, all_cells(True))
    with open_session(clinic_id=alice.clinic_id) as s:
        out = service.get_study(s, principal=alice.principal, study_id=study)
    order = {
        p.code: {x.examiner_id: (x.sequence, x.submitted_at is not None) for x in p.exams}
        for p in out.participants
    }
    assert order["P01"] == {other.user_id: (1, False), alice.user_id: (2, True)}
    assert order["P02"] == {alice.user_id: (1, True), other.user_id: (2, True)}
    first, second = (next(x for x in out.participants[1].exams if x.sequence == n) for n in (1, 2))
    assert first.started_at <= second.started_at
    assert [p.complete for p in out.participants] == [False, True]


def test_submitting_locks_the_examiners_findings(alice):
    other = second_clinician(alice.clinic_id)
    study, (p1,) = make_study(alice.principal, [alice.user_id, other.user_id], codes=("P01",))
    record_and_submit(alice.principal, study, p1, all_cells(True))
    with pytest.raises(Conflict, match="submitted"):
        record_and_submit(alice.principal, study, p1, all_cells(False), submit=False)
    with open_session(clinic_id=alice.clinic_id) as s, pytest.raises(Conflict):
        service.submit(s, principal=alice.principal, study_id=study, participant_id=p1)
    with open_session(clinic_id=alice.clinic_id) as s:
        mine = service.my_findings(s, principal=alice.principal, study_id=study, participant_id=p1)
    assert all(f.present is True for f in mine.findings)


def test_findings_need_an_open_study(alice):
    other = second_clinician(alice.clinic_id)
    study, (p1,) = make_study(
        alice.principal, [alice.user_id, other.user_id], open_it=False, codes=("P01",)
    )
    with pytest.raises(Conflict, match="draft"):
        record_and_submit(alice.principal, study, p1, all_cells(True))
    with open_session(clinic_id=alice.clinic_id) as s:
        service.open_study(s, principal=alice.principal, study_id=study)
        service.close_study(s, principal=alice.principal, study_id=study)
        s.commit()
    with pytest.raises(Conflict, match="closed"):
        record_and_submit(alice.principal, study, p1, all_cells(True))
    with open_session(clinic_id=alice.clinic_id) as s, pytest.raises(Conflict):
        service.add_participant(
            s, principal=alice.principal, study_id=study, data=schemas.ParticipantIn(code="P09")
        )


def test_examiners_are_fixed_once_open(alice):
    other = second_clinician(alice.clinic_id)
    third = second_clinician(alice.clinic_id)
    study, _ = make_study(alice.principal, [alice.user_id, other.user_id], open_it=False)
    body = schemas.StudyIn.model_validate(study_body([alice.user_id, other.user_id, third.user_id]))
    with open_session(clinic_id=alice.clinic_id) as s:
        out = service.update_study(s, principal=alice.principal, study_id=study, data=body)
        assert [e.user_id for e in out.examiners] == [alice.user_id, other.user_id, third.user_id]
        service.open_study(s, principal=alice.principal, study_id=study)
        with pytest.raises(Conflict, match="fixed"):
            service.update_study(s, principal=alice.principal, study_id=study, data=body)
        with pytest.raises(Conflict):
            service.open_study(s, principal=alice.principal, study_id=study)


def test_only_examiners_record(alice, dave):
    other = second_clinician(alice.clinic_id)
    study, (p1,) = make_study(alice.principal, [alice.user_id, other.user_id], codes=("P01",))
    with pytest.raises(Forbidden):
        record_and_submit(dave.principal, study, p1, all_cells(True))
    with open_session(clinic_id=dave.clinic_id) as s, pytest.raises(Forbidden):
        service.my_findings(s, principal=dave.principal, study_id=study, participant_id=p1)


def test_findings_must_be_of_the_studys_sites_and_criteria(alice):
    other = second_clinician(alice.clinic_id)
    study, (p1,) = make_study(alice.principal, [alice.user_id, other.user_id], codes=("P01",))
    for values, field in (
        ({("upper_trapezius", "left", "taut_band"): True}, "findings.0.muscle"),
        ({("upper_trapezius", "right", "jump_sign"): True}, "findings.0.criterion"),
    ):
        with open_session(clinic_id=alice.clinic_id) as s, pytest.raises(InvalidInput) as exc:
            service.save_findings(
                s, principal=alice.principal, study_id=study, participant_id=p1, data=grid(values)
            )
        assert exc.value.field == field


def test_another_clinics_study_is_not_found(alice, erin):
    other = second_clinician(alice.clinic_id)
    study, (_p1,) = make_study(alice.principal, [alice.user_id, other.user_id], codes=("P01",))
    with open_session(clinic_id=erin.clinic_id) as s:
        with pytest.raises(NotFound):
            service.get_study(s, principal=erin.principal, study_id=study)
        with pytest.raises(NotFound):
            service.report(s, principal=erin.principal, study_id=study, boot=0)
        assert service.list_studies(s, principal=erin.principal) == []


def test_a_linked_patient_needs_a_research_consent(alice, erin):
    other = second_clinician(alice.clinic_id)
    study, _ = make_study(alice.principal, [alice.user_id, other.user_id])
    with open_session(clinic_id=alice.clinic_id) as s:
        from tests.personas import new_patient

        plain = new_patient(s, alice.principal)
        s.commit()
    foreign = consented_patient(erin)
    for pid in (plain, foreign):
        with open_session(clinic_id=alice.clinic_id) as s, pytest.raises(InvalidInput) as exc:
            service.add_participant(
                s,
                principal=alice.principal,
                study_id=study,
                data=schemas.ParticipantIn(code="P01", patient_id=pid),
            )
        assert exc.value.field == "patient_id"
    ok = consented_patient(alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        out = service.add_participant(
            s,
            principal=alice.principal,
            study_id=study,
            data=schemas.ParticipantIn(code="P01", patient_id=ok),
        )
        assert out.patient_linked
        with pytest.raises(Conflict):
            service.add_participant(
                s, principal=alice.principal, study_id=study, data=schemas.ParticipantIn(code="P01")
            )


def test_a_withdrawn_consent_takes_the_participant_out_of_the_report(alice):
    other = second_clinician(alice.clinic_id)
    study, (p1,) = make_study(alice.principal, [alice.user_id, other.user_id], codes=("P01",))
    patient = consented_patient(alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        p2 = service.add_participant(
            s,
            principal=alice.principal,
            study_id=study,
            data=schemas.ParticipantIn(code="P02", patient_id=patient),
        ).id
        s.commit()
    for pid in (p1, p2):
        record_and_submit(alice.principal, study, pid, all_cells(True))
        record_and_submit(other.principal, study, pid, all_cells(True))
    with open_session(clinic_id=alice.clinic_id) as s:
        assert (
            service.report(
                s, principal=alice.principal, study_id=study, boot=0
            ).complete_participants
            == 2
        )
        consent = records.active_consent(s, patient_id=patient, kind=records.RESEARCH)
        records.withdraw_consent(
            s, principal=alice.principal, consent_id=consent.id, version=consent.version
        )
        s.commit()
        out = service.report(s, principal=alice.principal, study_id=study, boot=0)
    assert (out.complete_participants, out.excluded_no_consent) == (1, 1)


def test_participant_codes_are_codes_not_names():
    for bad in ("Jane Doe", "P 01", "", "x" * 21):
        with pytest.raises(ValidationError) as exc:
            schemas.ParticipantIn(code=bad)
        assert exc.value.errors()[0]["loc"] == ("code",)
    assert schemas.ParticipantIn(code="P01").code == "P01"


def test_criteria_list_is_the_six_of_the_issue():
    assert set(schemas.CRITERION_WORDS) == {
        "taut_band",
        "tender_spot",
        "pain_recognition",
        "referral",
        "twitch",
        "jump_sign",
    }
    assert set(CRITERIA) <= set(schemas.CRITERION_WORDS)
