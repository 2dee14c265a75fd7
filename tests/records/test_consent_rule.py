"""Which consent is active: one rule (`records.service.active_consent` and its per-consent
`consent_in_force`), and every caller uses it.

The patient below has two consents that a copy of the rule could mistake for consent: a
dry-needling consent that was withdrawn, and an active consent of another kind. On every path
(the patient page, the needling page, opening a session by API and by page, the printed
consent form and the FHIR export) that is "no consent". The control then records a fresh
dry-needling consent and every path turns to "consent", so each assertion can fail.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from tests.treatment.test_needling_flow import NO, RISKS
from triggerpoint.db import open_session
from triggerpoint.records.models import Consent
from triggerpoint.records.service import DRY_NEEDLING, active_consent, consent_in_force

NO_CONSENT = "there is no valid dry-needling consent on file"


@pytest.fixture
def patient(app_client, alice):
    """A screened patient with a visit confirmed for needling, and the two non-consents."""
    h = alice.headers
    pid = new_patient(app_client, alice, given_name="Cons", family_name="Ent")
    vid = app_client.post(
        f"/api/patients/{pid}/visits", json={"visit_at": "2026-11-20T10:00:00+00:00"}, headers=h
    ).json()["id"]
    assert (
        app_client.post(
            f"/api/patients/{pid}/screenings", json={"answers": NO}, headers=h
        ).status_code
        == 201
    )
    assert (
        app_client.post(f"/api/visits/{vid}/screening-confirmation", headers=h).status_code == 200
    )
    withdrawn = _consent(app_client, alice, pid)
    r = app_client.post(f"/api/consents/{withdrawn}/withdraw", json={"version": 1}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    with open_session(clinic_id=alice.clinic_id) as s:
        s.add(
            Consent(
                patient_id=pid,
                kind="research_registry",
                risks_disclosed=[],
                signed_by="Cons Ent",
                signed_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
                recorded_by=alice.user_id,
            )
        )
        s.commit()
    return {"patient_id": pid, "visit_id": vid}


def _consent(app_client, person, pid: int) -> int:
    r = app_client.post(
        f"/api/patients/{pid}/consents",
        json={
            "risks_disclosed": RISKS,
            "signed_by": "Cons Ent",
            "signed_at": "2026-11-20T09:00:00+00:00",
        },
        headers=person.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _paths(app_client, alice, pid: int, vid: int) -> dict[str, bool]:
    """Whether each caller sees a consent in force ("open" paths try to open a session)."""
    browser, csrf = logged_in(app_client, alice)
    patient_page = browser.get(f"/patients/{pid}").text
    status = patient_page.split('id="consent-status"', 1)[1].split("</dd>", 1)[0]
    needling_page = browser.get(f"/visits/{vid}/needling").text
    consent_line = needling_page.split("<li>Consent:", 1)[1].split("</li>", 1)[0]
    report = browser.get(f"/patients/{pid}/reports/consent").text
    bundle = app_client.get(f"/api/patients/{pid}/fhir", headers=alice.headers).json()
    fhir_active = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Consent"
        and e["resource"]["status"] == "active"
        and e["resource"]["policyRule"]["coding"][0]["code"] == "dry-needling"
    ]
    with open_session(clinic_id=alice.clinic_id) as s:
        service = active_consent(s, patient_id=pid, kind=DRY_NEEDLING) is not None
    page_open = browser.post(f"/visits/{vid}/needling/open", data={"csrf_token": csrf})
    if page_open.status_code == 422:
        alert = page_open.text.split('id="form-error">', 1)[-1].split("</p>", 1)[0]
        assert NO_CONSENT in alert, alert[:300]
    return {
        "service": service,
        "patient page": "none on file" not in status and ">active<" in status,
        "needling page": "none on file" not in consent_line and ">active<" in consent_line,
        "consent form": "On file: consent signed" in report,
        "fhir export": len(fhir_active) == 1,
        "open (page)": page_open.status_code == 200
        and '<strong id="session-status">open</strong>' in page_open.text,
    }


def test_a_withdrawn_consent_or_one_of_another_kind_is_no_consent_on_every_path(
    app_client, alice, patient
):
    pid, vid = patient["patient_id"], patient["visit_id"]
    seen = _paths(app_client, alice, pid, vid)
    assert seen == dict.fromkeys(seen, False)


def test_a_fresh_dry_needling_consent_counts_on_every_path(app_client, alice, patient):
    """The control: the same paths with a consent in force all see it."""
    pid, vid = patient["patient_id"], patient["visit_id"]
    _consent(app_client, alice, pid)
    seen = _paths(app_client, alice, pid, vid)
    assert seen == dict.fromkeys(seen, True)


def test_the_api_refuses_to_open_a_session_until_a_consent_is_in_force(app_client, alice, patient):
    pid, vid = patient["patient_id"], patient["visit_id"]
    r = app_client.post("/api/needling-sessions", json={"visit_id": vid}, headers=alice.headers)
    assert r.status_code == 409 and NO_CONSENT in r.json()["detail"]
    consent_id = _consent(app_client, alice, pid)
    r = app_client.post("/api/needling-sessions", json={"visit_id": vid}, headers=alice.headers)
    assert r.status_code == 201, r.text
    with open_session(clinic_id=alice.clinic_id) as s:
        assert active_consent(s, patient_id=pid, kind=DRY_NEEDLING).id == consent_id


@pytest.mark.parametrize(
    ("kind", "status", "counts"),
    [
        (DRY_NEEDLING, "active", True),
        (DRY_NEEDLING, "withdrawn", False),
        ("research_registry", "active", False),
        ("research_registry", "withdrawn", False),
    ],
)
def test_consent_in_force_needs_the_kind_and_no_withdrawal(kind, status, counts):
    assert consent_in_force(Consent(kind=kind, status=status), kind=DRY_NEEDLING) is counts
