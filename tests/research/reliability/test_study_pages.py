"""The study pages: blinding in the HTML, the forms (with CSRF), roles, isolation, no-store."""

from __future__ import annotations

import re

import pytest

from tests.conftest import logged_in
from tests.research.reliability.studykit import (
    SITES,
    all_cells,
    make_study,
    record_and_submit,
    second_clinician,
)

CHECKED_YES = re.compile(r'value="yes"\s+checked')
CHECKED_NO = re.compile(r'value="no"\s+checked')


@pytest.fixture
def study(alice):
    other = second_clinician(alice.clinic_id)
    sid, (p1,) = make_study(alice.principal, [alice.user_id, other.user_id], codes=("P01",))
    return sid, p1, other


def test_html_never_shows_another_examiners_values_before_all_submitted(app_client, alice, study):
    sid, p1, other = study
    record_and_submit(alice.principal, sid, p1, all_cells(True))
    theirs, _ = logged_in(app_client, other)
    page = theirs.get(f"/research/studies/{sid}/examine/{p1}")
    assert page.status_code == 200
    assert not CHECKED_YES.search(page.text)  # alice's "present" is nowhere on it
    assert len(re.findall(r'value="na"\s+checked', page.text)) == len(SITES) * 2
    status = theirs.get(f"/research/studies/{sid}").text
    assert "Present" not in status and "submitted" in status
    report = theirs.get(f"/research/studies/{sid}/report").text
    assert re.search(r"<strong>0</strong> of 1 participants", report)
    mine, _ = logged_in(app_client, alice)
    own = mine.get(f"/research/studies/{sid}/examine/{p1}").text
    assert len(CHECKED_YES.findall(own)) == len(SITES) * 2 and 'id="locked"' in own


def test_an_examiner_records_and_submits_through_the_form(app_client, alice, study):
    sid, p1, _other = study
    client, csrf = logged_in(app_client, alice)
    form = {
        f"f.{s['muscle']}.{s['side']}.{c}": "yes" for s in SITES for c in ("taut_band", "twitch")
    }
    form["f.infraspinatus.left.twitch"] = "no"
    r = client.post(
        f"/research/studies/{sid}/examine/{p1}",
        data={**form, "csrf_token": csrf, "action": "save"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert len(CHECKED_YES.findall(page)) == 3 and len(CHECKED_NO.findall(page)) == 1
    assert 'id="saved"' in page
    r = client.post(
        f"/research/studies/{sid}/examine/{p1}",
        data={**form, "csrf_token": csrf, "action": "submit"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/research/studies/{sid}"
    r = client.post(
        f"/research/studies/{sid}/examine/{p1}",
        data={**form, "csrf_token": csrf, "action": "save"},
    )
    assert r.status_code == 409 and "cannot change" in r.text


def test_forms_need_the_csrf_token(app_client, alice, study):
    sid, p1, _ = study
    client, _ = logged_in(app_client, alice)
    r = client.post(f"/research/studies/{sid}/examine/{p1}", data={"action": "save"})
    assert r.status_code == 403


def test_new_study_form_creates_a_draft_and_shows_errors_beside_it(app_client, alice):
    other = second_clinician(alice.clinic_id)
    client, csrf = logged_in(app_client, alice)
    page = client.get("/research/studies")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Upper trapezius" in page.text and other.username in page.text
    bad = client.post(
        "/research/studies",
        data={
            "csrf_token": csrf,
            "title": "Neck study",
            "muscles": "upper_trapezius",
            "sides": "left",
            "criteria": "taut_band",
            "examiners": str(alice.user_id),
        },
    )
    assert bad.status_code == 422 and "Examiners must have at least 2 items" in bad.text
    assert 'value="Neck study"' in bad.text
    ok = client.post(
        "/research/studies",
        data={
            "csrf_token": csrf,
            "title": "Neck study",
            "muscles": ["upper_trapezius", "levator_scapulae"],
            "sides": ["left", "right"],
            "criteria": ["taut_band", "jump_sign"],
            "examiners": [str(alice.user_id), str(other.user_id)],
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    study = client.get(ok.headers["location"]).text
    assert "Neck study" in study and "Levator scapulae (right)" in study and "draft" in study
    sid = ok.headers["location"].rsplit("/", 1)[1]
    assert (
        client.post(
            f"/research/studies/{sid}/open", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    r = client.post(
        f"/research/studies/{sid}/participants", data={"csrf_token": csrf, "code": "Jane Doe"}
    )
    assert r.status_code == 422 and "Participant code must be a code such as P01" in r.text
    r = client.post(
        f"/research/studies/{sid}/participants",
        data={"csrf_token": csrf, "code": "P07"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Examine P07" in client.get(f"/research/studies/{sid}").text


def test_assistant_gets_403_and_other_clinic_404(app_client, bob, erin, carol, study):
    sid, p1, _ = study
    paths = [
        "/research/studies",
        f"/research/studies/{sid}",
        f"/research/studies/{sid}/examine/{p1}",
        f"/research/studies/{sid}/report",
    ]
    client, _ = logged_in(app_client, bob)
    assert [client.get(p).status_code for p in paths] == [403] * 4
    for person in (erin, carol):
        client, _ = logged_in(app_client, person)
        assert [client.get(p).status_code for p in paths[1:]] == [404] * 3
        assert f'href="/research/studies/{sid}"' not in client.get("/research/studies").text


def test_pages_are_no_store(app_client, alice, study):
    sid, p1, _ = study
    client, _ = logged_in(app_client, alice)
    for path in (
        f"/research/studies/{sid}",
        f"/research/studies/{sid}/examine/{p1}",
        f"/research/studies/{sid}/report",
    ):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", path


def _reads(study_id: int, user_id: int) -> int:
    from sqlalchemy import func, select

    from triggerpoint.audit.models import AuditEvent
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as s:
        return s.scalar(
            select(func.count()).where(
                AuditEvent.action == "research-read",
                AuditEvent.entity_id == str(study_id),
                AuditEvent.user_id == user_id,
            )
        )


def test_each_page_is_one_audited_read(app_client, alice, study):
    sid, p1, _ = study
    client, _ = logged_in(app_client, alice)
    for path in (
        f"/research/studies/{sid}",
        f"/research/studies/{sid}/examine/{p1}",
        f"/research/studies/{sid}/report",
    ):
        before = _reads(sid, alice.user_id)
        assert client.get(path).status_code == 200
        assert _reads(sid, alice.user_id) == before + 1, path
