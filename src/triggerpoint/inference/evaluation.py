"""Evaluation of the suggestion engine on clinical vignettes written from outside the atlas.

A vignette is a patient's pain drawing as a source (the Trigger Point Manual, a published case
report) describes it, with the muscle that source holds responsible. The vignettes live in
YAML files (tests/inference/vignettes/*.yaml) and are read here, strictly: a misspelt region,
an unknown muscle id or a stray key is an error naming the file, the vignette and the field,
because a vignette that silently means something else would make every figure meaningless.

Why a frozen split: parameters (priors, links, `completeness`) are chosen by looking at the
evaluation, so the figures on the vignettes used for that choice are optimistic. A third of
the vignettes, picked by a hash of the id alone (`split_of`), is held out, and the manifest
(HELDOUT.sha256) records each held-out vignette's content when it was frozen, so nobody can
quietly edit a held-out case until it passes.

Ranking unit: the muscle on one side, because a clinician examines and needles a muscle; a
vignette is a top-k hit when an answer muscle (on the answer's side, when the source names
one) is among the k best ranked muscle-sides.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from triggerpoint.errors import Conflict, InvalidInput
from triggerpoint.inference.findings import UnknownSite, resolve_site
from triggerpoint.inference.network import AtlasLike
from triggerpoint.inference.params import Params

Split = Literal["tune", "heldout"]
Tag = Literal["classic", "partial", "extra", "mixed", "palpation", "bilateral", "not_in_atlas"]
MANIFEST = "HELDOUT.sha256"
TOP_K = (1, 3, 5)
CALIBRATION_TOP = 10  # muscles per vignette that enter the calibration table
SPARSE = 100  # fewer (prediction, outcome) pairs than this: 5 bins instead of 10
RANK_ALL = 10**6  # `top` for suggest(): every touched trigger point, so every muscle ranks


class VignetteError(InvalidInput):
    """A vignette file that cannot be used; `field` is "<file>:<vignette id>:<field>"."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    kind: Literal["manual", "case_report", "case_series", "textbook"]
    citation: str = Field(min_length=10)
    doi: str | None = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$")
    doi_checked: bool
    locator: str | None = None


class VignetteDrawing(_Strict):
    pain: list[str] = Field(min_length=1)
    pain_free: list[str] = []
    complete: bool = False


class Palpation(_Strict):
    """One examination finding the source reports, in the engine's site text."""

    site: str = Field(min_length=3)
    finding: Literal["familiar", "tender", "none"]
    twitch: bool | None = None
    referral: bool | None = None


class Answer(_Strict):
    muscles: list[str]
    side: Literal["right", "left"] | None


