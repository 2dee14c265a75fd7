"""Body chart regions: loading the catalogue and resolving names.

The catalogue (`data/regions.yaml`) is authored once per region without a side; paired
regions are expanded here to `right_<key>` and `left_<key>`. Every part of triggerpoint
(Python API, CLI, HTTP, atlas validation) resolves region names through `resolve()` so a
name means the same thing everywhere.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from triggerpoint.errors import InvalidInput

View = Literal["anterior", "posterior"]
Side = Literal["right", "left", "midline"]
SIDES: tuple[Side, Side] = ("right", "left")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    view: View
    group: str
    midline: bool = False
    aliases: list[str] = []


class _Composite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    members: list[str] = Field(min_length=2)
    aliases: list[str] = []


class _Limb(BaseModel):
    """A whole limb: the groups and single regions it spans (paired regions only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    groups: list[str] = Field(min_length=1)
    regions: list[str] = []
    aliases: list[str] = []


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    groups: dict[str, str]
    regions: list[_Entry]
    composites: list[_Composite] = []
    limbs: list[_Limb] = []


@dataclass(frozen=True, slots=True)
class Region:
    """One clickable region of the chart, on one side of the patient."""

    id: str
    key: str
    name: str
    side: Side
    view: View
    group: str
    aliases: tuple[str, ...]

    @property
    def mirror_id(self) -> str:
        """The same region on the patient's other side (itself for midline regions)."""
        return mirror_region_id(self.id)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "key": self.key,
            "name": self.name,
            "side": self.side,
            "view": self.view,
            "group": self.group,
            "aliases": list(self.aliases),
        }


class UnknownRegionError(InvalidInput):
    """A name that matches no region; carries the closest names so callers can show them."""

    suggestions: list[str]  # always given (maybe empty)

    def __init__(self, name: str, suggestions: list[str], *, field: str = "region") -> None:
        self.name = name
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(field, f"unknown body region {name!r}{hint}", suggestions=suggestions)


