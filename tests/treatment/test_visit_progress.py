"""The visit's stepper has one home, `treatment.service.visit_progress` (`progress_steps` over
`visit_facts`): each step done, needed or blocked, and a blocked step says what unblocks it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.treatment.test_needling_flow import TRAP, Clinic
from triggerpoint.db import open_session
from triggerpoint.treatment import service
from triggerpoint.treatment.service import VisitFacts, progress_steps

KEYS = ["drawing", "screening", "consent", "suggest", "exam", "needles", "outcomes", "sign"]
SIGNED_AT = datetime(2026, 11, 20, 9, tzinfo=UTC)
READY = VisitFacts(
    drawing_regions=3,
    screening_outcome="cleared",
    screening_holds=True,
    consent_signed_at=SIGNED_AT,
)


def states(f: VisitFacts) -> dict[str, str]:
    return {s.key: s.state for s in progress_steps(f)}


def step(f: VisitFacts, key: str):
    return next(s for s in progress_steps(f) if s.key == key)


def test_a_new_visit_needs_everything_and_blocks_what_depends_on_it():
    steps = progress_steps(VisitFacts())
    assert [s.key for s in steps] == KEYS and [s.number for s in steps] == list(range(1, 9))
    assert states(VisitFacts()) == {
        "drawing": "needed",
        "screening": "needed",
        "consent": "needed",
        "suggest": "blocked",
        "exam": "needed",
        "needles": "blocked",
        "outcomes": "needed",
        "sign": "blocked",
    }
    for s in steps:
        if s.state == "blocked":
            assert s.unblock and s.unblock_anchor in KEYS, s
        else:
            assert s.unblock is None


@pytest.mark.parametrize(
    ("facts", "anchor", "words"),
    [
        (replace(READY, screening_outcome=None, screening_holds=False), "screening", "Screen"),
        (replace(READY, screening_holds=False), "screening", "Confirm the screening"),
        (replace(READY, screening_outcome="not_cleared"), "screening", "not cleared"),
        (replace(READY, consent_signed_at=None), "consent", "consent"),
    ],
    ids=["not screened", "not confirmed", "not cleared", "no consent"],
)
def test_needling_is_blocked_by_each_gate_with_a_link_to_its_step(facts, anchor, words):
    needles = step(facts, "needles")
    assert needles.state == "blocked"
    assert needles.unblock_anchor == anchor and words in needles.unblock


def test_with_every_gate_passed_the_session_is_needed_not_blocked():
    assert step(READY, "needles").state == "needed"
    assert "Open" in step(READY, "needles").summary
    assert step(READY, "sign").state == "blocked"  # nothing to sign before a session


def test_needles_and_sign_follow_the_count():
    open_ = replace(READY, session_status="open", targets=2)
    assert states(open_)["suggest"] == "done"
    assert step(open_, "needles").summary == "No needles charted yet"
    charted = replace(open_, needles_in=3, unaccounted=3)
    assert states(charted)["needles"] == "needed"
    assert step(charted, "sign").unblock == "Count the needles out"
    short = replace(charted, needles_out=2, unaccounted=1)
    assert step(short, "sign").state == "blocked" and "1 needle(s)" in step(short, "sign").unblock
    counted = replace(charted, needles_out=3, unaccounted=0)
    assert states(counted)["needles"] == "done" and states(counted)["sign"] == "needed"
    signed = replace(counted, session_status="signed")
    assert states(signed)["needles"] == "done" and states(signed)["sign"] == "done"


def test_outcomes_need_nprs_before_and_after():
    assert step(READY, "outcomes").summary == "NPRS before and after needling"
    assert step(replace(READY, nprs_pre=6), "outcomes").summary == "NPRS after needling"
    done = step(replace(READY, nprs_pre=6, nprs_post=3), "outcomes")
    assert done.state == "done" and done.summary == "NPRS 6 → 3"


def test_exam_is_done_by_a_diagnosis_or_an_examination_note():
    assert states(READY)["exam"] == "needed"
    assert states(replace(READY, diagnosed=True))["exam"] == "done"
    assert states(replace(READY, examined=True))["exam"] == "done"


def test_a_drawing_without_pain_still_counts_as_drawn():
    f = replace(READY, drawing_regions=0)
    assert states(f)["drawing"] == "done" and step(f, "drawing").summary == "No pain marked"
    assert states(f)["suggest"] == "needed"


# --- visit_progress reads the facts from the records ------------------------------------


@pytest.fixture
def clinic(app_client, alice):
    return Clinic(app_client, alice)


def progress(alice, vid: int) -> dict[str, str]:
    with open_session(clinic_id=alice.clinic_id) as s:
        return {
            st.key: st.state
            for st in service.visit_progress(s, principal=alice.principal, visit_id=vid)
        }


def test_visit_progress_follows_the_visit_from_start_to_signature(clinic, alice):
    pid = clinic.patient()
    now = datetime.now(UTC).isoformat()
    vid = clinic.post(f"/api/patients/{pid}/visits", {"visit_at": now}, 201).json()["id"]
    assert progress(alice, vid)["needles"] == "blocked"
    clinic.post(
        f"/api/patients/{pid}/pain-drawings?visit_id={vid}",
        {"complete": True, "marks": [{"region": "right temple", "intensity": 6}]},
        201,
    )
    clinic.screen(pid)  # at this visit: counts without a separate confirmation
    assert progress(alice, vid)["screening"] == "done"
    assert progress(alice, vid)["needles"] == "blocked"  # still no consent
    clinic.consent(pid)
    p = progress(alice, vid)
    assert p["drawing"] == p["consent"] == "done" and p["needles"] == "needed"
    sid = clinic.post("/api/needling-sessions", {"visit_id": vid}, 201).json()["id"]
    clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    for timing, score in (("pre", 6), ("post", 3)):
        clinic.post(
            f"/api/patients/{pid}/measurements",
            {
                "instrument": "nprs",
                "data": {"current": score},
                "timing": timing,
                "visit_id": vid,
                "measured_at": now,
            },
            201,
        )
    p = progress(alice, vid)
    assert p["outcomes"] == "done" and p["needles"] == "needed" and p["sign"] == "blocked"
    s = clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200).json()
    assert progress(alice, vid)["sign"] == "needed"
    clinic.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
    p = progress(alice, vid)
    assert p["needles"] == p["sign"] == "done"


def test_another_clinics_visit_has_no_progress(clinic, carol):
    vid = clinic.visit(clinic.patient())
    from triggerpoint.errors import NotFound

    with open_session(clinic_id=carol.clinic_id) as s, pytest.raises(NotFound):
        service.visit_progress(s, principal=carol.principal, visit_id=vid)
