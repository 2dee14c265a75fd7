"""Patient records: plain functions over a clinic-scoped session.

The session is already confined to the principal's clinic (see `db.py`), so a patient of
another clinic is simply not found. Here we add roles (assistants never see clinical notes)
and the audit trail: every read and write of patient data appends an event.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.interfaces import ORMOption

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import Actor, record
from triggerpoint.bodychart.catalog import UnknownRegionError, load_catalog
from triggerpoint.errors import Conflict, Forbidden, InvalidInput, NotFound
from triggerpoint.inputs import input_problem
from triggerpoint.records import icd10, schemas
from triggerpoint.records.icd10 import search_icd10 as search_icd10  # routes and pages ask here
from triggerpoint.records.models import (
    Consent,
    Diagnosis,
    Episode,
    PainDrawing,
    PainMark,
    Patient,
    Visit,
)


def search_key(*parts: str) -> str:
    """Lower-case, accent-free 'family given', so 'Muñoz' is found by 'munoz'."""
    text = " ".join(parts).lower()
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def get_record(
    session: Session,
    model: type,
    entity_id: int,
    name: str,
    *,
    lock: bool = False,
    options: Sequence[ORMOption] = (),
) -> Any:
    """The row, or NotFound naming it (another clinic's row is filtered out: also not found).

    `lock` reads it afresh with FOR UPDATE (PostgreSQL; SQLite's write transaction already
    excludes other writers), so a check-then-write on the row, or on its children, cannot
    interleave with another transaction doing the same.

    `options` are loader options for this read, e.g. `lazyload("*")` for a write that needs
    none of the row's eagerly loaded collections up front (a collection it then touches
    still loads, afresh, when first read).
    """
    if lock:
        obj = session.get(
            model, entity_id, with_for_update=True, populate_existing=True, options=options
        )
    else:
        obj = session.get(model, entity_id, options=options)
    if obj is None:
        raise NotFound(name, entity_id)
    return obj


def require_record(session: Session, model: Any, entity_id: int, name: str) -> None:
    """Like get_record for a row the caller only needs to exist: selects its id, not the row.

    It is an ORM select, so the session's clinic filter applies to it as to any read.
    """
    if session.scalar(select(model.id).where(model.id == entity_id)) is None:
        raise NotFound(name, entity_id)


# --- patients -------------------------------------------------------------------------


def create_patient(session: Session, *, principal: Principal, data: schemas.PatientIn) -> Patient:
    principal.require("patient:write")
    _check_external_id(session, data.external_id, None)
    patient = Patient(
        **data.model_dump(), search_name=search_key(data.family_name, data.given_name)
    )
    session.add(patient)
    session.flush()
    record(session, actor=principal.actor, action="create", entity="patient", entity_id=patient.id)
    return patient


def _check_external_id(session: Session, external_id: str | None, patient_id: int | None) -> None:
    if not external_id:
        return
    other = session.scalar(select(Patient.id).where(Patient.external_id == external_id))
    if other is not None and other != patient_id:
        raise Conflict(
            f"external_id {external_id!r} is already used by patient {other}", field="external_id"
        )


def get_patient(session: Session, *, principal: Principal, patient_id: int) -> Patient:
    principal.require("patient:read")
    patient = get_record(session, Patient, patient_id, "patient")
    record(session, actor=principal.actor, action="read", entity="patient", entity_id=patient_id)
    return patient


def update_patient(
    session: Session, *, principal: Principal, patient_id: int, data: schemas.PatientUpdate
) -> Patient:
    principal.require("patient:write")
    patient = get_record(session, Patient, patient_id, "patient")
    if patient.version != data.version:
        raise Conflict(
            f"patient {patient_id} was changed by someone else (you edited version {data.version}, it is now {patient.version}); reload and try again"
        )
    _check_external_id(session, data.external_id, patient_id)
    changes = data.model_dump(exclude={"version"})
    for key, value in changes.items():
        setattr(patient, key, value)
    patient.search_name = search_key(data.family_name, data.given_name)
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(
            f"patient {patient_id} was changed by someone else; reload and try again"
        ) from None
    record(
        session,
        actor=principal.actor,
        action="update",
        entity="patient",
        entity_id=patient_id,
        detail={"fields": sorted(changes)},
    )
    return patient


def list_patients(
    session: Session,
    *,
    principal: Principal,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Patient], int]:
    """A page of the principal's patients ordered by name (`search_patients`, audited)."""
    principal.require("patient:read")
    return search_patients(session, actor=principal.actor, q=q, limit=limit, offset=offset)


