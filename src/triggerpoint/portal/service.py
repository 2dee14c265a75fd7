"""Questionnaire requests: create, list, cancel and resend them (staff), and open, save and
submit them through the patient's link (no login).

Two ways in, one set of rules:

* **Staff** act through a `Principal` and a session confined to their clinic (db.py), like
  every other service: another clinic's patient or request is simply not found. Creating,
  cancelling and resending need patient:write, listing patient:read, so the front desk
  (assistants) can ask a patient to fill in a questionnaire, and sees when it was sent,
  opened and submitted, but never the answers (those are outcome measurements:
  clinical:read).
* **The patient's link** has no login. `request_for_token` looks the token's digest up with
  the session unscoped (it cannot know the clinic yet), then confines the session to the
  request's clinic, so everything after it acts within that clinic only. A submission is
  stored through the same services as the clinician's (outcomes.service.record_measurement,
  records.service.create_pain_drawing) with a principal for the link
  (`accounts.service.patient_link_principal`) that may report for that one patient and do
  nothing else.

The link is single-use and race-proof: a submission claims the request with a conditional
UPDATE (`status = 'open' AND expires_at > now`), so two submissions at once store one. Every
write, every open of the link and every submission is audited; the link's events are by
"patient-link:<request id>".
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import Clinic
from triggerpoint.accounts.service import Principal, patient_link_principal
from triggerpoint.audit.service import Actor, record
from triggerpoint.config import get_settings
from triggerpoint.db import rowcount, utcnow
from triggerpoint.errors import Conflict, InvalidInput, LinkGone, NotFound
from triggerpoint.inputs import FreeJson
from triggerpoint.outcomes import service as outcomes
from triggerpoint.outcomes.instruments import score
from triggerpoint.outcomes.schemas import MeasurementIn
from triggerpoint.portal import i18n
from triggerpoint.portal.models import QuestionnaireRequest, RequestStatus
from triggerpoint.portal.schemas import PatientView, RequestIn, SubmissionIn
from triggerpoint.records import service as records
from triggerpoint.records.models import Patient, Visit
from triggerpoint.records.schemas import MarkIn, PainDrawingIn

ENTITY = "questionnaire_request"
TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 256 random bits, 43 characters
MAX_TOKEN_CHARS = 100  # anything longer is no token of ours: refused before hashing
DEFAULT_LANGUAGE = "en"
# Instruments a patient answers on their own. PPT and ROM are measured by the clinician's
# hands and instruments; PSFS asks the patient to name activities with the clinician.
PATIENT_REPORTED = ("nprs", "ndi", "odi", "quickdash", "groc")
_draft = TypeAdapter(FreeJson)  # a draft: any JSON object, bounded like every free JSON input


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh raw token and its digest: the raw one goes into a link (or a message) and
    nowhere else; the digest is what `questionnaire_request.token_hash` stores."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, _digest(token)


_new_token = new_token  # the name portal.jobs imported first


def patient_url(token: str) -> str:
    """The patient's page for a raw token: `<public_base_url>/r/<token>`."""
    return f"{get_settings().public_base_url.rstrip('/')}/r/{token}"


def _link_actor(row: QuestionnaireRequest) -> Actor:
    return Actor(None, row.clinic_id, f"patient-link:{row.id}")


# --- what may be asked ----------------------------------------------------------------


def _check_instruments(data: RequestIn, language: str) -> list[str]:
    if not data.instruments and not data.pain_drawing:
        raise InvalidInput("instruments", "ask for at least one instrument or a pain drawing")
    seen: list[str] = []
    for i, instrument in enumerate(data.instruments):
        field = f"instruments.{i}"
        if instrument in seen:
            raise InvalidInput(field, f"{instrument} is asked for twice")
        if instrument not in PATIENT_REPORTED:
            raise InvalidInput(
                field,
                f"{instrument} is measured by the clinician, not reported by the patient",
                suggestions=list(PATIENT_REPORTED),
            )
        if not i18n.has_wording(instrument, language):
            raise InvalidInput(
                field, f"no wording for {instrument} in {language}: add a licensed catalogue"
            )
        seen.append(instrument)
    return seen


# --- staff ------------------------------------------------------------------------------


