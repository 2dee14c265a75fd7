""" "Does the twitch matter?": change in pain against local twitch responses, per session.

One row per signed needling session of a patient whose research consent is in force
(`research.consent.consented_patient_ids`), built by aggregate SQL:

* **twitches**: the sum of `twitch_count` over the session's needle entries. The column is
  required (0 when no twitch was seen); a session with an entry whose count is missing
  (NULL, possible only in rows written around the app) is left out rather than read as zero.
  A session with no needle entries is left out (nothing was needled).
* **needles**: the number of needle entries.
* **group**: the analysis group (`groups.py`) of the session's first needle (lowest `seq`).
* **baseline**: the measure before needling at that visit (mean over its sites for PPT).
* outcomes, each per site and then averaged over the visit's sites:
  (a) **immediate**: after needling minus before needling, same visit (`series.around_needling`);
  (b) **follow-up**: before needling at the next visit where the same measure (same site) was
      taken, in the same episode, minus before needling at this one, counted only when the
      next visit is 3 to 21 days later (a week's interval give or take; longer gaps mix in
      the natural course, shorter ones post-needling soreness).

Each outcome is fitted by a linear mixed model (statsmodels MixedLM, REML) with a random
intercept per patient: change ~ twitches + baseline + needles + C(group). Covariates with no
variation in the data are dropped and named; convergence warnings are reported as they came.
Fewer than 10 patients or 20 sessions: no fit, a message says why. At research scale the fit
reads a pseudo-random sample of patients (a multiplicative hash of the id, so the same
patients each time) of at most MAX_PATIENTS, and says so: MixedLM's time grows with the
number of patients (about 3 ms each per fit here), and a page must answer in under 2 s.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from sqlalchemy import BigInteger, ColumnElement, Select, and_, func, literal, select
from sqlalchemy.orm import Session, aliased

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import record
from triggerpoint.errors import InvalidInput
from triggerpoint.outcomes import series
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Consent, Visit
from triggerpoint.records.service import RESEARCH
from triggerpoint.research.consent import consented_patient_ids
from triggerpoint.research.ltr import groups
from triggerpoint.research.ltr.schemas import (
    Coefficient,
    LtrReport,
    OutcomeFit,
    OutcomeName,
    Sample,
)
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession

INSTRUMENTS = {"nprs": "NPRS points (0-10)", "ppt": "kg/cm²"}
OUTCOMES: dict[OutcomeName, str] = {
    "immediate": "Immediate change (after minus before needling, same visit)",
    "follow_up": "Follow-up change (before the next visit minus before this one)",
}
FOLLOW_UP_DAYS = (3, 21)
MIN_PATIENTS = 10
MIN_SESSIONS = 20
MAX_PATIENTS = 1000
# Powell first: when patients barely differ (the random-intercept variance at its boundary,
# typical of immediate change) statsmodels' default BFGS fails to converge on these data and
# L-BFGS meets a singular matrix; Powell converges and warns of the boundary. BFGS next.
FIT_METHODS = ["powell", "bfgs"]
FORMULA = "change ~ twitches + baseline + needles + C(group), random intercept per patient"
_HASH = 2654435761  # Knuth's multiplicative hash: a fixed, outcome-blind order of patients
_HASH_MOD = 2**32

MISSING_TWITCHES = (
    "Twitches are summed over the session's needle entries. Every entry records a count (0 "
    "when none was seen); a session with an entry whose count is missing is left out, not "
    "read as zero, and sessions with no needle entries are left out."
)
CAVEAT = (
    "This is an association in routine care, not proof that twitches cause relief. "
    "Clinicians tend to keep needling a point until it twitches, and more so in irritable, "
    "more painful points (confounding by indication); a twitch may also simply show that the "
    "needle reached the trigger point, so the count partly measures accurate placement. "
    "Adjusting for baseline, needle count and muscle group cannot remove these; only a "
    "randomised comparison can."
)
EVIDENCE = (
    "What trials say: in a meta-analysis of six trials in spinal pain, needling that drew "
    "twitches lowered pain more right after treatment (mean difference -2.03 points, 95% CI "
    "-3.77 to -0.29) but made no difference at short-term follow-up (-0.20, -1.46 to 1.06), "
    "nor in disability or pressure pain threshold; the evidence is graded low "
    "(Fernández-de-las-Peñas et al. 2021, Acupunct Med, doi:10.1177/09645284211056346). "
    "Perreault, Dunning & Butts 2017 (J Bodyw Mov Ther, doi:10.1016/j.jbmt.2017.03.008) "
    "question whether a twitch is needed for a good outcome. A twitch is common and harmless, "
    "and treatment can help without one."
)


def twitch_analysis(session: Session, *, principal: Principal, instrument: str) -> LtrReport:
    """The twitch analysis of the principal's clinic for one instrument (audited once)."""
    principal.require("clinical:read")
    if instrument not in INSTRUMENTS:
        raise InvalidInput("outcome", f"must be one of {', '.join(INSTRUMENTS)}")
    clinic_id = principal.clinic_id
    sample, fits = _cached_analysis(session, clinic_id, instrument)
    record(
        session,
        actor=principal.actor,
        action="research-read",
        entity="research_ltr",
        detail={
            "instrument": instrument,
            "patients": max(f.n_patients for f in fits),
            "sessions": sum(f.n_sessions for f in fits),
        },
    )
    return LtrReport(
        instrument=instrument,  # type: ignore[arg-type]  # checked against INSTRUMENTS above
        unit=INSTRUMENTS[instrument],
        sample=sample,
        fits=fits,
        formula=FORMULA,
        follow_up_window_days=FOLLOW_UP_DAYS,
        groups=groups.definitions(),
        missing_twitches=MISSING_TWITCHES,
        caveat=CAVEAT,
        evidence=EVIDENCE,
    )


