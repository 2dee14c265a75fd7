"""What the job and message tests share: patients with an address, a request in a chosen
state, and the outbox rows to assert on."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select, update
from tests.personas import Person, new_patient

from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.portal import service
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.portal.outbox import PortalMessage
from triggerpoint.portal.schemas import RequestIn

TEXTS = Path(__file__).parent / "texts"  # placeholder NDI wording (not the licensed text)


def patient(person: Person, engine: Engine | None = None, **fields) -> int:
    fields = {"email": "rosa@example.org", "phone": "+34 600 123 456", **fields}
    with open_session(clinic_id=person.clinic_id, engine=engine) as s:
        pid = new_patient(s, person, **fields)
        s.commit()
    return pid


def create(
    person: Person, patient_id: int, engine: Engine | None = None, **body
) -> tuple[int, str]:
    body = {"instruments": ["nprs"], "pain_drawing": False, "channel": "email", **body}
    with unit_of_work(clinic_id=person.clinic_id, engine=engine) as s:
        row, token = service.create_request(
            s, principal=person.principal, patient_id=patient_id, data=RequestIn(**body)
        )
        return row.id, token


def set_times(
    request_id: int,
    *,
    engine: Engine | None = None,
    sent_days_ago: float | None = 3,
    expires_in_days: float = 1.5,
    now: datetime | None = None,
) -> None:
    """Move a request in time: first sent `sent_days_ago` (None: never), expiring in
    `expires_in_days` (a reminder is due at <= 2 days left, a day after the first send)."""
    now = now or utcnow()
    with unit_of_work(clinic_id=None, engine=engine) as s:
        s.execute(
            update(QuestionnaireRequest)
            .where(QuestionnaireRequest.id == request_id)
            .values(
                sent_at=None if sent_days_ago is None else now - timedelta(days=sent_days_ago),
                expires_at=now + timedelta(days=expires_in_days),
            )
        )


def request_row(request_id: int, engine: Engine | None = None) -> QuestionnaireRequest:
    with open_session(clinic_id=None, engine=engine) as s:
        row = s.get(QuestionnaireRequest, request_id)
        assert row is not None
        return row


def outbox(request_id: int | None = None, engine: Engine | None = None) -> list[PortalMessage]:
    with open_session(clinic_id=None, engine=engine) as s:
        q = select(PortalMessage).order_by(PortalMessage.id)
        if request_id is not None:
            q = q.where(PortalMessage.request_id == request_id)
        return list(s.scalars(q))


def count(model, engine: Engine | None = None, **where) -> int:
    with open_session(clinic_id=None, engine=engine) as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return s.scalar(q) or 0
