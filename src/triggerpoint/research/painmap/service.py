"""Pain-map analytics for a cohort: where it hurts, how much of the body, and how stable.

Every number is read from the derived rows kept at write time (`painmap.derived`: one
`painmap_drawing` row per drawing, the clinic's `painmap_tally` totals), never by loading
every mark into Python. The unfiltered heat map is one read of the totals; the extent pairs
and the test-retest pairs are filtered reads of stored per-drawing facts whenever the filter
keeps whole episodes (no date range) or an unbroken run of each patient's drawings (no
complaint or ICD-10 filter); otherwise small window queries over the cohort's derived rows
compute them. The cohort is always the principal's clinic and only the patients whose
research consent is in force (`research.consent`, stored per row as `research`); each query
also filters by clinic explicitly so the clinic-leading indexes apply.

Definitions (docs/research.md, "Pain maps"):

* Heat map: the fraction of the cohort's patients with pain in a region. A patient counts once
  per region if any of their drawings in the range marks it (view "all"), or if the first
  drawing of any of their episodes marks it (view "first", the baseline). The denominator is
  every patient with at least one drawing counted, "no pain" drawings included.
* Pain extent: `reports.extent` (painted share of all chart area, both views, inset hands and
  feet at figure scale); here summed in SQL from that module's own region areas. "Before" is
  the episode's first drawing, "after" its last drawing made after the episode's first signed
  needling session.
* Test-retest: consecutive complete drawings of one patient at most `window_days` apart with
  no needling session opened between them, compared as sets of marked regions by Jaccard
  (1901) and Dice (1945). Two empty sets (both drawings "no pain") agree perfectly: 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    distinct,
    exists,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased

from triggerpoint.accounts.service import Principal
from triggerpoint.atlas.loader import MuscleNotFoundError, load_atlas
from triggerpoint.audit.service import record
from triggerpoint.bodychart.catalog import load_catalog
from triggerpoint.errors import InvalidInput
from triggerpoint.records.models import Diagnosis, Episode, PainMark
from triggerpoint.research.consent import consented_patient_ids
from triggerpoint.research.painmap.models import PainmapDrawing, PainmapTally
from triggerpoint.research.painmap.schemas import (
    AgreementStats,
    CohortFilter,
    ExtentStats,
    HeatMap,
    PainMapOut,
    RegionShare,
    Summary,
    View,
)
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession

AUDIT_ACTION = "research-read"
AUDIT_ENTITY = "research_painmap"


# --- the cohort ----------------------------------------------------------------------------


def muscle_id(name: str | None) -> str | None:
    """The atlas id of the filter's muscle (id, name or synonym); a 422 naming `muscle`."""
    if not name:
        return None
    try:
        return load_atlas().find_muscle(name).id
    except MuscleNotFoundError as exc:
        raise InvalidInput("muscle", exc.message, suggestions=exc.suggestions) from None


def _day_start(day: Any) -> datetime:
    return datetime.combine(day, time(), UTC)


def _episodes(clinic_id: int, cohort: CohortFilter) -> Select[Any]:
    """Episodes whose complaint contains the text and that carry a diagnosis with the code."""
    q = select(Episode.id).where(Episode.clinic_id == clinic_id)
    if cohort.complaint:
        text = cohort.complaint.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(Episode.complaint.ilike(f"%{text}%", escape="\\"))
    if cohort.icd10:
        q = q.where(
            exists().where(
                Diagnosis.episode_id == Episode.id,
                Diagnosis.clinic_id == clinic_id,
                Diagnosis.code.like(f"{cohort.icd10}%"),
            )
        )
    return q


def _treated(clinic_id: int, muscle: str) -> Select[Any]:
    """Patients with a needle entry in the muscle (any side, any session of theirs)."""
    return (
        select(NeedlingSession.patient_id)
        .join(NeedleEntry, NeedleEntry.needling_id == NeedlingSession.id)
        .where(NeedleEntry.muscle_id == muscle, NeedlingSession.clinic_id == clinic_id)
    )