# --- the cache ------------------------------------------------------------------------

CACHE_SIZE = 32
_CACHE: OrderedDict[tuple[Any, ...], tuple[Sample, list[OutcomeFit]]] = OrderedDict()
_CACHE_LOCK = threading.Lock()  # the app serves requests from a thread pool


def _fingerprint(session: Session, clinic_id: int, instrument: str) -> tuple[Any, ...]:
    """What the analysis reads, summarised: counts, newest ids, version and value sums of the
    clinic's sessions, needles, measurements of the instrument and research consents. Any
    write the analysis would see (a new or signed session, an edited score, a withdrawn
    consent) changes it."""
    ns, ne, m, c = NeedlingSession, NeedleEntry, Measurement, Consent
    parts = (
        select(func.count(), func.max(ns.id), func.sum(ns.version)).where(
            ns.clinic_id == clinic_id, ns.status == "signed"
        ),
        select(func.count(), func.max(ne.id), func.sum(ne.twitch_count)).where(
            ne.clinic_id == clinic_id
        ),
        select(func.count(), func.max(m.id), func.sum(m.score)).where(
            m.clinic_id == clinic_id, m.instrument == instrument
        ),
        select(func.count(), func.max(c.id), func.sum(c.version)).where(
            c.clinic_id == clinic_id, c.kind == RESEARCH, c.status == "active"
        ),
    )
    return tuple(tuple(session.execute(q).one()) for q in parts)


def _cached_analysis(
    session: Session, clinic_id: int, instrument: str
) -> tuple[Sample, list[OutcomeFit]]:
    """The fits, recomputed only when the data changed: MixedLM over a registry's sample takes
    seconds, a fingerprint milliseconds. The cache holds aggregate results only (no patient
    rows), per database, clinic and instrument."""
    bind = session.get_bind()
    key = (
        str(bind.engine.url),
        clinic_id,
        instrument,
        _fingerprint(session, clinic_id, instrument),
    )
    with _CACHE_LOCK:
        if (hit := _CACHE.get(key)) is not None:
            _CACHE.move_to_end(key)
            return hit
    sample, cohort = _cohort(session, clinic_id)
    fits = [
        fit_outcome(
            dataset(session, clinic_id=clinic_id, instrument=instrument, cohort=cohort, outcome=o),
            o,
        )
        for o in OUTCOMES
    ]
    with _CACHE_LOCK:
        _CACHE[key] = (sample, fits)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return sample, fits


# --- the cohort -----------------------------------------------------------------------


def _hashed(patient_id: ColumnElement[int]) -> ColumnElement[int]:
    return (patient_id * literal(_HASH, BigInteger)) % literal(_HASH_MOD, BigInteger)


def _cohort(session: Session, clinic_id: int) -> tuple[Sample, Select[Any]]:
    """The consented patients the fit reads: all of them, or a hashed sample of MAX_PATIENTS."""
    consented = consented_patient_ids(clinic_id=clinic_id).subquery("consented")
    ns = NeedlingSession
    n_consented = session.scalar(select(func.count()).select_from(consented)) or 0
    with_sessions = (
        select(ns.patient_id)
        .where(ns.clinic_id == clinic_id, ns.status == "signed")
        .where(ns.patient_id.in_(select(consented.c.patient_id)))
        .distinct()
        .subquery("treated")
    )
    n_treated = session.scalar(select(func.count()).select_from(with_sessions)) or 0
    ids = select(consented.c.patient_id)
    if n_treated <= MAX_PATIENTS:
        return Sample(
            consented_patients=n_consented,
            patients_with_sessions=n_treated,
            sampled=False,
            sample_patients=n_treated,
        ), ids
    threshold = int(_HASH_MOD * MAX_PATIENTS / n_treated)
    ids = ids.where(_hashed(consented.c.patient_id) < threshold)
    n_sample = session.scalar(
        select(func.count())
        .select_from(with_sessions)
        .where(_hashed(with_sessions.c.patient_id) < threshold)
    )
    return Sample(
        consented_patients=n_consented,
        patients_with_sessions=n_treated,
        sampled=True,
        sample_patients=int(n_sample or 0),
    ), ids


