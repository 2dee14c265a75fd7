"""The patient page, the progress report and the dashboard classify a series alike, on both
engines: the dashboard's SQL CASE equals the Python rule on generated data, the three views
agree at the neck-pain NPRS boundary, and classes stored under other thresholds are rebuilt."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, insert, select, update

from triggerpoint.accounts.service import Principal, create_api_token, create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.dashboard import tallies
from triggerpoint.dashboard.models import OutcomeSeries
from triggerpoint.dashboard.service import clinic_dashboard
from triggerpoint.db import open_session
from triggerpoint.migrate import upgrade
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.outcomes.models import Measurement
from triggerpoint.outcomes.thresholds import (
    classification_sql,
    classify_measure,
    rom_table,
    rule_for,
)
from triggerpoint.records.models import Patient

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)


def _contexts() -> list[tuple[str, str]]:
    """A context for every rule there is, with and without a threshold."""
    out = [(ins, "") for ins in definitions()]
    out += [("nprs", "neck"), ("nprs", "low back"), ("ppt", "Upper trapezius tp1 (right)")]
    for joint in rom_table().joints.values():
        for move in joint.movements.values():
            out.append(("rom", f"{joint.aliases[0]} {move.aliases[0]} left"))
    out += [("rom", "elbow flexion"), ("rom", "ankle eversion")]
    return out


def _scores(instrument: str, context: str, rng: random.Random) -> list[tuple[float, float]]:
    """Pairs on, just beside and far from the rule's boundaries, and random ones."""
    lo, hi = definitions()[instrument]["item_range"]
    rule = rule_for(instrument, context)
    steps = [0.0, 1e-10, 0.005, 0.01, 0.5]
    bounds = [rule.points or 1.0, rule.responder_at or 4.0, rule.worsened_at or -4.0]
    pairs = []
    for base in (0.0, 2.0, 5.0, 6.0, 10.0, 30.0, 60.0):
        for b in bounds:
            for s in steps:
                pairs += [(base, base + b + s), (base, base - b - s), (base, base + b - s)]
                pairs += [(base, base - b + s), (base, b + s), (base, b - s)]
    pairs += [(rng.uniform(lo, hi), rng.uniform(lo, hi)) for _ in range(150)]
    return pairs


def test_dashboard_sql_equals_the_python_rule_on_generated_series(engine):
    rng = random.Random(20261201)
    cases = [
        (ins, ctx, base, last) for ins, ctx in _contexts() for base, last in _scores(ins, ctx, rng)
    ]
    table = Table(
        "threshold_case",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("instrument", String(20)),
        Column("context", String(120)),
        Column("base", Float),
        Column("last", Float),
    )
    with engine.connect() as conn:
        table.create(conn)
        try:
            conn.execute(
                insert(table),
                [
                    {"id": i, "instrument": a, "context": c, "base": b, "last": la}
                    for i, (a, c, b, la) in enumerate(cases)
                ],
            )
            verdict = classification_sql(
                table.c.instrument,
                table.c.context,
                table.c.base,
                table.c.last,
                {(a, c) for a, c, _, _ in cases},
            )
            got = dict(conn.execute(select(table.c.id, verdict)).all())
            # what the database stored is what Python classifies: compare on the read-back
            stored = {r.id: r for r in conn.execute(select(table))}
        finally:
            table.drop(conn)
            conn.commit()
    assert len(got) == len(cases) > 5000
    wrong = [
        (r.instrument, r.context, r.base, r.last, got[i])
        for i, r in stored.items()
        if got[i] != classify_measure(r.instrument, r.context, r.base, r.last)
    ]
    assert not wrong, wrong[:10]


HYPO_CASE = Table(
    "threshold_property_case",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("instrument", String(20)),
    Column("context", String(120)),
    Column("base", Float),
    Column("last", Float),
)


