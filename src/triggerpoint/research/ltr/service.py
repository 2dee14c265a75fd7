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
number of patients (about 3-10 ms each per fit here).

Where it runs: never in a page or API request. `latest_analysis` (page, API) reads the
newest fit persisted in `research_ltr_fit` and the clinic's data version (`ltr.version`, a
counter bumped by the writes the analysis reads); when the data changed since, it says so
and queues one refit (`ltr.jobs`, on the huey queue). `twitch_analysis` fits at once (the
CLI, the researcher's tool).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from pydantic import ValidationError
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    event,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import record
from triggerpoint.db import defer_write, rowcount, utcnow
from triggerpoint.errors import InvalidInput
from triggerpoint.outcomes import series
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Visit
from triggerpoint.research.consent import consented_patient_ids
from triggerpoint.research.ltr import groups
from triggerpoint.research.ltr import version as data_version
from triggerpoint.research.ltr.models import LtrFit
from triggerpoint.research.ltr.schemas import (
    Coefficient,
    Freshness,
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
FIT = LtrFit.__table__

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


def _check(principal: Principal, instrument: str) -> None:
    principal.require("clinical:read")
    if instrument not in INSTRUMENTS:
        raise InvalidInput("outcome", f"must be one of {', '.join(INSTRUMENTS)}")


def _report(
    session: Session,
    principal: Principal,
    instrument: str,
    sample: Sample,
    fits: list[OutcomeFit],
    freshness: Freshness,
) -> LtrReport:
    """The report around the fits, its read audited once."""
    record(
        session,
        actor=principal.actor,
        action="research-read",
        entity="research_ltr",
        detail={
            "instrument": instrument,
            "patients": max((f.n_patients for f in fits), default=0),
            "sessions": sum(f.n_sessions for f in fits),
            "data_version": freshness.data_version,
        },
    )
    return LtrReport(
        instrument=instrument,  # type: ignore[arg-type]  # checked against INSTRUMENTS by _check
        unit=INSTRUMENTS[instrument],
        sample=sample,
        fits=fits,
        formula=FORMULA,
        follow_up_window_days=FOLLOW_UP_DAYS,
        groups=groups.definitions(),
        missing_twitches=MISSING_TWITCHES,
        caveat=CAVEAT,
        evidence=EVIDENCE,
        freshness=freshness,
    )


def twitch_analysis(session: Session, *, principal: Principal, instrument: str) -> LtrReport:
    """The twitch analysis of the principal's clinic for one instrument, fitted now (the CLI,
    the researcher's tool: seconds at registry scale). The page and API read the persisted
    fit instead (`latest_analysis`). Audited once."""
    _check(principal, instrument)
    clinic_id = principal.clinic_id
    version, as_of = data_version.current(session, clinic_id)
    started = time.perf_counter()
    sample, frames = analysis_data(session, clinic_id=clinic_id, instrument=instrument)
    fits = fit_all(frames)
    freshness = Freshness(
        computed_at=utcnow(),
        data_as_of=as_of,
        data_version=version,
        current_data_version=version,
        current_data_as_of=as_of,
        stale=False,
        fit_seconds=round(time.perf_counter() - started, 3),
    )
    return _report(session, principal, instrument, sample, fits, freshness)


def analysis_data(
    session: Session, *, clinic_id: int, instrument: str
) -> tuple[Sample, dict[OutcomeName, pd.DataFrame]]:
    """What the fits read (aggregate SQL): the sample, and each outcome's dataset."""
    sample, cohort = _cohort(session, clinic_id)
    frames = {
        o: dataset(session, clinic_id=clinic_id, instrument=instrument, cohort=cohort, outcome=o)
        for o in OUTCOMES
    }
    return sample, frames


def fit_all(frames: dict[OutcomeName, pd.DataFrame]) -> list[OutcomeFit]:
    """Each outcome's mixed model (CPU only: no database is held meanwhile)."""
    return [fit_outcome(frames[o], o) for o in OUTCOMES]


# --- the persisted fit (pages and API) -------------------------------------------------

# Bumped when what a fit computes changes (the dataset's rules, the model): a fit stored by
# another analysis version is stale, whatever the data version says.
ANALYSIS_VERSION = 1
# A refit queued or running longer than this is taken for lost (a worker killed, a task the
# queue dropped) and may be queued again; so may a failed one after this long. The fit takes
# tens of seconds at registry scale.
LEASE = timedelta(minutes=15)
NOT_YET = (
    "Not computed yet: the analysis is being fitted in the background; reload in a minute "
    "to see it."
)


def _stored(row: LtrFit | None) -> tuple[Sample, list[OutcomeFit]] | None:
    """The row's fit as the page renders it, or None: no fit yet, another analysis version,
    or a result this code cannot read."""
    if row is None or row.result is None or row.analysis_version != ANALYSIS_VERSION:
        return None
    try:
        sample = Sample.model_validate(row.result["sample"])
        fits = [OutcomeFit.model_validate(f) for f in row.result["fits"]]
    except (KeyError, TypeError, ValidationError):
        return None
    return sample, fits


def _lease_over(row: LtrFit, now: datetime) -> bool:
    return row.requested_at is None or row.requested_at < now - LEASE


def may_queue(row: LtrFit | None, now: datetime) -> bool:
    """Whether a refit may be queued now: none is (idle), or the last one is past its lease
    (lost, or failed that long ago). One per clinic and measure at a time."""
    return row is None or row.refit == "idle" or _lease_over(row, now)


def empty_fits(message: str) -> tuple[Sample, list[OutcomeFit]]:
    sample = Sample(
        consented_patients=0, patients_with_sessions=0, sampled=False, sample_patients=0
    )
    fits = [
        OutcomeFit(
            outcome=o, label=label, n_patients=0, n_sessions=0, fitted=False, message=message
        )
        for o, label in OUTCOMES.items()
    ]
    return sample, fits


def latest_analysis(
    session: Session,
    *,
    principal: Principal,
    instrument: str,
    enqueue: Callable[[int, str], None],
    now: datetime | None = None,
) -> LtrReport:
    """The newest persisted fit of the principal's clinic for one instrument (the page and
    the API): two primary-key reads, never a fit. When the data changed since it was
    computed (or there is none), it is marked stale and a refit is queued, unless one
    already is: the claim (`queue_refit`) is written after this read commits and
    `enqueue(clinic_id, instrument)` runs once that write is committed. Audited once."""
    _check(principal, instrument)
    now = now or utcnow()
    clinic_id = principal.clinic_id
    version, as_of = data_version.current(session, clinic_id)
    row = session.scalars(select(LtrFit).where(LtrFit.instrument == instrument)).one_or_none()
    stored = _stored(row)
    stale = stored is None or row is None or row.data_version != version
    refit = row.refit if row is not None and row.refit != "idle" else None
    if stale and may_queue(row, now):
        defer_write(session, _queue_write(clinic_id, instrument, now, enqueue))
        refit = "queued"
    elif not stale and refit == "failed":
        refit = None  # an older refit failed, but the fit shown reads the current data
    sample, fits = stored if stored is not None else empty_fits(NOT_YET)
    freshness = Freshness(
        computed_at=row.computed_at if stored is not None and row is not None else None,
        data_as_of=row.data_as_of if stored is not None and row is not None else None,
        data_version=row.data_version if stored is not None and row is not None else None,
        current_data_version=version,
        current_data_as_of=as_of,
        stale=stale,
        refit=refit,  # type: ignore[arg-type]  # a str column holding one of REFIT_STATES
        refit_error=row.error if row is not None and refit == "failed" else None,
        fit_seconds=row.fit_seconds if stored is not None and row is not None else None,
    )
    return _report(session, principal, instrument, sample, fits, freshness)


def _queue_write(
    clinic_id: int, instrument: str, now: datetime, enqueue: Callable[[int, str], None]
) -> Callable[[Session], None]:
    def write(w: Session) -> None:
        if queue_refit(w, clinic_id=clinic_id, instrument=instrument, now=now):
            event.listen(w, "after_commit", lambda _s: enqueue(clinic_id, instrument), once=True)

    return write


def queue_refit(session: Session, *, clinic_id: int, instrument: str, now: datetime) -> bool:
    """Claim the clinic's refit of `instrument` (the row is made if missing): True when this
    call moved it to `queued` (the caller enqueues the task after commit), False when a refit
    is already queued or running within its lease. One conditional UPDATE: of two requests,
    one wins (PostgreSQL re-checks the WHERE after the first commits; SQLite has one writer)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(FIT)
        .values(clinic_id=clinic_id, instrument=instrument, refit="idle")
        .on_conflict_do_nothing(index_elements=[FIT.c.clinic_id, FIT.c.instrument])
    )
    claimed = session.execute(
        update(FIT)
        .where(
            FIT.c.clinic_id == clinic_id,
            FIT.c.instrument == instrument,
            or_(
                FIT.c.refit == "idle",
                FIT.c.requested_at.is_(None),
                FIT.c.requested_at < now - LEASE,
            ),
        )
        .values(refit="queued", requested_at=now, started_at=None)
    )
    return rowcount(claimed) == 1


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