def cohort_drawings(clinic_id: int, cohort: CohortFilter, muscle: str | None) -> Subquery:
    """The drawings the analyses read, from the derived `painmap_drawing` rows: (id,
    patient_id, episode_id, drawn_at, complete, regions, extent, first, after_signed)."""
    p = PainmapDrawing
    q = select(
        p.drawing_id.label("id"),
        p.patient_id,
        p.episode_id,
        p.drawn_at,
        p.complete,
        p.regions,
        p.extent,
        p.first,
        p.after_signed,
    ).where(*_cohort_where(clinic_id, cohort, muscle))
    return q.subquery("cohort")


def _cohort_where(clinic_id: int, cohort: CohortFilter, muscle: str | None) -> list[Any]:
    """The filter as conditions on `painmap_drawing`: clinic, research consent, the rest."""
    p = PainmapDrawing
    where: list[Any] = [p.clinic_id == clinic_id, p.research.is_(True)]
    if cohort.date_from is not None:
        where.append(p.drawn_at >= _day_start(cohort.date_from))
    if cohort.date_to is not None:
        where.append(p.drawn_at < _day_start(cohort.date_to + timedelta(days=1)))
    if cohort.complaint or cohort.icd10:
        where.append(p.episode_id.in_(_episodes(clinic_id, cohort)))
    if muscle is not None:
        where.append(p.patient_id.in_(_treated(clinic_id, muscle)))
    return where


def _dated(cohort: CohortFilter) -> bool:
    return cohort.date_from is not None or cohort.date_to is not None


def _whole(cohort: CohortFilter, muscle: str | None) -> bool:
    """No filter at all: the clinic's heat-map totals answer."""
    return not (_dated(cohort) or cohort.complaint or cohort.icd10 or muscle)


def consented_count(session: Session, *, clinic_id: int) -> int:
    sub = consented_patient_ids(clinic_id=clinic_id).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


# --- heat map ------------------------------------------------------------------------------


def _first_of_episode(c: Subquery) -> Subquery:
    """Each episode's first drawing in the cohort (drawings outside an episode have no
    baseline). Without a date filter the cohort holds whole episodes, so the stored `first`
    flag says it; a date range can cut an episode's start, so then a window ranks them."""
    rank = func.row_number().over(partition_by=c.c.episode_id, order_by=(c.c.drawn_at, c.c.id))
    ranked = (
        select(c.c.id, c.c.patient_id, rank.label("rn"))
        .where(c.c.episode_id.is_not(None))
        .subquery("ranked")
    )
    return select(ranked.c.id, ranked.c.patient_id).where(ranked.c.rn == 1).subquery("first")


def _stored_first(c: Subquery) -> Subquery:
    return select(c.c.id, c.c.patient_id).where(c.c.first.is_(True)).subquery("first")


def heat_map(
    session: Session,
    *,
    clinic_id: int,
    drawings: Subquery,
    view: View,
    dated: bool = True,
) -> HeatMap:
    """Patients per region, GROUP BY region over the distinct (patient, region) pairs."""
    if view == "first":
        counted = _first_of_episode(drawings) if dated else _stored_first(drawings)
    else:
        counted = drawings
    n_patients, n_drawings = session.execute(
        select(func.count(distinct(counted.c.patient_id)), func.count()).select_from(counted)
    ).one()
    pairs = (
        select(PainMark.region_id, counted.c.patient_id)
        .join(counted, PainMark.drawing_id == counted.c.id)
        .where(PainMark.clinic_id == clinic_id)
        .distinct()
        .subquery("pairs")
    )
    rows = session.execute(
        select(pairs.c.region_id, func.count().label("n"))
        .group_by(pairs.c.region_id)
        .order_by(func.count().desc(), pairs.c.region_id)
    ).all()
    return HeatMap(
        view=view,
        patients=int(n_patients or 0),
        drawings=int(n_drawings or 0),
        regions=[_share(r, int(k), int(n_patients)) for r, k in rows if n_patients],
    )