@st.composite
def _case(draw: st.DrawFn) -> tuple[str, str, float, float]:
    """A series key and a pair of scores near its rule's boundaries: a change of about the
    rule's points, a relative change of about its percent, or anything."""
    ins, ctx = draw(st.sampled_from(_contexts()))
    rule = rule_for(ins, ctx)
    scale = rule.points or rule.responder_at or 1.0
    base = draw(st.floats(0, 10 * scale))
    how = draw(st.sampled_from(["points", "percent", "anything"]))
    if how == "points":
        last = base + draw(st.floats(-2 * scale, 2 * scale))
    elif how == "percent":
        last = base * (1 - draw(st.floats(-0.6, 0.6)))
    else:
        last = draw(st.floats(-20, 220))
    return ins, ctx, base, last


@pytest.fixture
def hypo_table(engine):
    with engine.begin() as conn:
        HYPO_CASE.create(conn)
    yield engine
    with engine.begin() as conn:
        HYPO_CASE.drop(conn)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cases=st.lists(_case(), min_size=1, max_size=25))
def test_dashboard_sql_equals_the_python_rule_for_any_scores(hypo_table, cases):
    """The same as above, with the pairs chosen by hypothesis (it shrinks a disagreement to
    the smallest pair that shows it)."""
    rows = [
        {"id": i, "instrument": ins, "context": ctx, "base": b, "last": la}
        for i, (ins, ctx, b, la) in enumerate(cases)
    ]
    with hypo_table.begin() as conn:
        conn.execute(HYPO_CASE.delete())
        conn.execute(insert(HYPO_CASE), rows)
        c = HYPO_CASE.c
        verdict = classification_sql(
            c.instrument, c.context, c.base, c.last, {(r["instrument"], r["context"]) for r in rows}
        )
        got = dict(conn.execute(select(c.id, verdict)).all())
        stored = list(conn.execute(select(HYPO_CASE)))
    assert {r.id: got[r.id] for r in stored} == {
        r.id: classify_measure(r.instrument, r.context, r.base, r.last) for r in stored
    }


# --- the three views, through their own code paths ---------------------------------------

# (instrument, context, baseline, later score, expected class) — one patient each.
SERIES = [
    ("nprs", "neck", 6.0, 4.7, "responder"),  # exactly 1.3 points
    ("nprs", "neck", 6.0, 4.8, "non-responder"),  # 1.2
    ("nprs", "neck", 6.0, 4.0, "responder"),  # 2.0
    ("ppt", "Upper trapezius tp1 (right)", 2.0, 2.30, "non-responder"),  # inside the MDC95
    ("ppt", "Upper trapezius tp1 (right)", 2.0, 2.35, "responder"),
    ("rom", "ankle dorsiflexion right", 30.0, 35.0, "responder"),  # 5 degrees: MDC 4.7
    ("rom", "elbow flexion right", 100.0, 130.0, None),  # no sourced threshold
]


@pytest.fixture(scope="module")
def threshold_clinic(db_url):
    """A clinic of its own, one patient per series, measurements written through the ORM (the
    NPRS form takes whole numbers; the rule must hold for the stored floats too)."""
    system = Actor.system("tests")
    with open_session(clinic_id=None) as s:
        clinic = create_clinic(s, name="Threshold clinic", actor=system).id
        user, _ = create_user(
            s,
            clinic_id=clinic,
            username="threshold.clinician",
            full_name="Threshold Clinician",
            role="clinician",
            actor=system,
            password="correct horse battery staple",
        )
        user.must_change_password = False
        token = create_api_token(s, user_id=user.id, label="tests", actor=system)
        s.commit()
        principal = Principal(user.id, clinic, user.username, "clinician")
    patients = []
    with open_session(clinic_id=clinic) as s:
        for i, (instrument, context, first, last, _) in enumerate(SERIES):
            p = Patient(
                given_name=f"T{i}",
                family_name="Threshold",
                search_name=f"threshold t{i}",
                date_of_birth=date(1975, 1, 1),
                sex="female",
            )
            s.add(p)
            s.flush()
            for day, score in ((0, first), (14, last)):
                s.add(
                    Measurement(
                        patient_id=p.id,
                        instrument=instrument,
                        context=context,
                        data={},
                        score=score,
                        complete=True,
                        answered=1,
                        measured_at=T0 + timedelta(days=day),
                    )
                )
            patients.append(p.id)
        s.commit()
    return principal, {"Authorization": f"Bearer {token}"}, patients


