"""Wilson intervals and the published-rate data."""

from __future__ import annotations

import pytest

from triggerpoint.safety.rates import published
from triggerpoint.safety.stats import wilson


def test_wilson_known_values():
    lo, hi = wilson(0, 7629)
    assert lo == 0 and hi == pytest.approx(
        0.000503, abs=2e-5
    )  # close to Brady's "<= 0.04%" rule-of-three bound
    lo, hi = wilson(1463, 7629)
    assert lo < 0.1918 < hi and hi - lo < 0.02


def test_wilson_edges():
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(5, 5)
    assert hi == 1.0 and 0.5 < lo < 1


def test_published_rates_are_the_cited_figures():
    brady = next(s for s in published() if s["id"] == "brady_2014")
    assert (
        brady["sessions"] == 7629
        and brady["mild_any"]["events"] == 1463
        and brady["by_type"]["bruising"] == 7.55
    )
    boyce = next(s for s in published() if s["id"] == "boyce_2020")
    assert boyce["sessions"] == 20464 and boyce["mild_any"]["percent"] == 36.7
