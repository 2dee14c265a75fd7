"""Palpation on the visit page, without JavaScript: each suggestion offers familiar / tender /
nothing, a recorded finding is listed and re-ranks the suggestions (the drawing plus the
findings), it can be removed, an unknown site comes back beside the findings, and a signed
visit offers no buttons."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.conftest import logged_in
from tests.notes.conftest import NOTE, Notes
from tests.treatment.test_needling_flow import Clinic

MARKS = ["right_temple:6", "right_upper_posterior_neck:4", "right_angle_of_jaw:3"]


@pytest.fixture
def drawn(app_client, alice) -> tuple[int, object, str]:
    """A visit of today with a complete drawing, and alice's browser on it."""
    clinic = Clinic(app_client, alice)
    pid = clinic.patient()
    at = datetime.now(UTC).isoformat()
    vid = clinic.post(f"/api/patients/{pid}/visits", {"visit_at": at}, 201).json()["id"]
    client, csrf = logged_in(app_client, alice)
    r = client.post(
        f"/visits/{vid}/needling/drawing",
        data={"csrf_token": csrf, "complete": "complete", "mark": MARKS},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return vid, client, csrf


def _suggested(page: str) -> list[tuple[str, str, str]]:
    items = page.split('<ol id="suggestions"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'class="palpate-form" data-site="(\w+) (\w+) (\w+)"', items)


def _findings(page: str) -> str:
    return page.split('<ul id="findings"', 1)[1].split("</ul>", 1)[0]


def test_each_suggestion_offers_the_three_findings(drawn):
    vid, client, _ = drawn
    page = client.get(f"/visits/{vid}").text
    sites = _suggested(page)
    assert len(sites) >= 3
    items = page.split('<ol id="suggestions"', 1)[1].split("</ol>", 1)[0]
    for value in ("familiar", "tender", "none"):
        assert items.count(f'name="finding" value="{value}"') == len(sites)
    assert items.count('name="twitch"') == len(sites) and "Active " in items
    assert 'id="no-findings"' in page
    ranked = page.split('<ol id="examine-next"', 1)[1].split("</ol>", 1)[0]
    assert 1 <= ranked.count("<li ") <= 3 and "bits)" in ranked
    assert "Palpate right" not in ranked  # the sentence after the site: no raw ids shown


def test_a_familiar_finding_is_listed_and_re_ranks_the_suggestions(drawn):
    vid, client, csrf = drawn
    before = _suggested(client.get(f"/visits/{vid}").text)
    side, muscle, tp = before[-1]  # the lowest shown: familiar pain there should lift it
    r = client.post(
        f"/visits/{vid}/palpation",
        data={
            "csrf_token": csrf,
            "muscle_id": muscle,
            "side": side,
            "trigger_point_id": tp,
            "finding": "familiar",
            "twitch": "on",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/visits/{vid}#suggest"
    page = client.get(f"/visits/{vid}").text
    listed = _findings(page)
    assert "familiar pain reproduced" in listed and "local twitch" in listed
    after = _suggested(page)
    assert after != before
    assert after.index((side, muscle, tp)) < before.index((side, muscle, tp))


def test_a_finding_can_be_removed_from_the_page(drawn):
    vid, client, csrf = drawn
    client.post(
        f"/visits/{vid}/palpation",
        data={"csrf_token": csrf, "site": "right upper trapezius", "finding": "none"},
    )
    page = client.get(f"/visits/{vid}").text
    fid = re.search(rf"/visits/{vid}/palpation/(\d+)/delete", page).group(1)
    r = client.post(
        f"/visits/{vid}/palpation/{fid}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert 'id="no-findings"' in client.get(f"/visits/{vid}").text


def test_an_unknown_site_comes_back_beside_the_findings(drawn):
    vid, client, csrf = drawn
    r = client.post(
        f"/visits/{vid}/palpation",
        data={"csrf_token": csrf, "site": "right upper trapezus", "finding": "tender"},
    )
    assert r.status_code == 422
    error = re.search(r'<p class="field-error" role="alert" id="palpation-error">([^<]*)', r.text)
    assert error and "site" in error.group(1) and "trapezius" in error.group(1).lower()
    assert 'value="right upper trapezus"' in r.text  # what was typed is kept
    assert 'aria-invalid="true"' in r.text.split('id="palpation-site"', 1)[1].split(">", 1)[0]
    assert 'id="no-findings"' in r.text


def test_a_signed_visit_lists_its_findings_without_buttons(drawn, app_client, alice):
    vid, client, csrf = drawn
    client.post(
        f"/visits/{vid}/palpation",
        data={"csrf_token": csrf, "site": "right upper trapezius", "finding": "tender"},
    )
    notes = Notes(app_client, alice)
    notes.sign(vid, notes.put(vid, NOTE)["version"])
    page = client.get(f"/visits/{vid}").text
    assert "tender, not the familiar pain" in _findings(page)
    assert 'class="palpate-form"' not in page and "/delete" not in _findings(page)
    r = client.post(
        f"/visits/{vid}/palpation",
        data={"csrf_token": csrf, "site": "right upper trapezius", "finding": "none"},
    )
    assert r.status_code == 422 and "signed" in r.text


def test_an_assistant_may_not_post_a_finding(drawn, app_client, bob):
    vid, _client, _ = drawn
    client, csrf = logged_in(app_client, bob)
    r = client.post(
        f"/visits/{vid}/palpation",
        data={"csrf_token": csrf, "site": "right upper trapezius", "finding": "none"},
    )
    assert r.status_code == 403
