"""Loading and validating the referred-pain atlas.

Each muscle is one YAML file authored for the patient's right side; `Atlas` mirrors it to
the left so a pattern is written once. Validation happens here, at load time, and every
error names the file and the field so a clinical reviewer can fix data without Python.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from triggerpoint.atlas.schema import Muscle, TriggerPoint
from triggerpoint.bodychart.catalog import Catalog, Side, load_catalog
from triggerpoint.errors import KnowledgeError, NotFound

ZONE_KINDS = ("essential", "spillover", "local")
# libyaml's C parser is several times faster than PyYAML's pure-Python one; both are safe loaders.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class AtlasError(KnowledgeError):
    """A muscle file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class SidedTriggerPoint:
    """A trigger point placed on one side of the patient, with zones as region ids."""

    uid: str  # "<muscle>.<tp>.<side>", unique across the atlas
    muscle_id: str
    tp_id: str
    side: Side
    muscle: Muscle
    tp: TriggerPoint
    essential: tuple[str, ...]
    spillover: tuple[str, ...]
    local: tuple[str, ...]
    position_region: str

    @property
    def mirror_uid(self) -> str:
        other = {"right": "left", "left": "right"}.get(self.side, self.side)
        return f"{self.muscle_id}.{self.tp_id}.{other}"

    def zone_of(self, region_id: str) -> str | None:
        for kind in ZONE_KINDS:
            if region_id in getattr(self, kind):
                return kind
        return None


@dataclass
class Atlas:
    """Muscles by id plus their trigger points expanded to both sides.

    Anything with `muscles` and `trigger_points` of these shapes can stand in for it
    (the inference tests build small hand-made atlases this way).
    """

    muscles: dict[str, Muscle]
    catalog: Catalog
    trigger_points: list[SidedTriggerPoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.trigger_points:
            self.trigger_points = [
                _sided(m, tp, side, self.catalog)
                for m in self.muscles.values()
                for tp in m.trigger_points
                for side in ("right", "left")
            ]
        self._by_uid = {tp.uid: tp for tp in self.trigger_points}
        # Every needle charted looks its muscle up by name: one dict, not a scan of the atlas
        # normalising every name. The first muscle (in atlas order) to use a name keeps it.
        self._by_name: dict[str, Muscle] = {}
        for m in self.muscles.values():
            for spelling in (m.id, m.name, *m.synonyms):
                self._by_name.setdefault(_norm(spelling), m)

    def trigger_point(self, uid: str) -> SidedTriggerPoint:
        return self._by_uid[uid]

    def find_muscle(self, name: str) -> Muscle:
        """A muscle by id, name or synonym (case-insensitive), or AtlasLookupError."""
        found = self._by_name.get(_norm(name))
        if found is None:
            raise MuscleNotFoundError(name, self.nearest_muscles(name))
        return found

    def nearest_muscles(self, name: str, n: int = 5) -> list[str]:
        import difflib

        names = {_norm(m.name): m.name for m in self.muscles.values()}
        names |= {_norm(s): m.name for m in self.muscles.values() for s in m.synonyms}
        hits = difflib.get_close_matches(_norm(name), list(names), n=n * 2, cutoff=0.5)
        hits += [k for k in names if _norm(name) and _norm(name) in k]
        return list(dict.fromkeys(names[h] for h in hits))[:n]

    def refers_to(self, region_id: str) -> list[tuple[SidedTriggerPoint, str]]:
        """Trigger points whose essential or spillover zone covers a region, essential first."""
        hits = [(tp, tp.zone_of(region_id)) for tp in self.trigger_points]
        ranked = [(tp, z) for tp, z in hits if z in ("essential", "spillover")]
        return sorted(ranked, key=lambda h: (h[1] != "essential", h[0].muscle.name, h[0].tp_id))


class MuscleNotFoundError(NotFound):
    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__("muscle", name, field="muscle", message=f"unknown muscle {name!r}{hint}")


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


def _sided(m: Muscle, tp: TriggerPoint, side: Side, catalog: Catalog) -> SidedTriggerPoint:
    def expand(refs: Iterable[str]) -> tuple[str, ...]:
        out: list[str] = []
        for ref in refs:
            out += [r for r in catalog.expand_zone(ref, side) if r not in out]
        return tuple(out)

    essential, spillover = expand(tp.zones.essential), expand(tp.zones.spillover)
    # Without an authored local zone, the region the trigger point sits in is local, unless it
    # already refers there: a region belongs to one zone only, its strongest.
    local = expand(tp.zones.local) or tuple(
        r for r in expand([tp.position.region]) if r not in essential + spillover
    )
    return SidedTriggerPoint(
        uid=f"{m.id}.{tp.id}.{side}",
        muscle_id=m.id,
        tp_id=tp.id,
        side=side,
        muscle=m,
        tp=tp,
        essential=essential,
        spillover=spillover,
        local=local,
        position_region=catalog.expand_zone(tp.position.region, side)[0],
    )


def _field_path(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(file)"


def validate_muscle(raw: object, *, source: str, catalog: Catalog) -> Muscle:
    """Validate one decoded muscle file against the schema and the region catalogue."""
    try:
        muscle = Muscle.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise AtlasError(f"{source}: {problems}") from None
    for i, tp in enumerate(muscle.trigger_points):
        refs = [("position.region", tp.position.region)] + [
            (f"zones.{kind}", ref) for kind in ZONE_KINDS for ref in getattr(tp.zones, kind)
        ]
        for where, ref in refs:
            key = ref.rpartition(":")[2]
            if key not in catalog.regions and f"right_{key}" not in catalog.regions:
                near = catalog.nearest(key.replace("_", " "), n=3)
                raise AtlasError(
                    f"{source}: trigger_points.{i}.{where}: unknown region key {key!r}"
                    + (f" (nearest: {', '.join(near)})" if near else "")
                )
    return muscle


def load_muscle_file(path: Path, catalog: Catalog) -> Muscle:
    try:
        raw = yaml.load(path.read_text("utf-8"), Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        raise AtlasError(f"{path.name}: not valid YAML: {exc}") from None
    muscle = validate_muscle(raw, source=path.name, catalog=catalog)
    if muscle.id != path.stem:
        raise AtlasError(f"{path.name}: id: {muscle.id!r} must match the file name {path.stem!r}")
    return muscle


def load_atlas_dir(directory: Path, catalog: Catalog | None = None) -> Atlas:
    catalog = catalog or load_catalog()
    muscles: dict[str, Muscle] = {}
    for path in sorted(directory.glob("*.yaml")):
        muscle = load_muscle_file(path, catalog)
        muscles[muscle.id] = muscle
    if not muscles:
        raise AtlasError(f"{directory}: no muscle files found")
    return Atlas(muscles=muscles, catalog=catalog)


def data_dir() -> Path:
    return Path(str(resources.files("triggerpoint.atlas").joinpath("data/muscles")))


@cache
def load_atlas() -> Atlas:
    """The packaged atlas, validated once per process."""
    return load_atlas_dir(data_dir())


def main(argv: list[str] | None = None) -> int:
    """`python -m triggerpoint.atlas.loader [FILE...]`: validate files (all by default)."""
    args = argv if argv is not None else sys.argv[1:]
    catalog = load_catalog()
    paths = [Path(a) for a in args] or sorted(data_dir().glob("*.yaml"))
    failed = 0
    for path in paths:
        try:
            load_muscle_file(path, catalog)
        except AtlasError as exc:
            failed += 1
            print(f"FAIL {exc}")
    print(f"{len(paths) - failed} valid, {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
