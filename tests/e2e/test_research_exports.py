"""Browser: the research exports page on a served demo clinic. The clinician asks for three
exports with the form; a worker (here, the job function in this process, on the server's
database) runs one, another fails on a full disk, the third stays queued. The page shows
each state, the progress and the download link, then the done one "expired" once the
retention sweep has deleted its bundle (its link 410), does not scroll sideways on a tablet, and
is screenshotted at 820x1180 and 1366x900 (test-results/, as every browser test)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.e2e.conftest import PASSWORD, Site, browser_clinician, screenshot, served
from triggerpoint.config import get_settings
from triggerpoint.db import make_engine, open_session
from triggerpoint.demo.generator import seed
from triggerpoint.migrate import upgrade
from triggerpoint.research.exports import jobs, service
from triggerpoint.research.exports.models import ResearchExportJob
from triggerpoint.research.exports.schemas import TABLES

pytestmark = pytest.mark.browser
SIZES = {"tablet": (820, 1180), "laptop": (1366, 900)}


@pytest.fixture(scope="module")
def export_site(tmp_path_factory) -> Iterator[tuple[Site, str, Path]]:
    folder = tmp_path_factory.mktemp("exports")
    url = f"sqlite:///{folder}/exports.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        result = seed(s, patients=20)
        browser_clinician(
            s, clinic_id=result.clinic_id, username="dr.exports", full_name="Dr Exports"
        )
        s.commit()
    engine.dispose()
    bundles = folder / "bundles"
    env = {"TRIGGERPOINT_DATABASE_URL": url, "TRIGGERPOINT_EXPORT_DIR": str(bundles)}
    with served(folder, env) as base:
        yield Site(base, "dr.exports", PASSWORD), url, bundles


def test_exports_page_requests_shows_progress_and_downloads(browser, export_site, monkeypatch):
    site, url, bundles = export_site
    monkeypatch.setenv("TRIGGERPOINT_EXPORT_DIR", str(bundles))  # the "worker" below
    get_settings.cache_clear()
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{site.url}/login")
        page.fill("#username", site.username)
        page.fill("#password", site.password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        resp = page.goto(f"{site.url}/research/exports")
        assert resp is not None and resp.status == 200, page.content()[:3000]
        for fmt in ("parquet", "odm", "redcap"):
            page.select_option("#export-format", fmt)
            page.click("#export-request button[type=submit]")
            page.wait_for_load_state("networkidle")
        assert page.locator("table.exports tbody tr").count() == 3
        assert page.locator("text=waiting for a worker").count() == 3

        engine = make_engine(url)
        with open_session(clinic_id=None, engine=engine) as s:
            ids = {j.format: j.id for j in s.scalars(select(ResearchExportJob))}
        assert jobs.execute(ids["parquet"], engine=engine) is True
        with monkeypatch.context() as m:
            m.setattr(jobs, "write_zip", _full_disk)
            assert jobs.execute(ids["odm"], engine=engine) is False
        engine.dispose()

        page.reload()
        page.wait_for_load_state("networkidle")
        assert page.locator(".status-done").count() == 1
        assert page.locator(".status-failed").count() == 1
        assert "No space left on device" in page.inner_text("table.exports")
        assert f"{len(TABLES) + 1} of {len(TABLES) + 1} parts" in page.inner_text("table.exports")
        link_href = page.locator("a", has_text="Download zip").get_attribute("href")
        got = page.request.get(f"{site.url}{link_href}")
        assert got.status == 200 and got.headers["cache-control"] == "no-store"
        names = zipfile.ZipFile(io.BytesIO(got.body())).namelist()
        assert "patients.parquet" in names
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.reload()
            page.wait_for_load_state("networkidle")
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{size}: scrolls sideways ({scroll}px)"
            screenshot(page, f"research-exports-{size}")
        assert "kept until" in page.inner_text("table.exports")

        # Past the retention period the worker's sweep deletes the bundle: "expired", 410.
        engine = make_engine(url)
        later = datetime.now(UTC) + timedelta(days=get_settings().export_retention_days, hours=1)
        assert service.expire_bundles(engine=engine, now=later) == 1
        engine.dispose()
        page.reload()
        page.wait_for_load_state("networkidle")
        assert page.locator(".status-expired").count() == 1
        assert "expired: the bundle was deleted" in page.inner_text("table.exports")
        assert page.locator("a", has_text="Download zip").count() == 0
        gone = page.request.get(f"{site.url}{link_href}")
        assert gone.status == 410 and "retention period" in gone.text()
        screenshot(page, "research-exports-expired")
        assert not errors, errors
    finally:
        ctx.close()
        get_settings.cache_clear()


def _full_disk(source: Path, target: Path) -> tuple[int, str]:
    raise OSError(28, "No space left on device")
