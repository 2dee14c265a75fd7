"""Evaluate dry-needling screening answers against the rules in `data/screening_rules.yaml`.

The outcome is one of cleared, cleared with precautions, or not cleared, and always carries
its reasons. Absolute contraindications limited to a scope (an affected limb, deep
needling, electrical stimulation) do not stop all needling: they become restrictions that
the charting checks enforce entry by entry.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

Scope = Literal["all", "deep", "limb", "electrical"]


class Outcome(StrEnum):
    cleared = "cleared"
    cleared_with_precautions = "cleared_with_precautions"
    not_cleared = "not_cleared"


class Effect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["absolute", "relative"]
    scope: Scope
    reason: str = Field(min_length=5)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    question: str = Field(min_length=10)
    detail: Literal["limb", "trimester", "site"] | None = None
    effects: list[Effect] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)


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


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    present: bool
    detail: str | None = Field(default=None, max_length=200)


class Restriction(BaseModel):
    scope: Scope
    reason: str
    detail: str | None = None


class ScreeningResult(BaseModel):
    outcome: Outcome
    reasons: list[str]
    precautions: list[str]
    restrictions: list[Restriction]
    rules_version: str


class ScreeningError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@cache
def rulebook() -> RuleBook:
    text = (
        resources.files("triggerpoint.safety")
        .joinpath("data/screening_rules.yaml")
        .read_text("utf-8")
    )
    return RuleBook.model_validate(yaml.safe_load(text))


def rules_version() -> str:
    import hashlib

    return hashlib.sha256(rulebook().model_dump_json().encode()).hexdigest()[:12]


def evaluate(answers: dict[str, Answer]) -> ScreeningResult:
    """Apply every rule. Every question must be answered: an unanswered one is an error,
    never silently 'no'."""
    book = rulebook()
    missing = [r.id for r in book.rules if r.id not in answers]
    unknown = sorted(set(answers) - {r.id for r in book.rules})
    if unknown:
        raise ScreeningError(f"answers.{unknown[0]}", f"unknown screening question {unknown[0]!r}")
    if missing:
        raise ScreeningError(
            f"answers.{missing[0]}", f"unanswered screening questions: {', '.join(missing)}"
        )
    reasons, precautions, restrictions = [], [], []
    for rule in book.rules:
        answer = answers[rule.id]
        if not answer.present:
            continue
        if rule.detail == "limb" and not answer.detail:
            raise ScreeningError(
                f"answers.{rule.id}.detail", "name the affected limb (e.g. left arm)"
            )
        for effect in rule.effects:
            text = effect.reason + (f" ({answer.detail})" if answer.detail else "")
            if effect.kind == "absolute" and effect.scope == "all":
                reasons.append(text)
            elif effect.kind == "absolute":
                restrictions.append(
                    Restriction(scope=effect.scope, reason=effect.reason, detail=answer.detail)
                )
            else:
                precautions.append(text)
    if reasons:
        outcome = Outcome.not_cleared
    elif precautions or restrictions:
        outcome = Outcome.cleared_with_precautions
    else:
        outcome = Outcome.cleared
    return ScreeningResult(
        outcome=outcome,
        reasons=reasons
        + [r.reason + (f" ({r.detail})" if r.detail else "") for r in restrictions]
        + precautions,
        precautions=precautions + [r.reason for r in restrictions],
        restrictions=restrictions,
        rules_version=rules_version(),
    )
