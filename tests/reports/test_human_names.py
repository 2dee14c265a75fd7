"""Names, never ids, in the reports: the visit note and the progress report of a demo-like
patient (needles at trigger points whose atlas ids are `tp1`, `upper_lumbar`, …, and pressure
pain thresholds at sites recorded the way the PPT form and the demo wrote them,
"Longissimus thoracis upper_lumbar (left)") show no atlas id, as pages or as PDFs.

Checked against every id in the atlas that cannot be an English word (snake_case, or letters
and digits such as `tp1`), not a fixed list; one-word ids ("deltoid", "central") are words.
"""

from __future__ import annotations

import html
import re

import pytest

from tests.personas import new_patient
from tests.reports.conftest import ENTRY, NO, Api
from tests.reports.test_pdfs import pdf_text
from triggerpoint.atlas.loader import load_atlas

ATLAS = load_atlas()
RAW_ID = re.compile(r"^[a-z]+(_[a-z0-9]+)+$|^[a-z]+[0-9]+$")
ATLAS_IDS = {
    i
    for i in {m.id for m in ATLAS.muscles.values()}
    | {tp.id for m in ATLAS.muscles.values() for tp in m.trigger_points}
    if RAW_ID.match(i)
}
NEEDLES = [  # muscle, trigger point id, side
    ("upper_trapezius", "tp1", "right"),
    ("longissimus_thoracis", "upper_lumbar", "left"),
    ("brachioradialis", "tp1", "left"),
    ("gluteus_medius", None, "right"),
]


def visible(page: str) -> str:
    """What a reader sees (and hears: titles and labels of the charts count as text)."""
    body = page.split("<main", 1)[-1]
    body = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", body)
    labels = " ".join(re.findall(r'aria-label="([^"]*)"', body))
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body) + " " + labels))


def raw_ids_in(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_]+", text)) & ATLAS_IDS


def test_the_check_sees_a_raw_id():
    assert raw_ids_in("Upper trapezius tp1 (right), longissimus_thoracis") == {
        "tp1",
        "longissimus_thoracis",
    }
    assert {"tp1", "upper_lumbar", "upper_trapezius", "gluteus_medius"} <= ATLAS_IDS


@pytest.fixture
def demo_like(app_client, alice):
    """A patient with two visits of needling at named trigger points and PPT at their sites."""
    api = Api(app_client, alice)
    pid = new_patient(app_client, alice, given_name="Dema", height_cm=172, weight_kg=70)
    api.post(f"/api/patients/{pid}/episodes", {"complaint": "Low back and neck pain"})
    api.post(f"/api/patients/{pid}/screenings", {"answers": NO})
    api.post(
        f"/api/patients/{pid}/consents",
        {
            "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
            "signed_by": "Dema Patient",
            "signed_at": "2026-10-01T09:00:00+00:00",
        },
    )
    visits = []
    for day, ppt in (("2026-10-01", [2.0, 2.2]), ("2026-10-08", [2.8, 3.0])):
        vid = api.post(f"/api/patients/{pid}/visits", {"visit_at": f"{day}T10:00:00+00:00"})["id"]
        api.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
        sid = api.post("/api/needling-sessions", {"visit_id": vid})["id"]
        for muscle, tp, side in NEEDLES:
            api.post(
                f"/api/needling-sessions/{sid}/entries",
                {
                    **ENTRY,
                    "muscle": muscle,
                    "trigger_point_id": tp,
                    "side": side,
                    "depth_mm": 8,
                    "twitch_count": 1,
                },
            )
        s = api.post(f"/api/needling-sessions/{sid}/count", {"needles_out": len(NEEDLES)}, 200)
        api.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
        for site in ("Longissimus thoracis upper_lumbar (left)", "Upper trapezius tp1 (right)"):
            api.measure(pid, vid, "ppt", {"trials": ppt}, f"{day}T10:06:00+00:00", "pre", site)
        api.measure(pid, vid, "nprs", {"current": 6}, f"{day}T10:05:00+00:00", "pre")
        visits.append(vid)
    return pid, visits


def test_the_visit_note_names_every_trigger_point(app_client, alice, demo_like):
    pid, visits = demo_like
    page = app_client.get(
        f"/patients/{pid}/reports/visit-note", params={"visit": visits[0]}, headers=alice.headers
    )
    assert page.status_code == 200
    text = visible(page.text)
    assert "Upper trapezius TP1 (anterior border)" in text
    assert "Longissimus thoracis (left)" in text and "Gluteus medius (right)" in text
    assert "Longissimus thoracis TP (about T12-L1), left" in text  # the PPT site
    assert not raw_ids_in(text), raw_ids_in(text)
    pdf = pdf_text(
        app_client.get(
            f"/patients/{pid}/reports/visit-note.pdf",
            params={"visit": visits[0]},
            headers=alice.headers,
        )
    )
    assert "Upper trapezius TP1 (anterior border)" in pdf
    assert not raw_ids_in(pdf), raw_ids_in(pdf)


def test_the_progress_report_names_every_site(app_client, alice, demo_like):
    pid, _visits = demo_like
    page = app_client.get(f"/patients/{pid}/reports/progress", headers=alice.headers)
    assert page.status_code == 200
    text = visible(page.text)
    assert "Upper trapezius TP1 (anterior border), right" in text
    assert not raw_ids_in(text), raw_ids_in(text)
    pdf = pdf_text(app_client.get(f"/patients/{pid}/reports/progress.pdf", headers=alice.headers))
    assert "Longissimus thoracis" in pdf
    assert not raw_ids_in(pdf), raw_ids_in(pdf)


def test_the_outcomes_page_names_every_site(app_client, alice, demo_like):
    from tests.conftest import logged_in

    pid, _visits = demo_like
    browser, _csrf = logged_in(app_client, alice)
    page = browser.get(f"/patients/{pid}/outcomes")
    assert page.status_code == 200
    text = visible(page.text)
    assert "Longissimus thoracis TP (about T12-L1), left" in text
    assert not raw_ids_in(text), raw_ids_in(text)
