"""Browser: the atlas page lists who refers to a clicked region, and maps match the data."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.atlas.render import zone_shading

pytestmark = pytest.mark.browser


def test_clicking_the_right_temple_lists_upper_trapezius_and_temporalis(page, live_server):
    page.goto(f"{live_server}/atlas")
    page.click('[data-region="right_temple"]')
    page.wait_for_function("() => document.querySelectorAll('#refers-list li').length > 0")
    listed = page.inner_text("#refers-list").lower()
    assert "upper trapezius" in listed and "temporalis" in listed
    assert "right temple" in page.inner_text("#refers-region").lower()
    screenshot(page, "atlas-right-temple")


def test_hover_names_the_region_under_the_pointer(page, live_server):
    page.goto(f"{live_server}/atlas")
    page.hover('[data-region="left_lateral_epicondyle"]')
    assert page.inner_text("#hover-name").lower() == "left lateral epicondyle"


def test_referral_map_shading_matches_the_atlas_data(page, live_server):
    atlas = load_atlas()
    muscle = atlas.find_muscle("upper trapezius")
    expected = zone_shading(
        [atlas.trigger_point(f"{muscle.id}.{tp.id}.left") for tp in muscle.trigger_points]
    )
    page.goto(f"{live_server}/atlas/muscles/{muscle.id}?side=left")
    drawn = page.eval_on_selector_all(
        ".charts [data-zone]", "els => els.map(e => [e.dataset.region, e.dataset.zone])"
    )
    assert dict(drawn) == expected
    assert all(r.startswith("left_") for r in expected)
    screenshot(page, "atlas-upper-trapezius-left")
