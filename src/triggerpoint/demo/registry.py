"""A research-scale synthetic registry: up to millions of needling sessions, written in bulk.

The demo clinic (`generator.seed`) builds ORM objects one patient at a time, which is right
for a few hundred patients and far too slow for a million sessions. This module writes the
same kinds of rows with Core bulk inserts and explicit ids, vectorising every random draw and
the model's virtual patients with numpy, so that the clinic dashboard can be measured at the
scale a research network reaches. Pain drawings are left out: the dashboard does not read
them, and they would triple the row count.

Everything lands in one clinic ("Registry clinic") in batches of whole patients, each batch in
its own transaction, so an interrupted run leaves only complete patients behind.

Research consent (issue 17): RESEARCH_CONSENT of the patients also sign a research consent at
their first visit, and RESEARCH_WITHDRAWN of those withdraw it later. Like every registry row
it is written directly (no `records.service.record_consent`, no audit event per patient), in
the columns that service writes; the draws come from a generator of their own, so the rest of
the registry is the same for a seed as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, Table, func, insert, select, text

from triggerpoint.accounts.models import Clinic
from triggerpoint.atlas.loader import Atlas, load_atlas
from triggerpoint.audit.service import Actor, record
from triggerpoint.dashboard import tallies
from triggerpoint.db import Base, open_session
from triggerpoint.demo.generator import needle_entry
from triggerpoint.physiology.virtual import course
from triggerpoint.records.service import RESEARCH
from triggerpoint.research.ltr import version as data_version
from triggerpoint.safety.entry import PatientSafety
from triggerpoint.safety.rates import published
from triggerpoint.safety.screening import Answer, evaluate, rulebook

REGISTRY_CLINIC = "Registry clinic"
VISITS_PER_PATIENT = 5
RESEARCH_CONSENT = 0.85  # share of patients with a research consent (seeded)
RESEARCH_WITHDRAWN = 0.08  # share of those who withdrew it afterwards
TABLES = (
    "patient",
    "episode",
    "diagnosis",
    "consent",
    "screening",
    "visit",
    "screening_confirmation",
    "needling_session",
    "needle_entry",
    "measurement",
    "adverse_event",
)


@dataclass
class RegistryResult:
    clinic_id: int
    patients: int
    sessions: int
    rows: dict[str, int]


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _next_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.scalar(select(func.coalesce(func.max(_table(t).c.id), 0))) or 0) + 1
            for t in TABLES
        }


def _registry_clinic(engine: Engine) -> int:
    with open_session(clinic_id=None, engine=engine) as s:
        clinic_id = s.scalar(select(Clinic.id).where(Clinic.name == REGISTRY_CLINIC))
        if clinic_id is None:
            from triggerpoint.accounts.service import create_clinic

            clinic_id = create_clinic(s, name=REGISTRY_CLINIC, actor=Actor.system("registry")).id
        s.commit()
    return int(clinic_id)


class _Batch:
    """Rows for one batch of patients, as lists of dicts per table, with explicit ids."""

    def __init__(self, ids: dict[str, int]) -> None:
        self.ids = ids
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}

    def add(self, table: str, **values: Any) -> int:
        row_id = self.ids[table]
        self.ids[table] += 1
        self.rows[table].append({"id": row_id, **values})
        return row_id


def _ae_probabilities() -> tuple[list[str], np.ndarray]:
    brady = next(s for s in published() if s["id"] == "brady_2014")
    kinds = list(brady["by_type"])
    return kinds, np.array([brady["by_type"][k] / 100 for k in kinds])


def _patients(
    batch: _Batch,
    rng: np.random.Generator,
    *,
    clinic_id: int,
    n: int,
    atlas: Atlas,
    screening: dict[str, Any],
    now: datetime,
    consent_rng: np.random.Generator | None = None,
) -> None:
    """Draw n patients with VISITS_PER_PATIENT needling visits each, vectorised."""
    tps = atlas.trigger_points
    tp_idx = rng.integers(len(tps), size=n)
    starts = rng.integers(30, 3 * 365, size=n)
    days = 7.0 * np.arange(VISITS_PER_PATIENT) + rng.integers(0, 3, (n, VISITS_PER_PATIENT))
    outcome = course(days, seed=int(rng.integers(2**31)), dt=0.5)
    offset = np.clip(rng.normal(1.5, 1.0, n), 0, 4)
    noise = rng.normal(0, 0.6, (n, VISITS_PER_PATIENT, 2))
    extra = rng.random((n, VISITS_PER_PATIENT)) < 0.4  # a second trigger point needled
    extra_idx = rng.integers(len(tps), size=(n, VISITS_PER_PATIENT))
    kinds, probs = _ae_probabilities()
    ae_draw = rng.random((n, VISITS_PER_PATIENT, len(kinds))) < probs
    ages = rng.integers(18, 85, size=n)
    tenant = {"clinic_id": clinic_id}
    crng = consent_rng or np.random.default_rng(0)
    research = crng.random(n) < RESEARCH_CONSENT
    withdrawn = research & (crng.random(n) < RESEARCH_WITHDRAWN)
    for i in range(n):
        # Dated backwards from a course that ended at least 30 days ago: nothing in the
        # registry lies after the moment it was generated.
        start = now - timedelta(days=int(starts[i]) + float(days[i].max()) + 1)
        pid = batch.add(
            "patient",
            **tenant,
            version=1,
            given_name="Registry",
            family_name=f"Patient {batch.ids['patient']}",
            search_name=f"patient {batch.ids['patient']} registry",
            date_of_birth=date(now.year - int(ages[i]), 1 + i % 12, 1 + i % 28),
            sex="female" if i % 5 < 3 else "male",
            created_at=start,
            updated_at=start,
        )
        tp = tps[int(tp_idx[i])]
        eid = batch.add(
            "episode",
            **tenant,
            version=1,
            patient_id=pid,
            complaint=f"Pain, {tp.muscle.group.replace('_', ' ')} region",
            status="open",
            created_at=start,
        )
        batch.add("diagnosis", **tenant, episode_id=eid, system="ICD-10-CM", code="M79.18")
        cid = batch.add(
            "consent",
            **tenant,
            version=1,
            patient_id=pid,
            kind="dry_needling",
            risks_disclosed=["bruising", "bleeding", "pain_during", "post_needling_soreness"],
            signed_by="Registry patient",
            signer_relation="self",
            signed_at=start,
            status="active",
            withdrawn_at=None,  # every consent row carries the same columns (executemany)
        )
        if research[i]:
            _research_consent(batch, tenant, pid, start, days[i], withdrawn=bool(withdrawn[i]))
        sid = batch.add(
            "screening", **tenant, patient_id=pid, episode_id=eid, screened_at=start, **screening
        )
        for v in range(VISITS_PER_PATIENT):
            at = start + timedelta(days=float(days[i, v]))
            _visit(batch, tenant, i, v, at, pid, eid, sid, cid, tp, outcome, offset, noise)
            if extra[i, v]:
                _entry(
                    batch,
                    tenant,
                    batch.ids["needling_session"] - 1,
                    2,
                    tps[int(extra_idx[i, v])],
                    1,
                )
            for k in np.nonzero(ae_draw[i, v])[0]:
                batch.add(
                    "adverse_event",
                    **tenant,
                    session_id=batch.ids["needling_session"] - 1,
                    patient_id=pid,
                    type=kinds[int(k)],
                    severity="mild",
                    action_taken="Reassured.",
                    reported_at=at,
                )


def _research_consent(
    batch: _Batch,
    tenant: dict[str, int],
    pid: int,
    start: datetime,
    days: np.ndarray,
    *,
    withdrawn: bool,
) -> None:
    """A research consent signed at the first visit; a withdrawn one after the last visit."""
    batch.add(
        "consent",
        **tenant,
        version=2 if withdrawn else 1,
        patient_id=pid,
        kind=RESEARCH,
        risks_disclosed=[],
        signed_by="Registry patient",
        signer_relation="self",
        signed_at=start,
        status="withdrawn" if withdrawn else "active",
        withdrawn_at=start + timedelta(days=float(days.max()), hours=1) if withdrawn else None,
    )


def _visit(
    batch: _Batch,
    tenant: dict[str, int],
    i: int,
    v: int,
    at: datetime,
    pid: int,
    eid: int,
    sid: int,
    cid: int,
    tp: Any,
    outcome: Any,
    offset: np.ndarray,
    noise: np.ndarray,
) -> None:
    vid = batch.add(
        "visit", **tenant, version=1, patient_id=pid, episode_id=eid, visit_at=at, created_at=at
    )
    batch.add("screening_confirmation", **tenant, visit_id=vid, screening_id=sid, confirmed_at=at)
    nid = batch.add(
        "needling_session",
        **tenant,
        version=1,
        patient_id=pid,
        visit_id=vid,
        screening_id=sid,
        consent_id=cid,
        opened_at=at,
        needles_out=1,
        status="signed",
        signed_at=at + timedelta(minutes=40),
    )
    _entry(batch, tenant, nid, 1, tp, int(outcome.twitches[i, v]))
    for j, (timing, pain) in enumerate(
        (("pre", outcome.pre_pain[i, v]), ("post", outcome.post_pain[i, v]))
    ):
        nprs = int(np.clip(round(float(pain) + offset[i] + noise[i, v, j]), 0, 10))
        batch.add(
            "measurement",
            **tenant,
            patient_id=pid,
            visit_id=vid,
            instrument="nprs",
            context="",
            timing=timing,
            data={"current": nprs},
            score=float(nprs),
            complete=True,
            answered=1,
            measured_at=at + timedelta(minutes=5 + 40 * j),
        )


# Registry patients are screened with every answer 'no' and carry no height or weight, so
# each is checked as unrestricted with an unknown BMI (the thorax guard's assumption).
_SAFETY = PatientSafety()


def _entry(
    batch: _Batch, tenant: dict[str, int], nid: int, seq: int, tp: Any, twitches: int
) -> None:
    batch.add(
        "needle_entry",
        **tenant,
        session_id=nid,
        created_at=datetime.now(UTC),
        **needle_entry(tp, seq=seq, twitches=twitches, patient=_SAFETY),
    )
    if seq > 1:
        batch.rows["needling_session"][-1]["needles_out"] = seq


def _write(engine: Engine, batch: _Batch) -> None:
    """One transaction per batch: a crash leaves only whole patients (and their summaries)."""
    # Core inserts bypass the ORM flush hooks: `new_rows` allows them and summarises the rows.
    with engine.begin() as conn:
        with tallies.new_rows(conn, batch.rows):
            for t in TABLES:
                if batch.rows[t]:
                    conn.execute(insert(_table(t)), batch.rows[t])
        # ... and the research data version, which the ORM commit hook would have bumped.
        data_version.bump(conn, {row["clinic_id"] for row in batch.rows["needling_session"]})


def _sync_sequences(engine: Engine) -> None:
    """Explicit ids bypass PostgreSQL's sequences; move them past what we wrote."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for t in TABLES:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {t}))"
                )
            )


