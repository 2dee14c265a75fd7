"""CSV export of outcome measurements for research, optionally de-identified.

One row per measurement with the patient's attributes and the needling at that visit. With
`deidentify`, direct identifiers go (name, phone, email, external id, database ids), the date
of birth becomes a five-year age band (90 and over pooled), and every date of a patient moves
by one random offset of 1-365 days (same offset for all of that patient's rows, so intervals
within a patient are kept; a fresh key per export, so exports cannot be lined up): `Pseudonyms`.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triggerpoint.audit.service import Actor, record
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Patient, Visit
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession

IDENTIFIED = [
    "patient_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "phone",
    "email",
    "external_id",
]
COMMON = [
    "clinic_id",
    "sex",
    "age_band",
    "visit_no",
    "visit_at",
    "measured_at",
    "instrument",
    "context",
    "timing",
    "score",
    "complete",
    "answered",
    "session_needles",
    "session_twitches",
    "session_muscles",
]
DEIDENTIFIED = ["research_id", "date_shift_note"]


def age_band(born: date, on: date) -> str:
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if age >= 90:
        return "90+"
    lo = (age // 5) * 5
    return f"{lo}-{lo + 4}"


class Pseudonyms:
    """Per-export research ids and date offsets, one of each per patient.

    The one home of the date shift for every de-identified export (this CSV and the research
    exports in `research/exports`). Both values come from HMAC-SHA256 of the patient's database
    id under a 256-bit key drawn fresh for each export and never stored: the same patient gets
    the same id and offset in every table and file of one export (so intervals and joins hold),
    while without the key, which dies with the export, neither can be traced back to the
    patient or lined up with another export. The offset is 1-365 days, forward or back.
    """

    def __init__(self, key: bytes | None = None, *, id_hex: int = 12) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._id_hex = id_hex

    def _digest(self, patient_id: int) -> bytes:
        return hmac.new(self._key, b"patient:%d" % patient_id, hashlib.sha256).digest()

    def research_id(self, patient_id: int) -> str:
        return (
            "R" + self._digest(patient_id)[16 : 16 + (self._id_hex + 1) // 2].hex()[: self._id_hex]
        )

    def shift_days(self, patient_id: int) -> int:
        """Whole days, in -365..-1 or 1..365."""
        word = int.from_bytes(self._digest(patient_id)[:4], "big")
        return (1 if word & 1 else -1) * (1 + (word >> 1) % 365)

    def of(self, patient_id: int) -> tuple[str, timedelta]:
        return self.research_id(patient_id), timedelta(days=self.shift_days(patient_id))


def _session_facts(session: Session, clinic_id: int | None) -> dict[int, tuple[int, int, str]]:
    """visit_id -> (needles, twitches, muscles) from one grouped query."""
    e, ns = NeedleEntry, NeedlingSession
    stmt = (
        select(ns.visit_id, func.count(e.id), func.coalesce(func.sum(e.twitch_count), 0))
        .join(e, e.needling_id == ns.id)
        .group_by(ns.visit_id)
    )
    muscles = select(ns.visit_id, e.muscle_id, e.side).join(e, e.needling_id == ns.id).distinct()
    if clinic_id is not None:
        stmt = stmt.where(ns.clinic_id == clinic_id)
        muscles = muscles.where(ns.clinic_id == clinic_id)
    names: dict[int, list[str]] = {}
    for vid, muscle, side in session.execute(muscles.order_by(ns.visit_id, e.muscle_id, e.side)):
        names.setdefault(vid, []).append(f"{muscle}:{side}")
    return {vid: (n, int(tw), ";".join(names.get(vid, []))) for vid, n, tw in session.execute(stmt)}


def _rows(session: Session, clinic_id: int | None) -> Iterator[tuple[Measurement, Patient, Any]]:
    stmt = (
        select(Measurement, Patient, Visit.visit_at)
        .join(Patient, Patient.id == Measurement.patient_id)
        .outerjoin(Visit, Visit.id == Measurement.visit_id)
        .order_by(Measurement.patient_id, Measurement.measured_at, Measurement.id)
    )
    if clinic_id is not None:
        stmt = stmt.where(Measurement.clinic_id == clinic_id)
    yield from session.execute(stmt.execution_options(yield_per=2000))


def export_csv(
    session: Session, *, out: TextIO, actor: Actor, clinic_id: int | None, deidentify: bool
) -> int:
    """Write the CSV to `out`; returns the number of data rows. The export is audited."""
    header = (DEIDENTIFIED if deidentify else IDENTIFIED) + COMMON
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    facts = _session_facts(session, clinic_id)
    pseudo = Pseudonyms()
    visit_no: dict[int, dict[int, int]] = {}
    n = 0
    for m, p, visit_at in _rows(session, clinic_id):
        numbers = visit_no.setdefault(p.id, {})
        if m.visit_id is not None and m.visit_id not in numbers:
            numbers[m.visit_id] = len(numbers) + 1
        needles, twitches, muscles = (
            facts.get(m.visit_id, (0, 0, "")) if m.visit_id else ("", "", "")
        )
        row: dict[str, Any] = {
            "clinic_id": p.clinic_id,
            "sex": p.sex,
            "age_band": age_band(p.date_of_birth, m.measured_at.date()),
            "visit_no": numbers.get(m.visit_id, "") if m.visit_id else "",
            "instrument": m.instrument,
            "context": m.context,
            "timing": m.timing,
            "score": "" if m.score is None else m.score,
            "complete": int(m.complete),
            "answered": m.answered,
            "session_needles": needles,
            "session_twitches": twitches,
            "session_muscles": muscles,
        }
        shift = timedelta(0)
        if deidentify:
            row["research_id"], shift = pseudo.of(p.id)
            row["date_shift_note"] = "dates shifted per patient"
        else:
            row |= {k: getattr(p, k) for k in IDENTIFIED if k != "patient_id"}
            row["patient_id"] = p.id
        row["measured_at"] = _iso(m.measured_at + shift)
        row["visit_at"] = _iso(visit_at + shift) if visit_at else ""
        writer.writerow(row)
        n += 1
    record(
        session,
        actor=actor,
        action="export_csv",
        entity="measurement",
        detail={"clinic_id": clinic_id, "rows": n, "deidentified": deidentify},
    )
    return n


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="minutes")