def mirror_region_id(region_id: str) -> str:
    if region_id.startswith("right_"):
        return "left_" + region_id.removeprefix("right_")
    if region_id.startswith("left_"):
        return "right_" + region_id.removeprefix("left_")
    return region_id


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("-", " ").replace("_", " ")
    text = re.sub(r"[^a-z0-9' ()]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Catalog:
    """All regions, groups and composite names, with a name index for resolution."""

    regions: dict[str, Region]
    groups: dict[str, str]
    composites: dict[str, tuple[str, ...]]  # composite id -> region ids
    index: dict[str, tuple[str, ...]]  # normalised name -> region ids
    canonical: tuple[str, ...]  # names worth suggesting (no "rt"/"(right)" spellings)
    limbs: dict[str, frozenset[str]] = field(default_factory=dict)  # "left_upper_limb" -> ids

    def resolve(self, name: str) -> list[Region]:
        """Regions a clinician's name refers to: one region, a composite or a whole group.

        Case-insensitive; accepts ids ("right_temple"), names ("Right temple"), aliases
        ("R lateral malleolus") and group names ("right shoulder").
        """
        ids = self._lookup(_normalise(name))
        if ids is None:
            raise UnknownRegionError(name, self.nearest(name))
        return [self.regions[i] for i in ids]

    def _lookup(self, query: str) -> tuple[str, ...] | None:
        """The index, then the ways clinicians name both sides at once: "both arms",
        "bilateral upper limbs", "arms" (an unsided name already means both sides)."""
        if (ids := self.index.get(query)) is not None:
            return ids
        words = query.split()
        if words and words[0] in ("both", "bilateral", "bilaterally"):
            words = words[1:]
        if words:
            words[-1] = _singular(words[-1])
        return self.index.get(" ".join(words))

    def limb_of(self, region_id: str) -> str | None:
        """The sided limb a region lies in ("left_upper_limb"), or None for the trunk and head."""
        return next((k for k, ids in self.limbs.items() if region_id in ids), None)

    def limb_names(self) -> list[str]:
        """Display names of the sided limbs ("left upper limb"), for error hints."""
        return [k.replace("_", " ") for k in self.limbs]

    def resolve_many(self, text: str) -> list[Region]:
        """Resolve a comma- or semicolon-separated list, keeping the first-seen order."""
        out: dict[str, Region] = {}
        for part in re.split(r"[;,]", text):
            if part.strip():
                for region in self.resolve(part):
                    out.setdefault(region.id, region)
        return list(out.values())

    def nearest(self, name: str, n: int = 5) -> list[str]:
        query = _normalise(name)
        names = list(self.canonical)
        close = difflib.get_close_matches(query, names, n=n, cutoff=0.55)
        if len(close) < n:  # substring hits catch "temple" -> "right temple"
            close += [k for k in names if query and query in k and k not in close][: n - len(close)]
        return close

    def expand_zone(self, ref: str, side: Side) -> list[str]:
        """Region ids for an atlas zone entry relative to a trigger point on `side`."""
        prefix, _, key = ref.rpartition(":")
        if key in self.regions:  # midline region, stored under its key
            return [key]
        if side == "midline":
            raise ValueError(f"paired region {key!r} needs a sided trigger point")
        other = "left" if side == "right" else "right"
        by_prefix: dict[str, list[str]] = {"": [side], "contra": [other], "both": [side, other]}
        sides = by_prefix[prefix]
        missing = [f"{s}_{key}" for s in sides if f"{s}_{key}" not in self.regions]
        if missing:
            raise ValueError(f"unknown region key {key!r}")
        return [f"{s}_{key}" for s in sides]

    def by_view(self, view: View) -> list[Region]:
        return [r for r in self.regions.values() if r.view == view]


_PLURALS = {"feet": "foot", "calves": "calf", "extremities": "extremity", "teeth": "teeth"}


def _singular(word: str) -> str:
    if word in _PLURALS:
        return _PLURALS[word]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def _expand(entry: _Entry) -> list[Region]:
    if entry.midline:
        return [
            Region(
                entry.key,
                entry.key,
                entry.name,
                "midline",
                entry.view,
                entry.group,
                tuple(entry.aliases),
            )
        ]
    return [
        Region(
            f"{side}_{entry.key}",
            entry.key,
            f"{side} {entry.name}",
            side,
            entry.view,
            entry.group,
            tuple(f"{side} {a}" for a in entry.aliases),
        )
        for side in SIDES
    ]


def _sided_names(base: list[str], side: str) -> list[str]:
    """ "right temple", "r temple", "rt temple", "temple right", "temple (right)"."""
    prefixes = (side, side[0], side[0] + "t")
    return (
        [f"{w} {n}" for n in base for w in prefixes]
        + [f"{n} {side}" for n in base]
        + [f"{n} ({side})" for n in base]
    )


def _build_index(file: _CatalogFile, regions: dict[str, Region]) -> dict[str, tuple[str, ...]]:
    """Name -> region ids. Regions outrank composites, which outrank groups, on a clash
    (so "right low back" is the region, not the whole low-back group)."""
    levels: list[dict[str, list[str]]] = [{}, {}, {}]

    def add(level: int, names: list[str], ids: list[str]) -> None:
        for n in names:
            bucket = levels[level].setdefault(_normalise(n), [])
            bucket.extend(i for i in ids if i not in bucket)

    for entry in file.regions:
        base = [entry.name, entry.key, *entry.aliases]
        if entry.midline:
            add(0, base, [entry.key])
            continue
        for side in SIDES:
            add(0, [*_sided_names(base, side), f"{side}_{entry.key}"], [f"{side}_{entry.key}"])
        add(0, base, [f"right_{entry.key}", f"left_{entry.key}"])  # unsided name: both sides
    for comp in file.composites:
        names = [comp.name, comp.key, *comp.aliases]
        for side in SIDES:
            add(1, _sided_names(names, side), [f"{side}_{m}" for m in comp.members])
        add(1, names, [f"{s}_{m}" for s in SIDES for m in comp.members])
    for limb in file.limbs:
        names = [limb.name, limb.key, *limb.aliases]
        for side in SIDES:
            add(1, _sided_names(names, side), sorted(_limb_ids(limb, regions, side)))
        add(1, names, sorted(_limb_ids(limb, regions, "right") | _limb_ids(limb, regions, "left")))
    for gkey, gname in file.groups.items():
        members = [r for r in regions.values() if r.group == gkey]
        for side in SIDES:
            add(2, _sided_names([gname, gkey], side), [r.id for r in members if r.side == side])
        add(2, [gname, gkey], [r.id for r in members])
    index: dict[str, tuple[str, ...]] = {}
    for level in levels:
        for name, ids in level.items():
            index.setdefault(name, tuple(ids))
    return index


def _limb_ids(limb: _Limb, regions: dict[str, Region], side: str) -> frozenset[str]:
    return frozenset(
        r.id
        for r in regions.values()
        if r.side == side and (r.group in limb.groups or r.key in limb.regions)
    )


def parse_catalog(raw: object) -> Catalog:
    """Validate a decoded catalogue file and build the resolution index."""
    try:
        file = _CatalogFile.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"regions.yaml: {exc}") from exc
    regions: dict[str, Region] = {}
    for entry in file.regions:
        if entry.group not in file.groups:
            raise ValueError(f"regions.yaml: region {entry.key!r}: unknown group {entry.group!r}")
        for region in _expand(entry):
            if region.id in regions:
                raise ValueError(f"regions.yaml: duplicate region id {region.id!r}")
            regions[region.id] = region
    composites: dict[str, tuple[str, ...]] = {}
    keys = {e.key for e in file.regions}
    for comp in file.composites:
        unknown = [m for m in comp.members if m not in keys]
        if unknown:
            raise ValueError(f"regions.yaml: composite {comp.key!r}: unknown members {unknown}")
        composites[comp.key] = tuple(comp.members)
    for limb in file.limbs:
        unknown = [g for g in limb.groups if g not in file.groups]
        unknown += [k for k in limb.regions if f"right_{k}" not in regions]
        if unknown:
            raise ValueError(
                f"regions.yaml: limb {limb.key!r}: unknown groups or regions {unknown}"
            )
    limbs = {
        f"{side}_{limb.key}": _limb_ids(limb, regions, side)
        for limb in file.limbs
        for side in SIDES
    }
    index = _build_index(file, regions)
    canonical = [_normalise(r.name) for r in regions.values()]
    canonical += [_normalise(a) for r in regions.values() for a in r.aliases]
    for comp in file.composites:
        canonical += [_normalise(f"{side} {comp.name}") for side in SIDES]
    canonical += [_normalise(f"{side} {g}") for g in file.groups.values() for side in SIDES]
    canonical += [_normalise(f"{side} {limb.name}") for limb in file.limbs for side in SIDES]
    return Catalog(
        regions, dict(file.groups), composites, index, tuple(dict.fromkeys(canonical)), limbs
    )


@cache
def load_catalog() -> Catalog:
    """The packaged region catalogue (parsed once per process)."""
    text = (
        resources.files("triggerpoint.bodychart").joinpath("data/regions.yaml").read_text("utf-8")
    )
    return parse_catalog(yaml.safe_load(text))


def resolve(name: str) -> list[Region]:
    """Resolve a region name against the packaged catalogue (see `Catalog.resolve`)."""
    return load_catalog().resolve(name)