def _chunks(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size


def generate(
    engine: Engine,
    *,
    sessions: int,
    seed: int = 20261124,
    batch_patients: int = 2000,
    progress: Callable[[int], None] | None = None,
    atlas: Atlas | None = None,
) -> RegistryResult:
    """Add about `sessions` signed needling sessions (whole patients of 5 visits) to the registry."""
    atlas = atlas or load_atlas()
    rng = np.random.default_rng(seed)
    clinic_id = _registry_clinic(engine)
    answers = {r.id: Answer(present=False) for r in rulebook().rules}
    result = evaluate(answers)
    screening = {
        "answers": {k: a.model_dump() for k, a in answers.items()},
        "outcome": result.outcome.value,
        "reasons": result.reasons,
        "restrictions": [r.model_dump() for r in result.restrictions],
        "rules_version": result.rules_version,
    }
    ids = _next_ids(engine)
    first = dict(ids)
    consent_rng = np.random.default_rng((seed, 17))  # its own stream: the rest is unchanged
    patients = -(-sessions // VISITS_PER_PATIENT)
    now = datetime.now(UTC)
    for n in _chunks(patients, batch_patients):
        batch = _Batch(ids)
        _patients(
            batch,
            rng,
            clinic_id=clinic_id,
            n=n,
            atlas=atlas,
            screening=screening,
            now=now,
            consent_rng=consent_rng,
        )
        _write(engine, batch)
        ids = batch.ids
        if progress:
            progress(n * VISITS_PER_PATIENT)
    _sync_sequences(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        record(
            s,
            actor=Actor.system("registry"),
            action="registry_generate",
            entity="clinic",
            entity_id=clinic_id,
            detail={"patients": patients, "sessions": patients * VISITS_PER_PATIENT, "seed": seed},
        )
        s.commit()
    rows = {t: ids[t] - first[t] for t in TABLES}
    return RegistryResult(clinic_id, patients, rows["needling_session"], rows)
