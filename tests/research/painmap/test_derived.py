"""The derived pain-map rows (`painmap_drawing`, `painmap_tally`) track every write path, on
both engines: after each write the stored rows equal what the raw rows imply
(`derived.compute_from_raw`), and the values the analyses read are the expected ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from tests.research.painmap.conftest import at, build, needle, research_consent, withdraw
from triggerpoint.db import open_session
from triggerpoint.records import service as records
from triggerpoint.records.models import PainDrawing, PainMark, Visit
from triggerpoint.records.schemas import EpisodeIn, MarkIn, PainDrawingIn
from triggerpoint.reports.extent import pain_extent
from triggerpoint.research.painmap import derived, service
from triggerpoint.research.painmap.models import PainmapDrawing
from triggerpoint.research.painmap.schemas import CohortFilter
from triggerpoint.treatment.models import NeedlingSession

NECK, SHOULDER, TEMPLE = "right_lateral_neck", "right_top_of_shoulder", "right_temple"


def in_step(s, clinic_id: int) -> tuple[dict, dict]:
    """Flush, then check stored == from raw; returns the stored rows and totals."""
    s.flush()
    conn = s.connection()
    rows, tallies = derived.stored(conn, clinic_id)
    want_rows, want_tallies = derived.compute_from_raw(conn, clinic_id)
    diff = {
        k: {f: (v, want_rows[k].get(f)) for f, v in r.items() if want_rows[k].get(f) != v}
        for k, r in rows.items()
        if k in want_rows
    }
    assert derived.same(rows, want_rows), (rows.keys(), want_rows.keys(), diff)
    assert tallies == want_tallies
    return rows, tallies


def heat(tallies: dict, view: str = "all") -> dict[str, int]:
    return {r: p for (_, v, r), (p, _) in tallies.items() if v == view}


def test_a_new_drawing_at_a_visit_and_on_its_own(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        b = build(s, alice, drawings=[(0, [NECK, SHOULDER])])
        rows, tallies = in_step(s, alice.clinic_id)
        (row,) = rows.values()
        assert (row["regions"], row["marks"], row["first"], row["research"]) == (
            2,
            sorted([NECK, SHOULDER]),
            True,
            True,
        )
        assert round(row["extent"], 1) == pain_extent([NECK, SHOULDER])
        assert heat(tallies) == {"": 1, NECK: 1, SHOULDER: 1}
        # a patient's own drawing outside any visit (bulk marks insert through the session)
        own = records.create_pain_drawing(
            s,
            principal=alice.principal,
            patient_id=b.patient_id,
            data=PainDrawingIn(complete=True, marks=[MarkIn(region=TEMPLE)]),
            drawn_at=at(2),
        )
        rows, tallies = in_step(s, alice.clinic_id)
    assert rows[own.id]["episode_id"] is None and rows[own.id]["marks"] == [TEMPLE]
    assert rows[own.id]["prev_id"] == b.drawing_ids[0] and rows[own.id]["shared"] == 0
    assert rows[own.id]["gap_days"] == pytest.approx(2.0)
    assert heat(tallies) == {"": 1, NECK: 1, SHOULDER: 1, TEMPLE: 1}
    assert tallies[(alice.clinic_id, "all", "")] == (1, 2)  # one patient, two drawings


def test_editing_a_drawing_its_time_completeness_and_marks(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        b = build(s, alice, drawings=[(0, [NECK]), (3, [NECK, TEMPLE])])
        rows, _ = in_step(s, alice.clinic_id)
        second = rows[b.drawing_ids[1]]
        assert (second["retest"], second["shared"], second["prev_regions"]) == (True, 1, 1)
        first = s.get(PainDrawing, b.drawing_ids[0])
        first.complete = False
        rows, _ = in_step(s, alice.clinic_id)
        assert rows[b.drawing_ids[1]]["retest"] is False  # a partial drawing makes no pair
        first.drawn_at = at(5)  # now drawn after the other one
        rows, tallies = in_step(s, alice.clinic_id)
        assert rows[b.drawing_ids[1]]["first"] is True and rows[b.drawing_ids[0]]["first"] is False
        assert heat(tallies, "first") == {"": 1, NECK: 1, TEMPLE: 1}
        # marks edited through the ORM: one removed (delete-orphan), one added
        second_drawing = s.get(PainDrawing, b.drawing_ids[1])
        second_drawing.marks = [m for m in second_drawing.marks if m.region_id != TEMPLE]
        second_drawing.marks.append(PainMark(region_id=SHOULDER, intensity=None))
        rows, tallies = in_step(s, alice.clinic_id)
    assert rows[b.drawing_ids[1]]["marks"] == sorted([NECK, SHOULDER])
    assert heat(tallies) == {"": 1, NECK: 1, SHOULDER: 1}


def test_deleting_a_drawing_and_a_visit(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        b = build(s, alice, drawings=[(0, [NECK]), (3, [TEMPLE]), (6, [SHOULDER])])
        s.delete(s.get(PainDrawing, b.drawing_ids[1]))
        rows, tallies = in_step(s, alice.clinic_id)
        assert set(rows) == {b.drawing_ids[0], b.drawing_ids[2]}
        assert rows[b.drawing_ids[2]]["prev_id"] == b.drawing_ids[0]
        assert heat(tallies) == {"": 1, NECK: 1, SHOULDER: 1}
        # the visit goes, and the database's cascade takes its drawing with it
        drawing = s.get(PainDrawing, b.drawing_ids[2])
        visit = s.get(Visit, drawing.visit_id)
        s.expunge(drawing)
        s.delete(visit)
        rows, tallies = in_step(s, alice.clinic_id)
    assert set(rows) == {b.drawing_ids[0]}
    assert heat(tallies) == {"": 1, NECK: 1}


def test_research_consent_recorded_and_withdrawn(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        b = build(s, alice, drawings=[(0, [NECK])], consent=False)
        rows, tallies = in_step(s, alice.clinic_id)
        assert rows[b.drawing_ids[0]]["research"] is False and tallies == {}
        consent_id = research_consent(s, alice, b.patient_id)
        rows, tallies = in_step(s, alice.clinic_id)
        assert rows[b.drawing_ids[0]]["research"] is True
        assert heat(tallies) == {"": 1, NECK: 1}
        withdraw(s, alice, consent_id)
        rows, tallies = in_step(s, alice.clinic_id)
    assert rows[b.drawing_ids[0]]["research"] is False and tallies == {}


def test_needling_sessions_signed_moved_and_deleted(alice):
    big = [NECK, SHOULDER, TEMPLE]
    with open_session(clinic_id=alice.clinic_id) as s:
        b = build(s, alice, drawings=[(0, big), (7, [NECK]), (14, [])])
        rows, _ = in_step(s, alice.clinic_id)
        assert not any(r["followup"] for r in rows.values())
        visit_id = s.get(PainDrawing, b.drawing_ids[0]).visit_id
        needle(s, alice, b, visit_id, at(0, 1), "upper_trapezius")  # signed, after day 0
        rows, _ = in_step(s, alice.clinic_id)
        last = rows[b.drawing_ids[2]]
        assert last["followup"] and last["before_extent"] == pytest.approx(
            rows[b.drawing_ids[0]]["extent"]
        )
        assert rows[b.drawing_ids[1]]["after_signed"] and not rows[b.drawing_ids[0]]["after_signed"]
        ns = s.scalars(select(NeedlingSession).where(NeedlingSession.visit_id == visit_id)).one()
        ns.opened_at = at(10)  # now between day 7 and day 14
        rows, _ = in_step(s, alice.clinic_id)
        assert rows[b.drawing_ids[1]]["retest"] is True  # 0 -> 7: no needling between
        assert rows[b.drawing_ids[2]]["retest"] is False  # 7 -> 14: needled on day 10
        ns.status = "open"
        rows, _ = in_step(s, alice.clinic_id)
        assert not any(r["followup"] or r["after_signed"] for r in rows.values())
        s.delete(ns)
        rows, _ = in_step(s, alice.clinic_id)
    assert rows[b.drawing_ids[2]]["retest"] is True


def test_a_visit_moved_to_another_episode(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        b = build(s, alice, drawings=[(0, [NECK]), (3, [TEMPLE])])
        other = records.create_episode(
            s,
            principal=alice.principal,
            patient_id=b.patient_id,
            data=EpisodeIn(complaint="Headache"),
        )
        visit = s.get(Visit, s.get(PainDrawing, b.drawing_ids[1]).visit_id)
        visit.episode_id = other.id
        rows, tallies = in_step(s, alice.clinic_id)
    assert rows[b.drawing_ids[1]]["episode_id"] == other.id
    assert rows[b.drawing_ids[1]]["first"] is True  # the first of its new episode
    assert heat(tallies, "first") == {"": 1, NECK: 1, TEMPLE: 1}


def test_bulk_update_and_delete_through_a_session(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        b = build(s, alice, drawings=[(0, [NECK, TEMPLE]), (3, [NECK])])
        s.execute(delete(PainMark).where(PainMark.region_id == TEMPLE))
        rows, tallies = in_step(s, alice.clinic_id)
        assert rows[b.drawing_ids[0]]["marks"] == [NECK] and heat(tallies) == {"": 1, NECK: 1}
        s.execute(update(PainDrawing).values(complete=False))
        rows, _ = in_step(s, alice.clinic_id)
        assert not any(r["complete"] or r["retest"] for r in rows.values())
        s.execute(delete(PainDrawing).where(PainDrawing.id == b.drawing_ids[1]))
        rows, tallies = in_step(s, alice.clinic_id)
    assert set(rows) == {b.drawing_ids[0]}
    assert tallies[(alice.clinic_id, "all", "")] == (1, 1)


def test_rebuild_gives_what_the_hooks_kept_and_missing_says_when_to(alice):
    from triggerpoint.migrate import backfill

    with open_session(clinic_id=alice.clinic_id) as s:
        for i in range(3):
            build(
                s,
                alice,
                drawings=[(0, [NECK, TEMPLE][: i + 1]), (2 + i, [NECK]), (9, [])],
                needled=[(4, "upper_trapezius")],
                consent=i != 1,
            )
        kept = in_step(s, alice.clinic_id)
        conn = s.connection()
        assert not derived.missing(conn)
        conn.execute(delete(PainmapDrawing))
        assert derived.missing(conn)
        backfill(conn)  # what migrate.upgrade runs once the schema is at head
        assert not derived.missing(conn)
        backfilled = derived.stored(conn, alice.clinic_id)
        assert derived.rebuild(conn, [alice.clinic_id]) == 9
        rebuilt = derived.stored(conn, alice.clinic_id)
    assert derived.same(rebuilt[0], kept[0]) and rebuilt[1] == kept[1]
    assert derived.same(backfilled[0], kept[0]) and backfilled[1] == kept[1]


def test_the_analyses_read_the_derived_rows(alice):
    """The page's numbers come from the derived rows: changed behind the hooks' back, the
    answer changes (and a rebuild puts it right)."""
    with open_session(clinic_id=alice.clinic_id) as s:
        b = build(s, alice, drawings=[(0, [NECK]), (2, [NECK])])
        s.flush()
        s.connection().execute(
            update(PainmapDrawing)
            .where(PainmapDrawing.drawing_id == b.drawing_ids[1])
            .values(retest=False)
        )
        out = service.analyse(s, principal=alice.principal, cohort=CohortFilter())
        assert out["agreement"].pairs == 0
        derived.rebuild(s.connection(), [alice.clinic_id])
        out = service.analyse(s, principal=alice.principal, cohort=CohortFilter())
    assert out["agreement"].pairs == 1


def test_a_date_range_keeps_the_stored_pairs_with_both_ends_inside(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK]), (2, [NECK]), (4, [TEMPLE])])
        start = (at(0) + timedelta(days=1)).date()
        out = service.analyse(s, principal=alice.principal, cohort=CohortFilter(date_from=start))
    assert out["agreement"].pairs == 1  # 2 -> 4 only: day 0 is outside
    assert out["values"]["jaccard"] == [0.0]


def test_a_drawings_patient_is_locked_before_the_drawing_is_inserted(alice, engine):
    """The lock order of `dashboard.tallies`: the patient FOR UPDATE comes before the INSERT
    whose foreign key takes a KEY SHARE lock on it (two writers would deadlock otherwise)."""
    from sqlalchemy import event

    from tests.personas import new_patient
    from triggerpoint.db import unit_of_work

    with open_session(clinic_id=alice.clinic_id) as s:
        pid = new_patient(s, alice)
        s.commit()
    seen: list[str] = []

    def capture(_conn, _cursor, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with unit_of_work(clinic_id=alice.clinic_id, engine=engine) as s:
            records.create_pain_drawing(
                s,
                principal=alice.principal,
                patient_id=pid,
                data=PainDrawingIn(complete=True, marks=[MarkIn(region=NECK)]),
            )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    insert = next(i for i, q in enumerate(seen) if q.startswith("INSERT INTO pain_drawing"))
    lock = next(
        (
            i
            for i, q in enumerate(seen)
            if q.startswith("SELECT patient.id FROM patient") and "ORDER BY patient.id" in q
        ),
        None,
    )
    assert lock is not None and lock < insert, seen[: insert + 3]
    if engine.dialect.name == "postgresql":
        assert seen[lock].endswith("FOR UPDATE")
    assert any(q.startswith("INSERT INTO painmap_drawing") for q in seen[insert:])
