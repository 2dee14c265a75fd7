"""Reliability studies: every rule about them lives here once; the JSON API and the pages
call these functions.

* A study names muscles with sides (atlas ids), criteria and at least two examiners (users
  of the clinic who may write clinical records); its examiners are fixed once it is open.
* Participants are coded ("P01"); one may stand for a patient of the clinic only while that
  patient's research consent is in force (`research.consent`), and the report leaves out a
  linked participant whose consent was later withdrawn.
* Blinding, the one home: an examiner reads only their own findings (`my_findings`);
  nothing here returns another examiner's values, to anyone, except `report`, which reads
  only participants that every examiner has submitted (`_complete`). No suggestion or
  inference output is computed or shown for a study participant at all.
* Order: an examiner's first recorded finding for a participant gives them the next
  sequence number for that participant (1, 2, ...) and its time; submitting locks their
  findings for that participant.
* Permissions: reading needs clinical:read, creating, changing and recording clinical:write;
  recording needs to be one of the study's examiners (403 otherwise). Another clinic's study
  is not found (404). Writing after submitting, or to a study not open, is a 409.
* Reads of participant-level data are audited ("research-read"), once per call.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import User
from triggerpoint.accounts.service import PERMISSIONS, Principal
from triggerpoint.atlas.loader import Atlas, MuscleNotFoundError, load_atlas
from triggerpoint.audit.service import record
from triggerpoint.db import utcnow
from triggerpoint.errors import Conflict, Forbidden, InvalidInput, NotFound
from triggerpoint.records.models import Consent, Patient
from triggerpoint.research.consent import consented_patient_ids
from triggerpoint.research.reliability import stats
from triggerpoint.research.reliability.models import (
    Examination,
    Participant,
    Study,
    StudyExaminer,
    StudyFinding,
)
from triggerpoint.research.reliability.published import published
from triggerpoint.research.reliability.schemas import (
    CRITERION_WORDS,
    Criterion,
    ExaminerOut,
    ExamStatus,
    FindingOut,
    FindingsIn,
    MyFindings,
    ParticipantIn,
    ParticipantOut,
    PublishedOut,
    ReportOut,
    ReportRow,
    Side,
    SiteIn,
    SiteOut,
    Status,
    StudyIn,
    StudyOut,
    StudySummary,
)
from triggerpoint.ui.templating import muscle_name

ENTITY = "reliability_study"
READ = "research-read"
CSV_COLUMNS = (
    "muscle",
    "side",
    "criterion",
    "n",
    "raters",
    "percent_agreement",
    "percent_agreement_low",
    "percent_agreement_high",
    "kappa_kind",
    "kappa",
    "kappa_low",
    "kappa_high",
    "alpha",
    "alpha_low",
    "alpha_high",
    "pabak",
    "pabak_low",
    "pabak_high",
    "prevalence_index",
    "bias_index",
    "published",
)
METHODS = (
    "Each examiner palpated every participant and recorded each criterion as present, absent"
    " or not assessed, blinded: no examiner could see another's findings, and no suggestion"
    " from the software was shown, until every examiner had submitted that participant."
    " The order in which the examiners came to each participant was recorded (sequence and"
    " time). Only participants submitted by every examiner are counted. For each muscle, side"
    " and criterion the report gives the percent agreement, Cohen's kappa for two examiners"
    " (Fleiss' kappa and Krippendorff's alpha for three or more), and the prevalence- and"
    " bias-adjusted kappa (PABAK) with the prevalence and bias indices (Byrt, Bishop and"
    " Carlin 1993), each with a 95% percentile bootstrap confidence interval resampling"
    " participants. Kappa depends on how common a finding is and on how differently the"
    " examiners call it, so a low kappa beside a high percent agreement usually means a rare"
    " or near-universal finding; agreement also depends on the examiners' training and on"
    " the participants examined, so these figures describe this study, not palpation in"
    " general. The figures support clinical research and judgement; they do not replace them."
)


# --- lookups ---------------------------------------------------------------------------


def _study(session: Session, study_id: int) -> Study:
    """The study, or NotFound: another clinic's study is not found here, never forbidden."""
    study = session.get(Study, study_id)
    if study is None:
        raise NotFound("study", study_id)
    return study