def tallied_heat_map(session: Session, *, clinic_id: int, view: View) -> HeatMap:
    """The unfiltered heat map from the clinic's totals (`painmap_tally`): one small read."""
    t = PainmapTally
    rows = session.execute(
        select(t.region_id, t.patients, t.drawings)
        .where(t.clinic_id == clinic_id, t.view == view, t.patients > 0)
        .order_by(t.patients.desc(), t.region_id)
    ).all()
    total = next(((p, d) for r, p, d in rows if r == ""), (0, 0))
    return HeatMap(
        view=view,
        patients=int(total[0]),
        drawings=int(total[1]),
        regions=[_share(r, int(p), int(total[0])) for r, p, _ in rows if r and total[0]],
    )


def _share(region_id: str, patients: int, total: int) -> RegionShare:
    region = load_catalog().regions.get(region_id)
    return RegionShare(
        region_id=region_id,
        name=region.name if region else region_id,
        view=region.view if region else "",
        patients=patients,
        fraction=patients / total,
    )


# --- pain extent before and after ----------------------------------------------------------


def stored_extent_pairs(
    session: Session, *, clinic_id: int, cohort: CohortFilter, muscle: str | None
) -> list[tuple[float, float]]:
    """(before, after) per episode from the stored `followup` rows, which carry the baseline's
    extent: right whenever the cohort holds whole episodes (no date filter)."""
    p = PainmapDrawing
    rows = session.execute(
        select(p.before_extent, p.extent).where(
            *_cohort_where(clinic_id, cohort, muscle), p.followup.is_(True)
        )
    ).all()
    return [(round(float(b or 0.0), 1), round(float(a), 1)) for b, a in rows]  # as pain_extent


def extent_pairs(
    session: Session, *, clinic_id: int, drawings: Subquery
) -> list[tuple[float, float]]:
    """(before, after) pain extent per episode: first drawing, last drawing after needling,
    among the cohort's drawings (a date range may cut an episode).

    One window pass ranks each episode's drawings from the start and, among those after
    the first signed session (the stored `after_signed`), from the end; one GROUP BY
    episode picks the two."""
    c = drawings
    timed = select(c.c.id, c.c.episode_id, c.c.drawn_at, c.c.extent, c.c.after_signed).where(
        c.c.episode_id.is_not(None)
    )
    t = timed.subquery("timed")
    after = case((t.c.after_signed.is_(True), 1), else_=0)
    ranked = select(
        t.c.id,
        t.c.episode_id,
        t.c.extent,
        after.label("after"),
        func.row_number()
        .over(partition_by=t.c.episode_id, order_by=(t.c.drawn_at, t.c.id))
        .label("rf"),
        func.row_number()
        .over(
            partition_by=(t.c.episode_id, after),
            order_by=(t.c.drawn_at.desc(), t.c.id.desc()),
        )
        .label("rl"),
    ).subquery("ranked")
    last = and_(ranked.c.rl == 1, ranked.c.after == 1)
    b = func.max(case((ranked.c.rf == 1, ranked.c.id)))
    a = func.max(case((last, ranked.c.id)))
    bx = func.max(case((ranked.c.rf == 1, ranked.c.extent)))
    ax = func.max(case((last, ranked.c.extent)))
    rows = session.execute(
        select(bx, ax).group_by(ranked.c.episode_id).having(a.is_not(None), b != a)
    ).all()
    return [(round(float(b), 1), round(float(a), 1)) for b, a in rows]  # as pain_extent


def extent_stats(pairs: Sequence[tuple[float, float]]) -> ExtentStats:
    before = [b for b, _ in pairs]
    after = [a for _, a in pairs]
    return ExtentStats(
        pairs=len(pairs),
        before=summarise(before),
        after=summarise(after),
        change=summarise([a - b for b, a in pairs]),
    )


# --- test-retest agreement -----------------------------------------------------------------