class Vignette(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9_]+)+-\d{3}$")
    source: Source
    story: str = Field(min_length=20)
    drawing: VignetteDrawing
    palpation: list[Palpation] = []
    answer: Answer
    tags: list[Tag] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Vignette:
        outside = "not_in_atlas" in self.tags
        if outside and self.answer.muscles:
            raise ValueError("answer.muscles must be [] for a vignette tagged not_in_atlas")
        if not outside and not self.answer.muscles:
            raise ValueError("answer.muscles needs at least one muscle (or tag not_in_atlas)")
        if ("palpation" in self.tags) != bool(self.palpation):
            raise ValueError("tag palpation if and only if the vignette has palpation findings")
        return self

    def canonical_json(self) -> str:
        """The content the held-out manifest fingerprints (key order and spacing fixed).

        Defaults are left out, so adding an optional field to the format later does not
        change the fingerprint of every frozen vignette.
        """
        return json.dumps(
            self.model_dump(mode="json", exclude_defaults=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def fingerprint(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def split(self) -> Split:
        return split_of(self.id)


def split_of(vignette_id: str) -> Split:
    """Held out iff sha256(id) is divisible by 3: depends on the id alone, so adding,
    removing or editing other vignettes never moves one across the split."""
    return (
        "heldout" if int(hashlib.sha256(vignette_id.encode()).hexdigest(), 16) % 3 == 0 else "tune"
    )


# --- loading ---------------------------------------------------------------------------------


def _where(file: str, vid: str, loc: Iterable[object]) -> str:
    return f"{file}:{vid}:" + ".".join(str(p) for p in loc)


def load_vignettes(directory: Path, *, atlas: AtlasLike | None = None) -> list[Vignette]:
    """Every vignette of every *.yaml file in `directory`, validated against the body chart,
    the atlas and the palpation-site resolver; errors name file, vignette id and field."""
    directory = Path(directory)
    if not directory.is_dir():
        raise VignetteError("DIR", f"{directory} is not a directory of vignette files")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise VignetteError("DIR", f"{directory} holds no *.yaml vignette file")
    if atlas is None:
        from triggerpoint.atlas.loader import load_atlas

        atlas = load_atlas()
    out: list[Vignette] = []
    seen: dict[str, str] = {}
    for path in files:
        for vignette in _load_file(path, atlas):
            if vignette.id in seen:
                raise VignetteError(
                    _where(path.name, vignette.id, ["id"]),
                    f"duplicate vignette id {vignette.id!r} (also in {seen[vignette.id]})",
                )
            seen[vignette.id] = path.name
            out.append(vignette)
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a vignette file must not."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_file(path: Path, atlas: AtlasLike) -> list[Vignette]:
    name = path.name
    try:
        raw = yaml.load(
            path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader
        )  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise VignetteError(f"{name}:(file)", f"{name} is not valid YAML: {exc}") from None
    if (
        not isinstance(raw, dict)
        or set(raw) != {"vignettes"}
        or not isinstance(raw["vignettes"], list)
    ):
        raise VignetteError(f"{name}:(file)", f"{name} must hold one key, vignettes: [...]")
    out = []
    for n, item in enumerate(raw["vignettes"]):
        vid = str(item.get("id", f"#{n}")) if isinstance(item, dict) else f"#{n}"
        try:
            vignette = Vignette.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = _where(name, vid, err["loc"])
            raise VignetteError(field, f"{field}: {err['msg']}") from None
        _check_references(name, vignette, atlas)
        out.append(vignette)
    return out


def _check_references(file: str, v: Vignette, atlas: AtlasLike) -> None:
    from triggerpoint.bodychart.catalog import UnknownRegionError, load_catalog

    catalog = getattr(atlas, "catalog", None) or load_catalog()
    for key in ("pain", "pain_free"):
        for n, region in enumerate(getattr(v.drawing, key)):
            try:
                catalog.resolve(region)
            except UnknownRegionError as exc:
                field = _where(file, v.id, ["drawing", key, n])
                hint = f" (did you mean: {', '.join(exc.suggestions)})" if exc.suggestions else ""
                raise VignetteError(
                    field, f"{field}: unknown region {region!r}{hint}", suggestions=exc.suggestions
                ) from None
    muscles = getattr(atlas, "muscles", {})
    for n, muscle_id in enumerate(v.answer.muscles):
        if muscle_id not in muscles:
            field = _where(file, v.id, ["answer", "muscles", n])
            raise VignetteError(field, f"{field}: no muscle {muscle_id!r} in the atlas")
    for n, finding in enumerate(v.palpation):
        _check_site(file, v.id, n, finding.site, atlas)


def _check_site(file: str, vid: str, n: int, site: str, atlas: AtlasLike) -> None:
    try:
        resolve_site(site, atlas=atlas)
    except UnknownSite as exc:
        field = _where(file, vid, ["palpation", n, "site"])
        raise VignetteError(field, f"{field}: {exc}", suggestions=exc.suggestions) from None


# --- the held-out manifest -------------------------------------------------------------------


class ManifestCheck(BaseModel):
    """Differences between the held-out vignettes and the frozen manifest."""

    changed: list[str] = Field(description="Held-out vignettes edited since they were frozen")
    missing: list[str] = Field(description="Frozen vignettes no longer present")
    unfrozen: list[str] = Field(description="Held-out vignettes not yet in the manifest")

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.unfrozen)


def read_manifest(directory: Path) -> dict[str, str]:
    path = Path(directory) / MANIFEST
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[1]) != 64:
            raise VignetteError(f"{MANIFEST}:{n}", f"{MANIFEST} line {n}: want '<id> <sha256>'")
        out[parts[0]] = parts[1]
    return out


def check_manifest(vignettes: Sequence[Vignette], directory: Path) -> ManifestCheck:
    frozen = read_manifest(directory)
    held = {v.id: v.fingerprint() for v in vignettes if v.split == "heldout"}
    return ManifestCheck(
        changed=sorted(i for i, h in held.items() if i in frozen and frozen[i] != h),
        missing=sorted(i for i in frozen if i not in held),
        unfrozen=sorted(i for i in held if i not in frozen),
    )


def freeze(vignettes: Sequence[Vignette], directory: Path) -> list[str]:
    """Append the held-out vignettes not yet frozen to the manifest; returns their ids.

    Refuses (Conflict) when a frozen vignette changed or disappeared: re-freezing would
    launder an edit of a held-out case, which is exactly what the manifest exists to catch.
    """
    check = check_manifest(vignettes, directory)
    if check.changed or check.missing:
        raise Conflict(
            "held-out vignettes changed since they were frozen: "
            + ", ".join(check.changed + [f"{i} (removed)" for i in check.missing])
            + ". Restore them, or give the edited case a new id.",
            field="--freeze",
        )
    if not check.unfrozen:
        return []
    path = Path(directory) / MANIFEST
    prints = {v.id: v.fingerprint() for v in vignettes}
    header = "" if path.exists() else "# held-out vignettes: <id> <sha256 of canonical JSON>\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(header + "".join(f"{i} {prints[i]}\n" for i in check.unfrozen))
    return check.unfrozen


# --- evaluation ------------------------------------------------------------------------------


class RankedMuscle(BaseModel):
    muscle_id: str
    side: str
    p_active: float


class Row(BaseModel):
    """One vignette's outcome."""

    id: str
    split: Split
    tags: list[str]
    answer: list[str]
    side: str | None
    rank: int | None = Field(description="1-based rank of the best-placed answer muscle")
    p_answer: float | None = Field(description="p_active of that muscle")
    ranked: int = Field(description="Muscle-sides ranked")
    top: list[RankedMuscle] = Field(description="The five best ranked muscle-sides")


class Accuracy(BaseModel):
    n: int = Field(description="Vignettes with an answer muscle in the atlas")
    not_in_atlas: int = Field(description="Vignettes tagged not_in_atlas (no hit possible)")
    hits: dict[str, int] = Field(description='Per "top1", "top3", "top5": hits')
    accuracy: dict[str, float | None] = Field(description="hits / n (None when n is 0)")


class CalibrationBin(BaseModel):
    low: float
    high: float
    count: int
    mean_predicted: float
    observed: float = Field(description="Fraction of these predictions that are answer muscles")


class Calibration(BaseModel):
    pairs: int
    bins: list[CalibrationBin]
    brier: float | None


class EvalReport(BaseModel):
    ranking: Literal["muscles", "candidates"] = Field(
        description='"muscles": result.muscles (P(at least one point active)); "candidates": '
        "first appearance in the candidate list, p_active = its best trigger point's"
    )
    palpation_used: bool = Field(description="Palpation findings were passed to suggest()")
    mode: Literal["as_written", "complete"] = Field(
        default="as_written",
        description='"as_written": each drawing as its vignette gives it; "complete": every '
        "drawing taken as a complete chart (unmarked regions pain-free), the mode whose "
        "`completeness` parameter the evaluation chooses",
    )
    splits: dict[str, Accuracy]
    tags: dict[str, Accuracy]
    calibration: dict[str, Calibration]
    rows: list[Row]


def _ranked_muscles(result: Any) -> list[RankedMuscle]:
    """The result's muscle list (P(at least one point active)), best first."""
    return [
        RankedMuscle(muscle_id=m.muscle_id, side=m.side, p_active=float(m.p_active))
        for m in result.muscles
    ]


def _is_answer(v: Vignette, m: RankedMuscle) -> bool:
    return m.muscle_id in v.answer.muscles and v.answer.side in (None, m.side)


def _drawing(v: Vignette, *, complete: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = v.drawing.model_dump()
    if complete:  # the patient was offered the whole chart and marked only these regions
        d["complete"], d["pain_free"] = True, []
    if v.palpation:
        d["palpation"] = [p.model_dump(exclude_none=True) for p in v.palpation]
    return d


def evaluate(
    vignettes: Sequence[Vignette],
    *,
    params: Params | None = None,
    atlas: AtlasLike | None = None,
    mode: Literal["as_written", "complete"] = "as_written",
) -> EvalReport:
    """Run suggest() on every vignette and score the muscle ranking and its calibration.

    `mode="complete"` reads every drawing as a complete chart: the sources describe all of the
    patient's pain, so this is how the same patients would look on a clinic's complete chart,
    and it is the mode the `completeness` parameter acts on."""
    from triggerpoint.inference.service import suggest

    rows: list[Row] = []
    pairs: list[tuple[Split, float, int]] = []
    for v in vignettes:
        drawing = _drawing(v, complete=mode == "complete")
        result = suggest(drawing, atlas=atlas, params=params, top=RANK_ALL)
        ranked = _ranked_muscles(result)
        rank = next((n for n, m in enumerate(ranked, 1) if _is_answer(v, m)), None)
        rows.append(
            Row(
                id=v.id,
                split=v.split,
                tags=list(v.tags),
                answer=list(v.answer.muscles),
                side=v.answer.side,
                rank=rank,
                p_answer=ranked[rank - 1].p_active if rank else None,
                ranked=len(ranked),
                top=ranked[:5],
            )
        )
        pairs += [(v.split, m.p_active, int(_is_answer(v, m))) for m in ranked[:CALIBRATION_TOP]]
    groups = {"tune": [r for r in rows if r.split == "tune"]}
    groups["heldout"] = [r for r in rows if r.split == "heldout"]
    groups["all"] = rows
    tags = sorted({t for r in rows for t in r.tags})
    return EvalReport(
        ranking="muscles",
        palpation_used=True,
        mode=mode,
        splits={k: _accuracy(g) for k, g in groups.items() if g},
        tags={t: _accuracy([r for r in rows if t in r.tags]) for t in tags},
        calibration={
            k: _calibration([(p, y) for s, p, y in pairs if k in ("all", s)])
            for k, g in groups.items()
            if g
        },
        rows=rows,
    )


def _accuracy(rows: Sequence[Row]) -> Accuracy:
    scored = [r for r in rows if r.answer]
    hits = {f"top{k}": sum(1 for r in scored if r.rank is not None and r.rank <= k) for k in TOP_K}
    n = len(scored)
    return Accuracy(
        n=n,
        not_in_atlas=len(rows) - n,
        hits=hits,
        accuracy={k: (h / n if n else None) for k, h in hits.items()},
    )


def _calibration(pairs: Sequence[tuple[float, int]]) -> Calibration:
    n_bins = 10 if len(pairs) >= SPARSE else 5
    width = 1.0 / n_bins
    bins: list[list[tuple[float, int]]] = [[] for _ in range(n_bins)]
    for p, y in pairs:
        bins[min(int(p / width), n_bins - 1)].append((p, y))
    return Calibration(
        pairs=len(pairs),
        bins=[
            CalibrationBin(
                low=round(b * width, 10),
                high=round((b + 1) * width, 10),
                count=len(group),
                mean_predicted=sum(p for p, _ in group) / len(group),
                observed=sum(y for _, y in group) / len(group),
            )
            for b, group in enumerate(bins)
            if group
        ],
        brier=sum((p - y) ** 2 for p, y in pairs) / len(pairs) if pairs else None,
    )
