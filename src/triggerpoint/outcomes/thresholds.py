"""Responder thresholds: the one rule that says whether a measure series is a response.

Every view that classifies change calls this module: the patient's outcomes page and API,
the progress report, the dashboard's stored summaries and its raw-table reference query. A
series is one patient's measurements of one instrument in one context (the PPT site, the ROM
joint and movement, the NPRS region), and `rule_for(instrument, context)` gives its `Rule`.
`classify` applies a rule in Python and `verdict_sql` builds the very same comparisons (from
the same `_tests`) as a SQL CASE, so the views cannot drift apart.

Where each rule comes from (all figures and sources are data, in `data/`):

* NPRS: 2 points or 30% (Farrar 2001); when the context names the neck, 1.3 points
  (Cleland 2008) alone.
* PPT: its MDC95 (0.34 kg/cm²), because the MCID (0.21) lies inside the measurement error.
* ROM: the MDC of the joint and movement the context names (`data/rom_thresholds.yaml`); a
  joint or movement without a sourced figure is not classified, and the rule says why.
* GROC: a rating of change itself: +4 or more is a response, -4 or less worsened.
* Every other instrument: its MCID.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator
from sqlalchemy import String, and_, case, literal, or_

from triggerpoint.outcomes.instruments import definitions

Classification = Literal["responder", "non-responder", "worsened"]
EPS = 1e-9  # scores are stored as floats: 6.0 - 4.7 must count as a fall of 1.3
SIDE_WORDS = frozenset({"left", "right", "l", "r", "bilateral", "both", "midline"})
UNITS = {"ppt": " kg/cm²", "rom": "°"}


# --- the data, validated when loaded -----------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RomThreshold(_Strict):
    """One sourced MDC: what was measured, with what, in whom, and where it was published."""

    degrees: PositiveFloat
    confidence: Literal[90, 95] | None
    basis: Literal["movement", "range_upper"]
    inter_rater: bool
    method: str = Field(min_length=3)
    population: str = Field(min_length=3)
    source: str = Field(min_length=20)
    note: str = ""

    @property
    def kind(self) -> str:
        return f"MDC{self.confidence}" if self.confidence else "MDC"


class RomMovement(_Strict):
    aliases: list[str] = Field(min_length=1)
    threshold: RomThreshold | None
    reason: str = ""

    @model_validator(mode="after")
    def _says_why(self) -> RomMovement:
        if self.threshold is None and not self.reason.strip():
            raise ValueError("a movement without a threshold must give the reason")
        return self


class RomJoint(_Strict):
    name: str = Field(min_length=2)
    aliases: list[str] = Field(min_length=1)
    movements: dict[str, RomMovement] = Field(min_length=1)


class RomTable(_Strict):
    joints: dict[str, RomJoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _aliases_are_normal_and_unambiguous(self) -> RomTable:
        joint_aliases = [a for j in self.joints.values() for a in j.aliases]
        _check_aliases(joint_aliases, "joint")
        for key, joint in self.joints.items():
            _check_aliases([a for m in joint.movements.values() for a in m.aliases], key)
        return self


def _check_aliases(aliases: list[str], where: str) -> None:
    """An alias that is not in normal form would never match; one used twice would match two
    entries. Either is a data error, so loading fails instead of classifying wrongly."""
    for alias in aliases:
        if normalise(alias) != alias:
            raise ValueError(f"{where}: alias {alias!r} is not in normal form")
        if set(alias.split()) & SIDE_WORDS:
            raise ValueError(f"{where}: alias {alias!r} contains a side word")
    repeated = sorted({a for a in aliases if aliases.count(a) > 1})
    if repeated:
        raise ValueError(f"{where}: aliases used twice: {repeated}")


class Figure(_Strict):
    """An MCID or MDC of a scored instrument, as `instruments.yaml` gives it."""

    points: PositiveFloat
    percent: PositiveFloat | None = None
    sem: PositiveFloat | None = None
    regions: list[str] = []
    source: str = Field(min_length=10)


class _UniqueKeys(yaml.SafeLoader):
    """YAML silently keeps the last of two equal keys; in a threshold table that would hide
    an entry, so a repeated key is an error."""


def _mapping(loader: _UniqueKeys, node: yaml.MappingNode, deep: bool = False) -> dict:
    own = [k for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"]
    keys = [loader.construct_object(k, deep=True) for k in own]  # a `<<` merge may be overridden
    repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
    if repeated:
        raise yaml.constructor.ConstructorError(
            None, None, f"repeated key(s) {repeated}", node.start_mark
        )
    return loader.construct_mapping(node, deep=deep)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


@cache
def rom_table() -> RomTable:
    """The ROM thresholds, validated (a malformed or unsourced entry fails here, at load)."""
    text = (
        resources.files("triggerpoint.outcomes")
        .joinpath("data/rom_thresholds.yaml")
        .read_text("utf-8")
    )
    return RomTable.model_validate(yaml.load(text, Loader=_UniqueKeys))


def figure(instrument: str, key: str) -> Figure | None:
    """One threshold of `instruments.yaml` (e.g. "mcid", "mdc95"), validated."""
    raw = definitions()[instrument].get(key)
    return None if raw is None else Figure.model_validate(raw)


# --- the rule ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """How one measure series is judged: the figure, where it comes from, and why.

    `points` is the change that counts (in the measure's units); None means the series is
    not classified, and `note` then says why. GROC has `kind` "rating": its own value is
    compared with `responder_at` and `worsened_at`.
    """

    instrument: str
    better: Literal["lower", "higher"]
    kind: str  # "MCID", "MDC95", "MDC90", "MDC", "rating", or "" when there is none
    points: float | None = None
    percent: float | None = None  # NPRS: a fall by this share of baseline also counts
    responder_at: float | None = None
    worsened_at: float | None = None
    label: str = ""
    source: str = ""
    note: str = ""

    @property
    def classifies(self) -> bool:
        return self.kind == "rating" or self.points is not None


def normalise(text: str) -> str:
    """Lower case, punctuation as spaces, single spaces: "Dorsi-flexion (R)" -> "dorsi flexion r"."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


@lru_cache(maxsize=4096)
def rule_for(instrument: str, context: str = "") -> Rule:
    """The rule for one series. Cached: the dashboard asks once per series on every write."""
    spec = definitions()[instrument]
    if instrument == "groc":
        return Rule(
            instrument,
            spec["better"],
            "rating",
            responder_at=spec["responder_at"],
            worsened_at=spec["worsened_at"],
            label=f"GROC ≥ +{spec['responder_at']:g} (worse ≤ {spec['worsened_at']:g})",
            source=spec["source"],
        )
    if instrument == "nprs":
        return _nprs_rule(spec, context)
    if instrument == "rom":
        return _rom_rule(spec, context)
    if instrument == "ppt":
        return _ppt_rule(spec)
    mcid = figure(instrument, "mcid")
    if mcid is None:
        return Rule(
            instrument, spec["better"], "", note="No published MCID is held for this measure."
        )
    return _figure_rule(instrument, spec, "MCID", mcid)


def _figure_rule(
    instrument: str, spec: dict[str, Any], kind: str, fig: Figure, *, suffix: str = ""
) -> Rule:
    pct = f" or {fig.percent:g}%" if fig.percent else ""
    label = f"{kind} {fig.points:g}{UNITS.get(instrument, '')}{pct}{suffix}"
    return Rule(
        instrument, spec["better"], kind, fig.points, fig.percent, label=label, source=fig.source
    )


def _nprs_rule(spec: dict[str, Any], context: str) -> Rule:
    """Neck pain has its own MCID (Cleland 2008), used alone: the 30% alternative comes from
    Farrar's other chronic-pain populations, and would undercut 1.3 points below a baseline
    of 4.3. The region is the NPRS context (the form's "Region" field)."""
    neck = figure("nprs", "mcid_neck")
    if neck is not None and set(normalise(context).split()) & set(neck.regions):
        return _figure_rule("nprs", spec, "MCID", neck, suffix=" (neck pain)")
    mcid = figure("nprs", "mcid")
    assert mcid is not None  # instruments.yaml gives the NPRS its MCID
    return _figure_rule("nprs", spec, "MCID", mcid)


def _ppt_rule(spec: dict[str, Any]) -> Rule:
    chosen = spec["responder_threshold"]
    kind = {"mdc95": "MDC95", "mcid": "MCID"}[chosen]
    threshold = figure("ppt", chosen)
    assert threshold is not None  # instruments.yaml holds the threshold it names
    rule = _figure_rule("ppt", spec, kind, threshold)
    mcid = figure("ppt", "mcid")
    note = " ".join(spec.get("why", "").split())
    return replace(rule, note=note, source=_sources(rule.source, mcid))


def _sources(first: str, other: Figure | None) -> str:
    if other is None or other.source == first:
        return first
    return f"{first} {other.source}"


def parse_rom(context: str) -> tuple[str | None, str | None, str]:
    """(joint key, movement key, what was left) from a ROM context such as "ankle
    dorsiflexion right". A joint alias may stand anywhere; the rest must be a movement alias."""
    words = [w for w in normalise(context).split() if w not in SIDE_WORDS]
    text = f" {' '.join(words)} "
    aliases = [(a, key) for key, j in rom_table().joints.items() for a in j.aliases]
    for alias, key in sorted(aliases, key=lambda ak: -len(ak[0])):
        if f" {alias} " in text:
            rest = " ".join(text.replace(f" {alias} ", " ", 1).split())
            joint = rom_table().joints[key]
            for move_key, move in joint.movements.items():
                if rest in move.aliases:
                    return key, move_key, rest
            return key, None, rest
    return None, None, " ".join(words)


def _rom_rule(spec: dict[str, Any], context: str) -> Rule:
    joint_key, move_key, rest = parse_rom(context)
    if joint_key is None:
        joints = ", ".join(j.name for j in rom_table().joints.values())
        return _unclassified_rom(
            spec, f"“{context or 'no context'}” names no joint of the threshold table ({joints})."
        )
    joint = rom_table().joints[joint_key]
    if move_key is None:
        listed = ", ".join(k.replace("_", " ") for k in joint.movements)
        return _unclassified_rom(
            spec,
            f"No sourced threshold for {joint.name} “{rest or 'no movement'}” "
            f"(listed for the {joint.name}: {listed}).",
        )
    move = joint.movements[move_key]
    what = f"{joint.name} {move_key.replace('_', ' ')}"
    if move.threshold is None:
        return _unclassified_rom(spec, " ".join(move.reason.split()))
    t = move.threshold
    return Rule(
        "rom",
        spec["better"],
        t.kind,
        t.degrees,
        label=f"{t.kind} {t.degrees:g}° ({what})",
        source=" ".join(t.source.split()),
        note=f"Measured with: {t.method}; in: {t.population}. " + " ".join(t.note.split()),
    )


def _unclassified_rom(spec: dict[str, Any], why: str) -> Rule:
    note = f"{why} The change is shown in degrees without a responder classification."
    return Rule("rom", spec["better"], "", note=note)


# --- applying it: Python and SQL from the same comparisons --------------------------------


def _tests(rule: Rule, base: Any, last: Any, any_: Callable, all_: Callable) -> tuple[Any, Any]:
    """(responded, worsened) for a rule: Python booleans for numbers, SQL conditions for
    columns. Written once so that the page, the report and the dashboard query agree."""
    if rule.kind == "rating":
        return last >= rule.responder_at, last <= rule.worsened_at
    points = rule.points
    assert points is not None  # only a rule that classifies is applied
    improvement = (base - last) if rule.better == "lower" else (last - base)
    responded = improvement >= points - EPS
    if rule.percent is not None:
        relative = all_(base > 0, improvement >= rule.percent / 100 * base - EPS)
        responded = any_(responded, relative)
    return responded, improvement <= -points + EPS


def _any(*conditions: bool) -> bool:
    return any(conditions)


def _all(*conditions: bool) -> bool:
    return all(conditions)


def classify(rule: Rule, baseline: float | None, current: float | None) -> Classification | None:
    """Responder, non-responder or worsened; None when the rule has no threshold or a score
    is missing (GROC needs only the current rating)."""
    if not rule.classifies or current is None or (rule.kind != "rating" and baseline is None):
        return None
    responded, worsened = _tests(rule, baseline, current, _any, _all)
    return "responder" if responded else "worsened" if worsened else "non-responder"


def classify_measure(
    instrument: str, context: str, baseline: float | None, current: float | None
) -> Classification | None:
    return classify(rule_for(instrument, context), baseline, current)


def verdict_sql(rule: Rule, base: Any, last: Any) -> Any:
    """`classify` as a SQL CASE over two columns; NULL where the rule has no threshold."""
    if not rule.classifies:
        return literal(None, String)
    responded, worsened = _tests(rule, base, last, or_, and_)
    return case(
        (responded, literal("responder")),
        (worsened, literal("worsened")),
        else_=literal("non-responder"),
    )


def classification_sql(
    instrument: Any, context: Any, base: Any, last: Any, series: Iterable[tuple[str, str]]
) -> Any:
    """One CASE classifying rows by their own rule, for the (instrument, context) pairs given
    (the distinct series keys of the rows queried). Contexts sharing a rule share a branch."""
    grouped: dict[tuple[str, Rule], list[str]] = defaultdict(list)
    for ins, ctx in sorted(set(series)):
        grouped[(ins, rule_for(ins, ctx))].append(ctx)
    per_instrument: dict[str, int] = defaultdict(int)
    for ins, _ in grouped:
        per_instrument[ins] += 1
    whens = []
    for (ins, rule), contexts in grouped.items():
        cond = instrument == ins
        if per_instrument[ins] > 1:
            cond = and_(cond, context.in_(contexts))
        whens.append((cond, verdict_sql(rule, base, last)))
    if not whens:
        return literal(None, String)
    return case(*whens, else_=literal(None, String))


# --- describing it ------------------------------------------------------------------------


def summary_label(instrument: str) -> str:
    """One line for a table of all series of an instrument (the dashboard)."""
    if instrument == "rom":
        return "MDC per joint and movement"
    label = rule_for(instrument).label
    if instrument == "nprs":
        label += f"; {rule_for('nprs', 'neck').label}"
    return label


def rom_rows() -> list[dict[str, Any]]:
    """The ROM table for pages: every listed joint and movement with its figure or reason."""
    rows = []
    for joint in rom_table().joints.values():
        for key, move in joint.movements.items():
            t = move.threshold
            rows.append(
                {
                    "joint": joint.name,
                    "movement": key.replace("_", " "),
                    "label": f"{t.kind} {t.degrees:g}°" if t else "not classified",
                    "method": t.method if t else "",
                    "source": " ".join((t.source if t else move.reason).split()),
                }
            )
    return rows


def fingerprint() -> str:
    """A hash of everything that decides a classification (not the prose). The dashboard
    stores classes, so a change here needs a migration that empties the summary tables;
    tests/reports/test_thresholds_agree.py checks that one carries this fingerprint."""
    decisive: dict[str, Any] = {
        ins: _decisive(rule_for(ins)) for ins in definitions() if ins not in ("nprs", "rom")
    }
    neck = figure("nprs", "mcid_neck")
    decisive["nprs"] = [_decisive(rule_for("nprs")), _decisive(rule_for("nprs", "neck"))]
    decisive["nprs_regions"] = sorted(neck.regions) if neck else []
    decisive["rom"] = {
        key: {
            "aliases": j.aliases,
            "movements": {
                mk: [m.aliases, m.threshold.degrees if m.threshold else None]
                for mk, m in j.movements.items()
            },
        }
        for key, j in rom_table().joints.items()
    }
    decisive["sides"] = sorted(SIDE_WORDS)
    blob = json.dumps(decisive, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _decisive(rule: Rule) -> list[Any]:
    return [rule.kind, rule.better, rule.points, rule.percent, rule.responder_at, rule.worsened_at]
