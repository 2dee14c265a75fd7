"""Palpation findings of a visit: record, list, remove. Every rule about them lives here once;
the JSON API, the visit page and FHIR import all call these functions:

* the site is resolved by `inference.findings.resolve_finding` / `resolve_site` (the one
  resolver every entry layer uses), so an unknown site is a 422 naming the field with the nearest names;
* one finding per visit and site: recording the same site again updates the row;
* a signed visit (its needling session or its SOAP note signed) refuses any change (409);
* clinical permissions, as for needle entries: clinicians and admins write, assistants
  neither read nor write; another clinic's visit or finding is not found (404);
* every read and write appends an audit event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.service import Principal
from triggerpoint.atlas.loader import Atlas, load_atlas
from triggerpoint.audit.service import record
from triggerpoint.db import utcnow
from triggerpoint.errors import Conflict, InvalidInput, NotFound
from triggerpoint.examination.models import FINDINGS, PalpationFinding
from triggerpoint.examination.schemas import FINDING_WORDS, Finding, FindingIn, FindingView
from triggerpoint.inference.findings import Site, resolve_finding
from triggerpoint.inference.findings import label as site_label
from triggerpoint.notes.service import _refuse_if_signed, note_for_visit
from triggerpoint.records.models import Visit
from triggerpoint.records.service import get_record

ENTITY = "palpation_finding"
# The needling session's table, read by name: treatment imports this domain (the visit page
# shows the findings and feeds them to the suggestions), so this domain may not import
# treatment back. Only its status is read; signing stays `treatment.service.sign`'s.
_NEEDLING = sa.table("needling_session", sa.column("visit_id"), sa.column("status"))


def _visit(session: Session, visit_id: int) -> Visit:
    """The visit, or NotFound: another clinic's visit is not found here, never forbidden."""
    visit: Visit = get_record(session, Visit, visit_id, "visit")
    return visit


def refuse_if_signed(session: Session, *, visit_id: int) -> None:
    """A signed visit keeps the findings it was signed with: its SOAP note's own rule
    (`notes.service`), and a signed needling session (the note is signed with it, but a visit
    may have a signed session and no note)."""
    note = note_for_visit(session, visit_id=visit_id)
    if note is not None:
        _refuse_if_signed(note)
    status = session.scalar(select(_NEEDLING.c.status).where(_NEEDLING.c.visit_id == visit_id))
    if status is not None and status != "open":
        raise Conflict(
            f"visit {visit_id} is signed (its needling session is signed) and its findings"
            " cannot change; add an addendum instead"
        )


def can_change(session: Session, *, visit_id: int) -> bool:
    """Whether findings may still be recorded at this visit (pages hide the buttons if not)."""
    try:
        refuse_if_signed(session, visit_id=visit_id)
    except Conflict:
        return False
    return True


def resolve(data: FindingIn) -> tuple[str, str, str | None]:
    """(muscle_id, side, trigger_point_id | None) of the finding's site, through the engine's
    one resolver; an unknown site is InvalidInput naming the field (site, muscle_id, side or
    trigger_point_id) with the nearest names."""
    try:
        found = resolve_finding(data, atlas=load_atlas(), field="")
    except InvalidInput as exc:
        raise InvalidInput(
            exc.field.removeprefix("."), exc.message, suggestions=exc.suggestions
        ) from None
    return found.muscle_id, found.side, found.trigger_point_id


def label(muscle_id: str, side: str, tp_id: str | None) -> str:
    """Human text of a site, as the engine echoes it: "right upper trapezius (tp1)", or
    "right infraspinatus" when no point is named (the whole muscle-side)."""
    return site_label(load_atlas(), Site(muscle_id, side, tp_id))


def finding_view(row: PalpationFinding, *, atlas: Atlas | None = None) -> FindingView:
    atlas = atlas or load_atlas()
    muscle = atlas.muscles.get(row.muscle_id)
    tp = (
        next((t for t in muscle.trigger_points if t.id == row.trigger_point_id), None)
        if muscle is not None and row.trigger_point_id is not None
        else None
    )
    where = label(row.muscle_id, row.side, row.trigger_point_id)
    return FindingView(
        id=row.id,
        visit_id=row.visit_id,
        muscle_id=row.muscle_id,
        muscle=muscle.name if muscle is not None else row.muscle_id,
        side=row.side,
        trigger_point_id=row.trigger_point_id,
        trigger_point=tp.name if tp is not None else None,
        finding=cast("Finding", row.finding),  # one of FINDINGS: written only here
        twitch=row.twitch,
        referral=row.referral,
        note=row.note,
        label=where,
        summary=f"{where}: {FINDING_WORDS[row.finding]}",
        recorded_at=row.recorded_at,
        recorded_by_id=row.recorded_by_id,
    )