# --- the dataset ----------------------------------------------------------------------


def _sessions(clinic_id: int, cohort: Select[Any]) -> Any:
    """Per signed session: patient, visit, twitch sum, needle count, first needle's group."""
    ns, ne = NeedlingSession, NeedleEntry
    agg = (
        select(
            ns.id.label("sid"),
            ns.patient_id.label("patient_id"),
            ns.visit_id.label("visit_id"),
            func.sum(ne.twitch_count).label("twitches"),
            func.count(ne.id).label("needles"),
            func.min(ne.seq).label("first_seq"),
        )
        .join(ne, and_(ne.needling_id == ns.id, ne.clinic_id == clinic_id))
        .where(ns.clinic_id == clinic_id, ns.status == "signed", ns.patient_id.in_(cohort))
        .group_by(ns.id, ns.patient_id, ns.visit_id)
        .having(func.count(ne.twitch_count) == func.count(ne.id))
        .subquery("agg")
    )
    first = aliased(NeedleEntry)
    return (
        select(*agg.c, groups.group_sql(first.muscle_id).label("grp"))
        .join(first, and_(first.needling_id == agg.c.sid, first.seq == agg.c.first_seq))
        .subquery("sess")
    )


def _measured(clinic_id: int, instrument: str, cohort: Select[Any]) -> list[Any]:
    m = Measurement
    return [
        m.clinic_id == clinic_id,
        m.instrument == instrument,
        m.visit_id.is_not(None),
        m.patient_id.in_(cohort),
    ]


def _immediate(clinic_id: int, instrument: str, cohort: Select[Any]) -> Any:
    """Per visit: mean over sites of (after - before needling), and the mean before."""
    m = Measurement
    pp = (
        select(m.visit_id, m.context, m.timing, func.avg(m.score).label("value"))
        .where(*_measured(clinic_id, instrument, cohort), series.around_needling_sql(m))
        .group_by(m.visit_id, m.context, m.timing)
        .cte("pp")
    )
    pre, post = pp.alias("pre"), pp.alias("post")
    return (
        select(
            pre.c.visit_id.label("visit_id"),
            func.avg(post.c.value - pre.c.value).label("change"),
            func.avg(pre.c.value).label("baseline"),
        )
        .join(post, and_(post.c.visit_id == pre.c.visit_id, post.c.context == pre.c.context))
        .where(pre.c.timing == "pre", post.c.timing == "post")
        .group_by(pre.c.visit_id)
        .subquery("outcome")
    )


