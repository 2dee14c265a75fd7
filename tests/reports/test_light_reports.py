"""Fast and light reports (issue 14): the body chart drawn once per page, PDF thumbnails as
small images, patient plots drawn without matplotlib, and clinic plots drawn once per content.
Speed itself is measured in bench/pages.py; these tests hold what makes it fast."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from pypdf import PdfReader

from tests.personas import Api, new_patient
from triggerpoint.bodychart.svg import PAIN
from triggerpoint.reports import plots, service

SVG = "{http://www.w3.org/2000/svg}"


@dataclass
class Drawn:
    patient_id: int
    visits: list[int]


REGIONS = [
    ("2026-10-01", ["right_temple", "right_occiput"]),
    ("2026-10-08", ["right_temple"]),
    ("2026-10-15", ["right_angle_of_jaw", "right_upper_posterior_neck"]),
]


@pytest.fixture
def drawn(app_client, alice) -> Drawn:
    """Three visits, each with a pain drawing (front and back regions)."""
    api = Api(app_client, alice)
    pid = new_patient(app_client, alice, given_name="Thumb", family_name="Nail")
    visits = []
    for day, regions in REGIONS:
        body = {
            "visit_at": f"{day}T10:00:00+00:00",
            "pain_drawing": {"complete": True, "marks": [{"region": r} for r in regions]},
        }
        visits.append(api.post(f"/api/patients/{pid}/visits", body)["id"])
    return Drawn(pid, visits)


def test_outcomes_page_draws_the_chart_once(app_client, alice, drawn):
    page = app_client.get(f"/patients/{drawn.patient_id}/outcomes", headers=alice.headers)
    assert page.status_code == 200
    assert page.text.count('<symbol id="bodychart-anterior"') == 1
    thumbs = re.findall(r'<svg[^>]*class="bodychart thumb-chart".*?</svg>', page.text, re.S)
    assert len(thumbs) == 2 * len(drawn.visits)  # front and back per drawing
    assert all('<use href="#bodychart-' in t for t in thumbs)
    assert 'data-region="right_temple"' in thumbs[0]


def test_visit_note_page_draws_the_chart_once(app_client, alice, drawn):
    url = f"/patients/{drawn.patient_id}/reports/visit-note?visit={drawn.visits[0]}"
    page = app_client.get(url, headers=alice.headers)
    assert page.status_code == 200
    assert page.text.count('<symbol id="bodychart-posterior"') == 1


def test_pdf_thumbnails_are_images_named_by_their_content():
    ctx = {"pain": [{"regions": ["right_temple", "right_occiput"], "thumbs": ["web"]}]}
    (entry,) = service.printable(ctx)["pain"]
    assert len(entry["thumbs"]) == 2
    for thumb in entry["thumbs"]:
        (url,) = re.findall(r'src="([^"]+)"', thumb)
        assert url.startswith(plots.CHART_SCHEME)
        assert "<use" not in thumb and 'alt="Body chart' in thumb
    front, back = entry["thumbs"]
    assert "anterior/right_temple.png" in front and "posterior/right_occiput.png" in back


def _pain_pixels(png: bytes) -> int:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    target = tuple(int(PAIN[i : i + 2], 16) for i in (1, 3, 5))
    return sum(
        1
        for px in img.get_flattened_data()
        if all(abs(a - b) <= 8 for a, b in zip(px, target, strict=True))
    )


def test_a_thumbnail_paints_exactly_the_marked_regions():
    blank = plots.thumbnail_png("anterior", ())
    one = plots.thumbnail_png("anterior", ("right_temple",))
    two = plots.thumbnail_png("anterior", ("right_temple", "right_angle_of_jaw"))
    assert _pain_pixels(blank) == 0
    assert 0 < _pain_pixels(one) < _pain_pixels(two)
    # A region of the other view is not on this one.
    assert _pain_pixels(plots.thumbnail_png("posterior", ("right_temple",))) == 0


def test_the_pdf_fetcher_serves_chart_images_and_nothing_else():
    fetcher = plots.chart_fetcher()
    good = f"{plots.CHART_SCHEME}thumb/anterior/right_temple.png"
    response = fetcher.fetch(good)
    assert response.read().startswith(b"\x89PNG")
    for url in (
        "file:///etc/passwd",
        "http://example.org/x.png",
        f"{plots.CHART_SCHEME}thumb/anterior/not_a_region.png",
        f"{plots.CHART_SCHEME}thumb/lateral/right_temple.png",
    ):
        with pytest.raises(ValueError):
            fetcher.fetch(url)


@pytest.mark.parametrize("report", ["progress", "visit-note"])
def test_pdfs_embed_the_thumbnails_as_images(app_client, alice, drawn, report):
    query = f"?visit={drawn.visits[0]}" if report == "visit-note" else ""
    url = f"/patients/{drawn.patient_id}/reports/{report}.pdf{query}"
    r = app_client.get(url, headers=alice.headers)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    # Each distinct thumbnail is one image, embedded once (the pages share their resources).
    reader = PdfReader(io.BytesIO(r.content))
    images = {image.name for page in reader.pages for image in page.images}
    drawings = REGIONS if report == "progress" else REGIONS[:1]
    thumbnails = {
        re.findall(r'src="([^"]+)"', plots.print_thumbnail(view, region_ids=regions))[0]
        for _, regions in drawings
        for view in ("anterior", "posterior")
    }
    assert len(images) == len(thumbnails)


# --- the patient plots, drawn as SVG -------------------------------------------------------

T0 = datetime(2026, 10, 1, 10, tzinfo=UTC)


def _plot(**overrides: object) -> ET.Element:
    kwargs: dict[str, object] = {
        "name": "NPRS",
        "unit": "points",
        "better": "lower",
        "points": [
            {"at": T0, "score": 7, "timing": "pre"},
            {"at": T0 + timedelta(minutes=40), "score": 5, "timing": "post"},
            {"at": T0 + timedelta(days=7), "score": 4, "timing": "pre"},
        ],
        "baseline": 7.0,
        "mcid": 2.0,
        "dashed": ("MDC95", 2.5),
        "sessions": [plots.SessionMark(T0, "Needling 01 Oct 2026: Upper trapezius (right)")],
    }
    svg = plots.trajectory_svg(**(kwargs | overrides))  # type: ignore[arg-type]
    assert "style=" not in svg  # the CSP allows no inline styles
    return ET.fromstring(svg)


def _groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("id", "").split("-", 1)[1]: g for g in root.iter(f"{SVG}g") if g.get("id")}


def test_trajectory_has_its_band_dashed_lines_and_sessions():
    root = _plot()
    assert root.get("class") == "plot" and "NPRS over time" in root.get("aria-label", "")
    groups = _groups(root)
    assert groups["mcid-band"].find(f"{SVG}title").text == "baseline 7 ± MCID 2 points"
    assert {"mdc95-4.50", "mdc95-9.50"} <= set(groups)
    assert groups["session-0"].find(f"{SVG}title").text.startswith("Needling 01 Oct 2026")


def test_trajectory_places_points_by_time_and_value():
    root = _plot()
    lines = [p for p in root.iter(f"{SVG}polyline")]
    pre = [tuple(map(float, xy.split(","))) for xy in lines[0].get("points").split()]
    assert pre[0][0] < pre[1][0]  # a week later is further right
    assert pre[0][1] < pre[1][1]  # 7 is drawn above 4 (SVG y grows downwards)
    band = _groups(root)["mcid-band"].find(f"{SVG}rect")
    top, height = float(band.get("y")), float(band.get("height"))
    assert top < pre[0][1] < top + height  # the baseline lies inside its own band


def test_trajectory_without_points_or_threshold_says_so():
    root = _plot(points=[], baseline=None, mcid=None, sessions=[])
    assert "no threshold" in root.get("aria-label", "")
    assert any(t.text == "no measurements" for t in root.iter(f"{SVG}text"))
    assert "mcid-band" not in _groups(root)


def test_date_ticks_stay_within_the_axis_and_in_order():
    for span in (timedelta(0), timedelta(days=10), timedelta(days=140), timedelta(days=900)):
        lo = T0.timestamp()
        ticks = plots._date_ticks(lo, lo + span.total_seconds() + 86400)
        assert 1 <= len(ticks) <= 8, (span, ticks)
        assert ticks == sorted(ticks)


def test_clinic_plots_are_drawn_once_per_content(monkeypatch):
    drawn: list[list[dict]] = []

    @plots.by_content
    def fake_svg(rows):
        drawn.append(list(rows))
        return f"<svg>{len(drawn)}</svg>"

    rows = [{"name": "Upper trapezius", "sessions": 3}]
    assert fake_svg(rows) == fake_svg([dict(r) for r in rows]) == "<svg>1</svg>"
    assert fake_svg([{"name": "Upper trapezius", "sessions": 4}]) == "<svg>2</svg>"
    assert len(drawn) == 2


def test_printed_plots_drop_only_their_hover_texts():
    svg = plots.trajectory_svg(
        name="NPRS",
        unit="points",
        better="lower",
        points=[{"at": T0, "score": 7, "timing": "pre"}],
        baseline=7.0,
        mcid=2.0,
        sessions=[plots.SessionMark(T0, "Needling 01 Oct 2026")],
    )
    printed = plots.for_print(svg)
    assert "<title>" in svg and "<title>" not in printed
    assert printed == svg.replace("<title>Needling 01 Oct 2026</title>", "").replace(
        "<title>baseline 7 ± MCID 2 points</title>", ""
    )
    root = ET.fromstring(printed)  # still well-formed, still named
    assert "NPRS over time" in root.get("aria-label", "")