def create_request(
    session: Session,
    *,
    principal: Principal,
    patient_id: int,
    data: RequestIn,
    rule_id: int | None = None,
    expires_by: datetime | None = None,
) -> tuple[QuestionnaireRequest, str]:
    """A new request and its raw token (returned once, for the link; only its digest is
    stored). Sending is the caller's to enqueue: never done in the request. `rule_id`: the
    clinic rule making it (portal.rules), never taken from a person's input; `expires_by`:
    a latest expiry that caps the days (a rule's link ends with the visit it is before)."""
    principal.require("patient:write")
    patient = records.get_record(session, Patient, patient_id, "patient")
    if data.visit_id is not None:
        records.visit_of_patient(session, patient_id=patient_id, visit_id=data.visit_id)
    if data.episode_id is not None:
        records.episode_of_patient(session, patient_id=patient_id, episode_id=data.episode_id)
    asked = data.language or patient.preferred_language or DEFAULT_LANGUAGE
    language = i18n.supported(asked)
    if language is None:
        field = "language" if data.language else "patient.preferred_language"
        raise InvalidInput(
            field,
            f"the patient's page has no {asked!r} catalogue",
            suggestions=list(i18n.languages()),
        )
    instruments = _check_instruments(data, language)
    days = data.expires_in_days or get_settings().request_days
    token, digest = new_token()
    now = utcnow()
    row = QuestionnaireRequest(
        patient_id=patient_id,
        episode_id=data.episode_id,
        visit_id=data.visit_id,
        instruments=instruments,
        pain_drawing=data.pain_drawing,
        token_hash=digest,
        status=RequestStatus.open,
        created_at=now,
        created_by=principal.recorder,
        expires_at=min(now + timedelta(days=days), expires_by or now + timedelta(days=days)),
        channel=data.channel,
        language=language,
        rule_id=rule_id,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity=ENTITY,
        entity_id=row.id,
        detail={
            "patient_id": patient_id,
            "instruments": instruments,
            "channel": data.channel,
            **({"rule_id": rule_id} if rule_id is not None else {}),
        },
    )
    return row, token


def list_requests(
    session: Session, *, principal: Principal, patient_id: int
) -> list[QuestionnaireRequest]:
    """The patient's requests, newest first (what was asked and when; never the answers)."""
    principal.require("patient:read")
    records.require_record(session, Patient, patient_id, "patient")
    rows = list(
        session.scalars(
            select(QuestionnaireRequest)
            .where(QuestionnaireRequest.patient_id == patient_id)
            .order_by(QuestionnaireRequest.created_at.desc(), QuestionnaireRequest.id.desc())
        )
    )
    record(
        session,
        actor=principal.actor,
        action="list",
        entity=ENTITY,
        detail={"patient_id": patient_id},
    )
    return rows


def upcoming_visits(
    session: Session, *, principal: Principal, patient_id: int, now: datetime | None = None
) -> list[Visit]:
    """The patient's visits still to come, soonest first: what a request can be asked
    before (its answers are then "before needling" at that visit). Read on the patient page,
    which has audited the patient's visits already."""
    principal.require("patient:read")
    at = now or utcnow()
    return list(
        session.scalars(
            select(Visit)
            .where(Visit.patient_id == patient_id, Visit.visit_at > at)
            .order_by(Visit.visit_at, Visit.id)
            .limit(20)
        )
    )


def get_request(session: Session, *, principal: Principal, request_id: int) -> QuestionnaireRequest:
    principal.require("patient:read")
    row: QuestionnaireRequest = records.get_record(
        session, QuestionnaireRequest, request_id, "questionnaire request"
    )
    return row


def _still_open(row: QuestionnaireRequest, action: str) -> None:
    if row.status != RequestStatus.open:
        raise Conflict(f"cannot {action} a request that is {row.status}")
    if row.expires_at <= utcnow():
        raise Conflict(f"cannot {action} a request that has expired: make a new one")