def _days(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Days between two stored times, on either engine."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def stored_retest_pairs(
    session: Session, *, clinic_id: int, cohort: CohortFilter, muscle: str | None
) -> list[tuple[int, int, int]]:
    """(|A|, |B|, |A and B|) from the stored pair of each drawing and the one before it:
    right whenever the cohort holds each patient's drawings in one unbroken run of time (no
    complaint or ICD-10 filter; a date range keeps the pairs with both ends inside)."""
    p = PainmapDrawing
    where = [*_cohort_where(clinic_id, cohort, muscle), p.retest.is_(True)]
    where.append(p.gap_days <= cohort.window_days)
    if cohort.date_from is not None:
        where.append(p.prev_at >= _day_start(cohort.date_from))
    rows = session.execute(select(p.regions, p.prev_regions, p.shared).where(*where)).all()
    return [(int(a), int(b or 0), int(i or 0)) for a, b, i in rows]  # set on every pair


def retest_pairs(
    session: Session, *, clinic_id: int, drawings: Subquery, window_days: int
) -> list[tuple[int, int, int]]:
    """(|A|, |B|, |A and B|) for every pair of consecutive complete drawings of a patient
    at most `window_days` apart with no needling session opened between them."""
    c = drawings
    order = (c.c.drawn_at, c.c.id)
    lagged = select(
        c.c.id,
        c.c.patient_id,
        c.c.drawn_at,
        c.c.complete,
        c.c.regions,
        func.lag(c.c.id).over(partition_by=c.c.patient_id, order_by=order).label("prev_id"),
        func.lag(c.c.drawn_at).over(partition_by=c.c.patient_id, order_by=order).label("prev_at"),
        func.lag(c.c.complete).over(partition_by=c.c.patient_id, order_by=order).label("prev_ok"),
        func.lag(c.c.regions).over(partition_by=c.c.patient_id, order_by=order).label("prev_n"),
    ).subquery("lagged")
    ns = NeedlingSession
    needled_between = exists().where(
        ns.clinic_id == clinic_id,
        ns.patient_id == lagged.c.patient_id,
        ns.opened_at >= lagged.c.prev_at,
        ns.opened_at < lagged.c.drawn_at,
    )
    pairs = (
        select(
            lagged.c.id.label("a"),
            lagged.c.prev_id.label("b"),
            lagged.c.regions.label("na"),
            lagged.c.prev_n.label("nb"),
        )
        .where(
            lagged.c.prev_id.is_not(None),
            lagged.c.complete.is_(True),
            lagged.c.prev_ok.is_(True),
            _days(session, lagged.c.drawn_at, lagged.c.prev_at) <= window_days,
            ~needled_between,
        )
        .subquery("retest")
    )
    m1, m2 = aliased(PainMark), aliased(PainMark)
    both = (
        select(func.count())
        .select_from(m1)
        .join(m2, and_(m2.region_id == m1.region_id, m2.drawing_id == pairs.c.b))
        .where(m1.drawing_id == pairs.c.a)
        .scalar_subquery()
    )
    rows = session.execute(select(pairs.c.na, pairs.c.nb, both).select_from(pairs)).all()
    return [(int(a), int(b), int(i)) for a, b, i in rows]


def jaccard(a: int, b: int, both: int) -> float:
    """|A and B| / |A or B| from the set sizes; two empty sets agree perfectly (1)."""
    union = a + b - both
    return 1.0 if union == 0 else both / union


def dice(a: int, b: int, both: int) -> float:
    """2 |A and B| / (|A| + |B|) from the set sizes; two empty sets agree perfectly (1)."""
    return 1.0 if a + b == 0 else 2 * both / (a + b)


def agreement_stats(pairs: Sequence[tuple[int, int, int]], window_days: int) -> AgreementStats:
    return AgreementStats(
        window_days=window_days,
        pairs=len(pairs),
        both_empty=sum(1 for a, b, _ in pairs if a == 0 and b == 0),
        jaccard=summarise([jaccard(*p) for p in pairs]),
        dice=summarise([dice(*p) for p in pairs]),
    )