def _badge(html: str) -> str | None:
    """The class shown in the measures table (the badge's CSS class is the classification)."""
    (cls,) = re.findall(r'<span class="badge ([a-z-]*)">', html)
    return cls or None


@pytest.mark.parametrize("i", range(len(SERIES)), ids=[f"{s[0]}-{s[3]}" for s in SERIES])
def test_patient_page_progress_report_and_dashboard_agree(app_client, threshold_clinic, i):
    principal, hdr, patients = threshold_clinic
    instrument, context, *_, expected = SERIES[i]
    pid = patients[i]
    page = app_client.get(f"/patients/{pid}/outcomes", headers=hdr)
    report = app_client.get(f"/patients/{pid}/reports/progress", headers=hdr)
    (api,) = app_client.get(f"/api/patients/{pid}/outcomes", headers=hdr).json()
    assert page.status_code == report.status_code == 200
    with open_session(clinic_id=principal.clinic_id) as s:
        stored = s.scalar(select(OutcomeSeries.status).where(OutcomeSeries.patient_id == pid))
    dashboard = None if stored == tallies.UNCLASSIFIED else stored
    assert _badge(page.text) == _badge(report.text) == api["classification"] == expected
    assert dashboard == expected
    if expected is None:
        assert "not classified" in page.text and "without a responder classification" in page.text
        assert api["threshold"] is None and "elbow" in api["unclassified_reason"]
    else:
        assert api["threshold"] == rule_for(instrument, context).points


def test_dashboard_counts_agree_fast_and_from_raw_tables(threshold_clinic):
    principal, _, _ = threshold_clinic
    with open_session(clinic_id=principal.clinic_id) as s:
        fast = clinic_dashboard(s, principal=principal)
        naive = clinic_dashboard(s, principal=principal, naive=True)
        s.rollback()
    for d in (fast, naive):
        rows = {r["instrument"]: r for r in d["responders"]}
        assert (rows["nprs"]["n"], rows["nprs"]["responders"]) == (3, 2)
        assert "1.3" in rows["nprs"]["threshold"]
        assert (rows["ppt"]["n"], rows["ppt"]["responders"]) == (2, 1)
        assert (rows["rom"]["n"], rows["rom"]["responders"], rows["rom"]["not_classified"]) == (
            1,
            1,
            1,
        )
        assert d["unclassified"] == [
            {"instrument": "rom", "name": "Range of motion (degrees)", "n": 1}
        ]


def test_classes_stored_under_other_thresholds_are_rebuilt_on_upgrade(fresh_db):
    """A threshold change leaves stored dashboard classes stale; migrate.upgrade finds them
    (tallies.missing) and rebuilds the summaries from the raw rows."""
    system = Actor.system("tests")
    with open_session(clinic_id=None, engine=fresh_db) as s:
        clinic = create_clinic(s, name="Stale clinic", actor=system).id
        s.commit()
    with open_session(clinic_id=clinic, engine=fresh_db) as s:
        p = Patient(
            given_name="S",
            family_name="Stale",
            search_name="stale s",
            date_of_birth=date(1975, 1, 1),
            sex="male",
        )
        s.add(p)
        s.flush()
        for day, score in ((0, 100.0), (14, 130.0)):
            s.add(
                Measurement(
                    patient_id=p.id,
                    instrument="rom",
                    context="elbow flexion",
                    data={},
                    score=score,
                    complete=True,
                    answered=1,
                    measured_at=T0 + timedelta(days=day),
                )
            )
        s.commit()
    with fresh_db.begin() as conn:
        assert not tallies.missing(conn)
        # What the old single cervical MDC made of it: +30 degrees, a "responder".
        conn.execute(update(tallies.S).values(status="responder"))
        assert tallies.missing(conn)
    upgrade(fresh_db)
    with fresh_db.connect() as conn:
        assert not tallies.missing(conn)
        assert conn.scalar(select(tallies.S.c.status)) == tallies.UNCLASSIFIED
        fresh = tallies.compute_from_raw(conn, clinic)
        assert tallies.stored(conn, clinic).tallies == fresh.tallies