def _participant(session: Session, study: Study, participant_id: int) -> Participant:
    row = session.get(Participant, participant_id)
    if row is None or row.study_id != study.id:
        raise NotFound("participant", participant_id)
    return row


def _examiners(session: Session, study_id: int) -> list[tuple[StudyExaminer, User]]:
    rows = session.execute(
        select(StudyExaminer, User)
        .join(User, User.id == StudyExaminer.user_id)
        .where(StudyExaminer.study_id == study_id)
        .order_by(StudyExaminer.position)
    )
    return [(e, u) for e, u in rows.all()]


def is_examiner(session: Session, *, study_id: int, user_id: int) -> bool:
    """Whether this user examines in the study (pages show the examine links if so)."""
    found = session.scalar(
        select(StudyExaminer.id).where(
            StudyExaminer.study_id == study_id, StudyExaminer.user_id == user_id
        )
    )
    return found is not None


def _require_examiner(session: Session, principal: Principal, study: Study) -> None:
    principal.require("clinical:write")
    if not is_examiner(session, study_id=study.id, user_id=principal.user_id):
        raise Forbidden(f"{principal.username} is not an examiner of study {study.id}")


def _status(study: Study) -> Status:
    return cast("Status", study.status)  # one of STATUSES: written only here


# --- validation against the atlas and the clinic ------------------------------------------


def resolve_sites(sites: Sequence[SiteIn], *, atlas: Atlas | None = None) -> list[dict[str, str]]:
    """The study's sites as atlas ids; a muscle may be named by id, name or synonym. An
    unknown muscle is InvalidInput naming `sites.N.muscle` with the nearest names."""
    atlas = atlas or load_atlas()
    out: list[dict[str, str]] = []
    for i, site in enumerate(sites):
        muscle = atlas.muscles.get(site.muscle)
        if muscle is None:
            try:
                muscle = atlas.find_muscle(site.muscle)
            except MuscleNotFoundError as exc:
                near = list(getattr(exc, "suggestions", None) or [])
                hint = f"; nearest: {', '.join(near)}" if near else ""
                raise InvalidInput(
                    f"sites.{i}.muscle", f"is not a muscle of the atlas{hint}", suggestions=near
                ) from None
        entry = {"muscle": muscle.id, "side": site.side}
        if entry in out:
            raise InvalidInput(f"sites.{i}", f"names {muscle_name(muscle.id, site.side)} twice")
        out.append(entry)
    return out


def _check_examiners(session: Session, user_ids: Sequence[int]) -> None:
    """Each examiner is an active user of this clinic who may write clinical records."""
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(list(user_ids))))}
    for i, uid in enumerate(user_ids):
        user = users.get(uid)
        if user is None:
            raise InvalidInput(f"examiners.{i}", f"user {uid} is not a user of this clinic")
        if not user.active:
            raise InvalidInput(f"examiners.{i}", f"{user.username} is deactivated")
        if "clinical:write" not in PERMISSIONS.get(user.role, frozenset()):
            raise InvalidInput(
                f"examiners.{i}",
                f"{user.username} is an {user.role} and may not record clinical findings",
            )


def eligible_examiners(session: Session, *, principal: Principal) -> list[User]:
    """The clinic's active users who may examine (for the new-study form)."""
    principal.require("clinical:read")
    roles = [r for r, perms in PERMISSIONS.items() if "clinical:write" in perms]
    return list(
        session.scalars(
            select(User)
            .where(User.active.is_(True), User.role.in_(roles))
            .order_by(User.full_name, User.id)
        )
    )


# --- studies -----------------------------------------------------------------------------


def create_study(session: Session, *, principal: Principal, data: StudyIn) -> StudyOut:
    """A draft study; its examiners may change until it is opened."""
    principal.require("clinical:write")
    sites = resolve_sites(data.sites)
    _check_examiners(session, data.examiners)
    study = Study(
        title=data.title,
        status="draft",
        sites=sites,
        criteria=list(data.criteria),
        created_by_id=principal.user_id,
    )
    session.add(study)
    session.flush()
    _set_examiners(session, study, data.examiners)
    record(
        session,
        actor=principal.actor,
        action="create",
        entity=ENTITY,
        entity_id=study.id,
        detail={"title": study.title, "examiners": len(data.examiners)},
    )
    return _study_out(session, study)


