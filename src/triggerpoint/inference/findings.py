"""Palpation findings: where they were made (one site resolver for every entry layer) and
their resolution against an atlas.

A site is "<side> <muscle name, id or synonym> [<trigger point id> | tp<N>]", case-insensitive,
where tp<N> is the N-th trigger point of the muscle in atlas order (1-based). A trigger point
id written in the atlas wins over the positional form: the trapezius parts keep Simons'
numbers (lower trapezius holds tp3 and tp4), so "lower trapezius tp3" is its own TrP3, while
"lower trapezius tp1" is its first point. Without a trigger point the site is the muscle as a
whole (a muscle-level finding).

The API, the CLI (`--palpated`) and the visit records all resolve through `resolve_site`, so
they accept the same names and answer an unknown one with the same nearest names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from triggerpoint.errors import InvalidInput
from triggerpoint.inference.network import AtlasLike
from triggerpoint.inference.schemas import PalpationInput, PalpationValue

SIDES = ("right", "left")
_POSITIONAL = re.compile(r"tp(\d+)")


@dataclass(frozen=True, slots=True)
class Site:
    muscle_id: str
    side: str
    trigger_point_id: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A resolved palpation finding (trigger_point_id None: the muscle as a whole)."""

    muscle_id: str
    side: str
    trigger_point_id: str | None
    finding: PalpationValue
    twitch: bool | None = None
    referral: bool | None = None

    @property
    def site(self) -> Site:
        return Site(self.muscle_id, self.side, self.trigger_point_id)


class UnknownSite(InvalidInput):
    """A palpation site that names no muscle-side or trigger point of the atlas."""


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


@dataclass
class _Index:
    muscles: dict[str, Any]  # muscle id -> Muscle
    names: dict[str, str]  # normalised id, name or synonym -> muscle id
    tp_ids: dict[str, tuple[str, ...]]  # muscle id -> its trigger point ids, atlas order


_INDEX: dict[int, tuple[object, _Index]] = {}


def _index(atlas: AtlasLike) -> _Index:
    hit = _INDEX.get(id(atlas))
    if hit is not None and hit[0] is atlas:
        return hit[1]
    muscles: dict[str, Any] = {}
    for tp in atlas.trigger_points:
        muscles.setdefault(tp.muscle_id, tp.muscle)
    names: dict[str, str] = {}
    for mid, m in muscles.items():
        for name in (*getattr(m, "synonyms", ()), getattr(m, "name", mid), mid):
            names[_norm(name)] = mid
    tp_ids = {mid: tuple(t.id for t in m.trigger_points) for mid, m in muscles.items()}
    index = _Index(muscles, names, tp_ids)
    _INDEX[id(atlas)] = (atlas, index)
    while len(_INDEX) > 8:
        _INDEX.pop(next(iter(_INDEX)))
    return index


def _nearest(atlas: AtlasLike, text: str) -> list[str]:
    nearest = getattr(atlas, "nearest_muscles", None)
    if nearest is not None:
        return list(nearest(text))
    import difflib

    idx = _index(atlas)
    hits = difflib.get_close_matches(_norm(text), list(idx.names), n=5, cutoff=0.5)
    return list(dict.fromkeys(idx.muscles[idx.names[h]].name for h in hits))


def muscle_name(atlas: AtlasLike, muscle_id: str) -> str:
    return str(getattr(_index(atlas).muscles[muscle_id], "name", muscle_id))


def _tp_sites(atlas: AtlasLike, side: str, muscle_id: str) -> list[str]:
    name = muscle_name(atlas, muscle_id).lower()
    return [f"{side} {name} {t}" for t in _index(atlas).tp_ids[muscle_id]]


def trigger_point_of(atlas: AtlasLike, muscle_id: str, text: str) -> str | None:
    """The trigger point id that `text` names in this muscle (its id or tp<N>), or None."""
    ids = _index(atlas).tp_ids[muscle_id]
    key = _norm(text).replace(" ", "_")
    if key in ids:
        return key
    m = _POSITIONAL.fullmatch(key.replace("_", ""))
    if m and 1 <= int(m.group(1)) <= len(ids):
        return ids[int(m.group(1)) - 1]
    return None


