"""Which measurements count in a series is one rule (`outcomes.series`), and every caller uses it.

First the rule itself: its Python reading and its SQL reading agree row by row on generated
rows, NULLs included, on both engines. Then one course of care with three measurements that
the rule excludes, each built so that a caller with its own copy of the rule would show it:

* an NPRS score marked incomplete (a copy that only checks for a score would count it, and
  the latest score would be 9: worsened),
* an incomplete NPRS score after needling at the second visit (a copy that ignores
  `complete` would pair it: an immediate change of +6),
* a complete NPRS measurement without a score (a copy that only checks `complete` would
  compare None),

and the course's own post-needling scores, which count as points and as pre/post pairs but
never in the course (a copy that let them in would make the latest 3, not 4). Every path
must show baseline 7, latest 4, responder, four points and the pairs 7 -> 5 and 4 -> 3.

A second series (NPRS for neck pain, outside any visit) has one score before needling and
one after: one course score, so it is not judged (a copy that let the post score in would make
it a responder, and the dashboard would count two NPRS series).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)

from tests.personas import new_clinic, new_person
from tests.reports.conftest import build_course
from tests.reports.test_pdfs import pdf_text
from triggerpoint.dashboard import tallies
from triggerpoint.dashboard.models import OutcomeSeries, SessionTally
from triggerpoint.dashboard.service import clinic_dashboard
from triggerpoint.db import get_engine, open_session
from triggerpoint.outcomes import series
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Visit
from triggerpoint.reports import plots
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession

# --- the rule's two readings agree --------------------------------------------------------

ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "complete": st.none() | st.booleans(),
            "score": st.none() | st.floats(-1e6, 1e6, allow_nan=False),
            "timing": st.none() | st.sampled_from(["pre", "post", "", "Post", "pre "]),
            "instrument": st.sampled_from(sorted(definitions())),
            "n": st.integers(0, 4),
        }
    ),
    min_size=1,
    max_size=30,
)
CASE = Table(
    "series_rule_case",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("complete", Boolean, nullable=True),
    Column("score", Float, nullable=True),
    Column("timing", String(6), nullable=True),
    Column("instrument", String(20)),
    Column("n", Integer),
)


@pytest.fixture
def case_table(engine):
    with engine.begin() as conn:
        CASE.create(conn)
    yield engine
    with engine.begin() as conn:
        CASE.drop(conn)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS)
def test_python_and_sql_readings_of_the_series_rule_agree_row_by_row(case_table, rows):
    rows = [{"id": i, **r} for i, r in enumerate(rows)]
    with case_table.begin() as conn:
        conn.execute(delete(CASE))
        conn.execute(insert(CASE), rows)
        stored = [dict(r._mapping) for r in conn.execute(select(CASE))]  # as the engine keeps them
        c = CASE.c
        got = {
            "scored": set(conn.scalars(select(c.id).where(series.scored_sql(c)))),
            "in_course": set(conn.scalars(select(c.id).where(series.in_course_sql(c)))),
            "around": set(conn.scalars(select(c.id).where(series.around_needling_sql(c)))),
            "judged": set(conn.scalars(select(c.id).where(series.judged_sql(c.instrument, c.n)))),
        }
    expected = {
        "scored": {r["id"] for r in stored if series.scored(r)},
        "in_course": {r["id"] for r in stored if series.in_course(r)},
        "around": {r["id"] for r in stored if series.around_needling(r)},
        "judged": {r["id"] for r in stored if series.judged(r["instrument"], r["n"])},
    }
    assert got == expected


def test_the_rule_reads_the_same_on_objects_and_on_mappings():
    odd = Measurement(complete=True, score=None, timing="pre")
    post = Measurement(complete=True, score=3.0, timing="post")
    assert (series.scored(odd), series.scored(post), series.in_course(post)) == (
        False,
        True,
        False,
    )
    as_row = {"complete": post.complete, "score": post.score, "timing": post.timing}
    assert series.around_needling(post) and series.around_needling(as_row)
    # a registry row may leave out the timing: it then counts as "not around needling"
    assert series.in_course({"complete": True, "score": 1.0})
    assert not series.around_needling({"complete": True, "score": 1.0})
    assert series.judged("groc", 1) and not series.judged("nprs", 1) and series.judged("nprs", 2)


# --- every caller uses it -------------------------------------------------------------------

NPRS = definitions()["nprs"]["name"]


@pytest.fixture(scope="module")
def odd_course(app_client, db_url):
    """A course (tests/reports/conftest.py) in a clinic of its own, plus three measurements
    the rule excludes, written through the ORM as no service would write them."""
    clinic = new_clinic("Series rule clinic")
    person = new_person(clinic, "clinician", prefix="series")
    course = build_course(app_client, person, given="Ida", family="Rule")
    pid = course.patient_id
    with open_session(clinic_id=clinic) as s:
        second = s.get(Visit, course.visits[1])
        later = second.visit_at + timedelta(days=1)

        def nprs(**kw: Any) -> Measurement:
            return Measurement(patient_id=pid, instrument="nprs", context="", data={}, **kw)

        s.add_all(
            [
                nprs(timing="", score=9.0, complete=False, answered=0, measured_at=later),
                nprs(
                    visit_id=second.id,
                    timing="post",
                    score=10.0,
                    complete=False,
                    answered=0,
                    measured_at=second.visit_at + timedelta(minutes=50),
                ),
                nprs(
                    timing="",
                    score=None,
                    complete=True,
                    answered=0,
                    measured_at=later + timedelta(days=1),
                ),
            ]
        )
        first = s.get(Visit, course.visits[0])
        for timing, score, minutes in (("pre", 6.0, 3), ("post", 3.0, 44)):
            s.add(
                Measurement(
                    patient_id=pid,
                    instrument="nprs",
                    context="neck",
                    timing=timing,
                    data={"current": score},
                    score=score,
                    complete=True,
                    answered=1,
                    measured_at=first.visit_at + timedelta(minutes=minutes),
                )
            )
        s.commit()
    return clinic, person, course


def _nprs_row(html: str) -> str:
    """The NPRS row of the measures table, tags dropped."""
    rows = [r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if NPRS in r]
    (row,) = [r for r in rows if "neck" not in r]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()


EXPECTED_ROW = (
    "4 measurements; lower is better 7 3 after needling, 08 Oct -3 to 4, before needling 4 → 3 (-1)"
)


def test_api_summary_uses_the_rule(app_client, odd_course):
    _, person, course = odd_course
    out = app_client.get(f"/api/patients/{course.patient_id}/outcomes", headers=person.headers)
    assert out.status_code == 200, out.text
    nprs, neck = [m for m in out.json() if m["instrument"] == "nprs"]
    assert (neck["context"], neck["classification"], len(neck["points"])) == ("neck", None, 2)
    assert (
        neck["unclassified_reason"] == "Needs a baseline and a later score taken before needling."
    )
    assert (nprs["baseline"], nprs["latest"], nprs["change"]) == (7, 4, -3)
    assert nprs["classification"] == "responder"
    assert [p["score"] for p in nprs["points"]] == [7, 5, 4, 3]
    assert [(c["pre"], c["post"]) for c in nprs["immediate_changes"]] == [(7, 5), (4, 3)]


def test_outcomes_page_uses_the_rule(app_client, odd_course):
    _, person, course = odd_course
    page = app_client.get(f"/patients/{course.patient_id}/outcomes", headers=person.headers)
    assert page.status_code == 200
    row = _nprs_row(page.text)
    assert EXPECTED_ROW in row and row.endswith("responder"), row


def test_trajectory_plot_is_drawn_from_the_rule(app_client, odd_course, monkeypatch):
    _, person, course = odd_course
    drawn: list[dict[str, Any]] = []
    real = plots.trajectory_svg

    def spy(**kwargs: Any) -> str:
        drawn.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(plots, "trajectory_svg", spy)
    page = app_client.get(f"/patients/{course.patient_id}/outcomes", headers=person.headers)
    assert page.status_code == 200
    (nprs,) = [d for d in drawn if d["name"] == NPRS]
    assert [(p["score"], p["timing"]) for p in nprs["points"]] == [
        (7, "pre"),
        (5, "post"),
        (4, "pre"),
        (3, "post"),
    ]
    assert nprs["baseline"] == 7  # the band is centred on the course's baseline


def test_progress_report_page_and_pdf_use_the_rule(app_client, odd_course):
    _, person, course = odd_course
    base = f"/patients/{course.patient_id}/reports/progress"
    page = app_client.get(base, headers=person.headers)
    assert page.status_code == 200
    row = _nprs_row(page.text)
    assert EXPECTED_ROW in row and row.endswith("responder"), row
    text = pdf_text(app_client.get(f"{base}.pdf", headers=person.headers))
    assert f"{NPRS} {EXPECTED_ROW}" in text, text


def test_fhir_export_marks_what_the_rule_excludes_as_preliminary(app_client, odd_course):
    _, person, course = odd_course
    bundle = app_client.get(f"/api/patients/{course.patient_id}/fhir", headers=person.headers)
    assert bundle.status_code == 200
    obs = [
        e["resource"]
        for e in bundle.json()["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["display"] == NPRS
    ]
    # every measurement is exported; only the ones the rule counts are final
    status = sorted((o["status"], o.get("valueQuantity", {}).get("value", -1)) for o in obs)
    assert status == [
        ("final", 3.0),
        ("final", 3.0),
        ("final", 4.0),
        ("final", 5.0),
        ("final", 6.0),
        ("final", 7.0),
        ("preliminary", -1),  # complete, but no score
        ("preliminary", 9.0),
        ("preliminary", 10.0),
    ]


def test_dashboard_tallies_and_their_rebuild_use_the_rule(odd_course):
    clinic, _, course = odd_course
    with open_session(clinic_id=clinic) as s:
        row = s.scalar(
            select(OutcomeSeries).where(
                OutcomeSeries.patient_id == course.patient_id,
                OutcomeSeries.instrument == "nprs",
                OutcomeSeries.context == "",
            )
        )
        pairs = dict(
            s.execute(
                select(SessionTally.session_id, SessionTally.pairs).where(
                    SessionTally.session_id.in_(course.sessions)
                )
            ).all()
        )
    assert (row.n, row.first_score, row.last_score, row.status) == (2, 7, 4, "responder")
    with open_session(clinic_id=clinic) as s:
        neck = s.scalar(select(OutcomeSeries).where(OutcomeSeries.context == "neck"))
    assert (neck.n, neck.status) == (1, None)  # one course score: not judged
    assert pairs == {sid: 1 for sid in course.sessions}  # one pre x post pair per visit
    with get_engine().connect() as conn:
        kept, fresh = tallies.stored(conn, clinic), tallies.compute_from_raw(conn, clinic)
    assert kept.series == fresh.series and kept.sessions == fresh.sessions
    assert kept.tallies == fresh.tallies


def test_dashboard_reference_query_uses_the_rule(odd_course):
    clinic, person, _ = odd_course
    with open_session(clinic_id=clinic) as s:
        fast = clinic_dashboard(s, principal=person.principal)
        naive = clinic_dashboard(s, principal=person.principal, naive=True)
        s.rollback()
    for d in (fast, naive):
        (nprs,) = [r for r in d["responders"] if r["instrument"] == "nprs"]
        assert (nprs["n"], nprs["responders"]) == (1, 1)
        assert sum(t["n"] for t in d["twitches"]) == 2  # the incomplete post score is no pair
    assert fast["twitches"] == naive["twitches"]


def test_bulk_registry_path_uses_the_rule(odd_course):
    """`tallies.new_states` (what the registry's `new_rows` stores) derives the same rows
    from the raw rows as dicts as the flush hooks stored."""
    clinic, _, course = odd_course
    with get_engine().connect() as conn:
        raw = {
            "measurement": [
                dict(r._mapping)
                for r in conn.execute(
                    select(Measurement.__table__).where(
                        Measurement.__table__.c.patient_id == course.patient_id
                    )
                )
            ],
            "needle_entry": [
                dict(r._mapping)
                for r in conn.execute(
                    select(NeedleEntry.__table__).where(
                        NeedleEntry.__table__.c.session_id.in_(course.sessions)
                    )
                )
            ],
            "needling_session": [
                dict(r._mapping)
                for r in conn.execute(
                    select(NeedlingSession.__table__).where(
                        NeedlingSession.__table__.c.id.in_(course.sessions)
                    )
                )
            ],
        }
        kept = tallies.stored(conn, clinic)
    assert len(raw["measurement"]) == 13  # 8 of the course, 3 the rule excludes, 2 for the neck
    states, sessions = tallies.new_states(raw)
    nprs = states[(clinic, course.patient_id, "nprs", "")]
    assert (nprs["n"], nprs["last_score"], nprs["status"]) == (2, 4, "responder")
    assert states[(clinic, course.patient_id, "nprs", "neck")]["status"] is None
    assert {(k[2], k[3]): v for k, v in states.items()} == {
        (i, c): v for (p, i, c), v in kept.series.items() if p == course.patient_id
    }
    assert {sid: state for sid, (_, state) in sessions.items()} == {
        sid: kept.sessions[sid] for sid in course.sessions
    }
