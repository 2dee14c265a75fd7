"""Palpation findings over the API on both engines: record, update the same site, list,
remove, and every way around the rules (unknown sites, signed visits, other clinics, roles,
bad input). Each test is a sentence about the clinic."""

from __future__ import annotations

from sqlalchemy import select

from tests.examination.conftest import Palpation
from tests.notes.conftest import NOTE, Notes
from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import open_session
from triggerpoint.examination.models import PalpationFinding

TRAPEZIUS = {"site": "right upper trapezius", "finding": "familiar", "twitch": True}


def _rows(visit_id: int) -> list[PalpationFinding]:
    with open_session(clinic_id=None) as s:
        return list(
            s.scalars(select(PalpationFinding).where(PalpationFinding.visit_id == visit_id))
        )


def _events(entity_id: int) -> list[tuple[str, str]]:
    with open_session(clinic_id=None) as s:
        rows = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == "palpation_finding", AuditEvent.entity_id == str(entity_id))
            .order_by(AuditEvent.id)
        )
        return [(e.action, e.actor) for e in rows]


def test_a_finding_is_recorded_with_its_site_resolved_and_listed(palpation, visit_id):
    out = palpation.record(visit_id, TRAPEZIUS)
    assert out["muscle_id"] == "upper_trapezius" and out["side"] == "right"
    assert out["trigger_point_id"] is None  # no point named: the whole muscle-side
    assert out["finding"] == "familiar" and out["twitch"] is True and out["referral"] is None
    assert out["label"] == "right upper trapezius"
    assert out["summary"] == "right upper trapezius: familiar pain reproduced"
    point = palpation.record(
        visit_id,
        {
            "muscle_id": "levator_scapulae",
            "side": "right",
            "trigger_point_id": "lower",
            "finding": "tender",
            "referral": True,
            "note": "taut band, no familiar pain",
        },
    )
    assert point["trigger_point_id"] == "lower" and point["label"].startswith(
        "right levator scapulae lower trigger point"
    )
    listed = palpation.list(visit_id)
    assert [f["id"] for f in listed] == [out["id"], point["id"]]
    assert listed[1]["note"] == "taut band, no familiar pain"


def test_the_positional_name_tp1_names_the_first_trigger_point(palpation, visit_id):
    out = palpation.record(visit_id, {"site": "Right Levator Scapulae TP1", "finding": "none"})
    assert (out["muscle_id"], out["trigger_point_id"]) == ("levator_scapulae", "upper")


def test_palpating_the_same_site_again_updates_the_finding_and_audits_both(palpation, visit_id):
    first = palpation.record(visit_id, TRAPEZIUS)
    again = palpation.record(visit_id, {"site": "right upper trapezius", "finding": "tender"})
    assert again["id"] == first["id"] and again["finding"] == "tender"
    assert again["twitch"] is None  # the new finding replaces the old one entirely
    assert [r.finding for r in _rows(visit_id)] == ["tender"]
    assert [a for a, _ in _events(first["id"])] == ["create", "update"]
    assert {who for _, who in _events(first["id"])} == {"alice"}


def test_a_muscle_level_and_a_point_finding_on_one_muscle_are_two_sites(palpation, visit_id):
    whole = palpation.record(visit_id, {"site": "right levator scapulae", "finding": "tender"})
    upper = palpation.record(visit_id, {"site": "right levator scapulae upper", "finding": "none"})
    left = palpation.record(visit_id, {"site": "left levator scapulae", "finding": "none"})
    assert len({whole["id"], upper["id"], left["id"]}) == 3
    assert len(_rows(visit_id)) == 3


def test_an_unknown_site_is_422_naming_the_field_with_nearest_names(palpation, visit_id):
    bad = palpation.record(visit_id, {"site": "right upper trapezus", "finding": "none"}, 422)
    err = bad["detail"][0]
    assert err["loc"] == ["body", "site"]
    assert "trapezius" in err["msg"].lower()
    bad_tp = palpation.record(
        visit_id,
        {
            "muscle_id": "levator_scapulae",
            "side": "right",
            "trigger_point_id": "middle",
            "finding": "none",
        },
        422,
    )
    assert bad_tp["detail"][0]["loc"] == ["body", "trigger_point_id"]
    assert "upper" in bad_tp["detail"][0]["msg"]
    no_side = palpation.record(visit_id, {"site": "upper trapezius", "finding": "none"}, 422)
    assert no_side["detail"][0]["loc"] == ["body", "site"]
    assert _rows(visit_id) == []