def _rows(session: Session, visit_id: int) -> list[PalpationFinding]:
    return list(
        session.scalars(
            select(PalpationFinding)
            .where(PalpationFinding.visit_id == visit_id)
            .order_by(PalpationFinding.id)
        )
    )


def list_findings(session: Session, *, principal: Principal, visit_id: int) -> list[FindingView]:
    """The visit's findings in the order they were first recorded (audited read)."""
    principal.require("clinical:read")
    _visit(session, visit_id)
    rows = _rows(session, visit_id)
    record(
        session,
        actor=principal.actor,
        action="list",
        entity=ENTITY,
        detail={"visit_id": visit_id, "count": len(rows)},
    )
    atlas = load_atlas()
    return [finding_view(r, atlas=atlas) for r in rows]


def record_finding(
    session: Session,
    *,
    principal: Principal,
    visit_id: int,
    data: FindingIn,
    recorded_at: datetime | None = None,
) -> FindingView:
    """Record what palpation found at one site of this visit; the same site again updates
    its row (one finding per site, so the engine never reads two contradictory ones).

    `recorded_at`: when it was found, for imports (default: now)."""
    principal.require("clinical:write")
    _visit(session, visit_id)
    refuse_if_signed(session, visit_id=visit_id)
    if data.finding not in FINDINGS:  # FindingIn allows only these; a direct caller may not
        raise InvalidInput("finding", f"must be one of {', '.join(FINDINGS)}")
    muscle_id, side, tp_id = resolve(data)
    row = session.scalar(
        select(PalpationFinding).where(
            PalpationFinding.visit_id == visit_id,
            PalpationFinding.muscle_id == muscle_id,
            PalpationFinding.side == side,
            PalpationFinding.trigger_point_id.is_(None)
            if tp_id is None
            else PalpationFinding.trigger_point_id == tp_id,
        )
    )
    values = {
        "finding": data.finding,
        "twitch": data.twitch,
        "referral": data.referral,
        "note": data.note or None,
        "recorded_at": recorded_at or utcnow(),
        "recorded_by_id": principal.user_id,
    }
    action = "update" if row is not None else "create"
    if row is None:
        row = PalpationFinding(
            visit_id=visit_id, muscle_id=muscle_id, side=side, trigger_point_id=tp_id, **values
        )
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action=action,
        entity=ENTITY,
        entity_id=row.id,
        detail={
            "visit_id": visit_id,
            "site": label(muscle_id, side, tp_id),
            "finding": data.finding,
        },
    )
    return finding_view(row)


def remove_finding(
    session: Session, *, principal: Principal, visit_id: int, finding_id: int
) -> None:
    """Remove a finding recorded in error (refused once the visit is signed)."""
    principal.require("clinical:write")
    _visit(session, visit_id)
    row = session.get(PalpationFinding, finding_id)
    if row is None or row.visit_id != visit_id:
        raise NotFound("palpation finding", finding_id)
    refuse_if_signed(session, visit_id=visit_id)
    where = label(row.muscle_id, row.side, row.trigger_point_id)
    session.delete(row)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="delete",
        entity=ENTITY,
        entity_id=finding_id,
        detail={"visit_id": visit_id, "site": where, "finding": row.finding},
    )


def findings_for_visit(session: Session, *, visit_id: int) -> list[PalpationFinding]:
    """This visit's findings, first recorded first (no audit: callers that show them to a
    person audit their own read, as `list_findings` does)."""
    return _rows(session, visit_id)


def palpation_for_visit(session: Session, *, visit_id: int) -> list[dict[str, Any]]:
    """The visit's findings as the suggestion engine's drawing takes them
    (`Drawing.palpation`): what the visit page's suggestions are computed from."""
    return [
        {
            "muscle_id": r.muscle_id,
            "side": r.side,
            **({"trigger_point_id": r.trigger_point_id} if r.trigger_point_id else {}),
            "finding": r.finding,
            "twitch": r.twitch,
            "referral": r.referral,
        }
        for r in _rows(session, visit_id)
    ]
