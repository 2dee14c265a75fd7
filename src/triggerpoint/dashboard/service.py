"""The clinic dashboard: how often patients respond, how safe needling has been, what is treated.

Responder rates, most-treated muscles and outcomes by twitch responses are read from
`dashboard_tally`, a few dozen per-clinic running totals that `dashboard.tallies` keeps equal
to what the raw tables imply on every write. Scanning millions of measurements and needle
entries per view took ~10 s at a million sessions; the totals take milliseconds. The raw-table
queries are kept (`naive=True`) as the reference the tests and bench/dashboard.py compare
against. Every query is filtered by the principal's clinic explicitly (as well as by the
session's tenancy rule).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, Float, String, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session, aliased

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import record
from triggerpoint.dashboard import tallies
from triggerpoint.dashboard.models import DashboardTally
from triggerpoint.outcomes import series as series_rule
from triggerpoint.outcomes import thresholds
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.outcomes.models import Measurement
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.records.models import Patient
from triggerpoint.reports import plots
from triggerpoint.reports.service import muscle_label
from triggerpoint.safety.stats import Z95, wilson
from triggerpoint.treatment import service as treatment
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession
from triggerpoint.treatment.stats import adverse_event_rates

TWITCH_BUCKETS = ((0, 0, "0"), (1, 2, "1-2"), (3, 5, "3-5"), (6, None, "6+"))
TOP_MUSCLES = 10


def _first_last(session: Session) -> tuple[Any, Any]:
    """`min`/`max` of "<fixed-width UTC time>|<score>" give the first and last score of a
    group in one pass, with no join back to the table (portable across both engines)."""
    m = Measurement
    key: ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        key = func.to_char(func.timezone("UTC", m.measured_at), "YYYY-MM-DD HH24:MI:SS.US")
    else:  # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' (26 characters)
        key = cast(m.measured_at, String)
    packed = key + literal("|") + cast(m.score, String)
    return (
        cast(func.substr(func.min(packed), 28), Float),
        cast(func.substr(func.max(packed), 28), Float),
    )


def naive_responder_counts(session: Session, *, clinic_id: int) -> dict[str, dict[str, int]]:
    """Per instrument and class: patients' measure series (patient x site) classified first
    -> last. From the raw table: a GROUP BY per series, then a GROUP BY per instrument and
    class.
    """
    m = Measurement
    base, last = _first_last(session)
    course = (m.clinic_id == clinic_id, series_rule.in_course_sql(m))  # `outcomes.series`
    series = (
        select(
            m.instrument,
            m.context,
            base.label("base"),
            last.label("last"),
            func.count().label("n"),
        )
        .where(*course)
        .group_by(m.patient_id, m.instrument, m.context)
        .subquery("series")
    )
    # Each series is judged by its own rule (the context picks the ROM joint and movement,
    # the NPRS region): the CASE is generated from `outcomes.thresholds` for the series keys
    # present, so it is the rule the patient page applies, not a copy of it.
    keys = session.execute(select(m.instrument, m.context).where(*course).distinct()).all()
    verdict = thresholds.classification_sql(
        series.c.instrument, series.c.context, series.c.base, series.c.last, keys
    )
    label = func.coalesce(verdict, literal(tallies.UNCLASSIFIED)).label("c")
    rows = session.execute(
        select(series.c.instrument, label, func.count())
        .where(series_rule.judged_sql(series.c.instrument, series.c.n))
        .group_by(series.c.instrument, label)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for instrument, c, n in rows:
        counts.setdefault(instrument, {})[c] = n
    return counts


def responder_counts(session: Session, *, clinic_id: int) -> dict[str, dict[str, int]]:
    """Series per instrument and class, from the running totals."""
    counts: dict[str, dict[str, int]] = {}
    for key, n, _, _ in _tally(session, clinic_id, "responder"):
        instrument, c = key.split(":", 1)
        counts.setdefault(instrument, {})[c] = int(n)
    return counts


def naive_responder_rates(session: Session, *, clinic_id: int) -> list[dict[str, Any]]:
    """The responder table from the raw tables (the reference for `responder_rates`)."""
    return _responder_rows(naive_responder_counts(session, clinic_id=clinic_id))


def responder_rates(session: Session, *, clinic_id: int) -> list[dict[str, Any]]:
    """The responder table from the running totals (what the dashboard shows)."""
    return _responder_rows(responder_counts(session, clinic_id=clinic_id))


def _tally(session: Session, clinic_id: int, kind: str) -> list[Any]:
    t = DashboardTally
    return list(
        session.execute(
            select(t.key, t.n, t.total, t.total_sq).where(
                t.clinic_id == clinic_id, t.kind == kind, t.n > 0
            )
        ).all()
    )


def _responder_rows(counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Per instrument with classified series: counts, rate and its 95% interval. Series with
    no sourced threshold are not in `n` (they are neither responders nor not); they are
    counted in `not_classified` and listed by `unclassified_rows`."""
    out = []
    for instrument, spec in definitions().items():
        got = counts.get(instrument, {})
        n = sum(v for k, v in got.items() if k != tallies.UNCLASSIFIED)
        if n == 0:
            continue
        responders = got.get("responder", 0)
        out.append(
            {
                "instrument": instrument,
                "name": spec["name"],
                "n": n,
                "responders": responders,
                "non_responders": got.get("non-responder", 0),
                "worsened": got.get("worsened", 0),
                "rate": responders / n,
                "ci95": list(wilson(responders, n)),
                "threshold": thresholds.summary_label(instrument),
                "not_classified": got.get(tallies.UNCLASSIFIED, 0),
            }
        )
    return out


