"""Browser: the pain-map page on a tablet (820x1180) and a laptop (1366x900), on a served demo
clinic with research consents and some repeat drawings; screenshots to /tmp/shots/h6/.

The page must not scroll sideways, the heat map must draw both views with its legend, the
filter must round-trip through the URL, and the figure links must answer PNG and PDF."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from tests.e2e.conftest import PASSWORD, Site, browser_clinician, served
from triggerpoint.db import make_engine, open_session
from triggerpoint.demo.generator import seed
from triggerpoint.migrate import upgrade
from triggerpoint.records.models import PainDrawing, PainMark

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots/h6")
SIZES = {"tablet": (820, 1180), "laptop": (1366, 900)}


def _repeat_drawings(engine) -> None:
    """A second drawing two days before each patient's first one, a region or two changed:
    the test-retest pairs (the demo's own drawings are a week apart with needling between)."""
    rng = np.random.default_rng(6)
    with open_session(clinic_id=None, engine=engine) as s:
        firsts = s.scalars(
            select(PainDrawing).order_by(PainDrawing.patient_id, PainDrawing.drawn_at)
        ).all()
        seen: set[int] = set()
        for d in firsts:
            if d.patient_id in seen or not d.marks:
                continue
            seen.add(d.patient_id)
            regions = [m.region_id for m in d.marks]
            keep = [r for r in regions if rng.random() > 0.2] or regions[:1]
            s.add(
                PainDrawing(
                    clinic_id=d.clinic_id,
                    patient_id=d.patient_id,
                    complete=True,
                    drawn_at=d.drawn_at - timedelta(days=2),
                    source="patient",
                    marks=[PainMark(clinic_id=d.clinic_id, region_id=r) for r in keep],
                )
            )
        s.commit()


@pytest.fixture(scope="module")
def research_site(tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("painmap")
    url = f"sqlite:///{folder}/painmap.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        result = seed(s, patients=60)
        browser_clinician(
            s, clinic_id=result.clinic_id, username="dr.research", full_name="Dr Research"
        )
        s.commit()
    _repeat_drawings(engine)
    engine.dispose()
    with served(folder, {"TRIGGERPOINT_DATABASE_URL": url}) as base:
        yield Site(base, "dr.research", PASSWORD)


def _logged_in(browser, site: Site, size: str):
    width, height = SIZES[size]
    ctx = browser.new_context(viewport={"width": width, "height": height})
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site.url}/login")
    page.fill("#username", site.username)
    page.fill("#password", site.password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return ctx, page, errors


@pytest.mark.parametrize("size", list(SIZES))
def test_painmap_page_in_the_browser(browser, research_site, size):
    ctx, page, errors = _logged_in(browser, research_site, size)
    try:
        resp = page.goto(f"{research_site.url}/research/painmap")
        assert resp is not None and resp.status == 200
        assert resp.headers["cache-control"] == "no-store"
        n = int(page.inner_text("#cohort-n"))
        assert n > 10  # most of the 60 demo patients consented
        heat = page.locator("#heatmap svg")
        box = heat.bounding_box()
        assert box is not None and box["width"] > 300
        assert page.locator("#heatmap svg [data-view]").count() == 2  # front and back
        assert page.locator("#heatmap .legend rect").count() >= 10
        assert page.locator("#top-regions tbody tr").count() >= 5
        assert int(page.inner_text("#agreement-pairs")) > 0
        assert int(page.inner_text("#extent-pairs")) > 0
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= SIZES[size][0], f"scrolls sideways: {width}px"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"painmap-{size}.png"), full_page=True)
        # the filter form round-trips through the URL
        page.select_option("#f-view", "first")
        page.click("#painmap-filter button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "view=first" in page.url
        assert page.locator("#f-view").input_value() == "first"
        assert "the first drawing of any of their episodes" in page.inner_text("#heat-definition")
        png = page.request.get(f"{research_site.url}{page.get_attribute('#heatmap-png', 'href')}")
        assert png.status == 200 and png.body()[:4] == b"\x89PNG"
        pdf = page.request.get(f"{research_site.url}{page.get_attribute('#extent-pdf', 'href')}")
        assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
        # a bad filter: a 422 page naming the field
        resp = page.goto(
            f"{research_site.url}/research/painmap?date_from=2026-05-01&date_to=2026-01-01"
        )
        assert resp is not None and resp.status == 422
        assert page.locator("#date_to-error").is_visible()
        if size == "tablet":
            page.screenshot(path=str(SHOTS / "painmap-error-tablet.png"), full_page=True)
        assert not errors, errors
    finally:
        ctx.close()
