"""Evaluate dry-needling screening answers against the rules in `data/screening_rules.yaml`.

The outcome is one of cleared, cleared with precautions, or not cleared, and always carries
its reasons. Absolute contraindications limited to a scope (an affected limb, a site, deep
needling, electrical stimulation) do not stop all needling: they become *structured*
restrictions (region ids, never free text) that `safety.entry` enforces entry by entry.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from triggerpoint.bodychart.catalog import Catalog, UnknownRegionError, load_catalog
from triggerpoint.errors import InvalidInput

Scope = Literal["all", "deep", "limb", "site", "electrical"]
Detail = Literal["limb", "trimester", "site"]
REGION_SCOPES = ("limb", "site")


class Outcome(StrEnum):
    cleared = "cleared"
    cleared_with_precautions = "cleared_with_precautions"
    not_cleared = "not_cleared"


class Effect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["absolute", "relative"]
    scope: Scope
    reason: str = Field(min_length=5)
    regions: list[str] = Field(default=[], description="Fixed body-chart names (site scope)")
    trimester: list[Literal[1, 2, 3]] | None = None

    @model_validator(mode="after")
    def _scope_fits(self) -> Effect:
        if self.regions and self.scope != "site":
            raise ValueError("fixed regions belong to a site effect")
        if self.kind == "relative" and self.scope != "all":
            raise ValueError("a relative effect is a precaution for the whole treatment")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    question: str = Field(min_length=10)
    detail: Detail | None = None
    effects: list[Effect] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _details_are_used(self) -> Rule:
        for e in self.effects:
            if e.scope == "limb" and self.detail != "limb":
                raise ValueError(f"rule {self.id}: a limb effect needs detail: limb")
            if e.scope == "site" and not e.regions and self.detail != "site":
                raise ValueError(f"rule {self.id}: a site effect needs detail: site or regions")
            if e.trimester and self.detail != "trimester":
                raise ValueError(f"rule {self.id}: a trimester effect needs detail: trimester")
        return self


class RuleBook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sources: dict[str, str]
    rules: list[Rule]

    @model_validator(mode="after")
    def _sources_known_ids_unique(self) -> RuleBook:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate rule ids")
        for r in self.rules:
            unknown = set(r.sources) - set(self.sources)
            if unknown:
                raise ValueError(f"rule {r.id}: unknown sources {sorted(unknown)}")
        return self

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


class Answer(BaseModel):
    """One answer. `present` has no default: an unanswered question is never a silent 'no'."""

    model_config = ConfigDict(extra="forbid")
    present: bool
    detail: str | None = Field(default=None, max_length=200)


class Restriction(BaseModel):
    """A scoped absolute contraindication, as data the charting checks can apply."""

    rule: str | None = None
    scope: Scope
    reason: str
    detail: str | None = Field(default=None, description="The answer's own words, for the record")
    regions: list[str] = Field(default=[], description="Body-chart region ids it forbids")
    where: str | None = Field(default=None, description="The regions in words")


class ScreeningResult(BaseModel):
    outcome: Outcome
    reasons: list[str]
    precautions: list[str]
    restrictions: list[Restriction]
    rules_version: str


# The same error class every domain raises for bad input (see triggerpoint.errors).
ScreeningError = InvalidInput


@cache
def rulebook() -> RuleBook:
    """The packaged rules, validated at load, including every fixed region name."""
    text = (
        resources.files("triggerpoint.safety")
        .joinpath("data/screening_rules.yaml")
        .read_text("utf-8")
    )
    book = RuleBook.model_validate(yaml.safe_load(text))
    catalog = load_catalog()
    for rule in book.rules:
        for effect in rule.effects:
            for name in effect.regions:
                catalog.resolve(name)  # raises UnknownRegionError naming the bad name
    return book


def rules_version() -> str:
    return hashlib.sha256(rulebook().model_dump_json().encode()).hexdigest()[:12]


_TRIMESTER = re.compile(r"^(?:t|trimester\s*)?([123])(?:st|nd|rd)?(?:\s*trimester)?$")
_TRIMESTER_WORDS = {"first": 1, "second": 2, "third": 3}


def parse_trimester(text: str | None) -> int | None:
    """'2', '2nd', 'T2', 'second', 'second trimester' -> 2; anything else -> None."""
    words = " ".join((text or "").lower().split())
    if match := _TRIMESTER.match(words):
        return int(match.group(1))
    return _TRIMESTER_WORDS.get(words.removesuffix(" trimester"))


def _require_detail(rule: Rule, answer: Answer) -> str:
    hints = {
        "limb": "name the affected limb, for example left arm, right leg or both arms",
        "site": "name the site on the body chart, for example right knee or lower abdomen",
        "trimester": "give the trimester: 1, 2 or 3",
    }
    if not answer.detail or not answer.detail.strip():
        raise InvalidInput(
            f"answers.{rule.id}.detail", f"{rule.question} {hints[rule.detail or 'site']}"
        )
    return answer.detail.strip()


def _regions_of(rule: Rule, effect: Effect, answer: Answer, catalog: Catalog) -> list[str]:
    """The region ids an effect forbids: fixed names, the site named, or the whole limb."""
    field = f"answers.{rule.id}.detail"
    try:
        if effect.regions:
            return sorted({r.id for name in effect.regions for r in catalog.resolve(name)})
        named = catalog.resolve_many(_require_detail(rule, answer))
    except UnknownRegionError as exc:
        raise InvalidInput(
            field,
            f"{exc.name!r} is not a body-chart region name; nearest names: "
            + (", ".join(exc.suggestions) or "none"),
            suggestions=exc.suggestions,
        ) from None
    if not named:
        raise InvalidInput(field, _require_detail_message(rule))
    if effect.scope == "site":
        return sorted(r.id for r in named)
    outside = [r.name for r in named if catalog.limb_of(r.id) is None]
    if outside:
        raise InvalidInput(
            field,
            f"{', '.join(outside)} is not part of a limb; nearest names: "
            + ", ".join(catalog.limb_names()),
            suggestions=catalog.limb_names(),
        )
    limbs = {catalog.limb_of(r.id) for r in named}
    return sorted(i for limb in limbs if limb for i in catalog.limbs[limb])


def _require_detail_message(rule: Rule) -> str:
    return f"{rule.question} Name at least one body-chart region."


def describe_regions(region_ids: list[str], catalog: Catalog | None = None) -> str:
    """Whole limbs by name ("left upper limb"), other regions by their chart names."""
    catalog = catalog or load_catalog()
    left = set(region_ids)
    parts = []
    for limb, ids in catalog.limbs.items():
        if ids <= left:
            parts.append(limb.replace("_", " "))
            left -= ids
    for group, name in catalog.groups.items():
        for side in ("right", "left"):
            sided = {r.id for r in catalog.regions.values() if r.group == group and r.side == side}
            if sided and sided <= left:
                parts.append(f"{side} {name}")
                left -= sided
    parts += [catalog.regions[i].name for i in sorted(left) if i in catalog.regions]
    return ", ".join(parts)


def missing_questions(answers: Mapping[str, object]) -> list[Rule]:
    """The questions not yet answered, in the form's order (pages mark every one)."""
    return [r for r in rulebook().rules if r.id not in answers]


