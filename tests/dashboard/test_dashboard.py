"""The clinic dashboard against a small dataset computed by hand, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triggerpoint.accounts.service import Principal, create_api_token, create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.dashboard.service import clinic_dashboard
from triggerpoint.db import open_session
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Consent, Patient, Visit
from triggerpoint.safety.stats import wilson
from triggerpoint.treatment.models import AdverseEvent, NeedleEntry, NeedlingSession, Screening

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
# (patient, day, entries [(muscle, twitches)], NPRS pre, NPRS post, signed, AEs)
SESSIONS = [
    (0, 0, [("upper_trapezius", 3), ("levator_scapulae", 1)], 8, 6, True, ["bruising"]),
    (0, 7, [("upper_trapezius", 0)], 5, 4, True, []),
    (1, 0, [("upper_trapezius", 1), ("infraspinatus", 1)], 5, 4, True, ["bruising", "bleeding"]),
    (2, 0, [("levator_scapulae", 6)], 3, 6, False, []),
]


def _entry(clinic, seq, muscle, twitches):
    return NeedleEntry(
        clinic_id=clinic,
        seq=seq,
        muscle_id=muscle,
        side="right",
        trigger_point_id="tp1",
        needle_diameter_mm=0.25,
        needle_length_mm=40,
        technique="pistoning",
        depth_mm=10,
        twitch_count=twitches,
        familiar_pain=True,
        duration_s=20,
    )


@pytest.fixture(scope="session")
def small_clinic(db_url):
    """A clinic of its own (other tests' clinics hold data that must not leak in)."""
    system = Actor.system("tests")
    with open_session(clinic_id=None) as s:
        clinic = create_clinic(s, name="Dashboard clinic", actor=system).id
        user, _ = create_user(
            s,
            clinic_id=clinic,
            username="dash.clinician",
            full_name="Dash Clinician",
            role="clinician",
            actor=system,
            password="correct horse battery staple",
        )
        user.must_change_password = False
        token = create_api_token(s, user_id=user.id, label="tests", actor=system)
        s.commit()
        principal = Principal(user.id, clinic, user.username, "clinician")
    with open_session(clinic_id=clinic) as s:
        patients = [
            Patient(
                given_name=f"P{i}",
                family_name="Dash",
                search_name=f"dash p{i}",
                date_of_birth=datetime(1970, 1, 1).date(),
                sex="female",
            )
            for i in range(4)
        ]
        s.add_all(patients)
        s.flush()
        consents, screenings = {}, {}
        for p in patients:
            consents[p.id] = Consent(
                patient_id=p.id, risks_disclosed=[], signed_by="x", signed_at=T0
            )
            screenings[p.id] = Screening(
                patient_id=p.id,
                answers={},
                outcome="cleared",
                reasons=[],
                restrictions=[],
                rules_version="t",
            )
        s.add_all([*consents.values(), *screenings.values()])
        s.flush()
        for i, day, entries, pre, post, signed, aes in SESSIONS:
            p = patients[i]
            at = T0 + timedelta(days=day)
            visit = Visit(patient_id=p.id, visit_at=at)
            s.add(visit)
            s.flush()
            ns = NeedlingSession(
                patient_id=p.id,
                visit_id=visit.id,
                screening_id=screenings[p.id].id,
                consent_id=consents[p.id].id,
                opened_at=datetime.now(UTC) - timedelta(days=3),
                status="signed" if signed else "open",
                needles_out=len(entries),
                entries=[_entry(clinic, k + 1, m, t) for k, (m, t) in enumerate(entries)],
            )
            s.add(ns)
            s.flush()
            for kind in aes:
                s.add(
                    AdverseEvent(
                        needling_id=ns.id,
                        patient_id=p.id,
                        type=kind,
                        severity="mild",
                        action_taken="pressure",
                    )
                )
            for timing, score, minutes in (("pre", pre, 5), ("post", post, 45)):
                s.add(
                    Measurement(
                        patient_id=p.id,
                        visit_id=visit.id,
                        instrument="nprs",
                        timing=timing,
                        data={"current": score},
                        score=score,
                        complete=True,
                        answered=1,
                        measured_at=at + timedelta(minutes=minutes),
                    )
                )

        def measure(p, instrument, score, day, complete=True):
            s.add(
                Measurement(
                    patient_id=p.id,
                    instrument=instrument,
                    data={},
                    score=score if complete else None,
                    complete=complete,
                    answered=10,
                    measured_at=T0 + timedelta(days=day, hours=3),
                )
            )

        measure(patients[3], "nprs", 9, 0)  # a baseline only: not classified
        # Course change compares scores taken before needling (post scores are immediate
        # changes): follow-ups at a later visit make P1 a non-responder and P2 worsened.
        measure(patients[1], "nprs", 4, 14)
        measure(patients[2], "nprs", 6, 14)
        measure(patients[0], "odi", 50, 0)
        measure(patients[0], "odi", 45, 7)  # -5: non-responder
        measure(patients[1], "odi", 40, 0)
        measure(patients[1], "odi", 20, 7)  # -20: responder
        measure(patients[1], "odi", None, 9, complete=False)  # incomplete: ignored
        measure(patients[0], "groc", 5, 7)  # +5: responder on its own
        s.commit()
    return principal, token


def test_dashboard_numbers_match_hand_computation(small_clinic):
    principal, _ = small_clinic
    with open_session(clinic_id=principal.clinic_id) as s:
        d = clinic_dashboard(s, principal=principal)
        s.commit()
    assert (d["patients"], d["sessions"], d["signed"], d["unsigned_total"]) == (4, 4, 3, 1)
    rates = {r["instrument"]: r for r in d["responders"]}
    assert set(rates) == {"nprs", "odi", "groc"}
    # NPRS before needling: 8 -> 5 responder, 5 -> 4 non-responder (-1 < 2 and < 30%),
    # 3 -> 6 worsened; P3 has a baseline only. Post-needling scores are not course points.
    nprs = rates["nprs"]
    assert (nprs["n"], nprs["responders"], nprs["non_responders"], nprs["worsened"]) == (3, 1, 1, 1)
    assert nprs["ci95"] == pytest.approx(list(wilson(1, 3)))
    assert (rates["odi"]["n"], rates["odi"]["responders"]) == (2, 1)
    assert (rates["groc"]["n"], rates["groc"]["responders"]) == (1, 1)
    muscles = [(m["muscle_id"], m["sessions"]) for m in d["muscles"]]
    assert muscles == [("upper_trapezius", 3), ("levator_scapulae", 2), ("infraspinatus", 1)]
    tw = {r["label"]: (r["n"], r["mean_change"]) for r in d["twitches"]}
    assert tw == {"0": (1, -1.0), "1-2": (1, -1.0), "3-5": (1, -2.0), "6+": (1, 3.0)}
    ae = {r["type"]: r for r in d["adverse_events"]["by_type"]}
    assert ae["bruising"]["events"] == 2 and ae["bruising"]["per_1000"] == pytest.approx(500)
    assert ae["bleeding"]["events"] == 1 and ae["bruising"]["published"]["brady_2014"] == 75.5


def test_dashboard_page_is_clinic_only(app_client, world, small_clinic):
    _, token = small_clinic
    r = app_client.get("/dashboard", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert 'id="n-patients">4<' in r.text and "observational — not evidence of effect" in r.text
    assert "Most-treated muscles" in r.text and "<svg" in r.text
    principal, _ = small_clinic
    with open_session(clinic_id=principal.clinic_id) as s:
        unsigned = clinic_dashboard(s, principal=principal)["unsigned"][0]["id"]
    assert f">Session {unsigned}</a>" in r.text
    # Clinic A's dashboard does not show this clinic's unsigned session.
    a = app_client.get("/dashboard", headers={"Authorization": f"Bearer {world.clinician_a.token}"})
    assert a.status_code == 200 and f">Session {unsigned}</a>" not in a.text
    assistant = {"Authorization": f"Bearer {world.assistant_a.token}"}
    assert app_client.get("/dashboard", headers=assistant).status_code == 403


def test_muscle_counts_are_plotted_on_whole_number_ticks():
    """A clinic with one needled session must not see ticks at 0.2, 0.4, … sessions."""
    import re

    from triggerpoint.reports.plots import muscles_svg

    svg = muscles_svg([{"name": "Upper trapezius", "sessions": 1, "muscle_id": "upper_trapezius"}])
    ticks = re.findall(r">(\d+(?:\.\d+)?)<", svg)
    assert ticks and all("." not in t for t in ticks), ticks
