"""Browser: paint a pain drawing on /suggest and read the ranked trigger points it explains."""

from __future__ import annotations

import json

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.e2e.conftest import SHOTS, screenshot
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


def _settled(page) -> None:
    """Wait until the latest drawing's reply is on the page (the list is busy from change to reply)."""
    page.wait_for_selector('#candidates[aria-busy="false"] .candidate')


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
    page.wait_for_function(
        "() => document.getElementById('drawing-summary').textContent.includes('2')"
    )
    _settled(page)  # the second, debounced answer has replaced the list

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
    want = set(other_tp.essential) | set(other_tp.spillover)
    shown = page.eval_on_selector_all(".suggest-charts [data-overlay]", overlaid)
    assert set(shown) == want
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
    _settled(page)
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


# --- palpation findings, examine next, muscles (issue 15) ----------------------------------

UT1 = "upper_trapezius.tp1.right"


def _row(uid: str) -> str:
    return f'#suggest-results li[data-uid="{uid}"]'


def _draw_neck(page, url: str) -> list[str]:
    _open(page, url)
    page.click(TEMPLE)
    page.click(JAW)
    _settled(page)
    assert page.locator(f'.candidate[data-uid="{UT1}"]').count() == 1
    return _probabilities(page)


def _findings(page) -> list[str]:
    return page.eval_on_selector_all(
        "#findings-list li", "els => els.map(e => e.textContent.replace(/\\s+/g, ' ').trim())"
    )


def test_recording_a_finding_re_ranks_live_and_is_echoed(page, live_server):
    plain = _draw_neck(page, live_server)
    order = _candidates(page)
    second = order[1]
    assert second != UT1 and order[0] == UT1
    assert page.locator(f"{_row(second)} .palpate .sign").first.is_disabled()

    # Pressure on the runner-up reproduces the familiar pain: it rises to the top.
    page.click(f"{_row(second)} .find-familiar")
    page.wait_for_function(
        "uid => document.querySelector('#candidates .candidate').dataset.uid === uid", arg=second
    )
    assert page.get_attribute(f"{_row(second)} .find-familiar", "aria-pressed") == "true"
    assert "Palpated: familiar" in page.inner_text(f'.candidate[data-uid="{second}"]')
    shown = _findings(page)
    assert len(shown) == 1 and "familiar" in shown[0], shown
    name = page.inner_text(f'.candidate[data-uid="{second}"] .tp-name')
    assert shown[0].startswith(f"{name} ({second.rsplit('.', 1)[1]})"), shown
    assert "1 palpation finding" in page.inner_text("#suggest-status")
    state = page.inner_text(f'.candidate[data-uid="{second}"] .state').lower()
    assert "active" in state

    # The same pressure found nothing: the point falls below the others.
    page.click(f"{_row(second)} .find-none")
    page.wait_for_function(
        """uid => { const l = [...document.querySelectorAll('#findings-list li')];
                    return l.length === 1 && l[0].textContent.includes('none') &&
                      document.querySelector('#candidates .candidate').dataset.uid !== uid; }""",
        arg=second,
    )
    assert _candidates(page).index(second) > 1 if second in _candidates(page) else True

    # Removing the finding brings the drawing's own ranking back.
    # The wait reads the list before the click: a reply that comes back first cannot be missed.
    page.click("#findings-list .remove-finding")
    page.wait_for_function(
        """plain => document.querySelectorAll('#findings-list li').length === 0 &&
            JSON.stringify([...document.querySelectorAll('#candidates .candidate')]
                .map(e => e.dataset.uid + ':' + e.querySelector('.prob').textContent)) === plain""",
        arg=json.dumps(plain, separators=(",", ":")),
    )
    assert _probabilities(page) == plain
    assert page.evaluate("window.__sameDocument") is True  # updated without a reload


def test_tender_with_a_twitch_reads_latent_and_the_signs_are_echoed(page, live_server):
    _draw_neck(page, live_server)
    page.click(f"{_row(UT1)} .find-tender")
    page.wait_for_function(
        "uid => (document.querySelector(`.candidate[data-uid='${uid}'] .palpated`) || {})"
        ".textContent === 'Palpated: tender'",
        arg=UT1,
    )
    twitch = f'{_row(UT1)} .sign[data-sign="twitch"]'
    assert not page.locator(twitch).is_disabled()
    page.click(twitch)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#findings-list li')]"
        ".some(e => e.textContent.includes('tender, twitch'))"
    )
    assert page.get_attribute(twitch, "aria-pressed") == "true"
    card = page.inner_text(f'.candidate[data-uid="{UT1}"]').lower()
    latent = card.split("chance active")[1].split("latent")[0].strip()
    assert latent.endswith("%"), card
    assert "latent" in page.inner_text(f'.candidate[data-uid="{UT1}"] .state').lower()