# --- summaries -----------------------------------------------------------------------------


def summarise(values: Sequence[float]) -> Summary:
    """n, mean, median and quartiles (linear interpolation: Hyndman & Fan type 7, numpy's
    default), rounded to 3 decimals."""
    if not values:
        return Summary(n=0)
    x = np.asarray(values, dtype=float)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return Summary(
        n=len(x),
        mean=round(float(x.mean()), 3),
        median=round(float(med), 3),
        q1=round(float(q1), 3),
        q3=round(float(q3), 3),
        minimum=round(float(x.min()), 3),
        maximum=round(float(x.max()), 3),
    )


# --- what the routes call ------------------------------------------------------------------

PARTS = frozenset({"heat_map", "extent", "agreement"})


def _no_jit(session: Session) -> None:
    """PostgreSQL: no JIT compilation for this transaction's queries. The planner's cost
    estimate for the correlated look-ups passes `jit_above_cost`, and compiling then took
    3.7 s of a 4.2 s extent query on the 20,000-session registry (EXPLAIN ANALYZE, bench/
    research.py) whose plan runs in under 0.5 s interpreted. `SET LOCAL` ends with the
    request's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def analyse(
    session: Session,
    *,
    principal: Principal,
    cohort: CohortFilter,
    parts: frozenset[str] = PARTS,
) -> dict[str, Any]:
    """The requested analyses of the cohort, audited once as a research read.

    Returns {"consented_patients": n, "heat_map": HeatMap, "extent": ExtentStats,
    "agreement": AgreementStats, "values": {...}} with only the parts asked for; `values`
    holds the per-episode extents and per-pair scores the plots draw.
    """
    principal.require("clinical:read")
    clinic_id = principal.clinic_id
    _no_jit(session)
    muscle = muscle_id(cohort.muscle)
    dated = _dated(cohort)
    drawings = cohort_drawings(clinic_id, cohort, muscle)
    out: dict[str, Any] = {
        "consented_patients": consented_count(session, clinic_id=clinic_id),
        "values": {},
    }
    if "heat_map" in parts:
        if _whole(cohort, muscle):
            out["heat_map"] = tallied_heat_map(session, clinic_id=clinic_id, view=cohort.view)
        else:
            out["heat_map"] = heat_map(
                session, clinic_id=clinic_id, drawings=drawings, view=cohort.view, dated=dated
            )
    if "extent" in parts:
        if dated:
            pairs = extent_pairs(session, clinic_id=clinic_id, drawings=drawings)
        else:
            pairs = stored_extent_pairs(session, clinic_id=clinic_id, cohort=cohort, muscle=muscle)
        out["extent"] = extent_stats(pairs)
        out["values"]["extent"] = pairs
    if "agreement" in parts:
        if cohort.complaint or cohort.icd10:
            sets = retest_pairs(
                session, clinic_id=clinic_id, drawings=drawings, window_days=cohort.window_days
            )
        else:
            sets = stored_retest_pairs(session, clinic_id=clinic_id, cohort=cohort, muscle=muscle)
        out["agreement"] = agreement_stats(sets, cohort.window_days)
        out["values"]["jaccard"] = [jaccard(*p) for p in sets]
        out["values"]["dice"] = [dice(*p) for p in sets]
    record(
        session,
        actor=principal.actor,
        action=AUDIT_ACTION,
        entity=AUDIT_ENTITY,
        detail={
            "filter": cohort.model_dump(mode="json", exclude_none=True),
            "parts": sorted(parts),
        },
    )
    return out


def painmap(session: Session, *, principal: Principal, cohort: CohortFilter) -> PainMapOut:
    """Everything the JSON API answers: heat map, extent and test-retest statistics."""
    data = analyse(session, principal=principal, cohort=cohort)
    return PainMapOut(
        consented_patients=data["consented_patients"],
        heat_map=data["heat_map"],
        extent=data["extent"],
        agreement=data["agreement"],
    )
