"""Timeline thumbnails reuse one copy of the body chart per page (SVG <symbol> + <use>).

A patient with 20 visits used to ship 40 full copies of the chart (~1.7 MB). Each thumbnail
now carries only its marked regions, so the page stays small and every mark stays visible.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from triggerpoint.bodychart.geometry import load_geometry
from triggerpoint.bodychart.svg import chart_symbols, render_thumbnail

SVG = "{http://www.w3.org/2000/svg}"

MARKS = ["right_temple", "right_angle_of_jaw", "left_top_of_shoulder", "left_lateral_epicondyle"]
VISITS = 20


def _patient_with_drawings(app_client, person) -> int:
    pid = new_patient(app_client, person)
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for i in range(VISITS):
        body = {
            "visit_at": (start + timedelta(days=7 * i)).isoformat(),
            "pain_drawing": {
                "complete": True,
                "marks": [{"region": r} for r in MARKS[: 1 + i % 4]],
            },
        }
        resp = app_client.post(f"/api/patients/{pid}/visits", json=body, headers=person.headers)
        assert resp.status_code == 201, resp.text
    return pid


def test_timeline_of_twenty_drawings_is_measured(app_client, alice):
    pid = _patient_with_drawings(app_client, alice)
    client, _ = logged_in(app_client, alice)
    html = client.get(f"/patients/{pid}").text
    print(f"\npatient page with {VISITS} drawings: {len(html.encode())} bytes")
    assert html.count('class="thumbs"') == VISITS


def test_the_chart_is_sent_once_and_each_thumbnail_only_adds_its_marks(app_client, alice):
    pid = _patient_with_drawings(app_client, alice)
    client, _ = logged_in(app_client, alice)
    html = client.get(f"/patients/{pid}").text
    assert html.count('<symbol id="bodychart-anterior"') == 1
    assert html.count('<symbol id="bodychart-posterior"') == 1
    assert html.count('href="#bodychart-anterior"') == VISITS
    assert html.count('href="#bodychart-posterior-lines"') == VISITS
    # 1 + 2 + 3 + 4 + 1 + ... marks over the 20 drawings, each region drawn once in its view.
    marked = re.findall(r'class="region shade-pain" data-region="([a-z_]+)"', html)
    assert len(marked) == sum(1 + i % 4 for i in range(VISITS))
    assert set(marked) == set(MARKS)
    assert len(html.encode()) < 600_000  # it was 6.8 MB with a full chart per thumbnail


def _thumb(**kw) -> ET.Element:
    return ET.fromstring(render_thumbnail("anterior", **kw))


def test_a_thumbnail_uses_the_shared_views_and_draws_only_its_own_regions():
    svg = _thumb(shading={"right_temple": "pain", "right_occiput": "pain"}, height=150)
    uses = [u.get("href") for u in svg.iter(f"{SVG}use")]
    assert uses == ["#bodychart-anterior", "#bodychart-anterior-lines"]
    regions = [p.get("data-region") for p in svg.iter(f"{SVG}path")]
    assert regions == ["right_temple"]  # the occiput is on the back view
    assert svg.get("height") == "150" and svg.get("role") == "img"


def test_thumbnail_fills_follow_the_zone_and_unknown_zones_are_refused():
    svg = _thumb(shading={"right_temple": "spillover"})
    (path,) = svg.iter(f"{SVG}path")
    assert path.get("fill") == "url(#tp-sym-spillover)"
    symbols = ET.fromstring(chart_symbols())
    assert {p.get("id") for p in symbols.iter(f"{SVG}pattern")} == {
        "tp-sym-spillover",
        "tp-sym-local",
    }
    with pytest.raises(ValueError, match="unknown zone"):
        render_thumbnail("anterior", shading={"right_temple": "burning"})


def test_the_symbols_hold_every_region_of_both_views_and_no_interactive_parts():
    symbols = ET.fromstring(chart_symbols())
    ids = [s.get("id") for s in symbols.iter(f"{SVG}symbol")]
    assert ids == [
        "bodychart-anterior",
        "bodychart-anterior-lines",
        "bodychart-posterior",
        "bodychart-posterior-lines",
    ]
    geometry = load_geometry()["views"]
    for view in ("anterior", "posterior"):
        (base,) = (s for s in symbols.iter(f"{SVG}symbol") if s.get("id") == f"bodychart-{view}")
        drawn = {p.get("d") for p in base.iter(f"{SVG}path")}
        assert {r["d"] for r in geometry[view]["regions"].values()} <= drawn
    assert not [e for e in symbols.iter() if e.get("tabindex") or e.get("data-region")]
    assert symbols.get("aria-hidden") == "true"
