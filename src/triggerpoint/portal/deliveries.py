"""What became of each request's messages, for the clinician's list: sent, reminded.

Why a module of its own: the request's `reminded_at` is set when a worker *claims* the
reminder (`portal.jobs`), before any email leaves; whether it went out, is still on its way
or failed is on the outbox row (`portal.outbox.PortalMessage`). The clinician's "reminded
at" must be the time the reminder was handed to the mail server, and a failure must show as
one, so the list reads the outbox here. Only times and states are read: no address, no text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.service import Principal
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.portal.outbox import MessageKind, MessageStatus, PortalMessage


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request's delivery as the list shows it (None: nothing of that kind yet)."""

    sent_at: datetime | None = None
    reminded_at: datetime | None = None  # the reminder handed over, else its claim
    reminder: str | None = None  # the reminder's outbox state: sent, pending, sending, failed
    failed: str | None = None  # the newest failure of the request's first message


def deliveries(
    session: Session, *, principal: Principal, requests: Iterable[QuestionnaireRequest]
) -> dict[int, Delivery]:
    """Per request id, what its outbox rows say (the rows are the clinic's: the session is
    confined to it). Needs patient:read, like the list it annotates."""
    principal.require("patient:read")
    rows = {r.id: r for r in requests}
    if not rows:
        return {}
    messages = session.scalars(
        select(PortalMessage)
        .where(PortalMessage.request_id.in_(rows))
        .order_by(PortalMessage.created_at, PortalMessage.id)
    ).all()
    out: dict[int, Delivery] = {}
    for rid, row in rows.items():
        mine = [m for m in messages if m.request_id == rid]
        reminders = [m for m in mine if m.kind == MessageKind.reminder]
        firsts = [m for m in mine if m.kind == MessageKind.request]
        last = reminders[-1] if reminders else None
        reminded = last.sent_at if last is not None and last.sent_at else row.reminded_at
        failed = firsts[-1].error if firsts and firsts[-1].status == MessageStatus.failed else None
        out[rid] = Delivery(
            sent_at=row.sent_at,
            reminded_at=reminded,
            reminder=last.status if last is not None else None,
            failed=failed if row.sent_at is None else None,
        )
    return out
