"""Pain-map analytics for a cohort: where it hurts, how much of the body, and how stable.

Every number is computed by aggregate SQL over the cohort's drawings (GROUP BY region for the
heat map, one row per episode or per drawing pair for the distributions), never by loading
every mark into Python. The cohort is always the principal's clinic and only the patients
whose research consent is in force (`research.consent`); each query also filters by clinic
explicitly so the clinic-leading indexes apply.

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
    Float,
    Select,
    Subquery,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased

from triggerpoint.accounts.service import Principal
from triggerpoint.atlas.loader import MuscleNotFoundError, load_atlas
from triggerpoint.audit.service import record
from triggerpoint.bodychart.catalog import load_catalog
from triggerpoint.errors import InvalidInput
from triggerpoint.records.models import Diagnosis, Episode, PainDrawing, PainMark, Visit
from triggerpoint.reports.extent import region_areas
from triggerpoint.research.consent import consented_patient_ids
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
    """The drawings the analyses read: (id, patient_id, episode_id, drawn_at, complete)."""
    d, v = PainDrawing, Visit
    q = (
        select(d.id, d.patient_id, v.episode_id, d.drawn_at, d.complete)
        .select_from(d)
        .outerjoin(v, v.id == d.visit_id)
        .where(
            d.clinic_id == clinic_id, d.patient_id.in_(consented_patient_ids(clinic_id=clinic_id))
        )
    )
    if cohort.date_from is not None:
        q = q.where(d.drawn_at >= _day_start(cohort.date_from))
    if cohort.date_to is not None:
        q = q.where(d.drawn_at < _day_start(cohort.date_to + timedelta(days=1)))
    if cohort.complaint or cohort.icd10:
        q = q.where(v.episode_id.in_(_episodes(clinic_id, cohort)))
    if muscle is not None:
        q = q.where(d.patient_id.in_(_treated(clinic_id, muscle)))
    return q.subquery("cohort")


def consented_count(session: Session, *, clinic_id: int) -> int:
    sub = consented_patient_ids(clinic_id=clinic_id).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


# --- heat map ------------------------------------------------------------------------------


def _first_of_episode(c: Subquery) -> Subquery:
    """Each episode's first drawing (drawings outside an episode have no baseline)."""
    rank = func.row_number().over(partition_by=c.c.episode_id, order_by=(c.c.drawn_at, c.c.id))
    ranked = (
        select(c.c.id, c.c.patient_id, rank.label("rn"))
        .where(c.c.episode_id.is_not(None))
        .subquery("ranked")
    )
    return select(ranked.c.id, ranked.c.patient_id).where(ranked.c.rn == 1).subquery("first")


def heat_map(session: Session, *, clinic_id: int, drawings: Subquery, view: View) -> HeatMap:
    """Patients per region, GROUP BY region over the distinct (patient, region) pairs."""
    counted = _first_of_episode(drawings) if view == "first" else drawings
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


def _area_of(region: Any) -> ColumnElement[float]:
    """A region's chart area (`reports.extent.region_areas`), as a SQL expression."""
    return case(region_areas(), value=region, else_=literal(0.0, Float))


def _extent_of(drawing_id: ColumnElement[int]) -> Any:
    """Pain extent (%) of one drawing: its regions' area over all chart area, in SQL."""
    total = sum(region_areas().values())
    painted = (
        select(func.coalesce(func.sum(_area_of(PainMark.region_id)), 0.0))
        .where(PainMark.drawing_id == drawing_id)
        .scalar_subquery()
    )
    return cast(painted, Float) * (100.0 / total)


def _first_signed(clinic_id: int) -> Subquery:
    """Each episode's first signed needling session (when it was opened), one GROUP BY."""
    ns = NeedlingSession
    return (
        select(Visit.episode_id, func.min(ns.opened_at).label("at"))
        .join(Visit, Visit.id == ns.visit_id)
        .where(ns.clinic_id == clinic_id, ns.status == "signed", Visit.episode_id.is_not(None))
        .group_by(Visit.episode_id)
        .subquery("first_signed")
    )