def _days_between(session: Session, a: Any, b: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", b - a) / 86400.0
    return func.julianday(b) - func.julianday(a)


def _follow_up(session: Session, clinic_id: int, instrument: str, cohort: Select[Any]) -> Any:
    """Per visit: mean over sites of (next visit's before-needling value - this one's)."""
    m, v = Measurement, Visit
    course = (
        select(m.patient_id, m.visit_id, m.context, func.avg(m.score).label("value"))
        .where(*_measured(clinic_id, instrument, cohort), series.in_course_sql(m))
        .group_by(m.patient_id, m.visit_id, m.context)
        .cte("course")
    )
    partition = (course.c.patient_id, v.episode_id, course.c.context)
    order = (v.visit_at, v.id)
    ordered = (
        select(
            course.c.visit_id,
            course.c.value,
            v.visit_at,
            func.lead(course.c.value)
            .over(partition_by=partition, order_by=order)
            .label("next_value"),
            func.lead(v.visit_at).over(partition_by=partition, order_by=order).label("next_at"),
        )
        .join(v, and_(v.id == course.c.visit_id, v.clinic_id == clinic_id))
        .subquery("ordered")
    )
    gap = _days_between(session, ordered.c.visit_at, ordered.c.next_at)
    lo, hi = FOLLOW_UP_DAYS
    return (
        select(
            ordered.c.visit_id.label("visit_id"),
            func.avg(ordered.c.next_value - ordered.c.value).label("change"),
            func.avg(ordered.c.value).label("baseline"),
        )
        .where(ordered.c.next_value.is_not(None), gap >= lo, gap <= hi)
        .group_by(ordered.c.visit_id)
        .subquery("outcome")
    )


COLUMNS = ["patient_id", "twitches", "needles", "group", "change", "baseline"]


def dataset(
    session: Session,
    *,
    clinic_id: int,
    instrument: str,
    outcome: OutcomeName,
    cohort: Select[Any] | None = None,
) -> pd.DataFrame:
    """One row per analysable session (COLUMNS), aggregated in SQL."""
    cohort = (
        cohort
        if cohort is not None
        else select(consented_patient_ids(clinic_id=clinic_id).subquery("c").c.patient_id)
    )
    sess = _sessions(clinic_id, cohort)
    out = (
        _immediate(clinic_id, instrument, cohort)
        if outcome == "immediate"
        else _follow_up(session, clinic_id, instrument, cohort)
    )
    rows = session.execute(
        select(
            sess.c.patient_id,
            sess.c.twitches,
            sess.c.needles,
            sess.c.grp,
            out.c.change,
            out.c.baseline,
        )
        .join(out, out.c.visit_id == sess.c.visit_id)
        .order_by(sess.c.sid)
    ).all()
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("twitches", "needles", "change", "baseline"):
        df[col] = df[col].astype(float)
    return df


# --- the model ------------------------------------------------------------------------


def _unfitted(outcome: OutcomeName, df: pd.DataFrame, message: str) -> OutcomeFit:
    return OutcomeFit(
        outcome=outcome,
        label=OUTCOMES[outcome],
        n_patients=int(df["patient_id"].nunique()) if len(df) else 0,
        n_sessions=len(df),
        fitted=False,
        message=message,
    )


def _terms(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(kept, dropped) covariates: one with no variation in these data cannot be estimated."""
    kept: list[str] = []
    dropped: list[str] = []
    for name, varies in (
        ("baseline", df["baseline"].nunique() > 1),
        ("needles", df["needles"].nunique() > 1),
        ("C(group)", df["group"].nunique() > 1),
    ):
        (kept if varies else dropped).append(name)
    return kept, dropped


def _term_name(raw: str) -> str:
    if raw.startswith("C(group)[T.") and raw.endswith("]"):
        return f"group: {raw[len('C(group)[T.') : -1]}"
    return raw


def _term_order(raw: str) -> tuple[int, str]:
    """Twitches first (the question), then the adjustments, the intercept last."""
    first = {"twitches": 0, "baseline": 1, "needles": 2, "Intercept": 9}
    return first.get(raw, 5), raw


def _num(x: Any) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None


def fit_outcome(df: pd.DataFrame, outcome: OutcomeName) -> OutcomeFit:
    """MixedLM (REML, random intercept per patient) of one outcome, or why not."""
    n_patients = int(df["patient_id"].nunique()) if len(df) else 0
    if n_patients < MIN_PATIENTS or len(df) < MIN_SESSIONS:
        return _unfitted(
            outcome,
            df,
            f"Too few data to fit: {n_patients} patients and {len(df)} sessions "
            f"(at least {MIN_PATIENTS} patients and {MIN_SESSIONS} sessions are needed).",
        )
    if df["twitches"].nunique() < 2:
        return _unfitted(
            outcome, df, "Every session has the same twitch count: nothing to compare."
        )
    kept, dropped = _terms(df)
    formula = "change ~ " + " + ".join(["twitches", *kept])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = smf.mixedlm(formula, df, groups=df["patient_id"]).fit(
                reml=True, method=FIT_METHODS
            )
        except (ValueError, np.linalg.LinAlgError) as exc:
            return _unfitted(outcome, df, f"The model could not be fitted: {exc}")
    ci = result.conf_int()
    coefficients = [
        Coefficient(
            term=_term_name(str(name)),
            estimate=float(result.fe_params[name]),
            ci_low=float(ci.loc[name, 0]),
            ci_high=float(ci.loc[name, 1]),
            p=_num(result.pvalues[name]),
        )
        for name in sorted(result.fe_params.index, key=_term_order)
    ]
    notes = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return OutcomeFit(
        outcome=outcome,
        label=OUTCOMES[outcome],
        n_patients=n_patients,
        n_sessions=len(df),
        fitted=True,
        twitch=next(c for c in coefficients if c.term == "twitches"),
        coefficients=coefficients,
        covariates=["twitches", *[k.replace("C(group)", "muscle group") for k in kept]],
        dropped=[d.replace("C(group)", "muscle group") for d in dropped],
        reference_group=str(sorted(df["group"].unique())[0]) if "C(group)" in kept else None,
        converged=bool(result.converged),
        warnings=notes,
        patient_variance=_num(result.cov_re.iloc[0, 0]),
        residual_variance=_num(result.scale),
    )
