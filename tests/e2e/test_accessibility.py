"""Browser: axe-core over every page at tablet and desktop size, and the body chart by keyboard.

Each page of `tests/e2e/pages.py` that the app serves today is opened at 820x1180 and 1366x900
by a logged-in clinician or admin (or nobody, for the login page), screenshotted into
test-results/a11y-<page>-<width>.png, and checked with axe-core against WCAG 2.0 and 2.1 A and
AA: a serious or critical violation fails the test, which prints each one (rule, impact,
element, help). Minor and moderate findings are printed, not failed.

One browser and one logged-in tab per role and size serve the whole module.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import _is_script_error, screenshot
from tests.e2e.pages import (
    NOT_CHECKED,
    PAGES,
    BrowserPage,
    Role,
    SeededSite,
    existing,
    missing,
    served_site,
    unlisted_routes,
)
from triggerpoint.bodychart.catalog import load_catalog

pytestmark = pytest.mark.browser

SIZES = ((820, 1180), (1366, 900))
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}
BLOCKING = {"serious", "critical"}
AXE = Axe()
PRESENT = existing()
# The pages there were on 2026-12-01: none of them may disappear (paths are a public contract).
BUILT = {
    "login", "home", "patients", "patient-new", "patient", "draw", "screening", "consent",
    "needling-open", "needling-signed", "outcomes", "record-nprs", "record-ndi", "visit-note",
    "progress-report", "consent-report", "suggest", "atlas", "atlas-muscle", "education",
    "dashboard", "password", "tokens", "users", "tokens-admin", "error-404", "error-403",
}  # fmt: skip

Tab = tuple[Page, list[str]]


@pytest.fixture(scope="module")
def pages_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededSite]:
    with served_site(tmp_path_factory.mktemp("pages")) as site:
        yield site


def _log_in(page: Page, site: SeededSite, role: Role) -> None:
    username, password = site.logins[role]
    page.goto(f"{site.url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"{role} could not log in: {page.content()[:300]}"


@pytest.fixture(scope="module")
def tabs(browser: Browser, pages_site: SeededSite) -> Iterator[Callable[[Role, int], Tab]]:
    """`tabs(role, width)`: one tab per role and size, logged in once, with its script errors."""
    opened: dict[tuple[Role, int], Tab] = {}

    def get(role: Role, width: int) -> Tab:
        if (role, width) not in opened:
            height = dict(SIZES)[width]
            context = browser.new_context(viewport={"width": width, "height": height})
            context.set_default_timeout(15_000)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if _is_script_error(m) else None)
            if role != "anonymous":
                _log_in(page, pages_site, role)
            opened[role, width] = (page, errors)
        return opened[role, width]

    yield get
    for page, _ in opened.values():
        page.context.close()


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"][:8]:
            summary = node.get("failureSummary", "").replace("\n", " ")
            lines.append(f"    {' '.join(map(str, node['target']))}  {summary[:240]}")
        if len(v["nodes"]) > 8:
            lines.append(f"    ... and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def _open(tab: Tab, site: SeededSite, target: BrowserPage) -> Page:
    page, errors = tab
    errors.clear()
    response = page.goto(target.url(site.url, site.ids))
    page.wait_for_load_state("networkidle")
    assert response is not None and response.status == target.status, (
        f"{target.name}: {response and response.status} at {page.url}"
    )
    if target.role != "anonymous":
        assert "/login" not in page.url, f"{target.name} sent the {target.role} to log in"
    if target.prepare:
        target.prepare(page)
    return page


@pytest.mark.parametrize("width", [w for w, _ in SIZES])
@pytest.mark.parametrize("target", PRESENT, ids=lambda p: p.name)
def test_page_has_no_serious_accessibility_violations(
    tabs: Callable[[Role, int], Tab], pages_site: SeededSite, target: BrowserPage, width: int
) -> None:
    tab = tabs(target.role, width)
    page = _open(tab, pages_site, target)
    screenshot(page, f"a11y-{target.name}-{width}")
    started = time.perf_counter()
    violations = AXE.run(page, options=AXE_OPTIONS).response["violations"]
    print(f"axe {target.name} at {width}: {time.perf_counter() - started:.2f} s")
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    others = [v for v in violations if v["impact"] not in BLOCKING]
    if others:
        print(f"minor/moderate on {target.name} at {width}:\n{_describe(others)}")
    assert not blocking, f"{target.name} at {width}px, {page.url}:\n{_describe(blocking)}"
    assert not tab[1], f"script errors on {target.name}: {tab[1]}"


def test_every_page_of_the_app_is_listed_and_none_has_gone() -> None:
    """A new HTML page must be added to tests/e2e/pages.py; a built one may not vanish."""
    print("listed but not built yet:", ", ".join(f"{p.name} ({p.path})" for p in missing()))
    print("served, not checked:", NOT_CHECKED)
    assert unlisted_routes() == [], "add these pages to PAGES in tests/e2e/pages.py"
    gone = BUILT - {p.name for p in PRESENT}
    assert not gone, f"pages that existed are gone: {sorted(gone)}"
    assert len({p.name for p in PAGES}) == len(PAGES), "page names must be unique"


def test_axe_reports_what_it_should(tabs: Callable[[Role, int], Tab]) -> None:
    """The harness itself: with these options axe does find a missing alt, an unlabelled
    field and grey-on-white text, so a clean page above is clean, not unchecked."""
    page, _ = tabs("anonymous", SIZES[0][0])
    page.goto("about:blank")  # outside the app's CSP, which would drop the inline style
    page.set_content(
        '<html lang="en"><head><title>t</title></head><body><main><h1>t</h1>'
        '<img src="data:,"><input type="text">'
        '<p style="color:#bbb;background:#fff">faint</p></main></body></html>'
    )
    found = {
        v["id"]: v["impact"] for v in AXE.run(page, options=AXE_OPTIONS).response["violations"]
    }
    assert {"image-alt", "label", "color-contrast"} <= found.keys(), found
    assert {found["image-alt"], found["label"]} <= BLOCKING


ERROR_PAGES = [p for p in PRESENT if p.shows_errors]
UNTIED_ERRORS = """() => [...document.querySelectorAll('.field-error')]
    .filter(e => !e.id || !document.querySelector(
        `[aria-describedby~="${e.id}"], [aria-errormessage="${e.id}"]`))
    .map(e => (e.id || '(no id)') + ': ' + e.textContent.trim().slice(0, 80))"""


@pytest.mark.parametrize("target", ERROR_PAGES, ids=lambda p: p.name)
def test_field_errors_are_tied_to_their_fields(
    tabs: Callable[[Role, int], Tab], pages_site: SeededSite, target: BrowserPage
) -> None:
    """WCAG 3.3.1 and 1.3.1, which axe cannot see: a screen reader reads a field's error when
    the field (or its group) names it in aria-describedby or aria-errormessage."""
    page = _open(tabs(target.role, SIZES[0][0]), pages_site, target)
    assert page.locator(".field-error").count() >= 1, f"{target.name} showed no field error"
    assert page.evaluate(UNTIED_ERRORS) == []


# --- the body chart by keyboard -----------------------------------------------------------

CHART_PAGES = [p for p in PRESENT if p.name in ("draw", "suggest")]
REGION = "svg.bodychart [data-region]"  # the chart's own regions, not the list picker's buttons


def _focused_region(page: Page) -> str | None:
    return page.evaluate(
        "() => { const r = document.activeElement && document.activeElement.closest"
        " && document.activeElement.closest('svg.bodychart [data-region]');"
        " return r ? r.dataset.region"
        " : null; }"
    )


def _region_state(page: Page, region: str) -> dict[str, str | None]:
    """What a user perceives of one region: its pressed state, its fill, the live text."""
    return page.evaluate(
        """(id) => {
            const r = document.querySelector(`svg.bodychart [data-region="${id}"]`);
            const live = [...document.querySelectorAll('[aria-live]')].map(e => e.textContent);
            return {pressed: r.getAttribute('aria-pressed'), fill: getComputedStyle(r).fill,
                    live: live.join(' | ')};
        }""",
        region,
    )


def _wait_for_change(page: Page, region: str, before: dict[str, str | None]) -> None:
    """Let a fill transition or a debounced announcement land (up to 5 s), so the test
    judges the state the user meets, not the first frame after the key press."""
    with contextlib.suppress(PlaywrightTimeout):  # the assertions then say what did not change
        page.wait_for_function(
            """([id, fill, live]) => {
                const r = document.querySelector(`svg.bodychart [data-region="${id}"]`);
                const now = [...document.querySelectorAll('[aria-live]')]
                    .map(e => e.textContent).join(' | ');
                return getComputedStyle(r).fill !== fill || now !== live;
            }""",
            arg=[region, before["fill"], before["live"]],
            timeout=5_000,
        )


@pytest.mark.parametrize("width", [w for w, _ in SIZES])
@pytest.mark.parametrize("target", CHART_PAGES, ids=lambda p: p.name)
def test_body_chart_is_usable_by_keyboard(
    tabs: Callable[[Role, int], Tab], pages_site: SeededSite, target: BrowserPage, width: int
) -> None:
    page = _open(tabs(target.role, width), pages_site, target)
    catalog = load_catalog()
    # Every region is a named button, named in plain words: the catalogue's name, not its id.
    regions = page.eval_on_selector_all(REGION, "rs => rs.map(r => r.dataset.region)")
    assert len(regions) > 200
    trees = [chart.aria_snapshot() for chart in page.locator("svg.bodychart").all()]
    named = [name for tree in trees for name in re.findall(r'- button "([^"]+)"', tree)]
    assert sorted(named) == sorted(catalog.regions[r].name for r in regions)
    assert not [n for n in named if "_" in n]
    # Tab reaches a region from the top of the page.
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    presses = 0
    while _focused_region(page) is None and presses < 80:
        page.keyboard.press("Tab")
        presses += 1
    first = _focused_region(page)
    assert first is not None, f"80 Tabs never reached a region on {target.name}"
    print(f"{target.name} at {width}: first region after {presses} Tab presses")
    # Enter marks it: its state is exposed, and it is announced or visibly changes.
    before = _region_state(page, first)
    page.keyboard.press("Enter")
    _wait_for_change(page, first, before)
    after = _region_state(page, first)
    assert after["pressed"] == "true", (before, after)
    assert after["fill"] != before["fill"] or after["live"] != before["live"], (before, after)
    # Tab moves on to the next region; Space marks that one too; Enter again clears it.
    page.keyboard.press("Tab")
    second = _focused_region(page)
    assert second is not None and second != first
    page.keyboard.press(" ")
    assert _region_state(page, second)["pressed"] == "true"
    page.keyboard.press("Enter")
    assert _region_state(page, second)["pressed"] == "false"
    assert _region_state(page, first)["pressed"] == "true"
    screenshot(page, f"a11y-keyboard-{target.name}-{width}")