def extent_pairs(
    session: Session, *, clinic_id: int, drawings: Subquery
) -> list[tuple[float, float]]:
    """(before, after) pain extent per episode: first drawing, last drawing after needling.

    One window pass ranks each episode's drawings from the start and, among those after
    the first signed session, from the end; one GROUP BY episode picks the two ids."""
    c = drawings
    signed = _first_signed(clinic_id)
    timed = (
        select(c.c.id, c.c.episode_id, c.c.drawn_at, signed.c.at.label("signed_at"))
        .select_from(c)
        .outerjoin(signed, signed.c.episode_id == c.c.episode_id)
        .where(c.c.episode_id.is_not(None))
        .subquery("timed")
    )
    after = case((timed.c.drawn_at > timed.c.signed_at, 1), else_=0)
    ranked = select(
        timed.c.id,
        timed.c.episode_id,
        after.label("after"),
        func.row_number()
        .over(partition_by=timed.c.episode_id, order_by=(timed.c.drawn_at, timed.c.id))
        .label("rf"),
        func.row_number()
        .over(
            partition_by=(timed.c.episode_id, after),
            order_by=(timed.c.drawn_at.desc(), timed.c.id.desc()),
        )
        .label("rl"),
    ).subquery("ranked")
    b = func.max(case((ranked.c.rf == 1, ranked.c.id)))
    a = func.max(case((and_(ranked.c.rl == 1, ranked.c.after == 1), ranked.c.id)))
    pairs = (
        select(b.label("b"), a.label("a"))
        .group_by(ranked.c.episode_id)
        .having(a.is_not(None), b != a)
        .subquery("extent_pairs")
    )
    rows = session.execute(
        select(_extent_of(pairs.c.b), _extent_of(pairs.c.a)).select_from(pairs)
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
        func.lag(c.c.id).over(partition_by=c.c.patient_id, order_by=order).label("prev_id"),
        func.lag(c.c.drawn_at).over(partition_by=c.c.patient_id, order_by=order).label("prev_at"),
        func.lag(c.c.complete).over(partition_by=c.c.patient_id, order_by=order).label("prev_ok"),
    ).subquery("lagged")
    ns = NeedlingSession
    needled_between = exists().where(
        ns.clinic_id == clinic_id,
        ns.patient_id == lagged.c.patient_id,
        ns.opened_at >= lagged.c.prev_at,
        ns.opened_at < lagged.c.drawn_at,
    )
    pairs = (
        select(lagged.c.id.label("a"), lagged.c.prev_id.label("b"))
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

    def size(drawing: Any) -> Any:
        return select(func.count()).where(PainMark.drawing_id == drawing).scalar_subquery()

    both = (
        select(func.count())
        .select_from(m1)
        .join(m2, and_(m2.region_id == m1.region_id, m2.drawing_id == pairs.c.b))
        .where(m1.drawing_id == pairs.c.a)
        .scalar_subquery()
    )
    rows = session.execute(select(size(pairs.c.a), size(pairs.c.b), both).select_from(pairs)).all()
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
    drawings = cohort_drawings(clinic_id, cohort, muscle_id(cohort.muscle))
    out: dict[str, Any] = {
        "consented_patients": consented_count(session, clinic_id=clinic_id),
        "values": {},
    }
    if "heat_map" in parts:
        out["heat_map"] = heat_map(
            session, clinic_id=clinic_id, drawings=drawings, view=cohort.view
        )
    if "extent" in parts:
        pairs = extent_pairs(session, clinic_id=clinic_id, drawings=drawings)
        out["extent"] = extent_stats(pairs)
        out["values"]["extent"] = pairs
    if "agreement" in parts:
        sets = retest_pairs(
            session, clinic_id=clinic_id, drawings=drawings, window_days=cohort.window_days
        )
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
