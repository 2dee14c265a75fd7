"""The pain-map numbers computed naively in Python from the raw rows: the reference that the
tests and bench/research.py hold the aggregate SQL of `service` to.

It reads every drawing, mark, visit, episode, diagnosis, consent, needling session and needle
entry of the clinic with plain SELECTs (no GROUP BY, no window functions) and applies the
definitions of `service` in the most direct way, with `reports.extent.pain_extent` itself.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.records.models import Consent, Diagnosis, Episode, PainDrawing, PainMark, Visit
from triggerpoint.records.service import RESEARCH
from triggerpoint.reports.extent import pain_extent
from triggerpoint.research.painmap.schemas import CohortFilter
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession


def _rows(session: Session, *columns: Any) -> list[Any]:
    return list(session.execute(select(*columns)).all())


def naive(
    session: Session, *, clinic_id: int, cohort: CohortFilter, muscle: str | None
) -> dict[str, Any]:
    """{"heat": {region: patients}, "patients": n, "drawings": n, "extent": [(b, a)],
    "retest": [(|A|, |B|, |A and B|)]}, lists sorted."""
    consented = {
        pid
        for pid, kind, status, cid in _rows(
            session, Consent.patient_id, Consent.kind, Consent.status, Consent.clinic_id
        )
        if kind == RESEARCH and status == "active" and cid == clinic_id
    }
    episode_of_visit = {
        vid: eid
        for vid, eid, cid in _rows(session, Visit.id, Visit.episode_id, Visit.clinic_id)
        if cid == clinic_id
    }
    codes: dict[int, list[str]] = defaultdict(list)
    for eid, code in _rows(session, Diagnosis.episode_id, Diagnosis.code):
        codes[eid].append(code)
    episodes = {
        eid: text
        for eid, text, cid in _rows(session, Episode.id, Episode.complaint, Episode.clinic_id)
        if cid == clinic_id
    }
    wanted = {
        eid
        for eid, text in episodes.items()
        if (not cohort.complaint or cohort.complaint.casefold() in text.casefold())
        and (not cohort.icd10 or any(c.startswith(cohort.icd10) for c in codes[eid]))
    }
    sessions = [
        (nid, pid, vid, at, status)
        for nid, pid, vid, at, status, cid in _rows(
            session,
            NeedlingSession.id,
            NeedlingSession.patient_id,
            NeedlingSession.visit_id,
            NeedlingSession.opened_at,
            NeedlingSession.status,
            NeedlingSession.clinic_id,
        )
        if cid == clinic_id
    ]
    treated: set[int] = set()
    if muscle is not None:
        patient_of = {nid: pid for nid, pid, *_ in sessions}
        treated = {
            patient_of[nid]
            for nid, mid in _rows(session, NeedleEntry.needling_id, NeedleEntry.muscle_id)
            if mid == muscle and nid in patient_of
        }
    start = datetime.combine(cohort.date_from, time(), UTC) if cohort.date_from else None
    end = (
        datetime.combine(cohort.date_to + timedelta(days=1), time(), UTC)
        if cohort.date_to
        else None
    )
    drawings = []
    for did, pid, vid, at, complete, cid in _rows(
        session,
        PainDrawing.id,
        PainDrawing.patient_id,
        PainDrawing.visit_id,
        PainDrawing.drawn_at,
        PainDrawing.complete,
        PainDrawing.clinic_id,
    ):
        eid = episode_of_visit.get(vid) if vid is not None else None
        if cid != clinic_id or pid not in consented:
            continue
        if (start and at < start) or (end and at >= end):
            continue
        if (cohort.complaint or cohort.icd10) and eid not in wanted:
            continue
        if muscle is not None and pid not in treated:
            continue
        drawings.append((did, pid, eid, at, complete))
    marks: dict[int, set[str]] = defaultdict(set)
    for did, region, cid in _rows(
        session, PainMark.drawing_id, PainMark.region_id, PainMark.clinic_id
    ):
        if cid == clinic_id:
            marks[did].add(region)
    return {
        **_heat(drawings, marks, cohort),
        "extent": _extent(drawings, marks, sessions, episode_of_visit),
        "retest": _retest(drawings, marks, sessions, cohort.window_days),
    }


def _heat(drawings: list[Any], marks: dict[int, set[str]], cohort: CohortFilter) -> dict[str, Any]:
    if cohort.view == "first":
        by_episode: dict[int, Any] = {}
        for d in sorted(drawings, key=lambda d: (d[3], d[0])):
            if d[2] is not None:
                by_episode.setdefault(d[2], d)
        drawings = list(by_episode.values())
    who: dict[str, set[int]] = defaultdict(set)
    for did, pid, *_ in drawings:
        for region in marks[did]:
            who[region].add(pid)
    return {
        "heat": {r: len(p) for r, p in who.items()},
        "patients": len({d[1] for d in drawings}),
        "drawings": len(drawings),
    }


def _extent(
    drawings: list[Any], marks: dict[int, set[str]], sessions: list[Any], episode_of_visit: dict
) -> list[tuple[float, float]]:
    first_signed: dict[int, datetime] = {}
    for _, _, vid, at, status in sessions:
        eid = episode_of_visit.get(vid)
        if status == "signed" and eid is not None:
            first_signed[eid] = min(at, first_signed.get(eid, at))
    per_episode: dict[int, list[Any]] = defaultdict(list)
    for d in drawings:
        if d[2] is not None:
            per_episode[d[2]].append(d)
    out = []
    for eid, items in per_episode.items():
        items.sort(key=lambda d: (d[3], d[0]))
        after = [d for d in items if eid in first_signed and d[3] > first_signed[eid]]
        if after and after[-1][0] != items[0][0]:
            before_x, after_x = pain_extent(marks[items[0][0]]), pain_extent(marks[after[-1][0]])
            out.append((before_x or 0.0, after_x or 0.0))
    return sorted(out)


def _retest(
    drawings: list[Any], marks: dict[int, set[str]], sessions: list[Any], window: int
) -> list[tuple[int, int, int]]:
    needled: dict[int, list[datetime]] = defaultdict(list)
    for _, pid, _, at, _ in sessions:
        needled[pid].append(at)
    per_patient: dict[int, list[Any]] = defaultdict(list)
    for d in drawings:
        per_patient[d[1]].append(d)
    out = []
    for pid, items in per_patient.items():
        items.sort(key=lambda d: (d[3], d[0]))
        for prev, cur in itertools.pairwise(items):
            if not (prev[4] and cur[4]) or cur[3] - prev[3] > timedelta(days=window):
                continue
            if any(prev[3] <= t < cur[3] for t in needled[pid]):
                continue
            a, b = marks[cur[0]], marks[prev[0]]
            out.append((len(a), len(b), len(a & b)))
    return sorted(out)