def search_patients(
    session: Session,
    *,
    actor: Actor,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Patient], int]:
    """The one patient search, for the pages, the API (through `list_patients`) and the CLI.

    A page of patients ordered by name, and how many match in all. `q` matches the start of
    any word of the name, accents and case aside ('munoz' and 'mu' find 'Muñoz', 'noz' does
    not), or the external id exactly. The session decides whose patients are searched: a
    clinic's for a principal, every clinic's for the CLI's system session.
    """
    if q and (problem := input_problem(q)):
        raise InvalidInput("q", problem)  # a NUL or a lone surrogate: no database takes it
    stmt = select(Patient)
    if q and q.strip():
        # LIKE's wildcards in the query are literal characters: '%' finds no one
        needle = search_key(q.strip()).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(
            or_(
                Patient.search_name.like(f"{needle}%", escape="\\"),
                Patient.search_name.like(f"% {needle}%", escape="\\"),
                Patient.external_id == q.strip(),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(
        session.scalars(stmt.order_by(Patient.search_name, Patient.id).limit(limit).offset(offset))
    )
    record(
        session,
        actor=actor,
        action="list",
        entity="patient",
        detail={"q": q or "", "returned": len(rows)},
    )
    return rows, total


# --- episodes -------------------------------------------------------------------------


def create_episode(
    session: Session, *, principal: Principal, patient_id: int, data: schemas.EpisodeIn
) -> Episode:
    principal.require("clinical:write")
    require_record(session, Patient, patient_id, "patient")
    episode = Episode(
        patient_id=patient_id,
        complaint=data.complaint,
        onset_date=data.onset_date,
        diagnoses=[Diagnosis(code=d.code, system=d.system) for d in data.diagnoses],
    )
    session.add(episode)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="episode",
        entity_id=episode.id,
        detail={"patient_id": patient_id},
    )
    return episode


def list_episodes(session: Session, *, principal: Principal, patient_id: int) -> list[Episode]:
    principal.require("patient:read")
    require_record(session, Patient, patient_id, "patient")
    rows = list(
        session.scalars(
            select(Episode).where(Episode.patient_id == patient_id).order_by(Episode.id)
        )
    )
    record(
        session,
        actor=principal.actor,
        action="list",
        entity="episode",
        detail={"patient_id": patient_id},
    )
    return rows


def episodes_out(
    session: Session, *, principal: Principal, patient_id: int
) -> list[schemas.EpisodeView]:
    """The patient's episodes with their diagnoses' titles, for a page to list (clinical)."""
    principal.require("clinical:read")
    rows = list_episodes(session, principal=principal, patient_id=patient_id)
    return [schemas.EpisodeView.model_validate(e) for e in rows]


def episode_of_patient(session: Session, *, patient_id: int, episode_id: int) -> Episode:
    """The episode, checked to be this patient's (another clinic's is not found; another
    patient's is InvalidInput on `episode_id`)."""
    require_record(session, Patient, patient_id, "patient")
    episode = get_record(session, Episode, episode_id, "episode")
    if episode.patient_id != patient_id:
        raise InvalidInput("episode_id", "belongs to another patient")
    return episode


def add_diagnosis(
    session: Session,
    *,
    principal: Principal,
    patient_id: int,
    episode_id: int,
    data: schemas.DiagnosisIn,
) -> Episode:
    """Add a diagnosis to an episode: the one way, for the API, the pages and the visit.

    The code was checked against the ICD-10-CM list by `DiagnosisIn` (unlisted or a header:
    422 naming `code`, with the nearest codes); a code the episode already has is a Conflict.
    """
    principal.require("clinical:write")
    episode = episode_of_patient(session, patient_id=patient_id, episode_id=episode_id)
    if any(d.code == data.code and d.system == data.system for d in episode.diagnoses):
        raise Conflict(f"this episode already has the diagnosis {data.code}", field="code")
    diagnosis = Diagnosis(code=data.code, system=data.system)
    episode.diagnoses.append(diagnosis)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="diagnosis",
        entity_id=diagnosis.id,
        detail={"patient_id": patient_id, "episode_id": episode_id},
    )
    return episode


