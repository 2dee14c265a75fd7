"""Clinic adverse-event rates per 1,000 sessions with 95% CIs (Wilson score intervals,
`safety.stats`), beside the published rates (`safety.rates`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triggerpoint.safety.rates import published
from triggerpoint.safety.stats import wilson
from triggerpoint.treatment.models import AdverseEvent, NeedlingSession
from triggerpoint.treatment.schemas import AE_TYPES


def _per_1000(events: int, n: int) -> dict[str, Any]:
    lo, hi = wilson(events, n)
    return {
        "events": events,
        "per_1000": 1000 * events / n if n else 0.0,
        "ci95_per_1000": [1000 * lo, 1000 * hi],
    }


def adverse_event_rates(session: Session) -> dict[str, object]:
    """Rates for the session's clinic (the session is clinic-scoped by db.py)."""
    n = session.scalar(select(func.count()).select_from(NeedlingSession)) or 0
    by_type = dict(
        session.execute(
            select(AdverseEvent.type, func.count(func.distinct(AdverseEvent.needling_id))).group_by(
                AdverseEvent.type
            )
        ).all()
    )
    by_sev = dict(
        session.execute(
            select(
                AdverseEvent.severity, func.count(func.distinct(AdverseEvent.needling_id))
            ).group_by(AdverseEvent.severity)
        ).all()
    )
    significant = (
        session.scalar(
            select(func.count(func.distinct(AdverseEvent.needling_id))).where(
                AdverseEvent.severity.in_(["moderate", "major"])
            )
        )
        or 0
    )
    rows = []
    for key, label in AE_TYPES.items():
        row: dict[str, Any] = {
            "type": key,
            "label": label,
            **_per_1000(by_type.get(key, 0), n),
            "published": {},
        }
        for study in published():
            if key in study.get("by_type", {}):
                row["published"][study["id"]] = 10 * study["by_type"][key]  # percent -> per 1,000
        rows.append(row)
    return {
        "sessions": n,
        "by_type": rows,
        "by_severity": {s: _per_1000(by_sev.get(s, 0), n) for s in ("mild", "moderate", "major")},
        "significant": _per_1000(significant, n),
        "studies": [
            {"id": s["id"], "citation": s["citation"], "sessions": s["sessions"]}
            for s in published()
        ],
        "note": "Events are counted once per session and type; severity follows Carnes et al. 2010.",
    }
