"""Browser: palpation on the visit page, at tablet (820x1180) and desktop (1366x900).

A drawing gives suggestions; tapping "Nothing" on the best one records the finding, lists it
and re-ranks the suggestions (the drawing plus the findings); "Familiar pain" on another lifts
it. Every palpation button is a 44 px target; no sideways scroll; screenshots for people.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import SHOTS, screenshot
from tests.e2e.test_visit_flow import DRAWING, RAW, _new_patient, _start_visit

pytestmark = pytest.mark.browser
SIZES = [(820, 1180), (1366, 900)]


def _section(page, name: str) -> None:
    """The suggestions step alone, as the clinician sees it (the full page is long)."""
    SHOTS.mkdir(exist_ok=True)
    page.locator("#suggest").screenshot(path=str(SHOTS / f"{name}.png"))


def _active(page, site: str) -> float:
    """The P(active) the row of `site` shows, in percent ("<1%" as 0.5)."""
    li = page.locator(f'#suggestions li:has(.palpate-form[data-site="{site}"])')
    text = li.locator(".states").inner_text()
    value = re.search(r"Active (<?)(\d+)%", text)
    assert value, text
    return 0.5 if value.group(1) else float(value.group(2))


def _order(page) -> list[str]:
    return page.eval_on_selector_all(
        "#suggestions .palpate-form", "els => els.map(e => e.dataset.site)"
    )


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_palpating_a_suggestion_lists_it_and_re_ranks(clinician_page, site, width, height):
    page = clinician_page
    page.set_viewport_size({"width": width, "height": height})
    pid = _new_patient(page, site.url, f"Palp{width}")
    vid = _start_visit(page, site.url, pid)
    for region in DRAWING:
        page.locator(f'#drawing-form .charts [data-region="{region}"]').first.click()
    page.click("#save-drawing")
    page.wait_for_url(re.compile(rf".*/visits/{vid}#drawing$"))
    before = _order(page)
    assert len(before) >= 3, before
    assert "Nothing palpated yet" in page.inner_text("#findings")
    # every palpation control is a tablet-sized target
    for box in [
        page.locator("#suggestions .palpate-form button").first.bounding_box(),
        page.locator("#suggestions .palpate-form label.check").first.bounding_box(),
    ]:
        assert box is not None and box["height"] >= 44, box
    screenshot(page, f"palpation-1-visit-{width}")
    _section(page, f"palpation-1-suggestions-{width}")

    # "Nothing" at the best suggestion: recorded, listed, and its chance of being active falls.
    best = before[0]
    was = _active(page, best)
    next_before = page.inner_text("#examine-next")
    form = page.locator(f'#suggestions .palpate-form[data-site="{best}"]')
    form.locator("button[value=none]").click()
    page.wait_for_url(re.compile(rf".*/visits/{vid}#suggest$"))
    assert "no tender spot or taut band" in page.inner_text("#findings")
    after = _order(page)
    assert best in after and _active(page, best) < was, (was, _active(page, best))
    assert page.inner_text("#examine-next") != next_before  # the palpated one is not offered

    # "Familiar pain" with a twitch at the lowest shown: it rises.
    low = after[-1]
    form = page.locator(f'#suggestions .palpate-form[data-site="{low}"]')
    form.locator("input[name=twitch]").check()
    form.locator("button[value=familiar]").click()
    page.wait_for_url(re.compile(rf".*/visits/{vid}#suggest$"))
    findings = page.inner_text("#findings")
    assert "familiar pain reproduced" in findings and "local twitch" in findings
    final = _order(page)
    assert low in final and final.index(low) < after.index(low), (after, final)
    text = page.inner_text("#suggest")
    assert "Examine next" in text and "bits" in text
    hit = RAW.search(text)
    assert hit is None, f"raw id {hit.group(0)!r} in the suggestions step"
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"the page is {wide} px wide at {width} px"
    screenshot(page, f"palpation-2-visit-{width}")
    _section(page, f"palpation-2-findings-{width}")

    # Removing a finding takes it off the list.
    page.locator("#findings li button").first.click()
    page.wait_for_url(re.compile(rf".*/visits/{vid}#suggest$"))
    assert page.locator("#findings li[data-finding]").count() == 1