def remove_diagnosis(
    session: Session, *, principal: Principal, patient_id: int, episode_id: int, code: str
) -> Episode:
    """Remove a diagnosis recorded in error (NotFound naming `code` if the episode lacks it)."""
    principal.require("clinical:write")
    episode = episode_of_patient(session, patient_id=patient_id, episode_id=episode_id)
    code = code.strip().upper()
    if not icd10.ICD10CM.match(code):
        raise InvalidInput("code", "not an ICD-10-CM code (e.g. M79.12)")
    diagnosis = next((d for d in episode.diagnoses if d.code == code), None)
    if diagnosis is None:
        raise NotFound("diagnosis", code, field="code")
    diagnosis_id = diagnosis.id
    episode.diagnoses.remove(diagnosis)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="delete",
        entity="diagnosis",
        entity_id=diagnosis_id,
        detail={"patient_id": patient_id, "episode_id": episode_id},
    )
    return episode


# --- visits ---------------------------------------------------------------------------


def create_visit(
    session: Session, *, principal: Principal, patient_id: int, data: schemas.VisitIn
) -> Visit:
    principal.require("patient:write")
    if data.notes and not principal.can("clinical:write"):
        raise InvalidInput("notes", f"role {principal.role!r} may not write clinical notes")
    require_record(session, Patient, patient_id, "patient")
    if data.episode_id is not None:
        episode = get_record(session, Episode, data.episode_id, "episode")
        if episode.patient_id != patient_id:
            raise InvalidInput("episode_id", "belongs to another patient")
    visit = Visit(
        patient_id=patient_id,
        episode_id=data.episode_id,
        visit_at=data.visit_at,
        notes=data.notes,
        clinician_id=principal.user_id,
    )
    session.add(visit)
    drawing: PainDrawing | None = None
    marks: list[tuple[str, int | None]] = []
    if data.pain_drawing is not None:
        # Built with the visit and flushed together: one round of inserts for the request.
        drawing, marks = _new_drawing(principal, patient_id, data.pain_drawing, visit=visit)
        session.add(drawing)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="visit",
        entity_id=visit.id,
        detail={"patient_id": patient_id},
    )
    if drawing is not None:
        _store_marks(session, principal, patient_id, drawing, marks)
        visit.pain_drawing_id = drawing.id  # type: ignore[attr-defined]  # reported back to the caller
    return visit


VISIT_OF_ANOTHER_PATIENT = "belongs to another patient"


def visit_of_patient(session: Session, *, patient_id: int, visit_id: int) -> Visit:
    """The visit, checked to be this patient's: the one rule wherever a visit is named for a
    patient (a drawing, a measurement, a visit note).

    A visit that is not here (unknown, or another clinic's) is NotFound("visit"); another
    patient's visit is InvalidInput on `visit_id` with the message `VISIT_OF_ANOTHER_PATIENT`.
    """
    visit = get_record(session, Visit, visit_id, "visit")
    if visit.patient_id != patient_id:
        raise InvalidInput("visit_id", VISIT_OF_ANOTHER_PATIENT)
    return visit


def numbered_newest_first(visits: list[Visit]) -> list[tuple[int, Visit]]:
    """A patient's visits (oldest first, as list_visits gives them) as pages list them: newest
    first, numbered 1, 2, … in the patient's own order rather than by database id."""
    return list(reversed(list(enumerate(visits, start=1))))


def visit_out(visit: Visit, principal: Principal) -> schemas.VisitOut:
    """A visit as this principal may see it: notes withheld from roles without clinical:read."""
    out = schemas.VisitOut.model_validate(visit).model_copy(
        update={"pain_drawing_id": getattr(visit, "pain_drawing_id", None)}
    )
    return out if principal.can("clinical:read") else out.model_copy(update={"notes": None})


