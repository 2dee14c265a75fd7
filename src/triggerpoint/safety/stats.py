"""Confidence intervals for event rates: Wilson score intervals, which behave at 0 events
and small denominators, where the normal approximation gives negative or zero-width ones.

The clinic's own adverse-event rates (`treatment.stats`) and the dashboard use them.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(events: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion events/n (0..1)."""
    if n <= 0:
        return (0.0, 1.0)
    p = events / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