def _claim(session: Session, row: QuestionnaireRequest, **values: Any) -> bool:
    """Change an open, unexpired request with one conditional UPDATE (bumping its version):
    whoever changes it first wins, on both engines, without locks. False: it was not open."""
    result = session.execute(
        update(QuestionnaireRequest)
        .where(
            QuestionnaireRequest.id == row.id,
            QuestionnaireRequest.status == RequestStatus.open,
            QuestionnaireRequest.expires_at > utcnow(),
        )
        .values(version=QuestionnaireRequest.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    claimed = rowcount(result) == 1
    session.expire(row)
    return claimed


def cancel_request(
    session: Session, *, principal: Principal, request_id: int
) -> QuestionnaireRequest:
    """Cancel an open request: its link stops working at once (410)."""
    principal.require("patient:write")
    row = get_request(session, principal=principal, request_id=request_id)
    _still_open(row, "cancel")
    now = utcnow()
    if not _claim(session, row, status=RequestStatus.cancelled, cancelled_at=now):
        raise Conflict("the request changed meanwhile (submitted or cancelled): reload")
    record(
        session,
        actor=principal.actor,
        action="cancel",
        entity=ENTITY,
        entity_id=row.id,
        detail={"patient_id": row.patient_id},
    )
    return row


def resend_request(
    session: Session, *, principal: Principal, request_id: int
) -> tuple[QuestionnaireRequest, str]:
    """A new link for an open request (the old one stops working), to be sent again: the
    caller enqueues the send. Its expiry stays; an expired request is made anew instead."""
    principal.require("patient:write")
    row = get_request(session, principal=principal, request_id=request_id)
    _still_open(row, "resend")
    token, digest = new_token()
    if not _claim(session, row, token_hash=digest, sent_at=None, reminded_at=None):
        raise Conflict("the request changed meanwhile (submitted or cancelled): reload")
    record(
        session,
        actor=principal.actor,
        action="resend",
        entity=ENTITY,
        entity_id=row.id,
        detail={"patient_id": row.patient_id},
    )
    return row, token


# --- the patient's link ------------------------------------------------------------------


def request_for_token(session: Session, *, token: str) -> QuestionnaireRequest:
    """The request behind a raw token, with `session` then confined to its clinic.

    Unknown (or malformed) token: NotFound, saying nothing of what exists. Used, cancelled
    or expired: LinkGone (410) in the request's language. The session must start unscoped
    (clinic None): the token is all the patient has, and it names the clinic.
    """
    if session.info.get("clinic_id") is not None:
        raise RuntimeError("a patient link is looked up with an unscoped session")
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise NotFound("link", "?", message="no such link")
    row = session.scalar(
        select(QuestionnaireRequest).where(QuestionnaireRequest.token_hash == _digest(token))
    )
    if row is None:
        raise NotFound("link", "?", message="no such link")
    session.info["clinic_id"] = row.clinic_id
    if row.status != RequestStatus.open:
        raise LinkGone(row.status, language=row.language)
    if row.expires_at <= utcnow():
        raise LinkGone(RequestStatus.expired, language=row.language)
    return row


def open_request(session: Session, *, token: str) -> PatientView:
    """What the patient's page shows; audited on every open, `opened_at` set on the first."""
    row = request_for_token(session, token=token)
    first = row.opened_at is None
    if first:
        session.execute(
            update(QuestionnaireRequest)
            .where(QuestionnaireRequest.id == row.id, QuestionnaireRequest.opened_at.is_(None))
            .values(opened_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        session.expire(row, ["opened_at"])
    record(
        session,
        actor=_link_actor(row),
        action="open",
        entity=ENTITY,
        entity_id=row.id,
        detail={"patient_id": row.patient_id, "first": first},
    )
    return patient_view(session, row)


def peek_request(session: Session, *, token: str) -> PatientView:
    """What the patient's page shows, without counting as an open (not audited, `opened_at`
    untouched): for re-showing the page beside a refused submission."""
    return patient_view(session, request_for_token(session, token=token))


def patient_view(session: Session, row: QuestionnaireRequest) -> PatientView:
    patient = records.get_record(session, Patient, row.patient_id, "patient")
    clinic = session.get(Clinic, row.clinic_id)
    return PatientView(
        clinic_name=clinic.name if clinic else "",
        first_name=patient.given_name,
        language=row.language,
        instruments=list(row.instruments),
        pain_drawing=row.pain_drawing,
        draft=row.draft,
        expires_at=row.expires_at,
    )


def save_draft(session: Session, *, token: str, draft: dict[str, Any]) -> None:
    """Keep half-filled answers until the link expires. Not validated as answers (they are
    unfinished), only bounded like any free JSON input."""
    row = request_for_token(session, token=token)
    try:
        value = _draft.validate_python(draft)
    except ValidationError as exc:
        raise InvalidInput("draft", exc.errors()[0]["msg"]) from None
    if not _claim(session, row, draft=value):
        raise LinkGone(RequestStatus.submitted, language=row.language)
    record(
        session,
        actor=_link_actor(row),
        action="save_draft",
        entity=ENTITY,
        entity_id=row.id,
        detail={"patient_id": row.patient_id, "bytes": len(json.dumps(value))},
    )


def _field(prefix: str, loc: Any) -> str:
    parts = [str(p) for p in (loc if isinstance(loc, list | tuple) else [loc]) if p != ""]
    return ".".join([prefix, *parts])


def _measurements(
    row: QuestionnaireRequest, data: SubmissionIn, at: datetime, timing: str
) -> list[MeasurementIn]:
    """The answers as the clinician's measurement input, each scored once here first, so a
    bad answer anywhere is refused before anything is written."""
    unasked = sorted(set(data.answers) - set(row.instruments))
    if unasked:
        raise InvalidInput(f"answers.{unasked[0]}", "was not asked for in this request")
    out = []
    for instrument in row.instruments:
        answer = data.answers.get(instrument)
        if answer is None:
            raise InvalidInput(f"answers.{instrument}", "is required")
        try:
            m = MeasurementIn(
                instrument=instrument,  # type: ignore[arg-type]  # checked when requested
                data=answer,
                timing=timing,  # type: ignore[arg-type]  # "pre" or ""
                visit_id=row.visit_id,
                measured_at=at,
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = list(err["loc"])
            raise InvalidInput(
                _field(f"answers.{instrument}", loc[1:] if loc[:1] == ["data"] else loc),
                err["msg"],
            ) from None
        try:
            score(instrument, answer)
        except InvalidInput as exc:
            raise InvalidInput(_field(f"answers.{instrument}", exc.field), str(exc)) from None
        out.append(m)
    return out


def _drawing(row: QuestionnaireRequest, data: SubmissionIn) -> PainDrawingIn | None:
    if data.drawing is None:
        if row.pain_drawing:
            raise InvalidInput("drawing", "is required: mark where it hurts, or that it does not")
        return None
    if not row.pain_drawing:
        raise InvalidInput("drawing", "was not asked for in this request")
    try:
        drawing = PainDrawingIn(
            complete=data.drawing.complete, marks=[MarkIn(region=r) for r in data.drawing.marks]
        )
        records.resolve_marks(drawing.marks)  # an unknown region is refused before any write
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [p for p in err["loc"] if p != "region"]
        raise InvalidInput(_field("drawing", loc or ["marks"]), err["msg"]) from None
    except InvalidInput as exc:
        raise InvalidInput(_field("drawing", exc.field.removesuffix(".region")), str(exc)) from None
    return drawing


def submit_request(session: Session, *, token: str, data: SubmissionIn) -> QuestionnaireRequest:
    """Store the patient's answers as patient-reported measurements and drawing, once.

    Everything is validated before anything is written, and it all happens in the caller's
    transaction, so a submission refused anywhere stores nothing. Measurements are timed
    "pre" (before needling) when submitted before the visit they are for.
    """
    row = request_for_token(session, token=token)
    now = utcnow()
    timing = ""
    if row.visit_id is not None:
        visit = records.visit_of_patient(session, patient_id=row.patient_id, visit_id=row.visit_id)
        timing = "pre" if now < visit.visit_at else ""
    measurements = _measurements(row, data, now, timing)
    drawing = _drawing(row, data)
    if not _claim(session, row, status=RequestStatus.submitted, submitted_at=now, draft=None):
        raise LinkGone(RequestStatus.submitted, language=row.language)
    principal = patient_link_principal(
        clinic_id=row.clinic_id, patient_id=row.patient_id, request_id=row.id
    )
    stored = [
        outcomes.record_measurement(
            session,
            principal=principal,
            patient_id=row.patient_id,
            data=m,
            source="patient",
            request_id=row.id,
        ).id
        for m in measurements
    ]
    drawing_id = None
    if drawing is not None:
        drawing_id = records.create_pain_drawing(
            session,
            principal=principal,
            patient_id=row.patient_id,
            data=drawing,
            visit_id=row.visit_id,
            source="patient",
            request_id=row.id,
            drawn_at=now,
        ).id
    record(
        session,
        actor=_link_actor(row),
        action="submit",
        entity=ENTITY,
        entity_id=row.id,
        detail={
            "patient_id": row.patient_id,
            "measurements": stored,
            "pain_drawing": drawing_id,
        },
    )
    return row