def unclassified_rows(counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Instruments with series that have a baseline and a follow-up but no sourced threshold
    (e.g. ROM of a joint without a published MDC), so the page can say they were left out."""
    return [
        {"instrument": ins, "name": definitions()[ins]["name"], "n": got[tallies.UNCLASSIFIED]}
        for ins, got in sorted(counts.items())
        if got.get(tallies.UNCLASSIFIED)
    ]


def naive_most_treated_muscles(session: Session, *, clinic_id: int) -> list[dict[str, Any]]:
    e = NeedleEntry
    sessions = func.count(func.distinct(e.needling_id)).label("sessions")
    rows = session.execute(
        select(e.muscle_id, sessions, func.count().label("needles"))
        .where(e.clinic_id == clinic_id)
        .group_by(e.muscle_id)
        .order_by(sessions.desc(), e.muscle_id)
        .limit(TOP_MUSCLES)
    ).all()
    return _muscle_rows(rows)


def most_treated_muscles(session: Session, *, clinic_id: int) -> list[dict[str, Any]]:
    t = DashboardTally
    rows = session.execute(
        select(t.key, t.n, t.total)
        .where(t.clinic_id == clinic_id, t.kind == "muscle", t.n > 0)
        .order_by(t.n.desc(), t.key)
        .limit(TOP_MUSCLES)
    ).all()
    return _muscle_rows([(mid, s, round(n)) for mid, s, n in rows])


def _muscle_rows(rows: Any) -> list[dict[str, Any]]:
    return [
        {"muscle_id": mid, "name": muscle_label(mid), "sessions": s, "needles": n}
        for mid, s, n in rows
    ]


def _bucket(total: Any) -> Any:
    whens = []
    for lo, hi, label in TWITCH_BUCKETS:
        cond = total >= lo if hi is None else and_(total >= lo, total <= hi)
        whens.append((cond, literal(label)))
    return case(*whens, else_=literal("?"))


def naive_outcomes_by_twitches(session: Session, *, clinic_id: int) -> list[dict[str, Any]]:
    """Immediate NPRS change (post - pre, same visit) by twitch responses in the session.

    Observational: sessions with more twitches differ in other ways too (who was needled,
    where, by whom), so this is an association, not an effect of twitching.
    """
    e, ns = NeedleEntry, NeedlingSession
    twitches = (
        select(e.needling_id, func.sum(e.twitch_count).label("tw"))
        .where(e.clinic_id == clinic_id)
        .group_by(e.needling_id)
        .subquery("tw")
    )
    pre, post = aliased(Measurement), aliased(Measurement)

    def nprs(alias: Any, timing: str) -> Any:
        return and_(
            alias.clinic_id == clinic_id,
            alias.visit_id == ns.visit_id,
            alias.instrument == "nprs",
            alias.timing == timing,
            series_rule.around_needling_sql(alias),
        )

    bucket = _bucket(twitches.c.tw).label("bucket")
    change = post.score - pre.score
    rows = session.execute(
        select(bucket, func.count(), func.avg(change), func.avg(change * change))
        .select_from(twitches)
        .join(ns, and_(ns.id == twitches.c.needling_id, ns.clinic_id == clinic_id))
        .join(pre, nprs(pre, "pre"))
        .join(post, nprs(post, "post"))
        .group_by(bucket)
    ).all()
    return _twitch_rows({b: (n, mean, sq) for b, n, mean, sq in rows})


def outcomes_by_twitches(session: Session, *, clinic_id: int) -> list[dict[str, Any]]:
    """As `naive_outcomes_by_twitches`, from running totals per twitch count (observational)."""
    sums: dict[str, list[float]] = {}
    for key, n, total, total_sq in _tally(session, clinic_id, "twitch"):
        label = _bucket_label(int(key))
        acc = sums.setdefault(label, [0, 0.0, 0.0])
        acc[0] += n
        acc[1] += total
        acc[2] += total_sq
    return _twitch_rows({b: (int(n), t / n, sq / n) for b, (n, t, sq) in sums.items() if n > 0})


def _bucket_label(total: int) -> str:
    for lo, hi, label in TWITCH_BUCKETS:
        if total >= lo and (hi is None or total <= hi):
            return label
    return "?"


def _twitch_rows(found: dict[str, tuple[Any, Any, Any]]) -> list[dict[str, Any]]:
    out = []
    for _lo, _hi, label in TWITCH_BUCKETS:
        n, mean, sq = found.get(label, (0, None, None))
        sd = math.sqrt(max(0.0, (sq - mean * mean) * n / (n - 1))) if n and n > 1 else None
        out.append(
            {
                "label": label,
                "n": n,
                "mean_change": None if mean is None else float(mean),
                "ci95_half": Z95 * sd / math.sqrt(n) if sd is not None else 0.0,
            }
        )
    return out


def completion_rates(session: Session, *, clinic_id: int) -> list[dict[str, Any]]:
    """Per instrument (and the pain drawing): questionnaire requests sent to patients and how
    many came back submitted, with the rate's 95% Wilson interval.

    Sent: every request except one the clinic cancelled before it went out (cancelled after
    sending, it reached the patient and counts as not returned). Requests still open are not
    returned yet, so they are counted as such and shown apart (`open`): a clinic that just
    sent a batch sees its rate rise as answers arrive. Read from the request rows (one small
    row per request; a clinic's requests are far fewer than its measurements), aggregated here
    because the instrument list is a JSON column, which the two engines group differently.
    """
    R = QuestionnaireRequest
    rows = session.execute(
        select(R.instruments, R.pain_drawing, R.status, R.sent_at.is_not(None)).where(
            R.clinic_id == clinic_id
        )
    ).all()
    counts: dict[str, list[int]] = {}  # key -> [sent, submitted, open]
    for instruments, drawing, status, was_sent in rows:
        if status == "cancelled" and not was_sent:
            continue
        keys = list(dict.fromkeys(instruments or []))  # an instrument counts once per request
        keys += ["pain_drawing"] if drawing else []
        for key in keys:
            acc = counts.setdefault(key, [0, 0, 0])
            acc[0] += 1
            acc[1] += status == "submitted"
            acc[2] += status == "open"
    known = definitions()
    order = [*known, "pain_drawing"]
    out = []
    for key in sorted(counts, key=lambda k: (order.index(k) if k in order else len(order), k)):
        sent, submitted, still_open = counts[key]
        out.append(
            {
                "instrument": key,
                "name": "Pain drawing"
                if key == "pain_drawing"
                else known.get(key, {}).get("name", key),
                "sent": sent,
                "submitted": submitted,
                "open": still_open,
                "rate": submitted / sent,
                "ci95": list(wilson(submitted, sent)),
            }
        )
    return out


def clinic_dashboard(
    session: Session, *, principal: Principal, naive: bool = False
) -> dict[str, Any]:
    """Everything the dashboard shows, for the principal's clinic only (clinicians, admins).

    `naive=True` computes the same numbers from the raw tables (the reference; slow at scale).
    """
    principal.require("clinical:read")
    clinic_id = principal.clinic_id
    patients = session.scalar(
        select(func.count()).select_from(Patient).where(Patient.clinic_id == clinic_id)
    )
    by_status = dict(  # GROUP BY on the (clinic_id, status) index: no table rows read
        session.execute(
            select(NeedlingSession.status, func.count())
            .where(NeedlingSession.clinic_id == clinic_id)
            .group_by(NeedlingSession.status)
        ).all()
    )
    sessions, signed = sum(by_status.values()), by_status.get("signed", 0)
    responders, muscles, twitches = (
        (naive_responder_counts, naive_most_treated_muscles, naive_outcomes_by_twitches)
        if naive
        else (responder_counts, most_treated_muscles, outcomes_by_twitches)
    )
    counts = responders(session, clinic_id=clinic_id)
    unsigned = treatment.unsigned_sessions(session, principal=principal)
    data = {
        "patients": patients or 0,
        "sessions": sessions or 0,
        "signed": int(signed or 0),
        "responders": _responder_rows(counts),
        "unclassified": unclassified_rows(counts),
        "adverse_events": adverse_event_rates(session),
        "muscles": muscles(session, clinic_id=clinic_id),
        "twitches": twitches(session, clinic_id=clinic_id),
        "completion": completion_rates(session, clinic_id=clinic_id),
        "unsigned": [
            {
                "id": ns.id,
                "visit_id": ns.visit_id,
                "patient_id": ns.patient_id,
                "opened_at": ns.opened_at,
            }
            for ns in unsigned[:50]
        ],
        "unsigned_total": len(unsigned),
    }
    record(session, actor=principal.actor, action="read", entity="clinic_dashboard")
    return data


def dashboard_plots(data: dict[str, Any]) -> dict[str, str]:
    return {
        "responders": plots.responder_rates_svg(data["responders"]),
        "adverse_events": plots.ae_rates_svg(data["adverse_events"]["by_type"]),
        "muscles": plots.muscles_svg(data["muscles"]),
        "twitches": plots.twitch_svg(data["twitches"]),
    }
