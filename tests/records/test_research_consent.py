"""Research consent, apart from the dry-needling consent: the API takes kind "research"
(no needling risks; 422 for an unknown kind), the clinician's form records it (only once the
patient's agreement is ticked), the patient page shows it with its own withdraw link, and
withdrawing either leaves the other in force."""

from __future__ import annotations

import re

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from triggerpoint.db import open_session
from triggerpoint.records import service
from triggerpoint.research.consent import consented_patient_ids
from triggerpoint.safety.rates import RISKS

SIGNED = {"signed_by": "Ana Muñoz", "signed_at": "2026-11-20T09:00:00+00:00"}


def _consent(app_client, person, pid: int, **body):
    return app_client.post(
        f"/api/patients/{pid}/consents", json={**SIGNED, **body}, headers=person.headers
    )


def _in_force(person, pid: int, kind: str) -> bool:
    with open_session(clinic_id=person.clinic_id) as s:
        return service.active_consent(s, patient_id=pid, kind=kind) is not None


def test_the_api_records_a_research_consent_that_is_not_a_needling_consent(app_client, alice):
    pid = new_patient(app_client, alice)
    r = _consent(app_client, alice, pid, kind="research")
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "research" and r.json()["risks_disclosed"] == []
    assert _in_force(alice, pid, service.RESEARCH)
    assert not _in_force(alice, pid, service.DRY_NEEDLING)  # no needling on a research consent
    with open_session(clinic_id=alice.clinic_id) as s:
        assert pid in set(s.scalars(consented_patient_ids(clinic_id=alice.clinic_id)))
    listed = app_client.get(f"/api/patients/{pid}/consents", headers=alice.headers).json()
    assert [c["kind"] for c in listed] == ["research"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "marketing", "risks_disclosed": list(RISKS)}, "kind"),
        ({"kind": "research", "risks_disclosed": ["pneumothorax"]}, "risks_disclosed"),
        ({"kind": "dry_needling"}, "risks_disclosed"),
        ({}, "risks_disclosed"),  # the default kind is dry needling: risks are required
        ({"kind": None, "risks_disclosed": list(RISKS)}, "kind"),
    ],
)
def test_bad_kinds_and_risks_are_422_naming_the_field(app_client, alice, body, field):
    pid = new_patient(app_client, alice)
    r = _consent(app_client, alice, pid, **body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", field]
    assert app_client.get(f"/api/patients/{pid}/consents", headers=alice.headers).json() == []


def test_the_needling_consent_is_unchanged(app_client, alice):
    pid = new_patient(app_client, alice)
    r = _consent(app_client, alice, pid, risks_disclosed=list(RISKS))
    assert r.status_code == 201 and r.json()["kind"] == "dry_needling"
    assert _in_force(alice, pid, service.DRY_NEEDLING)
    assert not _in_force(alice, pid, service.RESEARCH)


def _status(html: str, dd_id: str) -> str:
    return html.split(f'id="{dd_id}"', 1)[1].split("</dd>", 1)[0]


def test_the_form_records_it_and_each_consent_is_withdrawn_on_its_own(app_client, alice):
    pid = new_patient(app_client, alice)
    assert _consent(app_client, alice, pid, risks_disclosed=list(RISKS)).status_code == 201
    client, csrf = logged_in(app_client, alice)
    page = client.get(f"/patients/{pid}").text
    assert "not given" in _status(page, "research-consent")
    assert f'href="/patients/{pid}/consents/research"' in page
    form = client.get(f"/patients/{pid}/consents/research")
    assert form.status_code == 200
    assert "de-identified use of my record in research" in form.text
    signed_at = re.search(r'name="signed_at" type="datetime-local" value="([^"]+)"', form.text)
    assert signed_at is not None
    fields = {"csrf_token": csrf, "signed_by": "Ana Muñoz", "signed_at": signed_at.group(1)}

    unticked = client.post(f"/patients/{pid}/consents/research", data=fields)
    assert unticked.status_code == 422 and 'id="agreed-error"' in unticked.text
    assert not _in_force(alice, pid, service.RESEARCH)  # nothing recorded without the tick
    bad = client.post(
        f"/patients/{pid}/consents/research",
        data={**fields, "agreed": "on", "signed_at": "2999-01-01T09:00"},
    )
    assert bad.status_code == 422 and not _in_force(alice, pid, service.RESEARCH)

    r = client.post(
        f"/patients/{pid}/consents/research",
        data={**fields, "agreed": "on"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{pid}#research-consent"
    page = client.get(f"/patients/{pid}").text
    research = _status(page, "research-consent")
    assert "given" in research and 'id="withdraw-research"' in research
    assert "active" in _status(page, "consent-status")  # the needling consent is its own

    rid = re.search(rf'href="/patients/{pid}/consents/(\d+)/withdraw" id="withdraw-research"', page)
    assert rid is not None
    confirm = client.get(f"/patients/{pid}/consents/{rid.group(1)}/withdraw").text
    assert "<h1>Withdraw research consent</h1>" in confirm
    assert "treatment is not affected" in confirm
    version = re.search(r'name="version" value="(\d+)"', confirm).group(1)
    done = client.post(
        f"/patients/{pid}/consents/{rid.group(1)}/withdraw",
        data={"csrf_token": csrf, "version": version},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].endswith("#research-consent")
    assert not _in_force(alice, pid, service.RESEARCH)
    assert _in_force(alice, pid, service.DRY_NEEDLING)  # untouched
    page = client.get(f"/patients/{pid}").text
    assert "withdrawn on" in _status(page, "research-consent")
    assert "active" in _status(page, "consent-status")
    history = page.split('id="consent-history"', 1)[1].split("</details>", 1)[0]
    assert "Research use: signed" in history and "Dry needling: signed" in history


def test_assistants_see_it_but_another_clinic_does_not(app_client, alice, bob, carol):
    pid = new_patient(app_client, alice)
    assert _consent(app_client, alice, pid, kind="research").status_code == 201
    assert _consent(app_client, carol, pid, kind="research").status_code == 404
    browser, _ = logged_in(app_client, carol)
    assert browser.get(f"/patients/{pid}/consents/research").status_code == 404
    assistant, _ = logged_in(app_client, bob)
    assert "given" in _status(assistant.get(f"/patients/{pid}").text, "research-consent")
