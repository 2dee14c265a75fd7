"""Inputs and outputs of SOAP notes, their addenda and the clinic's note templates.

Field rules live here so the API (422 naming the field), the form (a message beside the
field) and FHIR import refuse the same input in the same words. Hostile text (NUL, lone
surrogates) and non-finite numbers are refused by `InputModel` before any rule runs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triggerpoint.inputs import InputModel

SECTIONS = ("subjective", "objective", "assessment", "plan")
SECTION_TITLES = {
    "subjective": "Subjective",
    "objective": "Objective",
    "assessment": "Assessment",
    "plan": "Plan",
}
MAX_SECTION = 20_000
MAX_DETAIL = 4_000
# clinic templates are "clinic-<id>"; built-in keys have no hyphen, so the two never meet
TEMPLATE_KEY = re.compile(r"^(clinic-[0-9]{1,10}|[a-z][a-z0-9_]{1,39})$")
Section = Annotated[str | None, Field(default=None, max_length=MAX_SECTION)]
Detail = Annotated[str | None, Field(default=None, max_length=MAX_DETAIL)]
Version = Annotated[int, Field(ge=1, le=2_147_483_647)]
TEXT_FIELDS = (
    *SECTIONS,
    "aggravating",
    "easing",
    "rom_findings",
    "palpation_summary",
    "home_exercise",
)
STRUCTURED = (
    "pain_now_nprs",
    "aggravating",
    "easing",
    "red_flags_checked",
    "rom_findings",
    "palpation_summary",
    "next_visit_in_days",
    "home_exercise",
)
# Which section each structured field belongs to (the form, the PDF and FHIR group them so).
SECTION_OF = {
    "pain_now_nprs": "subjective",
    "aggravating": "subjective",
    "easing": "subjective",
    "red_flags_checked": "subjective",
    "rom_findings": "objective",
    "palpation_summary": "objective",
    "next_visit_in_days": "plan",
    "home_exercise": "plan",
}
LABELS = {
    "pain_now_nprs": "Pain now (NPRS 0-10)",
    "aggravating": "Aggravating factors",
    "easing": "Easing factors",
    "red_flags_checked": "Red flags checked",
    "rom_findings": "Range of motion",
    "palpation_summary": "Palpation",
    "next_visit_in_days": "Next visit in (days)",
    "home_exercise": "Home exercise",
}


class _In(InputModel):
    """Input from people and programs (see triggerpoint.inputs)."""


class NoteContent(_In):
    """What a clinician writes: every field optional, blank text stored as nothing."""

    subjective: Section = None
    objective: Section = None
    assessment: Section = None
    plan: Section = None
    pain_now_nprs: int | None = Field(
        default=None, ge=0, le=10, description="Pain now on the 0-10 numeric rating scale"
    )
    aggravating: Detail = None
    easing: Detail = None
    red_flags_checked: bool | None = Field(
        default=None, description="Serious pathology screened at this visit (None: not recorded)"
    )
    rom_findings: Detail = None
    palpation_summary: str | None = Field(
        default=None,
        max_length=MAX_DETAIL,
        description="Taut bands, active (familiar pain) or latent (pain on pressure) trigger points, referral",
    )
    next_visit_in_days: int | None = Field(default=None, ge=0, le=365)
    home_exercise: Detail = None

    @field_validator(*TEXT_FIELDS)
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None


class NoteIn(NoteContent):
    """PUT body: the whole note as the clinician left it (a field left out is cleared)."""

    version: Version | None = Field(
        default=None,
        description="The version you edited; omit only to create the visit's note. Stale: 409",
    )
    template: str | None = Field(
        default=None,
        max_length=60,
        description="A template key (GET /api/note-templates): fills the sections left empty",
    )

    @field_validator("template")
    @classmethod
    def _template_key(cls, v: str | None) -> str | None:
        if v and not TEMPLATE_KEY.match(v):
            raise ValueError("not a template key (see GET /api/note-templates)")
        return v or None


class SignNoteIn(_In):
    version: Version = Field(description="The version you read; a note changed since is 409")


class NoteAddendumIn(_In):
    text: str = Field(min_length=1, max_length=MAX_SECTION)


class NoteTemplateIn(_In):
    name: str = Field(min_length=1, max_length=100)
    subjective: Section = None
    objective: Section = None
    assessment: Section = None
    plan: Section = None

    @field_validator(*SECTIONS)
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

    @model_validator(mode="after")
    def _some_text(self) -> NoteTemplateIn:
        if not any(getattr(self, s) for s in SECTIONS):
            raise ValueError("a template needs text in at least one section")
        return self


class NoteAddendumOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    text: str
    author_id: int | None
    author: str | None = Field(default=None, description="The author's name")
    created_at: datetime


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    visit_id: int
    patient_id: int
    status: Literal["draft", "signed"]
    version: int
    subjective: str | None
    objective: str | None
    assessment: str | None
    plan: str | None
    pain_now_nprs: int | None
    aggravating: str | None
    easing: str | None
    red_flags_checked: bool | None
    rom_findings: str | None
    palpation_summary: str | None
    next_visit_in_days: int | None
    home_exercise: str | None
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None
    signed_by: int | None
    author: str | None = Field(default=None, description="Who wrote the note, by name")
    signer: str | None = Field(default=None, description="The signer's name")
    addenda: list[NoteAddendumOut]


class NoteTemplateOut(BaseModel):
    key: str = Field(description="What NoteIn.template takes")
    id: int | None = Field(description="The clinic's template row; None for a built-in default")
    name: str
    builtin: bool
    subjective: str | None
    objective: str | None
    assessment: str | None
    plan: str | None


class TemplateSpec(BaseModel):
    """One built-in template in notes/data/templates.yaml."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    subjective: str | None = Field(default=None, max_length=MAX_SECTION)
    objective: str | None = Field(default=None, max_length=MAX_SECTION)
    assessment: str | None = Field(default=None, max_length=MAX_SECTION)
    plan: str | None = Field(default=None, max_length=MAX_SECTION)


class TemplateFile(BaseModel):
    """notes/data/templates.yaml: where the text comes from, and the templates by key."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=10)
    templates: dict[str, TemplateSpec] = Field(min_length=1)

    @field_validator("templates")
    @classmethod
    def _keys(cls, v: dict[str, TemplateSpec]) -> dict[str, TemplateSpec]:
        bad = sorted(k for k in v if k.startswith("clinic-") or not TEMPLATE_KEY.match(k))
        if bad:
            raise ValueError(f"keys must be lower_snake_case words: {', '.join(bad)}")
        return v