def _check_answered(book: RuleBook, answers: dict[str, Answer]) -> None:
    unknown = sorted(set(answers) - {r.id for r in book.rules})
    if unknown:
        raise InvalidInput(f"answers.{unknown[0]}", f"unknown screening question {unknown[0]!r}")
    missing = missing_questions(answers)
    if missing:
        raise InvalidInput(
            f"answers.{missing[0].id}",
            "unanswered screening question"
            + ("s" if len(missing) > 1 else "")
            + ": "
            + " | ".join(f"{r.id}: {r.question}" for r in missing),
        )


def _trimester(rule: Rule, answer: Answer) -> int | None:
    if rule.detail != "trimester":
        return None
    value = parse_trimester(_require_detail(rule, answer))
    if value is None:
        raise InvalidInput(
            f"answers.{rule.id}.detail", f"{answer.detail!r} is not a trimester: give 1, 2 or 3"
        )
    return value


def evaluate(answers: dict[str, Answer]) -> ScreeningResult:
    """Apply every rule. Every question must be answered: an unanswered one is an error,
    never silently 'no'; a detail that does not resolve is an error naming its field."""
    book = rulebook()
    catalog = load_catalog()
    _check_answered(book, answers)
    reasons: list[str] = []
    precautions: list[str] = []
    restrictions: list[Restriction] = []
    for rule in book.rules:
        answer = answers[rule.id]
        if not answer.present:
            continue
        trimester = _trimester(rule, answer)
        if rule.detail in REGION_SCOPES:
            _require_detail(rule, answer)
        for effect in rule.effects:
            if effect.trimester and trimester not in effect.trimester:
                continue
            if effect.kind == "relative":
                precautions.append(effect.reason)
            elif effect.scope == "all":
                reasons.append(effect.reason + (f" ({answer.detail})" if answer.detail else ""))
            else:
                regions = (
                    _regions_of(rule, effect, answer, catalog)
                    if effect.scope in REGION_SCOPES
                    else []
                )
                restrictions.append(
                    Restriction(
                        rule=rule.id,
                        scope=effect.scope,
                        reason=effect.reason,
                        detail=answer.detail,
                        regions=regions,
                        where=describe_regions(regions, catalog) if regions else None,
                    )
                )
    if reasons:
        outcome = Outcome.not_cleared
    elif precautions or restrictions:
        outcome = Outcome.cleared_with_precautions
    else:
        outcome = Outcome.cleared
    return ScreeningResult(
        outcome=outcome,
        reasons=reasons + [restriction_text(r) for r in restrictions] + precautions,
        precautions=precautions + [r.reason for r in restrictions],
        restrictions=restrictions,
        rules_version=rules_version(),
    )


def restriction_text(r: Restriction) -> str:
    """One line for people: the rule's reason and where it applies."""
    return r.reason + (f" ({r.where})" if r.where else "")