def test_a_finding_must_be_familiar_tender_or_none_and_a_note_short(palpation, visit_id):
    wrong = palpation.record(visit_id, {"site": "right upper trapezius", "finding": "active"}, 422)
    assert wrong["detail"][0]["loc"] == ["body", "finding"]
    twitch = palpation.record(
        visit_id, {"site": "right upper trapezius", "finding": "none", "twitch": "maybe"}, 422
    )
    assert twitch["detail"][0]["loc"] == ["body", "twitch"]
    long = palpation.record(
        visit_id, {"site": "right upper trapezius", "finding": "none", "note": "x" * 2001}, 422
    )
    assert long["detail"][0]["loc"] == ["body", "note"]
    both = palpation.record(
        visit_id,
        {"site": "right upper trapezius", "muscle_id": "upper_trapezius", "finding": "none"},
        422,
    )
    assert both["detail"][0]["loc"][0] == "body"
    assert _rows(visit_id) == []


def test_remove_takes_the_finding_out_and_is_audited(palpation, visit_id):
    out = palpation.record(visit_id, TRAPEZIUS)
    assert palpation.remove(visit_id, out["id"]) == []
    assert _rows(visit_id) == []
    assert [a for a, _ in _events(out["id"])] == ["create", "delete"]
    palpation.remove(visit_id, out["id"], 404)


def test_a_finding_of_another_visit_is_not_found_under_this_one(
    palpation, visit_id, app_client, alice
):
    from tests.notes.conftest import plain_visit

    other = plain_visit(app_client, alice)
    out = palpation.record(other, TRAPEZIUS)
    palpation.remove(visit_id, out["id"], 404)
    assert len(_rows(other)) == 1


def test_a_signed_note_freezes_the_visits_findings(palpation, visit_id, app_client, alice):
    out = palpation.record(visit_id, TRAPEZIUS)
    notes = Notes(app_client, alice)
    note = notes.put(visit_id, NOTE)
    notes.sign(visit_id, note["version"])
    refused = palpation.record(visit_id, {"site": "right upper trapezius", "finding": "none"}, 409)
    assert "signed" in refused["detail"]
    assert "signed" in palpation.remove(visit_id, out["id"], 409)["detail"]
    assert [r.finding for r in _rows(visit_id)] == ["familiar"]
    assert len(palpation.list(visit_id)) == 1  # still readable


def test_a_signed_needling_session_freezes_the_findings_without_a_note(palpation, needled):
    palpation.record(needled.visit_id, TRAPEZIUS)
    needled.count_and_sign()
    refused = palpation.record(
        needled.visit_id, {"site": "left upper trapezius", "finding": "none"}, 409
    )
    assert "needling session is signed" in refused["detail"]
    assert len(_rows(needled.visit_id)) == 1


def test_another_clinic_finds_neither_the_visit_nor_its_findings(
    palpation, visit_id, app_client, carol
):
    out = palpation.record(visit_id, TRAPEZIUS)
    theirs = Palpation(app_client, carol)
    for answer in (
        theirs.list(visit_id, 404),
        theirs.record(visit_id, TRAPEZIUS, 404),
        theirs.remove(visit_id, out["id"], 404),
    ):
        assert "not found" in answer["detail"]
    assert [r.finding for r in _rows(visit_id)] == ["familiar"]


def test_an_assistant_neither_reads_nor_records_findings(palpation, visit_id, app_client, bob):
    palpation.record(visit_id, TRAPEZIUS)
    front_desk = Palpation(app_client, bob)
    assert "clinical" in front_desk.list(visit_id, 403)["detail"]
    front_desk.record(visit_id, TRAPEZIUS, 403)
    assert len(_rows(visit_id)) == 1


def test_an_unknown_visit_is_404(palpation):
    palpation.list(2_000_000, 404)
    palpation.record(2_000_000, TRAPEZIUS, 404)


def test_hostile_bodies_are_422_never_500(palpation, visit_id):
    raw = palpation.client
    url = f"/api/visits/{visit_id}/palpation"
    bodies = [
        '{"site": "right upper trapezius\\u0000", "finding": "none"}',
        '{"site": "right upper trapezius\\ud800", "finding": "none"}',
        '{"site": "right upper trapezius", "finding": "none", "twitch": NaN}',
        '{"site": "right upper trapezius", "finding": "none", "extra": 1}',
        '{"site": ["right upper trapezius"], "finding": "none"}',
        '{"site": "' + "x" * 201 + '", "finding": "none"}',
        '{"muscle_id": "upper_trapezius", "side": "middle", "finding": "none"}',
        '{"site": "right upper trapezius tp99", "finding": "none"}',
        "[]",
    ]
    for body in bodies:
        r = raw.post(
            url,
            content=body,
            headers={**palpation.person.headers, "content-type": "application/json"},
        )
        assert r.status_code == 422, (body, r.status_code, r.text)
    assert _rows(visit_id) == []
