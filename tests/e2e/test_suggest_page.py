"""Browser: paint a pain drawing on /suggest and read the ranked trigger points it explains."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import screenshot
from triggerpoint.atlas.loader import load_atlas

pytestmark = pytest.mark.browser

TEMPLE = '[data-region="right_temple"]'
JAW = '[data-region="right_angle_of_jaw"]'


def _candidates(page) -> list[str]:
    return page.eval_on_selector_all("#candidates .candidate", "els => els.map(e => e.dataset.uid)")


def _wait_for_results(page, previous: list[str] | None = None) -> list[str]:
    """Wait until the candidate list is filled (and differs from `previous`, if given)."""
    page.wait_for_function(
        """prev => {
            const uids = [...document.querySelectorAll('#candidates .candidate')]
                .map(e => e.dataset.uid + ':' + e.querySelector('.prob').textContent);
            return uids.length > 0 && JSON.stringify(uids) !== prev;
        }""",
        arg=json.dumps(previous, separators=(",", ":")) if previous else None,
    )
    return _candidates(page)


def _probabilities(page) -> list[str]:
    return page.eval_on_selector_all(
        "#candidates .candidate",
        "els => els.map(e => e.dataset.uid + ':' + e.querySelector('.prob').textContent)",
    )


@pytest.fixture
def page(page, site):
    """/suggest needs a login (any role): each test here starts logged in as the clinician."""
    page.goto(f"{site.url}/login?next=/suggest")
    page.fill("#username", site.username)
    page.fill("#password", site.password)
    page.click("button[type=submit]")
    page.wait_for_url("**/suggest")
    return page


def _open(page, url: str) -> None:
    page.goto(f"{url}/suggest")
    page.evaluate("window.__sameDocument = true")  # lost if the page ever reloads


def test_temple_and_jaw_rank_upper_trapezius_first_or_second_live(page, live_server):
    _open(page, live_server)
    assert page.locator("#candidates .candidate").count() == 0
    page.click(TEMPLE)  # pointer
    _wait_for_results(page)
    page.focus(JAW)  # keyboard
    page.keyboard.press("Enter")
    assert page.get_attribute(JAW, "aria-pressed") == "true"
    assert page.get_attribute(TEMPLE, "aria-pressed") == "true"
    page.wait_for_function(
        "() => document.getElementById('drawing-summary').textContent.includes('2')"
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#candidates .candidate')].slice(0, 2)"
        ".some(e => e.dataset.uid.startsWith('upper_trapezius.'))"
    )
    top_two = _candidates(page)[:2]
    assert "upper_trapezius.tp1.right" in top_two, top_two
    assert page.evaluate("window.__sameDocument") is True  # updated without a reload
    assert "Upper trapezius" in page.inner_text("#candidates")
    assert page.locator("#explanations li").count() >= 1
    assert "exact" in page.inner_text("#suggest-method").lower()
    screenshot(page, "suggest-temple-jaw")


def test_selecting_a_candidate_overlays_its_referral_map_from_the_atlas(page, live_server):
    atlas = load_atlas()
    tp = atlas.trigger_point("upper_trapezius.tp1.right")
    _open(page, live_server)
    page.click(TEMPLE)
    page.click(JAW)
    page.wait_for_selector('.candidate[data-uid="upper_trapezius.tp1.right"]')

    overlaid = "els => Object.fromEntries(els.map(e => [e.dataset.region, e.dataset.overlay]))"
    page.hover('.candidate[data-uid="upper_trapezius.tp1.right"]')
    shown = page.eval_on_selector_all(".suggest-charts [data-overlay]", overlaid)
    expected = {r: "spillover" for r in tp.spillover} | {r: "essential" for r in tp.essential}
    assert shown == expected
    site = page.eval_on_selector_all(
        ".suggest-charts [data-overlay-tp]", "els => els.map(e => e.dataset.region)"
    )
    assert site == [tp.position_region]

    # Hovering another candidate swaps the map; selecting one keeps it after the pointer leaves.
    other = next(u for u in _candidates(page) if not u.startswith("upper_trapezius."))
    page.hover(f'.candidate[data-uid="{other}"]')
    other_tp = atlas.trigger_point(other)
    shown = page.eval_on_selector_all(".suggest-charts [data-overlay]", overlaid)
    assert set(shown) == set(other_tp.essential) | set(other_tp.spillover)
    page.click('.candidate[data-uid="upper_trapezius.tp1.right"]')
    page.mouse.move(5, 5)
    assert page.get_attribute('.candidate[data-uid="upper_trapezius.tp1.right"]', "aria-pressed")
    shown = page.eval_on_selector_all(".suggest-charts [data-overlay]", overlaid)
    assert shown == expected
    screenshot(page, "suggest-overlay-upper-trapezius")


def test_pointer_drag_paints_every_region_it_crosses(page, live_server):
    _open(page, live_server)
    start, end = page.locator(TEMPLE).bounding_box(), page.locator(JAW).bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=25)
    page.mouse.up()
    painted = page.eval_on_selector_all(
        '.suggest-charts [aria-pressed="true"]', "els => els.map(e => e.dataset.region)"
    )
    assert "right_temple" in painted and "right_angle_of_jaw" in painted, painted
    _wait_for_results(page)
    assert f"{len(painted)} painful" in page.inner_text("#drawing-summary")
    # A drag that starts on a painted region erases instead.
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2)
    page.mouse.down()
    page.mouse.up()
    assert page.get_attribute(JAW, "aria-pressed") == "false"
    assert page.get_attribute(TEMPLE, "aria-pressed") == "true"


def test_complete_versus_partial_drawing_changes_the_evidence(page, live_server):
    _open(page, live_server)
    page.click(TEMPLE)
    page.click(JAW)
    page.wait_for_function("() => document.querySelectorAll('#candidates .candidate').length >= 5")
    page.wait_for_timeout(300)  # let the second debounced request land
    partial = _probabilities(page)
    page.check("#complete")
    _wait_for_results(page, partial)
    complete = _probabilities(page)
    assert complete != partial
    # With the whole chart offered, upper trapezius's unmarked essential/spillover regions count
    # against it, so its probability falls, yet it stays in the top two for this drawing.
    prob = {p.rsplit(":", 1)[0]: float(p.rsplit(":", 1)[1].rstrip("%")) for p in complete}
    before = {p.rsplit(":", 1)[0]: float(p.rsplit(":", 1)[1].rstrip("%")) for p in partial}
    assert prob["upper_trapezius.tp1.right"] < before["upper_trapezius.tp1.right"]
    assert "upper_trapezius.tp1.right" in _candidates(page)[:2]
    page.uncheck("#complete")
    _wait_for_results(page, complete)
    assert _probabilities(page) == partial


def test_pain_free_brush_counts_as_evidence_against(page, live_server):
    _open(page, live_server)
    page.click(TEMPLE)
    page.click(JAW)
    page.wait_for_selector('.candidate[data-uid="upper_trapezius.tp1.right"]')
    page.check("input[name=brush][value=pain_free]")
    page.click('[data-region="right_upper_posterior_neck"]')
    page.wait_for_function(
        "() => [...document.querySelectorAll('.candidate .against')]"
        ".some(e => e.textContent.includes('posterior neck'))"
    )
    assert "1 marked pain-free" in page.inner_text("#drawing-summary")


def test_the_page_says_it_supports_and_does_not_replace_examination(page, live_server):
    _open(page, live_server)
    note = page.inner_text("#suggest-disclaimer").lower()
    assert "does not replace" in note and "palpation" in note
    assert "clinical examination" in note
