"""What the staff's routes and pages share above the service: enqueueing a request's send."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from triggerpoint.portal.models import Channel, QuestionnaireRequest


def send_after_commit(session: Session, row: QuestionnaireRequest) -> None:
    """Enqueue the send once the transaction has committed (a job enqueued earlier could
    run before the row exists, or for a request that was rolled back). QR and "none" send
    nothing: the clinician shows or prints the link."""
    if row.channel not in (Channel.email, Channel.sms):
        return
    request_id = row.id

    def enqueue(_session: Session) -> None:
        from triggerpoint.portal import jobs  # the queue is started only where it is used

        jobs.send_request(request_id)

    event.listen(session, "after_commit", enqueue, once=True)
