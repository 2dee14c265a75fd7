"""The visit page (`/visits/{id}`) through its forms, without JavaScript: the stepper, the
drawing, screening and consent that lead back, suggestions before the session, charting that
invents nothing, and NPRS before and after needling."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.conftest import logged_in
from tests.treatment.test_needling_flow import Clinic
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.db import open_session
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Consent
from triggerpoint.safety.rates import RISKS
from triggerpoint.safety.screening import rulebook
from triggerpoint.treatment.pages import percent, safe_next

ENTRY = {
    "muscle": "Upper trapezius",
    "side": "right",
    "trigger_point_id": "tp1",
    "needle_diameter_mm": "0.25",
    "needle_length_mm": "30",
    "technique": "pistoning",
    "depth_mm": "12",
    "twitch_count": "3",
    "familiar_pain": "on",
    "duration_s": "20",
}


@pytest.fixture
def clinic(app_client, alice):
    return Clinic(app_client, alice)


@pytest.fixture
def browser(app_client, alice):
    return logged_in(app_client, alice)


def _now_visit(clinic: Clinic, pid: int) -> int:
    at = datetime.now(UTC).isoformat()
    return clinic.post(f"/api/patients/{pid}/visits", {"visit_at": at}, 201).json()["id"]


def _states(html: str) -> dict[str, str]:
    nav = html.split('id="stepper"', 1)[1].split("</ol>", 1)[0]
    return dict(re.findall(r'data-step="(\w+)" data-state="(\w+)"', nav))


def _field(html: str, name: str) -> str:
    return re.search(rf'<input id="{name}"[^>]*>', html).group(0)


def test_same_site_paths_only():
    assert safe_next("/visits/12#screening") == "/visits/12#screening"
    for bad in ("//evil.example/x", "https://evil.example", "/\\evil", "visits/1", "/a\nb", None):
        assert safe_next(bad) is None, bad
    assert safe_next("/javascript:alert(1)") is None


def test_percent_never_says_zero_or_a_hundred():
    assert [percent(p) for p in (0.0, 0.004, 0.01, 0.126, 0.994, 0.995, 1.0)] == [
        "<1%",
        "<1%",
        "1%",
        "13%",
        "99%",
        ">99%",
        ">99%",
    ]


def test_the_visit_page_shows_the_steps_also_at_the_old_address(clinic, browser, carol):
    client, _csrf = browser
    pid = clinic.patient()
    vid = _now_visit(clinic, pid)
    page = client.get(f"/visits/{vid}")
    assert page.status_code == 200
    states = _states(page.text)
    assert states["drawing"] == "needed" and states["needles"] == "blocked"
    assert 'href="#screening">Screen the patient first</a>' in page.text
    old = client.get(f"/visits/{vid}/needling", follow_redirects=False)
    assert old.status_code == 200 and _states(old.text) == states  # the same page
    theirs, _ = logged_in(client, carol)
    assert theirs.get(f"/visits/{vid}").status_code == 404


def test_screening_and_consent_lead_back_to_the_visit(clinic, browser):
    client, csrf = browser
    pid = clinic.patient()
    vid = _now_visit(clinic, pid)
    back = f"/visits/{vid}#screening"
    form = client.get(f"/patients/{pid}/screening", params={"next": back}).text
    assert f'name="next" value="/visits/{vid}#screening"' in form
    answers = {r.id: "no" for r in rulebook().rules}
    r = client.post(
        f"/patients/{pid}/screening",
        data={"csrf_token": csrf, "next": back, **answers},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == back
    # Taken at this visit: it holds without a confirmation.
    assert _states(client.get(f"/visits/{vid}").text)["screening"] == "done"
    consent_page = client.get(f"/patients/{pid}/consent", params={"next": f"/visits/{vid}"}).text
    signed_at = re.search(r'id="signed_at"[^>]*value="([^"]+)"', consent_page).group(1)
    assert signed_at  # now, so nobody types it (and it is never "in the future")
    r = client.post(
        f"/patients/{pid}/consent",
        data={
            "csrf_token": csrf,
            "next": f"/visits/{vid}",
            "all_risks": "on",
            "signed_by": "Nee Dle",
            "signer_relation": "self",
            "signed_at": signed_at,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/visits/{vid}"
    with open_session(clinic_id=clinic.person.clinic_id) as s:
        consent = s.query(Consent).filter_by(patient_id=pid).one()
        assert sorted(consent.risks_disclosed) == sorted(RISKS)  # each recorded by name
    states = _states(client.get(f"/visits/{vid}").text)
    assert states["consent"] == "done" and states["needles"] == "needed"


def test_a_next_that_leaves_the_site_is_ignored(clinic, browser):
    client, csrf = browser
    pid = clinic.patient()
    answers = {r.id: "no" for r in rulebook().rules}
    for bad in ("//evil.example/", "https://evil.example/"):
        form = client.get(f"/patients/{pid}/screening", params={"next": bad}).text
        assert "evil.example" not in form
        r = client.post(
            f"/patients/{pid}/screening",
            data={"csrf_token": csrf, "next": bad, **answers},
            follow_redirects=False,
        )
        assert r.headers["location"] == f"/patients/{pid}/screening"


def test_a_single_risk_ticked_is_not_every_risk(clinic, browser):
    client, csrf = browser
    pid = clinic.patient()
    r = client.post(
        f"/patients/{pid}/consent",
        data={
            "csrf_token": csrf,
            "risks": ["bruising"],
            "signed_by": "Nee Dle",
            "signed_at": "2026-11-20T09:00",
        },
    )
    assert r.status_code == 422 and "pneumothorax" in r.text  # the minimum still applies
    assert "checked" not in re.search(r'<input type="checkbox" id="all_risks"[^>]*>', r.text).group(
        0
    )


def test_the_drawing_is_drawn_on_the_visit_page(clinic, browser):
    client, csrf = browser
    pid = clinic.patient()
    vid = _now_visit(clinic, pid)
    empty = client.post(
        f"/visits/{vid}/needling/drawing", data={"csrf_token": csrf, "complete": "partial"}
    )
    assert empty.status_code == 422 and 'id="marks-error"' in empty.text
    r = client.post(
        f"/visits/{vid}/needling/drawing",
        data={
            "csrf_token": csrf,
            "complete": "complete",
            "mark": ["right_temple:6", "right_upper_posterior_neck:4"],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/visits/{vid}#drawing"
    page = client.get(f"/visits/{vid}").text
    assert _states(page)["drawing"] == "done" and _states(page)["suggest"] == "needed"
    # Drawn: thumbnails only; the charts to draw on come back when asked for.
    assert 'data-chart="painter"' not in page and "?redraw=1" in page
    assert 'data-chart="painter"' in client.get(f"/visits/{vid}?redraw=1").text
    # Suggestions from this drawing before any session, with the regions each explains.
    items = page.split('<ol id="suggestions"', 1)[1].split("</ol>", 1)[0]
    assert "Upper trapezius" in items and "Explains" in items and "Open session and plan" in items
    assert "chance this trigger point is active, given this drawing" in page
    assert "need not add up to 100%" in page
    assert re.search(r"(?<![\d.])0%", items) is None  # "<1%", never "0%"


def test_planning_a_suggestion_opens_the_session_through_its_gates(clinic, browser):
    client, csrf = browser
    pid = clinic.patient()
    vid = _now_visit(clinic, pid)
    client.post(
        f"/visits/{vid}/needling/drawing",
        data={"csrf_token": csrf, "mark": ["right_temple:6"]},
    )
    plan = {
        "csrf_token": csrf,
        "muscle": "Upper trapezius",
        "side": "right",
        "source": "suggestion",
    }
    refused = client.post(f"/visits/{vid}/needling/target", data=plan)
    assert refused.status_code == 422 and "not been screened" in refused.text
    clinic.screen(pid)
    clinic.consent(pid)
    ok = client.post(f"/visits/{vid}/needling/target", data=plan, follow_redirects=False)
    assert ok.status_code == 303
    page = client.get(f"/visits/{vid}").text
    targets = page.split('id="targets"', 1)[1].split("</ol>", 1)[0]
    tp1 = load_atlas().find_muscle("upper trapezius").trigger_points[0].name
    assert tp1 in targets and ">tp1" not in targets


def _open(clinic: Clinic) -> tuple[int, int]:
    pid, vid, _sid = clinic.ready()
    return pid, vid


def test_the_next_needle_repeats_the_last_but_not_its_twitches_or_familiar_pain(clinic, browser):
    client, csrf = browser
    _pid, vid = _open(clinic)
    r = client.post(f"/visits/{vid}/needling/entry", data={"csrf_token": csrf, **ENTRY})
    assert r.status_code == 200  # followed to the page
    page = client.get(f"/visits/{vid}").text
    assert 'value="0"' in _field(page, "twitch_count")
    assert "checked" not in re.search(
        r'<input type="checkbox" name="familiar_pain"[^>]*>', page
    ).group(0)
    assert 'value="12.0"' in _field(page, "depth_mm") and 'value="30.0"' in _field(
        page, "needle_length_mm"
    )
    assert 'value="Upper trapezius"' in _field(page, "muscle")
    tp1 = load_atlas().find_muscle("upper trapezius").trigger_points[0].name
    assert f'value="{tp1}"' in _field(page, "trigger_point_id")
    table = page.split('id="entries"', 1)[1].split("</table>", 1)[0]
    assert tp1 in table and ">tp1<" not in table and "upper_trapezius" not in table
    # The repeated form saves as it is: the second needle has no twitches nobody saw.
    form = dict(re.findall(r'<input id="(\w+)" name="\w+"[^>]*value="([^"]*)"', page))
    keep = (
        "muscle",
        "trigger_point_id",
        "needle_diameter_mm",
        "needle_length_mm",
        "depth_mm",
        "twitch_count",
        "duration_s",
    )
    second = {k: form[k] for k in keep} | {"side": "left", "technique": "pistoning"}
    client.post(f"/visits/{vid}/needling/entry", data={"csrf_token": csrf, **second})
    entries = _entries(clinic, vid)
    assert [(e["twitch_count"], e["familiar_pain"]) for e in entries] == [(3, True), (0, False)]


def _entries(clinic: Clinic, vid: int) -> list[dict]:
    from triggerpoint.treatment.service import needling_for_visit

    with open_session(clinic_id=clinic.person.clinic_id) as s:
        ns = needling_for_visit(s, visit_id=vid)
        return [
            {
                "twitch_count": e.twitch_count,
                "familiar_pain": e.familiar_pain,
                "length": e.needle_length_mm,
            }
            for e in ns.entries
        ]


def test_after_an_error_the_muscle_field_shows_the_muscles_name(clinic, browser):
    client, csrf = browser
    _pid, vid = _open(clinic)
    bad = {
        **ENTRY,
        "muscle": "gluteus_medius",
        "trigger_point_id": "tp2",
        "needle_length_mm": "40",
        "depth_mm": "45",
    }
    r = client.post(f"/visits/{vid}/needling/entry", data={"csrf_token": csrf, **bad})
    assert r.status_code == 422 and "greater than the needle length" in r.text
    assert 'value="Gluteus medius"' in _field(r.text, "muscle")
    tp2 = load_atlas().find_muscle("gluteus medius").trigger_points[1].name
    assert f'value="{tp2}"' in _field(r.text, "trigger_point_id")
    assert "gluteus_medius" not in re.sub(r"<[^>]+>", " ", r.text)  # in no visible text


def test_a_blank_needle_length_follows_the_muscle(clinic, browser):
    client, csrf = browser
    _pid, vid = _open(clinic)
    gm = {
        **ENTRY,
        "muscle": "Gluteus medius",
        "trigger_point_id": "",
        "needle_length_mm": "",
        "depth_mm": "45",
    }
    r = client.post(
        f"/visits/{vid}/needling/entry", data={"csrf_token": csrf, **gm}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    assert _entries(clinic, vid)[0]["length"] == 75


def test_nprs_before_and_after_needling_go_to_the_outcomes_service(clinic, browser):
    client, csrf = browser
    pid, vid = _open(clinic)
    bad = client.post(
        f"/visits/{vid}/needling/nprs", data={"csrf_token": csrf, "timing": "pre", "current": "11"}
    )
    assert bad.status_code == 422 and 'id="nprs_pre-error"' in bad.text
    for timing, score in (("pre", "7"), ("post", "3")):
        r = client.post(
            f"/visits/{vid}/needling/nprs",
            data={"csrf_token": csrf, "timing": timing, "current": score},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == f"/visits/{vid}#outcomes"
    with open_session(clinic_id=clinic.person.clinic_id) as s:
        rows = s.query(Measurement).filter_by(patient_id=pid, visit_id=vid).all()
        assert sorted((m.timing, m.score) for m in rows) == [("post", 3), ("pre", 7)]
    page = client.get(f"/visits/{vid}").text
    assert _states(page)["outcomes"] == "done" and "NPRS 7 → 3" in page


def test_enter_and_key_counts_need_the_fields_that_change_first(clinic, browser):
    """The per-needle fields come first in the form (the browser test counts the keys)."""
    client, _csrf = browser
    _pid, vid = _open(clinic)
    page = client.get(f"/visits/{vid}").text
    form = page.split('id="entry-form"', 1)[1].split("</form>", 1)[0]
    order = re.findall(r'<(?:input|select) id="(\w+)"', form)
    assert order[:3] == ["muscle", "depth_mm", "twitch_count"]