def test_findings_are_keyboard_operable_and_keep_focus(page, live_server):
    _draw_neck(page, live_server)
    name = page.get_attribute(f"{_row(UT1)} .find-familiar", "aria-label")
    assert name.startswith("Familiar: ") and "(right)" in name
    button = page.get_by_role("button", name=name, exact=True)
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#findings-list li').length === 1")
    _settled(page)
    assert page.evaluate("document.activeElement.dataset.focusKey") == f"{UT1}|familiar"
    page.keyboard.press("Space")  # the same value again removes it
    page.wait_for_function("() => document.querySelectorAll('#findings-list li').length === 0")
    # Clear all: record two, clear, focus lands on the findings heading, not on nothing.
    page.click(f"{_row(UT1)} .find-none")
    other = next(u for u in _candidates(page) if u != UT1)
    page.click(f"{_row(other)} .find-tender")
    page.wait_for_function("() => document.querySelectorAll('#findings-list li').length === 2")
    page.click("#clear-findings")
    page.wait_for_function("() => document.querySelectorAll('#findings-list li').length === 0")
    assert page.evaluate("document.activeElement.id") == "palp-h"
    assert page.is_hidden("#clear-findings") and page.is_visible("#findings-empty")


def test_examine_next_lists_three_with_reasons_and_jumps_to_the_point(page, live_server):
    _draw_neck(page, live_server)
    page.wait_for_selector("#examine-next .examine")
    items = page.locator("#examine-next .examine")
    assert 1 <= items.count() <= 3
    for i in range(items.count()):
        text = items.nth(i).inner_text()
        assert "bits" in text and text.startswith("Palpate ")
        assert page.locator("#examine-next .examine-reason").nth(i).inner_text().strip()
    uid = items.first.get_attribute("data-uid")
    items.first.click()
    assert page.get_attribute(f'.candidate[data-uid="{uid}"]', "aria-pressed") == "true"
    assert page.evaluate("document.activeElement.dataset.focusKey") == f"{uid}|familiar"
    page.mouse.move(5, 5)  # the scroll may have put another row under the pointer
    assert page.evaluate("document.querySelector('.suggest-charts').dataset.overlayFor") == uid
    # Palpating it takes it off the list.
    page.keyboard.press("Enter")
    page.wait_for_function(
        "uid => document.querySelectorAll('#findings-list li').length === 1 &&"
        " ![...document.querySelectorAll('#examine-next .examine')].some(b => b.dataset.uid === uid)",
        arg=uid,
    )


def test_muscles_list_the_chance_of_at_least_one_active_point(page, live_server):
    _draw_neck(page, live_server)
    page.wait_for_selector("#muscles > li")
    first = page.inner_text("#muscles > li:first-child")
    assert first.startswith("Upper trapezius (right)") and "at least one point is active" in first
    assert "explains right temple" in first
    assert page.is_visible("#suggest-disclaimer")


def _targets_too_small(page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll(
              '#suggest-results .palpate button, #examine-next .examine, .remove-finding,'
              + ' #clear-findings, #results-toggle')]
            .filter(b => b.offsetParent !== null)
            .map(b => [b.getAttribute('aria-label') || b.textContent, b.getBoundingClientRect()])
            .filter(([, r]) => r.height < 44 || r.width < 44)
            .map(([n, r]) => n + ' ' + Math.round(r.width) + 'x' + Math.round(r.height))"""
    )


@pytest.mark.parametrize(("width", "height"), [(820, 1180), (1366, 900)])
def test_palpation_controls_fit_a_tablet(page, live_server, width, height):
    page.set_viewport_size({"width": width, "height": height})
    _draw_neck(page, live_server)
    if page.is_visible("#results-toggle"):  # the bar pinned to the bottom: collapsed, then open
        assert page.is_hidden(f"{_row(UT1)} .palpate") and page.is_hidden("#examine-box")
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"suggest-palpation-{width}x{height}-collapsed.png"))
        page.click("#results-toggle")
    page.click(f"{_row(UT1)} .find-familiar")
    page.wait_for_function("() => document.querySelectorAll('#findings-list li').length === 1")
    page.wait_for_selector("#examine-next .examine")
    assert _targets_too_small(page) == []
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page scrolls sideways by {overflow}px"
    # What the clinician sees (the viewport, not the full page: the results panel scrolls on
    # its own): the findings and "examine next" at the top of the panel, then the candidates.
    SHOTS.mkdir(exist_ok=True)
    page.eval_on_selector("#suggest-results", "e => { e.scrollTop = 0; }")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.screenshot(path=str(SHOTS / f"suggest-palpation-{width}x{height}.png"))
    page.eval_on_selector(_row(UT1), "e => e.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(SHOTS / f"suggest-palpation-{width}x{height}-row.png"))
    page.eval_on_selector("#muscles-box", "e => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(SHOTS / f"suggest-palpation-{width}x{height}-muscles.png"))
    # axe-core with the options the page-wide accessibility test uses, on the page as it is
    # with a finding recorded, examine next and the muscles shown.
    options = {
        "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        "resultTypes": ["violations"],
    }
    page.click(".palp-legend summary")
    violations = Axe().run(page, options=options).response["violations"]
    blocking = [
        (v["id"], [n["target"] for n in v["nodes"][:5]])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert blocking == []