def _set_examiners(session: Session, study: Study, user_ids: Sequence[int]) -> None:
    for old in session.scalars(select(StudyExaminer).where(StudyExaminer.study_id == study.id)):
        session.delete(old)
    session.flush()
    for position, uid in enumerate(user_ids, start=1):
        session.add(StudyExaminer(study_id=study.id, user_id=uid, position=position))
    session.flush()


def update_study(
    session: Session, *, principal: Principal, study_id: int, data: StudyIn
) -> StudyOut:
    """Change a draft study (title, sites, criteria, examiners); refused once open (409),
    so nobody's findings are ever recorded against a design that later changed."""
    principal.require("clinical:write")
    study = _study(session, study_id)
    if study.status != "draft":
        raise Conflict(f"study {study_id} is {study.status}: its design and examiners are fixed")
    sites = resolve_sites(data.sites)
    _check_examiners(session, data.examiners)
    study.title, study.sites, study.criteria = data.title, sites, list(data.criteria)
    _set_examiners(session, study, data.examiners)
    record(session, actor=principal.actor, action="update", entity=ENTITY, entity_id=study.id)
    return _study_out(session, study)


def _transition(
    session: Session, principal: Principal, study_id: int, source: str, target: str
) -> StudyOut:
    principal.require("clinical:write")
    study = _study(session, study_id)
    if study.status != source:
        raise Conflict(f"study {study_id} is {study.status}; only a {source} study can be {target}")
    study.status = target
    if target == "open":
        study.opened_at = utcnow()
    else:
        study.closed_at = utcnow()
    session.flush()
    record(session, actor=principal.actor, action=target, entity=ENTITY, entity_id=study.id)
    return _study_out(session, study)


def open_study(session: Session, *, principal: Principal, study_id: int) -> StudyOut:
    """Open for recording: from now on the examiners are fixed."""
    return _transition(session, principal, study_id, "draft", "open")


def close_study(session: Session, *, principal: Principal, study_id: int) -> StudyOut:
    """Close: no more participants or findings; the report stays."""
    return _transition(session, principal, study_id, "open", "closed")


def list_studies(session: Session, *, principal: Principal) -> list[StudySummary]:
    """The clinic's studies, newest first, with counts from one aggregate query each."""
    principal.require("clinical:read")
    examiners = (
        select(StudyExaminer.study_id, func.count().label("n"))
        .group_by(StudyExaminer.study_id)
        .subquery()
    )
    participants = (
        select(Participant.study_id, func.count().label("n"))
        .group_by(Participant.study_id)
        .subquery()
    )
    submitted = (
        select(Examination.participant_id, Examination.study_id, func.count().label("n"))
        .where(Examination.submitted_at.is_not(None))
        .group_by(Examination.participant_id, Examination.study_id)
        .subquery()
    )
    complete = (
        select(submitted.c.study_id, func.count().label("n"))
        .join(examiners, examiners.c.study_id == submitted.c.study_id)
        .where(submitted.c.n >= examiners.c.n)
        .group_by(submitted.c.study_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Study,
            func.coalesce(examiners.c.n, 0),
            func.coalesce(participants.c.n, 0),
            func.coalesce(complete.c.n, 0),
        )
        .where(Study.clinic_id == principal.clinic_id)
        .outerjoin(examiners, examiners.c.study_id == Study.id)
        .outerjoin(participants, participants.c.study_id == Study.id)
        .outerjoin(complete, complete.c.study_id == Study.id)
        .order_by(Study.created_at.desc(), Study.id.desc())
    )
    return [
        StudySummary(
            id=s.id,
            title=s.title,
            status=_status(s),
            examiners=e,
            participants=p,
            complete=c,
            created_at=s.created_at,
        )
        for s, e, p, c in rows.all()
    ]


def get_study(session: Session, *, principal: Principal, study_id: int) -> StudyOut:
    """The study with each participant's progress: who has examined and submitted whom, in
    which order, and never what anyone found (audited read)."""
    principal.require("clinical:read")
    study = _study(session, study_id)
    out = _study_out(session, study)
    record(
        session,
        actor=principal.actor,
        action=READ,
        entity=ENTITY,
        entity_id=study.id,
        detail={"participants": len(out.participants)},
    )
    return out


