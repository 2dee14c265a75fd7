"""Every restriction kind crossed with every write path that charts a needle.

Each cell charts the forbidden entry (refused: 409 or 422, nothing written) and an allowed one
(accepted) for a patient screened with that answer. The paths: the JSON API, the bedside form,
and the demo generators (the demo clinic charts through `treatment.service`, as the form; the
bulk registry builds rows but meets the same `safety.entry` check).
FHIR import and the CLI import are crossed with the same cases in tests/interop.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.demo.generator import needle_entry
from triggerpoint.errors import InvalidInput, SafetyBlock
from triggerpoint.safety.entry import PatientSafety
from triggerpoint.safety.screening import Answer, evaluate, rulebook


@dataclass(frozen=True)
class Case:
    name: str
    answers: dict[str, str | None]  # rule id -> detail, answered yes
    forbidden: tuple[str, str, str]  # muscle, side, trigger point
    allowed: tuple[str, str, str]
    technique: str = "pistoning"
    allowed_technique: str = "pistoning"


CASES = [
    Case(
        "lymphoedema left arm, deltoid",
        {"lymphoedema": "left arm"},
        ("deltoid", "left", "middle"),
        ("deltoid", "right", "middle"),
    ),
    Case(
        "lymphoedema L arm, subscapularis",
        {"lymphoedema": "L arm"},
        ("subscapularis", "left", "tp1"),
        ("subscapularis", "right", "tp1"),
    ),
    Case(
        "lymphoedema both arms, teres major",
        {"lymphoedema": "both arms"},
        ("teres_major", "right", "lateral"),
        ("upper_trapezius", "right", "tp1"),
    ),
    Case(
        "lymphoedema bilateral upper limbs, biceps",
        {"lymphoedema": "bilateral upper limbs"},
        ("biceps_brachii", "left", "tp1"),
        ("gastrocnemius", "left", "tp1"),
    ),
    Case(
        "lymphoedema right calf, gastrocnemius",
        {"lymphoedema": "right calf"},
        ("gastrocnemius", "right", "tp1"),
        ("gastrocnemius", "left", "tp1"),
    ),
    Case(
        "lymphoedema left hand, first dorsal interosseous",
        {"lymphoedema": "left hand"},
        ("first_dorsal_interosseous", "left", "web"),
        ("first_dorsal_interosseous", "right", "web"),
    ),
    Case(
        "bleeding risk, piriformis",
        {"bleeding_risk": None},
        ("piriformis", "right", "lateral"),
        ("upper_trapezius", "right", "tp1"),
    ),
    Case(
        "bleeding risk, iliopsoas",
        {"bleeding_risk": None},
        ("iliopsoas", "left", "distal"),
        ("gastrocnemius", "left", "tp1"),
    ),
    Case(
        "pacemaker, electrical stimulation",
        {"pacemaker": None},
        ("upper_trapezius", "right", "tp1"),
        ("upper_trapezius", "right", "tp1"),
        technique="electrical",
    ),
    Case(
        "pregnancy, lower abdomen",
        {"pregnancy": "2"},
        ("rectus_abdominis", "right", "lower"),
        ("upper_trapezius", "right", "tp1"),
    ),
    Case(
        "pregnancy, electrical stimulation",
        {"pregnancy": "1"},
        ("gastrocnemius", "right", "tp1"),
        ("gastrocnemius", "right", "tp1"),
        technique="electrical",
    ),
    Case(
        "recent surgery right back of knee",
        {"recent_surgery": "right back of knee"},
        ("gastrocnemius", "right", "tp3"),
        ("gastrocnemius", "right", "tp1"),
    ),
    Case(
        "infection at the left temple",
        {"infection_site": "left temple"},
        ("temporalis", "left", "tp1"),
        ("temporalis", "right", "tp1"),
    ),
]
IDS = [c.name for c in CASES]


def body(muscle: str, side: str, tp: str, technique: str = "pistoning") -> dict[str, object]:
    """An entry that breaks no other rule: shallowest usual depth on a long-enough needle."""
    m = load_atlas().muscles[muscle]
    lo, hi = m.needling.depth_mm
    out: dict[str, object] = {
        "muscle": muscle,
        "side": side,
        "trigger_point_id": tp,
        "needle_diameter_mm": 0.3,
        "needle_length_mm": 100 if hi > 45 else 50,
        "technique": technique,
        "depth_mm": lo,
        "twitch_count": 1,
        "familiar_pain": True,
        "duration_s": 30,
        "pleural_recess_acknowledged": m.pleural_recess,
    }
    if m.needling.thorax:  # the depth guard is its own test: here only the restriction matters
        out["over_limit_reason"] = "ultrasound guided, rib under the needle"
    if technique == "electrical":
        out["estim"] = {"frequency_hz": 2, "pulse_width_us": 250, "intensity_ma": 5}
    return out


def ready(client, person, answers: dict[str, str | None]) -> tuple[int, int, int]:
    """A patient screened with `answers`, consented and confirmed, with an open session."""
    h = person.headers

    def post(path, payload, status):
        r = client.post(path, json=payload, headers=h)
        assert r.status_code == status, (path, r.text)
        return r.json()

    pid = new_patient(
        client, person, given_name="Matrix", family_name="Case", height_cm=175, weight_kg=70
    )
    vid = post(f"/api/patients/{pid}/visits", {"visit_at": "2026-11-20T10:00:00+00:00"}, 201)["id"]
    all_no = {r.id: {"present": False} for r in rulebook().rules}
    yes = {k: {"present": True, "detail": v} for k, v in answers.items()}
    post(f"/api/patients/{pid}/screenings", {"answers": all_no | yes}, 201)
    post(
        f"/api/patients/{pid}/consents",
        {
            "risks_disclosed": ["bruising", "pneumothorax", "post_needling_soreness"],
            "signed_by": "M C",
            "signed_at": "2026-11-20T09:00:00+00:00",
        },
        201,
    )
    post(f"/api/visits/{vid}/screening-confirmation", None, 200)
    sid = post("/api/needling-sessions", {"visit_id": vid}, 201)["id"]
    return pid, vid, sid


def needles_in(client, person, sid: int) -> int:
    r = client.get(f"/api/needling-sessions/{sid}", headers=person.headers)
    return r.json()["needles_in"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_api(app_client, alice, case):
    _, _, sid = ready(app_client, alice, case.answers)
    h = alice.headers
    url = f"/api/needling-sessions/{sid}/entries"
    refused = app_client.post(url, json=body(*case.forbidden, case.technique), headers=h)
    assert refused.status_code == 409, refused.text
    assert (
        load_atlas().muscles[case.forbidden[0]].name in refused.text or "electrical" in refused.text
    )
    assert needles_in(app_client, alice, sid) == 0
    ok = app_client.post(url, json=body(*case.allowed, case.allowed_technique), headers=h)
    assert ok.status_code == 201, ok.text
    assert needles_in(app_client, alice, sid) == 1


# Electrical stimulation is a technique, chosen at charting: planning has nothing to refuse.
SITE_CASES = [c for c in CASES if c.technique == "pistoning"]


@pytest.mark.parametrize("case", SITE_CASES, ids=lambda c: c.name)
def test_planning_marks_and_refuses_restricted_targets(app_client, alice, case):
    _, _, sid = ready(app_client, alice, case.answers)
    h = alice.headers
    muscle, side, tp = case.forbidden
    target = {"muscle": muscle, "side": side, "trigger_point_id": tp}
    r = app_client.post(f"/api/needling-sessions/{sid}/targets", json=target, headers=h)
    assert r.status_code == 409 and "cannot plan" in r.text
    muscle, side, tp = case.allowed
    ok = {"muscle": muscle, "side": side, "trigger_point_id": tp}
    assert (
        app_client.post(f"/api/needling-sessions/{sid}/targets", json=ok, headers=h).status_code
        == 201
    )
    [planned] = app_client.get(f"/api/needling-sessions/{sid}", headers=h).json()["targets"]
    assert planned["restricted"] == []


def _form(entry: dict[str, object]) -> dict[str, str]:
    out = {
        k: str(v)
        for k, v in entry.items()
        if k not in ("estim", "familiar_pain", "pleural_recess_acknowledged")
    }
    out |= {k: str(v) for k, v in dict(entry.get("estim") or {}).items()}
    if entry.get("pleural_recess_acknowledged"):
        out["pleural_recess_acknowledged"] = "on"
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_form(app_client, alice, case):
    _, vid, sid = ready(app_client, alice, case.answers)
    client, csrf = logged_in(app_client, alice)
    url = f"/visits/{vid}/needling/entry"
    refused = client.post(
        url, data={"csrf_token": csrf, **_form(body(*case.forbidden, case.technique))}
    )
    assert refused.status_code == 422, refused.text
    assert any(w in refused.text for w in ("restricted", "cannot be compressed", "contraindicated"))
    assert needles_in(app_client, alice, sid) == 0
    ok = client.post(
        url,
        data={"csrf_token": csrf, **_form(body(*case.allowed, case.allowed_technique))},
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    assert needles_in(app_client, alice, sid) == 1


def _safety(answers: dict[str, str | None], bmi: float | None = 22.9) -> PatientSafety:
    all_no = {r.id: Answer(present=False) for r in rulebook().rules}
    result = evaluate(all_no | {k: Answer(present=True, detail=v) for k, v in answers.items()})
    return PatientSafety.of([r.model_dump() for r in result.restrictions], bmi)


@pytest.mark.parametrize("case", SITE_CASES, ids=lambda c: c.name)
def test_demo_generators(case):
    """The bulk registry builds needles with `needle_entry` (the demo clinic goes through
    `treatment.service.add_entry`, in tests/demo/test_demo_rules.py): it meets the same check."""
    atlas = load_atlas()
    patient = _safety(case.answers)
    muscle, side, tp = case.forbidden
    with pytest.raises(SafetyBlock):
        needle_entry(
            atlas.trigger_point(f"{muscle}.{tp}.{side}"), seq=1, twitches=0, patient=patient
        )
    muscle, side, tp = case.allowed
    row = needle_entry(
        atlas.trigger_point(f"{muscle}.{tp}.{side}"), seq=1, twitches=0, patient=patient
    )
    assert row["muscle_id"] == muscle and row["side"] == side


def test_demo_generators_respect_the_thorax_limit_and_the_pleural_recess():
    atlas = load_atlas()
    thin = _safety({}, bmi=13.0)  # no safe depth: a generator may not chart any thorax needle
    rhomboid = atlas.trigger_point("rhomboids.major.right")
    with pytest.raises(InvalidInput) as err:
        needle_entry(rhomboid, seq=1, twitches=0, patient=thin)
    assert err.value.field == "over_limit_reason"
    row = needle_entry(rhomboid, seq=1, twitches=0, patient=_safety({}, bmi=22.9))
    assert row["depth_mm"] <= 17 and row["depth_limit_mm"] == 17
    ql = needle_entry(
        atlas.trigger_point("quadratus_lumborum.superficial_upper.left"),
        seq=1,
        twitches=0,
        patient=_safety({}),
    )
    assert ql["pleural_recess_acknowledged"] is True
