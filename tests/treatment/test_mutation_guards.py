"""Needle count and signing rules that a mutation run showed were not pinned (issue 18).

Each test is a sentence a clinician would agree with; together they kill the survivors the
mutation run named: `needles_out or 0` → `or 1`, the "more needles out than in" check, the
`needles_unaccounted or 0` default and the version check in `sign`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.treatment.test_needling_flow import TRAP, Clinic
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.audit.models import AuditEvent
from triggerpoint.bodychart.catalog import load_catalog
from triggerpoint.db import open_session
from triggerpoint.errors import SafetyBlock
from triggerpoint.models import AdverseEvent, NeedleEntry, NeedlingSession, PlannedTarget
from triggerpoint.safety.entry import tp_region
from triggerpoint.treatment.schemas import AdverseEventIn
from triggerpoint.treatment.service import _require_accounted, report_adverse_event, unaccounted

BROKEN = {
    "type": "broken_or_retained_needle",
    "severity": "moderate",
    "action_taken": "Searched the couch and floor; patient informed; incident form filed",
}


@pytest.fixture
def clinic(app_client, world) -> Clinic:
    return Clinic(app_client, world.clinician_a)


def _charted(c: Clinic, needles_in: int, needles_out: int) -> tuple[int, dict]:
    _, _, sid = c.ready()
    for _ in range(needles_in):
        c.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    s = c.post(f"/api/needling-sessions/{sid}/count", {"needles_out": needles_out}, 200)
    return sid, s.json()


def _sign(c: Clinic, sid: int, version: int, expect: int):
    return c.post(f"/api/needling-sessions/{sid}/sign", {"version": version}, expect)


def _status(c: Clinic, sid: int) -> str:
    return c.c.get(f"/api/needling-sessions/{sid}", headers=c.h).json()["status"]


def test_one_needle_in_and_none_out_cannot_be_signed(clinic):
    sid, s = _charted(clinic, needles_in=1, needles_out=0)
    assert s["needles_out"] == 0
    assert "1 needle(s) unaccounted" in _sign(clinic, sid, s["version"], 409).text
    assert _status(clinic, sid) == "open"


def test_two_needles_out_after_one_in_are_refused_at_the_count(clinic):
    _, _, sid = clinic.ready()
    clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    r = clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 2}, 422)
    assert r.json()["detail"][0]["loc"][-1] == "needles_out"
    count = clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()
    assert count["needles_out"] is None  # nothing half-written


def test_a_count_stored_before_the_rule_still_cannot_be_signed(clinic, engine):
    """Sessions counted before the count was checked can hold more out than in: signing is
    the backstop that still refuses them."""
    sid, _ = _charted(clinic, needles_in=1, needles_out=1)
    with open_session(clinic_id=None, engine=engine) as db:
        db.scalars(select(NeedlingSession).where(NeedlingSession.id == sid)).one().needles_out = 2
        db.commit()
    version = clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()["version"]
    r = _sign(clinic, sid, version, 409)
    assert "more needles out (2) than in (1)" in r.text
    assert _status(clinic, sid) == "open"


def test_a_session_with_no_needles_and_a_count_of_none_out_can_be_signed(clinic):
    sid, s = _charted(clinic, needles_in=0, needles_out=0)
    assert _sign(clinic, sid, s["version"], 200).json()["status"] == "signed"


def test_an_incident_that_gives_no_needle_count_covers_no_missing_needle(clinic):
    sid, s = _charted(clinic, needles_in=2, needles_out=1)
    clinic.post(f"/api/needling-sessions/{sid}/adverse-events", BROKEN, 201)
    assert "1 needle(s) unaccounted" in _sign(clinic, sid, s["version"], 409).text
    assert _status(clinic, sid) == "open"


def test_an_incident_for_one_needle_does_not_cover_two_missing_needles(clinic):
    sid, s = _charted(clinic, needles_in=3, needles_out=1)
    clinic.post(
        f"/api/needling-sessions/{sid}/adverse-events", {**BROKEN, "needles_unaccounted": 1}, 201
    )
    assert "1 needle(s) unaccounted" in _sign(clinic, sid, s["version"], 409).text


def test_a_stale_version_of_an_open_session_cannot_be_signed(clinic):
    sid, s = _charted(clinic, needles_in=1, needles_out=1)
    assert s["version"] > 1
    r = _sign(clinic, sid, s["version"] - 1, 409)
    assert "changed since you loaded it" in r.text
    assert _status(clinic, sid) == "open"
    assert _sign(clinic, sid, s["version"], 200).json()["status"] == "signed"


def test_a_version_from_the_future_cannot_be_signed_either(clinic):
    sid, s = _charted(clinic, needles_in=1, needles_out=1)
    assert "changed since you loaded it" in _sign(clinic, sid, s["version"] + 1, 409).text
    assert _status(clinic, sid) == "open"


# The same rules on the model alone (no database): every needle in is out or covered.


def _session(needles_in: int, needles_out: int | None, *incidents: AdverseEvent):
    ns = NeedlingSession(needles_out=needles_out)
    ns.entries = [NeedleEntry(seq=i + 1) for i in range(needles_in)]
    ns.adverse_events = list(incidents)
    return ns


def _incident(kind: str = "broken_or_retained_needle", needles: int | None = None):
    return AdverseEvent(type=kind, needles_unaccounted=needles)


@pytest.mark.parametrize(
    ("needles_in", "needles_out", "incidents", "missing"),
    [
        (1, 0, (), 1),
        (1, 1, (), 0),
        (2, 1, (), 1),
        (1, 2, (), -1),
        (0, 0, (), 0),
        (2, 1, (_incident(needles=None),), 1),
        (3, 1, (_incident(needles=1),), 1),
        (3, 1, (_incident(needles=2),), 0),
        (3, 1, (_incident(needles=1), _incident(needles=1)), 0),
        (2, 1, (_incident("bruising"),), 1),
    ],
)
def test_needles_unaccounted_for_are_those_in_less_those_out_less_those_reported_lost(
    needles_in, needles_out, incidents, missing
):
    assert unaccounted(_session(needles_in, needles_out, *incidents)) == missing


def test_a_session_whose_needles_were_never_counted_cannot_be_signed():
    with pytest.raises(SafetyBlock, match=r"^count the needles out before signing$"):
        _require_accounted(_session(0, None))


@pytest.mark.parametrize(("needles_in", "needles_out"), [(1, 0), (2, 1)])
def test_a_needle_still_in_the_patient_blocks_signing(needles_in, needles_out):
    with pytest.raises(SafetyBlock, match=r"^1 needle\(s\) unaccounted for"):
        _require_accounted(_session(needles_in, needles_out))


def test_more_needles_out_than_in_blocks_signing():
    with pytest.raises(
        SafetyBlock, match=r"^more needles out \(2\) than in \(1\): recount before signing$"
    ):
        _require_accounted(_session(1, 2))


@pytest.mark.parametrize(("needles_in", "needles_out"), [(0, 0), (1, 1), (3, 3)])
def test_every_needle_out_allows_signing(needles_in, needles_out):
    _require_accounted(_session(needles_in, needles_out))


# --- every charting step is stored as given and leaves its audit event ---------------------


def _row(model, row_id: int):
    return select(model).where(model.id == row_id).execution_options(skip_tenancy=True)


def _events(engine, entity: str) -> list:
    with open_session(clinic_id=None, engine=engine) as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.id)
        ).all()
        return [(e.action, e.entity_id, e.user_id, e.detail) for e in rows]


def test_a_planned_target_is_stored_as_planned_and_audited(clinic, engine, world):
    _, _, sid = clinic.ready()
    body = {
        "muscle": "upper trapezius",
        "side": "right",
        "trigger_point_id": "tp1",
        "source": "suggestion",
        "probability": 0.62,
    }
    (planned,) = clinic.post(f"/api/needling-sessions/{sid}/targets", body, 201).json()["targets"]
    tid = planned["id"]
    assert (planned["source"], planned["probability"]) == ("suggestion", 0.62)
    with open_session(clinic_id=None, engine=engine) as s:
        t = s.scalars(_row(PlannedTarget, tid)).one()
        stored = (t.needling_id, t.muscle_id, t.side, t.trigger_point_id, t.source, t.probability)
    assert stored == (sid, "upper_trapezius", "right", "tp1", "suggestion", 0.62)
    assert _events(engine, "planned_target")[-1] == (
        "create",
        str(tid),
        world.clinician_a.principal.user_id,
        {"session_id": sid, "muscle": "upper_trapezius"},
    )


def test_a_target_in_a_restricted_limb_cannot_be_planned_and_says_every_reason(clinic):
    region = tp_region(load_atlas().muscles["deltoid"], "middle", "left")
    place = load_catalog().regions[region].name
    _, _, sid = clinic.ready(lymphoedema="left arm", recent_surgery=place)
    arm = {"muscle": "deltoid", "side": "left", "trigger_point_id": "middle"}
    detail = clinic.post(f"/api/needling-sessions/{sid}/targets", arm, 409).json()["detail"]
    assert detail.startswith(
        "cannot plan this target: Deltoid (left, trigger point middle) lies in"
    )
    limb, surgery = detail.removeprefix("cannot plan this target: ").split("; ")
    assert "Lymphoedema" in limb and "Recent surgery" in surgery


def test_nothing_can_be_charted_on_an_unknown_session(clinic):
    r = clinic.post("/api/needling-sessions/999999/entries", TRAP, 404)
    assert r.json()["detail"] == "needling session 999999 not found"


def test_a_signed_session_refuses_new_needles_and_says_to_add_an_addendum(clinic):
    sid, s = _charted(clinic, needles_in=0, needles_out=0)
    _sign(clinic, sid, s["version"], 200)
    r = clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 409)
    assert r.json()["detail"] == (
        f"needling session {sid} is signed and cannot change; add an addendum instead"
    )


@pytest.mark.parametrize("path", ["targets", "entries"])
def test_an_unknown_muscle_is_refused_naming_the_muscle_field(clinic, path):
    _, _, sid = clinic.ready()
    body = (
        {**TRAP, "muscle": "no such muscle"}
        if path == "entries"
        else {
            "muscle": "no such muscle",
            "side": "right",
        }
    )
    r = clinic.post(f"/api/needling-sessions/{sid}/{path}", body, 422)
    assert r.json()["detail"][0]["loc"] == ["body", "muscle"]


def test_the_needle_count_is_audited_with_the_needles_in_and_out(clinic, engine):
    sid, _ = _charted(clinic, needles_in=2, needles_out=1)
    assert _events(engine, "needling_session")[-1][:2] == ("count", str(sid))
    assert _events(engine, "needling_session")[-1][3] == {"in": 2, "out": 1}


def test_an_adverse_event_is_stored_with_its_reporter_and_audited(clinic, engine, world):
    _, _, sid = clinic.ready()
    body = {"type": "bruising", "severity": "mild", "action_taken": "Pressure applied"}
    aid = clinic.post(f"/api/needling-sessions/{sid}/adverse-events", body, 201).json()["id"]
    me = world.clinician_a.principal.user_id
    with open_session(clinic_id=None, engine=engine) as s:
        assert s.scalars(_row(AdverseEvent, aid)).one().reported_by == me
    assert _events(engine, "adverse_event")[-1] == (
        "create",
        str(aid),
        me,
        {"session_id": sid, "type": "bruising", "severity": "mild"},
    )


def test_an_adverse_event_on_an_unknown_session_names_the_session(clinic):
    body = {"type": "bruising", "severity": "mild", "action_taken": "Pressure applied"}
    r = clinic.post("/api/needling-sessions/999999/adverse-events", body, 404)
    assert r.json()["detail"] == "needling session 999999 not found"


def test_signing_is_audited_with_the_number_of_needles(clinic, engine):
    sid, s = _charted(clinic, needles_in=2, needles_out=2)
    _sign(clinic, sid, s["version"], 200)
    assert _events(engine, "needling_session")[-1][:2] == ("sign", str(sid))
    assert _events(engine, "needling_session")[-1][3] == {"needles": 2}


def test_each_needle_is_charted_as_given_in_order_and_by_its_clinician(clinic, engine, world):
    _, _, sid = clinic.ready()
    url = f"/api/needling-sessions/{sid}/entries"
    estim = {"frequency_hz": 2.0, "pulse_width_us": 250.0, "intensity_ma": 5.0}
    clinic.post(url, {**TRAP, "technique": "electrical", "estim": estim}, 201)
    ql = {
        **TRAP,
        "muscle": "quadratus_lumborum",
        "side": "left",
        "depth_mm": 40,
        "pleural_recess_acknowledged": True,
    }
    clinic.post(url, ql, 201)
    entries = clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()["entries"]
    assert [e["seq"] for e in entries] == [1, 2]
    first, second = entries
    assert first["estim"] == estim and first["trigger_point_id"] == "tp1"
    assert second["pleural_recess_acknowledged"] is True and second["estim"] is None
    qlm = next(m for m in load_atlas().muscles.values() if m.id == "quadratus_lumborum")
    assert second["trigger_point_id"] == qlm.trigger_points[0].id
    with open_session(clinic_id=None, engine=engine) as s:
        rows = [s.scalars(_row(NeedleEntry, e["id"])).one() for e in entries]
        assert {(r.needling_id, r.created_by) for r in rows} == {
            (sid, world.clinician_a.principal.user_id)
        }


# --- the entry rules of the full treatment table (second mutation run) ----------------------

GASTROCNEMIUS = {
    "muscle": "gastrocnemius",
    "side": "left",
    "trigger_point_id": "tp2",
    "needle_diameter_mm": 0.3,
    "needle_length_mm": 60,
    "technique": "electrical",
    "estim": {"frequency_hz": 4.0, "pulse_width_us": 200.0, "intensity_ma": 3.5},
    "depth_mm": 35.5,
    "twitch_count": 7,
    "familiar_pain": False,
    "duration_s": 600,
    "over_limit_reason": "not over any limit",
}


def _entries(c: Clinic, sid: int) -> list[dict]:
    return c.c.get(f"/api/needling-sessions/{sid}", headers=c.h).json()["entries"]


def test_every_detail_of_a_needle_is_charted_exactly_as_given(clinic, engine, world):
    _, _, sid = clinic.ready()
    clinic.post(f"/api/needling-sessions/{sid}/entries", GASTROCNEMIUS, 201)
    (e,) = _entries(clinic, sid)
    given = {k: v for k, v in GASTROCNEMIUS.items() if k not in ("muscle", "over_limit_reason")}
    assert {k: e[k] for k in given} == given
    assert e["muscle_id"] == "gastrocnemius" and e["seq"] == 1
    # the calf is not over the lung: no thorax limit, and a reason for going "over" is not kept
    assert e["depth_limit_mm"] is None and e["over_limit_reason"] is None
    assert e["pleural_recess_acknowledged"] is False
    with open_session(clinic_id=None, engine=engine) as s:
        row = s.scalars(_row(NeedleEntry, e["id"])).one()
        assert (row.needling_id, row.created_by) == (sid, world.clinician_a.principal.user_id)
    assert _events(engine, "needle_entry")[-1] == (
        "create",
        str(e["id"]),
        world.clinician_a.principal.user_id,
        {"session_id": sid, "muscle": "gastrocnemius", "depth_mm": 35.5},
    )


@pytest.mark.parametrize(("depth", "needs_reason"), [(16.9, False), (17.0, False), (17.1, True)])
def test_over_the_lung_a_patient_of_bmi_22_9_may_be_needled_to_17_mm_and_no_deeper(
    clinic, depth, needs_reason
):
    pid = clinic.patient(weight=70, height=175)  # BMI 22.9: 17 mm over the thorax
    _, _, sid = clinic.ready(pid)
    url = f"/api/needling-sessions/{sid}/entries"
    r = clinic.post(url, {**TRAP, "depth_mm": depth, "over_limit_reason": None})
    if needs_reason:
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "over_limit_reason"]
        assert _entries(clinic, sid) == []
    else:
        assert r.status_code == 201, r.text
        (e,) = _entries(clinic, sid)
        assert (e["depth_mm"], e["depth_limit_mm"], e["over_limit_reason"]) == (depth, 17.0, None)


def test_a_reason_given_for_a_needle_within_the_thorax_limit_is_not_recorded_as_over(clinic):
    _, _, sid = clinic.ready()
    body = {**TRAP, "depth_mm": 12, "over_limit_reason": "Pincer grip"}
    clinic.post(f"/api/needling-sessions/{sid}/entries", body, 201)
    (e,) = _entries(clinic, sid)
    assert (e["depth_limit_mm"], e["over_limit_reason"]) == (17.0, None)


def test_the_second_and_third_needles_are_numbered_2_and_3(clinic):
    _, _, sid = clinic.ready()
    for _ in range(3):
        clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    assert [e["seq"] for e in _entries(clinic, sid)] == [1, 2, 3]


def test_a_patient_with_only_a_pacemaker_cannot_have_electrical_stimulation(clinic):
    _, _, sid = clinic.ready(pacemaker=None)
    estim = {"frequency_hz": 2, "pulse_width_us": 250, "intensity_ma": 5}
    url = f"/api/needling-sessions/{sid}/entries"
    r = clinic.post(url, {**TRAP, "technique": "electrical", "estim": estim}, 409)
    assert "electrical stimulation is contraindicated" in r.json()["detail"]
    assert _entries(clinic, sid) == []
    clinic.post(url, TRAP, 201)  # dry needling without current is allowed


@pytest.mark.parametrize("step", ["targets", "count", "sign"])
def test_a_signed_session_refuses_planning_recounting_and_signing_again(clinic, step):
    sid, s = _charted(clinic, needles_in=0, needles_out=0)
    _sign(clinic, sid, s["version"], 200)
    body = {
        "targets": {"muscle": "upper trapezius", "side": "right"},
        "count": {"needles_out": 0},
        "sign": {"version": s["version"] + 1},
    }[step]
    r = clinic.post(f"/api/needling-sessions/{sid}/{step}", body, 409)
    assert r.json()["detail"] == (
        f"needling session {sid} is signed and cannot change; add an addendum instead"
    )


@pytest.mark.parametrize("step", ["targets", "count", "sign", "adverse-events"])
def test_nothing_can_be_recorded_on_an_unknown_session(clinic, step):
    body = {
        "targets": {"muscle": "upper trapezius", "side": "right"},
        "count": {"needles_out": 0},
        "sign": {"version": 1},
        "adverse-events": {"type": "bruising", "severity": "mild", "action_taken": "Pressure"},
    }[step]
    r = clinic.post(f"/api/needling-sessions/999999/{step}", body, 404)
    assert r.json()["detail"] == "needling session 999999 not found"


@pytest.mark.parametrize("step", ["entries", "targets", "count", "sign", "adverse-events"])
def test_an_assistant_can_neither_chart_nor_report_on_a_needling_session(
    app_client, world, clinic, step
):
    sid, s = _charted(clinic, needles_in=0, needles_out=0)
    body = {
        "entries": TRAP,
        "targets": {"muscle": "upper trapezius", "side": "right"},
        "count": {"needles_out": 0},
        "sign": {"version": s["version"]},
        "adverse-events": {"type": "bruising", "severity": "mild", "action_taken": "Pressure"},
    }[step]
    assistant = Clinic(app_client, world.assistant_a)
    assistant.post(f"/api/needling-sessions/{sid}/{step}", body, 403)
    assert _status(clinic, sid) == "open"


def test_an_adverse_event_is_filed_against_the_session_and_its_patient_as_reported(clinic, engine):
    pid, _, sid = clinic.ready()
    body = {
        **BROKEN,
        "description": "Needle tip lost in the couch",
        "follow_up": "Review in 1 week",
        "needles_unaccounted": 2,
    }
    aid = clinic.post(f"/api/needling-sessions/{sid}/adverse-events", body, 201).json()["id"]
    with open_session(clinic_id=None, engine=engine) as s:
        ae = s.scalars(_row(AdverseEvent, aid)).one()
        stored = {k: getattr(ae, k) for k in body}
        assert (ae.needling_id, ae.patient_id) == (sid, pid)
    assert stored == body


def test_a_signed_session_records_who_signed_it_and_when(clinic, engine, world):
    sid, s = _charted(clinic, needles_in=1, needles_out=1)
    signed = _sign(clinic, sid, s["version"], 200).json()
    assert signed["status"] == "signed" and signed["signed_at"]
    with open_session(clinic_id=None, engine=engine) as db:
        ns = db.scalars(_row(NeedlingSession, sid)).one()
        assert ns.signed_by == world.clinician_a.principal.user_id
        assert ns.signed_at is not None and ns.needles_out == 1


def test_planning_refuses_a_target_for_every_reason_charting_refuses_the_needle(clinic):
    region = tp_region(load_atlas().muscles["deltoid"], "middle", "left")
    place = load_catalog().regions[region].name
    _, _, sid = clinic.ready(lymphoedema="left arm", recent_surgery=place)
    arm = {"muscle": "deltoid", "side": "left", "trigger_point_id": "middle"}
    url = f"/api/needling-sessions/{sid}"
    charted = clinic.post(f"{url}/entries", {**TRAP, **arm}, 409).json()["detail"]
    assert charted.count("; ") == 1  # the limb and the surgical site
    planned = clinic.post(f"{url}/targets", arm, 409).json()["detail"]
    assert planned == f"cannot plan this target: {charted}"


def test_too_many_needles_out_tells_the_clinician_what_to_do(clinic):
    _, _, sid = clinic.ready()
    clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    r = clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 3}, 422)
    message = r.json()["detail"][0]["msg"]
    assert "3 needles out is more than the 1 charted in" in message
    assert "recount, or chart the missing needles first" in message


def test_a_past_adverse_event_keeps_the_time_it_was_reported(clinic, engine, world):
    """The demo generator reports incidents of past visits at their own time, not now."""
    _, _, sid = clinic.ready()
    then = datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
    alice = world.clinician_a
    with open_session(clinic_id=alice.principal.clinic_id, engine=engine) as s:
        data = AdverseEventIn.model_validate(BROKEN)
        ae = report_adverse_event(
            s, principal=alice.principal, needling_id=sid, data=data, reported_at=then
        )
        s.commit()
        aid = ae.id
    with open_session(clinic_id=None, engine=engine) as s:
        stored = s.scalars(_row(AdverseEvent, aid)).one().reported_at
    assert stored == then