def resolve_site(text: str, *, atlas: AtlasLike, field: str = "site") -> Site:
    """The muscle-side (and trigger point) a site text names, or UnknownSite naming `field`
    with the nearest names as suggestions."""
    idx = _index(atlas)
    words = _norm(text).split()
    if not words:
        raise UnknownSite(field, "empty site: write e.g. 'right upper trapezius'")
    side = words[0]
    rest = words[1:]
    if side not in SIDES:
        # Accept the side at the end too ("upper trapezius right") but never guess it.
        if words[-1] in SIDES:
            side, rest = words[-1], words[:-1]
        else:
            mid = idx.names.get(" ".join(words))
            sugg = [f"{s} {muscle_name(atlas, mid).lower()}" for s in SIDES] if mid else []
            raise UnknownSite(
                field,
                f"{text!r}: start with the side (right or left), e.g. 'right upper trapezius'",
                suggestions=sugg or [f"right {n.lower()}" for n in _nearest(atlas, text)],
            )
    if not rest:
        raise UnknownSite(field, f"{text!r}: name the muscle after the side")
    # Longest muscle name first; what is left (if anything) names the trigger point.
    for cut in range(len(rest), 0, -1):
        mid = idx.names.get(" ".join(rest[:cut]))
        if mid is None:
            continue
        tail = " ".join(rest[cut:])
        if not tail:
            return Site(mid, side, None)
        tp_id = trigger_point_of(atlas, mid, tail)
        if tp_id is not None:
            return Site(mid, side, tp_id)
        raise UnknownSite(
            field,
            f"{text!r}: {muscle_name(atlas, mid)} has no trigger point {tail!r}; it has "
            + ", ".join(idx.tp_ids[mid]),
            suggestions=_tp_sites(atlas, side, mid),
        )
    near = _nearest(atlas, " ".join(rest))
    hint = f"; did you mean: {', '.join(near)}?" if near else ""
    raise UnknownSite(
        field,
        f"{text!r}: unknown muscle {' '.join(rest)!r}{hint}",
        suggestions=[f"{side} {n.lower()}" for n in near],
    )


def resolve_finding(entry: PalpationInput, *, atlas: AtlasLike, field: str) -> Finding:
    """A PalpationInput resolved against the atlas; errors name `field`.site, .muscle_id,
    .side or .trigger_point_id."""
    if entry.site is not None:
        site = resolve_site(entry.site, atlas=atlas, field=f"{field}.site")
    else:
        idx = _index(atlas)
        mid = str(entry.muscle_id)
        if mid not in idx.muscles:
            mid = idx.names.get(_norm(mid), "")
        if not mid:
            near = _nearest(atlas, str(entry.muscle_id))
            hint = f"; did you mean: {', '.join(near)}?" if near else ""
            raise UnknownSite(
                f"{field}.muscle_id",
                f"unknown muscle {entry.muscle_id!r}{hint}",
                suggestions=[m for m in idx.muscles if idx.muscles[m].name in near],
            )
        side = str(entry.side).lower()
        if side not in SIDES:
            raise InvalidInput(
                f"{field}.side", f"unknown side {entry.side!r}: right or left", suggestions=[*SIDES]
            )
        tp_id = None
        if entry.trigger_point_id is not None:
            tp_id = trigger_point_of(atlas, mid, entry.trigger_point_id)
            if tp_id is None:
                raise UnknownSite(
                    f"{field}.trigger_point_id",
                    f"{muscle_name(atlas, mid)} has no trigger point {entry.trigger_point_id!r}; "
                    f"it has {', '.join(idx.tp_ids[mid])}",
                    suggestions=list(idx.tp_ids[mid]),
                )
        site = Site(mid, side, tp_id)
    return Finding(
        site.muscle_id,
        site.side,
        site.trigger_point_id,
        entry.finding,
        entry.twitch,
        entry.referral,
    )


def resolve_findings(
    entries: Sequence[PalpationInput], *, atlas: AtlasLike, field: str = "palpation"
) -> list[Finding]:
    """Every finding resolved; the same site twice is refused (which one would be true?)."""
    out: list[Finding] = []
    seen: dict[Site, int] = {}
    for n, entry in enumerate(entries):
        f = resolve_finding(entry, atlas=atlas, field=f"{field}.{n}")
        if f.site in seen:
            raise InvalidInput(
                f"{field}.{n}",
                f"{label(atlas, f.site)} has a finding already (entry {seen[f.site]}): "
                "record one finding per site",
            )
        seen[f.site] = n
        out.append(f)
    return out


def label(atlas: AtlasLike, site: Site) -> str:
    """Human text with the atlas's own names, never a raw id: "right upper trapezius TP1
    (anterior border)", or "right upper trapezius" at muscle level."""
    muscle = muscle_name(atlas, site.muscle_id)
    if not site.trigger_point_id:
        return f"{site.side} {muscle.lower()}"
    points = getattr(_index(atlas).muscles[site.muscle_id], "trigger_points", ())
    title = next((t.name for t in points if t.id == site.trigger_point_id), None)
    return point_label(site.side, muscle, site.trigger_point_id, title)


def point_label(side: str, muscle: str, tp_id: str, title: str | None) -> str:
    """A sided trigger point in words from its atlas title (which usually starts with the
    muscle's name): "right upper trapezius TP1 (anterior border)"."""
    if not title:
        return f"{side} {muscle.lower()} ({tp_id.replace('_', ' ')})"
    if title.lower().startswith(muscle.lower()):
        return f"{side} {muscle.lower()}{title[len(muscle) :]}"
    return f"{side} {muscle.lower()} ({title})"