def study_design(session: Session, *, principal: Principal, study_id: int) -> StudyOut:
    """The study's design (sites, criteria, examiners, status) without its participants:
    no participant-level data, so not an audited read (the examine form parses with it)."""
    principal.require("clinical:read")
    return _study_out(session, _study(session, study_id), participants=False)


def examination_form(
    session: Session, *, principal: Principal, study_id: int, participant_id: int
) -> tuple[StudyOut, MyFindings]:
    """What the examine page shows: the design and the caller's own findings, nobody
    else's (one audited read)."""
    study = study_design(session, principal=principal, study_id=study_id)
    return study, my_findings(
        session, principal=principal, study_id=study_id, participant_id=participant_id
    )


def _study_out(session: Session, study: Study, *, participants: bool = True) -> StudyOut:
    examiners = _examiners(session, study.id)
    exams: dict[int, dict[int, Examination]] = defaultdict(dict)
    for exam in session.scalars(select(Examination).where(Examination.study_id == study.id)):
        exams[exam.participant_id][exam.examiner_id] = exam
    rows: list[Participant] = (
        list(
            session.scalars(
                select(Participant).where(Participant.study_id == study.id).order_by(Participant.id)
            )
        )
        if participants
        else []
    )
    return StudyOut(
        id=study.id,
        title=study.title,
        status=_status(study),
        sites=[_site_out(s) for s in study.sites],
        criteria=[cast("Criterion", c) for c in study.criteria],
        examiners=[
            ExaminerOut(
                user_id=u.id, username=u.username, full_name=u.full_name, position=e.position
            )
            for e, u in examiners
        ],
        participants=[_participant_out(p, examiners, exams[p.id]) for p in rows],
        created_at=study.created_at,
        opened_at=study.opened_at,
        closed_at=study.closed_at,
    )


def _site_out(site: dict[str, Any]) -> SiteOut:
    return SiteOut(
        muscle=site["muscle"], side=site["side"], name=muscle_name(site["muscle"], site["side"])
    )


def _participant_out(
    p: Participant,
    examiners: list[tuple[StudyExaminer, User]],
    exams: dict[int, Examination],
) -> ParticipantOut:
    statuses = []
    for _, user in examiners:
        exam = exams.get(user.id)
        statuses.append(
            ExamStatus(
                examiner_id=user.id,
                sequence=exam.sequence if exam else None,
                started_at=exam.started_at if exam else None,
                submitted_at=exam.submitted_at if exam else None,
            )
        )
    done = bool(statuses) and all(s.submitted_at is not None for s in statuses)
    return ParticipantOut(
        id=p.id,
        code=p.code,
        patient_linked=p.patient_id is not None,
        exams=statuses,
        complete=done,
    )


# --- participants -----------------------------------------------------------------------


def add_participant(
    session: Session, *, principal: Principal, study_id: int, data: ParticipantIn
) -> ParticipantOut:
    """A coded participant; a linked patient must be of this clinic and have a research
    consent in force (422 naming `patient_id` otherwise)."""
    principal.require("clinical:write")
    study = _study(session, study_id)
    if study.status == "closed":
        raise Conflict(f"study {study_id} is closed: no new participants")
    taken = session.scalar(
        select(Participant.id).where(
            Participant.study_id == study.id, Participant.code == data.code
        )
    )
    if taken is not None:
        raise Conflict(f"study {study_id} already has a participant {data.code}")
    if data.patient_id is not None:
        _check_patient(session, principal, data.patient_id)
    row = Participant(study_id=study.id, code=data.code, patient_id=data.patient_id)
    session.add(row)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="add-participant",
        entity=ENTITY,
        entity_id=study.id,
        detail={"participant_id": row.id, "linked": data.patient_id is not None},
    )
    return _participant_out(row, _examiners(session, study.id), {})


def _check_patient(session: Session, principal: Principal, patient_id: int) -> None:
    exists = session.scalar(select(Patient.id).where(Patient.id == patient_id))
    if exists is None:
        raise InvalidInput("patient_id", f"there is no patient {patient_id} in this clinic")
    consented = consented_patient_ids(clinic_id=principal.clinic_id)
    if session.scalar(consented.where(Consent.patient_id == patient_id).limit(1)) is None:
        raise InvalidInput(
            "patient_id",
            f"patient {patient_id} has no research consent in force; record it first",
        )


