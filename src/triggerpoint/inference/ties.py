"""The one tie rule of every ranked list: candidates, muscles, best explanations, examine next.

Scores that are equal mathematically (the two sides of a midline muscle, muscles sharing a
zone, sets built from such points) come out of the arithmetic differing in their last bits,
and which bits depends on the order of the operations. A list ranked by the raw floats would
then order, and cut, its tied entries by floating-point noise. Here scores within a relative
TIE of the highest score of their group form one tie group, ordered by a stable key (ids,
never floats).

Why 1e-12: a double carries about 2.2e-16 relative error per operation, and a score here is a
few hundred operations (sums of logs over a component, products over a muscle's points), so
rounding differences stay below about 1e-13 relative; 1e-12 leaves a margin of ten over that.
Real differences that small carry no meaning: the model's parameters are known to two
digits, and probabilities are shown to three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

TIE = 1e-12  # relative: scores this close are equal up to rounding


def tie_slack(value: float) -> float:
    """How far below `value` a score may be and still tie with it (for pruning bounds)."""
    return TIE * abs(value)


def ranked(
    scores: Sequence[float] | np.ndarray,
    *,
    key: Callable[[int], Any] | None = None,
    arrange: Callable[[list[int]], list[int]] | None = None,
    top: int | None = None,
    log: bool = False,
) -> list[tuple[int, float]]:
    """Indices of `scores`, highest first, as (index, score of its tie group's head).

    A tie group is the scores within a relative TIE of its first (highest) score; it is
    ordered by `key(index)` or, for a rule that needs the whole group, by `arrange(group)`
    (indices in ascending order in, the group's order out). `log`: the scores are logs of
    probabilities, so the relative tolerance on the probability is an absolute TIE on the
    score. `top` cuts the list, after ordering, so a cut through a tie group keeps the
    entries first by the key.
    """
    s = np.asarray(scores, dtype=float)
    n = s.size
    limit = n if top is None else max(top, 0)
    # One sort in numpy, then the groups in plain Python over floats: a numpy search per
    # group cost more than the rest (most groups are one entry). `head - v <= tol` on Python
    # floats is the same IEEE subtraction and comparison as the search over the array.
    order = np.argsort(-s, kind="stable").tolist() if n > 1 else list(range(n))
    values = s[order].tolist()  # non-increasing, so each gap to a group's head is non-decreasing
    out: list[tuple[int, float]] = []
    i = 0
    while i < n and len(out) < limit:
        head = values[i]
        tol = TIE if log else TIE * abs(head)
        j = i + 1
        while j < n and head - values[j] <= tol:
            j += 1
        if j == i + 1:
            out.append((order[i], head))
        else:
            group = sorted(order[i:j])
            if arrange is not None:
                group = arrange(group)
            elif key is not None:
                group.sort(key=key)
            out += [(k, head) for k in group]
        i = j
    return out[:limit]
