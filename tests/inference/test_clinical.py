"""Clinical sanity on the real, packaged atlas (fails, by design, while the atlas is small).

Single patterns: for each muscle, the trigger point whose essential zone is most distinctive
is drawn exactly (complete drawing: everything else pain-free) and the muscle must rank in the
top 3. A muscle is left out only when 3 or more other muscles have a trigger point whose
essential zone contains the drawn one: then the drawing cannot single it out (e.g. the deep
hip rotators share one pattern), whatever the model. At least 40 muscles must be checked.

Pairs: two muscles from different body areas, essential zones drawn together, must both rank
in the top 5, and the best explanation must contain both.
"""

from __future__ import annotations

from functools import cache

import pytest

from triggerpoint.atlas.loader import Atlas, SidedTriggerPoint, load_atlas
from triggerpoint.inference.service import suggest

GROUP_PAIRS = [
    ("head", "lower_limb"),
    ("neck", "pelvis"),
    ("shoulder_girdle", "lower_limb"),
    ("upper_limb", "pelvis"),
    ("trunk", "head"),
    ("neck", "lower_limb"),
    ("head", "upper_limb"),
    ("pelvis", "shoulder_girdle"),
    ("trunk", "lower_limb"),
    ("upper_limb", "neck"),
    ("lower_limb", "head"),
]


@cache
def _atlas() -> Atlas:
    return load_atlas()


def _right(atlas: Atlas) -> list[SidedTriggerPoint]:
    return [t for t in atlas.trigger_points if t.side == "right"]


def _rivals(tp: SidedTriggerPoint, tps: list[SidedTriggerPoint]) -> set[str]:
    zone = set(tp.essential)
    return {t.muscle_id for t in tps if t.muscle_id != tp.muscle_id and zone <= set(t.essential)}


def _distinctive(muscle_id: str, tps: list[SidedTriggerPoint]) -> SidedTriggerPoint:
    own = [t for t in tps if t.muscle_id == muscle_id]
    return min(own, key=lambda t: (len(_rivals(t, tps)), -len(t.essential), t.tp_id))


def test_single_muscle_patterns_rank_top_3() -> None:
    atlas = _atlas()
    tps = _right(atlas)
    checked, failures = 0, []
    for muscle_id in sorted(atlas.muscles):
        tp = _distinctive(muscle_id, tps)
        if len(_rivals(tp, tps)) >= 3:
            continue
        checked += 1
        result = suggest({"pain": list(tp.essential), "complete": True}, atlas=atlas, top=3)
        top3 = [c.muscle_id for c in result.candidates[:3]]
        if muscle_id not in top3:
            failures.append(f"{tp.uid}: top 3 were {[c.uid for c in result.candidates[:3]]}")
    assert checked >= 40, f"only {checked} muscles could be checked; the atlas needs >= 40"
    assert not failures, "\n".join(failures)


def _unambiguous(muscle_id: str, tps: list[SidedTriggerPoint]) -> SidedTriggerPoint | None:
    """The muscle's distinctive trigger point if no other muscle's essential zone contains its
    essential zone and that zone spans at least two regions (a clear pattern), else None."""
    tp = _distinctive(muscle_id, tps)
    return tp if not _rivals(tp, tps) and len(tp.essential) >= 2 else None


def _pairs() -> list[tuple[SidedTriggerPoint, SidedTriggerPoint]]:
    """One pair per group pair: the first unambiguous muscles (by id) whose zones are apart;
    the second muscle is taken on the patient's left so sides are exercised too."""
    atlas = _atlas()
    tps = _right(atlas)
    by_id = {t.uid: t for t in atlas.trigger_points}
    clear = {m: _unambiguous(m, tps) for m in sorted(atlas.muscles)}
    pairs, used = [], set()
    for g1, g2 in GROUP_PAIRS:
        firsts = [m for m, t in clear.items() if t and atlas.muscles[m].group == g1]
        seconds = [m for m, t in clear.items() if t and atlas.muscles[m].group == g2]
        for a in (m for m in firsts if m not in used):
            ta = clear[a]
            near = {*ta.essential, *ta.spillover, *ta.local}
            far = [b for b in seconds if b not in used and not set(clear[b].essential) & near]
            if far:
                tb = by_id[clear[far[0]].uid.removesuffix(".right") + ".left"]
                pairs.append((ta, tb))
                used |= {a, far[0]}
                break
    return pairs


def test_enough_pairs_from_different_areas() -> None:
    assert len(_pairs()) >= 10


@pytest.mark.parametrize("index", range(len(GROUP_PAIRS)))
def test_two_muscle_patterns_are_found_together(index: int) -> None:
    pairs = _pairs()
    assert index < len(pairs) or len(pairs) >= 10, "not enough muscles for this pair yet"
    if index >= len(pairs):
        return
    a, b = pairs[index]
    pain = [*a.essential, *b.essential]
    result = suggest({"pain": pain, "complete": True}, atlas=_atlas(), top=5)
    top5 = [(c.muscle_id, c.side) for c in result.candidates[:5]]
    assert (a.muscle_id, a.side) in top5 and (b.muscle_id, b.side) in top5, top5
    best = {m.muscle_id for m in result.explanations[0].trigger_points}
    assert {a.muscle_id, b.muscle_id} <= best, best