# --- findings (blinded) -------------------------------------------------------------------


def _own_exam(session: Session, participant_id: int, user_id: int) -> Examination | None:
    return session.scalar(
        select(Examination).where(
            Examination.participant_id == participant_id, Examination.examiner_id == user_id
        )
    )


def _start_exam(
    session: Session, study: Study, participant: Participant, user_id: int
) -> Examination:
    """The caller's examination of this participant, made with the next sequence number."""
    exam = _own_exam(session, participant.id, user_id)
    if exam is not None:
        return exam
    last = session.scalar(
        select(func.max(Examination.sequence)).where(Examination.participant_id == participant.id)
    )
    exam = Examination(
        study_id=study.id,
        participant_id=participant.id,
        examiner_id=user_id,
        sequence=(last or 0) + 1,
    )
    try:
        with session.begin_nested():
            session.add(exam)
            session.flush()
    except IntegrityError:
        # another examiner took this sequence number in a racing transaction
        raise Conflict(
            f"another examiner started participant {participant.code} at the same moment;"
            " save again"
        ) from None
    return exam


def _writable(
    session: Session, principal: Principal, study_id: int, participant_id: int
) -> tuple[Study, Participant]:
    study = _study(session, study_id)
    participant = _participant(session, study, participant_id)
    _require_examiner(session, principal, study)
    if study.status != "open":
        raise Conflict(f"study {study_id} is {study.status}: findings are recorded only while open")
    exam = _own_exam(session, participant.id, principal.user_id)
    if exam is not None and exam.submitted_at is not None:
        raise Conflict(
            f"you submitted participant {participant.code}; submitted findings cannot change"
        )
    return study, participant


def _check_items(study: Study, data: FindingsIn) -> None:
    sites = {(s["muscle"], s["side"]) for s in study.sites}
    seen: set[tuple[str, str, str]] = set()
    for i, f in enumerate(data.findings):
        if (f.muscle, f.side) not in sites:
            raise InvalidInput(
                f"findings.{i}.muscle",
                f"{muscle_name(f.muscle, f.side)} is not examined in this study",
            )
        if f.criterion not in study.criteria:
            raise InvalidInput(
                f"findings.{i}.criterion",
                f"{CRITERION_WORDS[f.criterion]} is not a criterion of this study",
            )
        key = (f.muscle, f.side, f.criterion)
        if key in seen:
            raise InvalidInput(f"findings.{i}", "names the same muscle, side and criterion twice")
        seen.add(key)


def save_findings(
    session: Session,
    *,
    principal: Principal,
    study_id: int,
    participant_id: int,
    data: FindingsIn,
) -> MyFindings:
    """Record the caller's own findings for one participant (each item replaces the earlier
    value of its muscle, side and criterion; null is "not assessed")."""
    study, participant = _writable(session, principal, study_id, participant_id)
    _check_items(study, data)
    exam = _start_exam(session, study, participant, principal.user_id)
    rows = {
        (r.muscle_id, r.side, r.criterion): r
        for r in session.scalars(select(StudyFinding).where(StudyFinding.exam_id == exam.id))
    }
    for f in data.findings:
        row = rows.get((f.muscle, f.side, f.criterion))
        if row is None:
            session.add(
                StudyFinding(
                    exam_id=exam.id,
                    muscle_id=f.muscle,
                    side=f.side,
                    criterion=f.criterion,
                    present=f.present,
                )
            )
        else:
            row.present = f.present
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="record-findings",
        entity=ENTITY,
        entity_id=study.id,
        detail={"participant_id": participant.id, "items": len(data.findings)},
    )
    return _mine(session, participant, exam)


def submit(
    session: Session, *, principal: Principal, study_id: int, participant_id: int
) -> MyFindings:
    """Submit the caller's findings for this participant: they are locked from now on."""
    study, participant = _writable(session, principal, study_id, participant_id)
    exam = _start_exam(session, study, participant, principal.user_id)
    exam.submitted_at = utcnow()
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="submit-findings",
        entity=ENTITY,
        entity_id=study.id,
        detail={"participant_id": participant.id, "sequence": exam.sequence},
    )
    return _mine(session, participant, exam)