def list_visits(session: Session, *, principal: Principal, patient_id: int) -> list[Visit]:
    principal.require("patient:read")
    require_record(session, Patient, patient_id, "patient")
    rows = list(
        session.scalars(
            select(Visit).where(Visit.patient_id == patient_id).order_by(Visit.visit_at, Visit.id)
        )
    )
    record(
        session,
        actor=principal.actor,
        action="list",
        entity="visit",
        detail={"patient_id": patient_id},
    )
    return rows


# --- pain drawings --------------------------------------------------------------------


def resolve_marks(marks: list[schemas.MarkIn]) -> list[tuple[str, int | None]]:
    """Region names -> ids (a name may cover several regions); unknown names raise with the index."""
    catalog = load_catalog()
    out: dict[str, int | None] = {}
    for i, mark in enumerate(marks):
        try:
            regions = catalog.resolve(mark.region)
        except UnknownRegionError as exc:
            raise InvalidInput(f"marks.{i}.region", str(exc)) from None
        for r in regions:
            out[r.id] = (
                mark.intensity
                if out.get(r.id) is None
                else max(out[r.id] or 0, mark.intensity or 0)
            )
    return list(out.items())


Source = Literal["clinician", "patient"]


def check_source(principal: Principal, source: Source, request_id: int | None) -> None:
    """Provenance that holds: a patient-reported row names the request it answered, and a
    patient's link can store nothing but its own request's patient-reported rows. One rule
    for measurements and drawings alike."""
    if source == "patient" and request_id is None:
        raise InvalidInput("request_id", "a patient-reported entry names its request")
    if source == "clinician" and request_id is not None:
        raise InvalidInput("request_id", "only a patient-reported entry answers a request")
    if principal.link_patient_id is not None and (
        source != "patient" or request_id != principal.link_request_id
    ):
        raise Forbidden("a patient link may report only for its own request")


def create_pain_drawing(
    session: Session,
    *,
    principal: Principal,
    patient_id: int,
    data: schemas.PainDrawingIn,
    visit_id: int | None = None,
    source: Source = "clinician",
    request_id: int | None = None,
    drawn_at: datetime | None = None,
) -> PainDrawing:
    """Store a drawing; `source`/`request_id` as for outcomes.service.record_measurement, and
    `drawn_at` the time it was drawn (default now: a patient's is their submission time)."""
    principal.require_entry(patient_id)
    check_source(principal, source, request_id)
    require_record(session, Patient, patient_id, "patient")
    if visit_id is not None:
        visit_of_patient(session, patient_id=patient_id, visit_id=visit_id)
    drawing, marks = _new_drawing(principal, patient_id, data, visit_id=visit_id)
    drawing.source, drawing.request_id = source, request_id
    if drawn_at is not None:
        drawing.drawn_at = drawn_at
    session.add(drawing)
    session.flush()
    _store_marks(session, principal, patient_id, drawing, marks)
    return drawing


def _new_drawing(
    principal: Principal,
    patient_id: int,
    data: schemas.PainDrawingIn,
    *,
    visit: Visit | None = None,
    visit_id: int | None = None,
) -> tuple[PainDrawing, list[tuple[str, int | None]]]:
    """The drawing row and its resolved marks (resolved first: a bad region writes nothing)."""
    marks = resolve_marks(data.marks)
    # Either the new visit's relationship or an existing visit's id, never both: a `visit=None`
    # given beside `visit_id` would win at flush and store no visit at all.
    link: dict[str, Any] = {"visit": visit} if visit is not None else {"visit_id": visit_id}
    drawing = PainDrawing(
        patient_id=patient_id, complete=data.complete, drawn_by=principal.recorder, **link
    )
    return drawing, marks


def _store_marks(
    session: Session,
    principal: Principal,
    patient_id: int,
    drawing: PainDrawing,
    marks: list[tuple[str, int | None]],
) -> None:
    """The flushed drawing's marks in one bulk INSERT, then its audit event.

    A drawing has up to a couple of hundred marks and every charted visit writes them: a bulk
    insert skips the unit of work's per-object bookkeeping (the clinic check still applies,
    see db._confine_bulk_insert). `drawing.marks` is expired, so a reader loads what was stored.
    """
    if marks:
        session.execute(
            insert(PainMark),
            [{"drawing_id": drawing.id, "region_id": r, "intensity": i} for r, i in marks],
        )
    session.expire(drawing, ["marks"])
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="pain_drawing",
        entity_id=drawing.id,
        detail={"patient_id": patient_id, "regions": len(marks)},
    )