def my_findings(
    session: Session, *, principal: Principal, study_id: int, participant_id: int
) -> MyFindings:
    """The caller's own findings for one participant, and nobody else's (audited)."""
    principal.require("clinical:read")
    study = _study(session, study_id)
    participant = _participant(session, study, participant_id)
    if not is_examiner(session, study_id=study.id, user_id=principal.user_id):
        raise Forbidden(f"{principal.username} is not an examiner of study {study.id}")
    exam = _own_exam(session, participant.id, principal.user_id)
    record(
        session,
        actor=principal.actor,
        action=READ,
        entity=ENTITY,
        entity_id=study.id,
        detail={"participant_id": participant.id, "own_findings": True},
    )
    return _mine(session, participant, exam)


def _mine(session: Session, participant: Participant, exam: Examination | None) -> MyFindings:
    rows: list[StudyFinding] = (
        list(
            session.scalars(
                select(StudyFinding)
                .where(StudyFinding.exam_id == exam.id)
                .order_by(StudyFinding.id)
            )
        )
        if exam is not None
        else []
    )
    return MyFindings(
        participant_id=participant.id,
        code=participant.code,
        sequence=exam.sequence if exam else None,
        submitted_at=exam.submitted_at if exam else None,
        findings=[
            FindingOut(
                muscle=r.muscle_id,
                side=cast("Side", r.side),  # one of SIDES, CRITERIA: written only here
                criterion=cast("Criterion", r.criterion),
                present=r.present,
            )
            for r in rows
        ],
    )


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Complete:
    """The participants the report counts: submitted by every examiner, and (when linked
    to a patient) with that patient's research consent still in force."""

    ids: list[int]
    excluded_no_consent: int


def _complete(session: Session, study: Study, n_examiners: int) -> Complete:
    """Participants every examiner has submitted: the only ones whose findings anyone but
    their own examiner may read (one GROUP BY)."""
    consented = consented_patient_ids(clinic_id=study.clinic_id)
    rows = session.execute(
        select(Participant.id, Participant.patient_id)
        .join(Examination, Examination.participant_id == Participant.id)
        .where(Participant.study_id == study.id, Examination.submitted_at.is_not(None))
        .group_by(Participant.id, Participant.patient_id)
        .having(func.count(Examination.id) >= n_examiners)
        .order_by(Participant.id)
    ).all()
    linked = [pid for _, pid in rows if pid is not None]
    allowed = (
        set(session.scalars(consented.where(Consent.patient_id.in_(linked)))) if linked else set()
    )
    ids = [p for p, pid in rows if pid is None or pid in allowed]
    return Complete(ids, len(rows) - len(ids))


def _ratings(
    session: Session, study: Study, participant_ids: list[int], examiner_ids: list[int]
) -> dict[tuple[str, str, str], list[list[int | None]]]:
    """Per (muscle, side, criterion): one row per participant, one column per examiner
    (the study's order), 1 present, 0 absent, None not assessed."""
    column = {uid: i for i, uid in enumerate(examiner_ids)}
    unit = {pid: i for i, pid in enumerate(participant_ids)}
    table: dict[tuple[str, str, str], list[list[int | None]]] = {
        (s["muscle"], s["side"], c): [[None] * len(examiner_ids) for _ in participant_ids]
        for s in study.sites
        for c in study.criteria
    }
    if not participant_ids:
        return table
    rows = session.execute(
        select(
            Examination.participant_id,
            Examination.examiner_id,
            StudyFinding.muscle_id,
            StudyFinding.side,
            StudyFinding.criterion,
            StudyFinding.present,
        )
        .join(StudyFinding, StudyFinding.exam_id == Examination.id)
        .where(
            Examination.study_id == study.id,
            Examination.participant_id.in_(participant_ids),
            Examination.submitted_at.is_not(None),
            StudyFinding.present.is_not(None),
        )
    )
    for pid, uid, muscle, side, criterion, present in rows.all():
        cells = table.get((muscle, side, criterion))
        if cells is not None and uid in column:
            cells[unit[pid]][column[uid]] = int(bool(present))
    return table


def report(session: Session, *, principal: Principal, study_id: int, boot: int = 2000) -> ReportOut:
    """Agreement per muscle, side and criterion over the complete participants, beside the
    published figures for each criterion (audited read)."""
    principal.require("clinical:read")
    study = _study(session, study_id)
    examiners = [u.id for _, u in _examiners(session, study.id)]
    complete = _complete(session, study, len(examiners))
    table = _ratings(session, study, complete.ids, examiners)
    rows = []
    for (muscle, side, criterion), cells in table.items():
        a = stats.agreement(cells, categories=(0, 1), boot=boot, seed=0)
        rows.append(_row(muscle, side, cast("Criterion", criterion), a))
    n_participants = session.scalar(
        select(func.count()).select_from(Participant).where(Participant.study_id == study.id)
    )
    record(
        session,
        actor=principal.actor,
        action=READ,
        entity=ENTITY,
        entity_id=study.id,
        detail={"report": True, "participants": len(complete.ids)},
    )
    return ReportOut(
        study_id=study.id,
        title=study.title,
        status=_status(study),
        examiners=len(examiners),
        participants=n_participants or 0,
        complete_participants=len(complete.ids),
        excluded_no_consent=complete.excluded_no_consent,
        rows=rows,
        methods=METHODS,
    )


def _ci(ci: dict[str, Any], key: str) -> tuple[float, float] | None:
    value = ci.get(key)
    return (float(value[0]), float(value[1])) if value is not None else None


def _num(x: float | None) -> float | None:
    return None if x is None else float(x)


def _row(muscle: str, side: str, criterion: Criterion, a: stats.Agreement) -> ReportRow:
    return ReportRow(
        muscle=muscle,
        side=cast("Side", side),
        site=muscle_name(muscle, side),
        criterion=criterion,
        n=a.n,
        raters=a.raters,
        percent_agreement=_num(a.percent_agreement),
        percent_agreement_ci=_ci(a.ci, "percent_agreement"),
        kappa=_num(a.kappa),
        kappa_kind=a.kappa_kind,
        kappa_ci=_ci(a.ci, "kappa"),
        alpha=_num(a.alpha),
        alpha_ci=_ci(a.ci, "alpha"),
        pabak=_num(a.pabak),
        pabak_ci=_ci(a.ci, "pabak"),
        prevalence_index=_num(a.prevalence_index),
        bias_index=_num(a.bias_index),
        note=a.note or None,
        published=published_for(criterion, muscle=muscle),
    )


def published_for(criterion: str, *, muscle: str | None = None) -> list[PublishedOut]:
    """The published agreement figures for this criterion (for this muscle first, then
    those given across muscles), from `published.published()`."""
    data = published()
    out = []
    for fig in data.for_criterion(criterion, muscle=muscle):
        source = data.sources[fig.source]
        out.append(
            PublishedOut(
                source=_short(fig.source),
                citation=source.citation,
                doi=source.doi,
                statistic=fig.statistic,
                value=fig.text(),
                raters=fig.raters,
                muscle=fig.muscle_label,
            )
        )
    return out


def _short(key: str) -> str:
    """ "lucas_2009" -> "Lucas 2009" (the source's key is first author and year)."""
    name, _, year = key.rpartition("_")
    return f"{name.replace('_', ' ').title()} {year}" if name else key


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def report_csv(data: ReportOut) -> str:
    """One row per muscle, side and criterion (columns `CSV_COLUMNS`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in data.rows:
        cis = [r.percent_agreement_ci, r.kappa_ci, r.alpha_ci, r.pabak_ci]
        lows = [_fmt(c[0]) if c else "" for c in cis]
        highs = [_fmt(c[1]) if c else "" for c in cis]
        writer.writerow(
            [
                r.muscle,
                r.side,
                r.criterion,
                r.n,
                r.raters,
                _fmt(r.percent_agreement),
                lows[0],
                highs[0],
                r.kappa_kind,
                _fmt(r.kappa),
                lows[1],
                highs[1],
                _fmt(r.alpha),
                lows[2],
                highs[2],
                _fmt(r.pabak),
                lows[3],
                highs[3],
                _fmt(r.prevalence_index),
                _fmt(r.bias_index),
                "; ".join(f"{p.source}: {p.value}" for p in r.published),
            ]
        )
    return out.getvalue()