def list_pain_drawings(
    session: Session, *, principal: Principal, patient_id: int
) -> list[PainDrawing]:
    principal.require("patient:read")
    require_record(session, Patient, patient_id, "patient")
    rows = list(
        session.scalars(
            select(PainDrawing)
            .where(PainDrawing.patient_id == patient_id)
            .order_by(PainDrawing.drawn_at, PainDrawing.id)
        )
    )
    record(
        session,
        actor=principal.actor,
        action="list",
        entity="pain_drawing",
        detail={"patient_id": patient_id},
    )
    return rows


def visit_pain_drawings(
    session: Session, *, principal: Principal, patient_id: int, visit_id: int
) -> list[PainDrawing]:
    """The drawings of one of the patient's visits, oldest first (the latest is the visit's)."""
    drawings = list_pain_drawings(session, principal=principal, patient_id=patient_id)
    return [d for d in drawings if d.visit_id == visit_id]


# --- consent --------------------------------------------------------------------------


def record_consent(
    session: Session, *, principal: Principal, patient_id: int, data: schemas.ConsentIn
) -> Consent:
    principal.require("patient:write")
    require_record(session, Patient, patient_id, "patient")
    consent = Consent(patient_id=patient_id, recorded_by=principal.user_id, **data.model_dump())
    session.add(consent)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="consent",
        entity_id=consent.id,
        detail={"patient_id": patient_id, "kind": consent.kind},
    )
    return consent


def withdraw_consent(
    session: Session, *, principal: Principal, consent_id: int, version: int
) -> Consent:
    from triggerpoint.db import utcnow

    principal.require("patient:write")
    consent = get_record(session, Consent, consent_id, "consent")
    if consent.version != version:
        raise Conflict(f"consent {consent_id} was changed by someone else; reload and try again")
    if consent.status != "active":
        raise Conflict(f"consent {consent_id} is already {consent.status}")
    consent.status, consent.withdrawn_at = "withdrawn", utcnow()
    session.flush()
    record(
        session, actor=principal.actor, action="withdraw", entity="consent", entity_id=consent_id
    )
    return consent


def list_consents(session: Session, *, principal: Principal, patient_id: int) -> list[Consent]:
    principal.require("patient:read")
    require_record(session, Patient, patient_id, "patient")
    rows = list(
        session.scalars(
            select(Consent).where(Consent.patient_id == patient_id).order_by(Consent.signed_at)
        )
    )
    record(
        session,
        actor=principal.actor,
        action="list",
        entity="consent",
        detail={"patient_id": patient_id},
    )
    return rows


# Final: each is also the literal of `schemas.ConsentKind`, so `ConsentIn(kind=RESEARCH)`
# type-checks.
DRY_NEEDLING: Final = "dry_needling"  # the consent kind needling requires (Consent.kind)
RESEARCH: Final = "research"  # consent to the de-identified use of the record in research


def consent_in_force(consent: Consent, *, kind: str) -> bool:
    """The one rule for "this consent counts": of this kind and not withdrawn."""
    return consent.kind == kind and consent.status == "active"


def active_consent(session: Session, *, patient_id: int, kind: str) -> Consent | None:
    """The patient's newest consent of `kind` in force (`consent_in_force`), or None.

    Every place that asks "has this patient consented?" asks here: the needling gate before
    a session opens (API and page), the patient and needling pages and the printed consent
    form; the FHIR export marks each consent active by `consent_in_force`. A withdrawn
    consent, or an active one of another kind, is no consent.
    """
    consents = session.scalars(
        select(Consent)
        .where(Consent.patient_id == patient_id)
        .order_by(Consent.signed_at.desc(), Consent.id.desc())
    )
    return next((c for c in consents if consent_in_force(c, kind=kind)), None)
