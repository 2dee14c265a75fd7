"""Inputs and outputs for patients, episodes, visits, pain drawings and consent.

Field-level validation lives here so the API (422), the forms (messages beside each field)
and the CLI (exit 2) reject the same input with the same words.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from triggerpoint.db import utcnow
from triggerpoint.inputs import InputModel
from triggerpoint.records import icd10  # the codes a diagnosis may carry (knowledge)
from triggerpoint.records.icd10 import ICD10CM
from triggerpoint.records.languages import PATIENT_LANGUAGES, language_problem
from triggerpoint.safety.rates import RISKS  # the risks a consent discloses (knowledge)

Sex = Literal["female", "male", "other", "unknown"]
Name = Annotated[str, Field(min_length=1, max_length=100)]
# Ids in paths and bodies: positive and within a 32-bit signed integer on both engines.
RecordId = Annotated[int, Field(ge=1, le=2_147_483_647)]

# A consent time typed from the clinician's clock may run a little ahead of the server's: this
# much is "now", anything later is a time that has not happened yet.
CLOCK_SKEW = timedelta(minutes=5)


class _In(InputModel):
    """Input from people and programs (see triggerpoint.inputs)."""


class PatientIn(_In):
    given_name: Name
    family_name: Name
    date_of_birth: date
    sex: Sex
    height_cm: float | None = Field(default=None, gt=40, lt=260)
    weight_kg: float | None = Field(default=None, gt=1, lt=400)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+() .-]{5,40}$")
    email: EmailStr | None = None
    external_id: str | None = Field(default=None, max_length=64)
    preferred_language: str | None = Field(
        default=None,
        max_length=35,
        description=(
            "BCP 47 code of the language of the patient's questionnaire pages and messages: "
            f"one of {', '.join(PATIENT_LANGUAGES)}; null: not set (English, or the browser's)"
        ),
        examples=["es"],
    )
    own_date_rule = frozenset({"date_of_birth"})  # within the last 125 years, not in the future

    @field_validator("external_id")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        # A blank id is no id: storing "" would make the second blank one a duplicate.
        return v or None

    @field_validator("preferred_language")
    @classmethod
    def _offered_language(cls, v: str | None) -> str | None:
        # A blank choice on the form is "not set"; "ES" is "es" (BCP 47 is case-insensitive).
        v = (v or "").strip().lower()
        if not v:
            return None
        if problem := language_problem(v):
            raise ValueError(problem)
        return v

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth_date(cls, v: date) -> date:
        today = utcnow().date()
        if v > today:
            raise ValueError("must not be in the future")
        if v.year < today.year - 125:
            raise ValueError("is more than 125 years ago")
        return v


class PatientUpdate(PatientIn):
    version: int = Field(
        ge=1, le=2_147_483_647, description="The version you edited; a stale version gets 409"
    )


class PatientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    clinic_id: int
    given_name: str
    family_name: str
    date_of_birth: date
    sex: str
    height_cm: float | None
    weight_kg: float | None
    bmi: float | None
    phone: str | None
    email: str | None
    external_id: str | None
    preferred_language: str | None = None
    version: int


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class DiagnosisIn(_In):
    code: str = Field(max_length=10)
    system: Literal["ICD-10-CM"] = "ICD-10-CM"

    @field_validator("code")
    @classmethod
    def _icd10cm(cls, v: str) -> str:
        v = v.strip().upper()
        if not ICD10CM.match(v):
            raise ValueError("not an ICD-10-CM code (e.g. M79.12)")
        if problem := icd10.code_problem(v):  # listed and billable: the one rule
            raise ValueError(problem)
        return v


class EpisodeIn(_In):
    complaint: str = Field(min_length=2, max_length=2000)
    onset_date: date | None = None
    diagnoses: list[DiagnosisIn] = Field(default_factory=list, max_length=12)

    @field_validator("diagnoses")
    @classmethod
    def _each_code_once(cls, diagnoses: list[DiagnosisIn]) -> list[DiagnosisIn]:
        # Codes are upper-cased above, so "M54.2" and "m54.2" are one code: a 422 here, not
        # an IntegrityError (500) on the unique index.
        codes = [d.code for d in diagnoses]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"each diagnosis once: {', '.join(repeated)} is repeated")
        return diagnoses


class DiagnosisOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    system: str


class DiagnosisView(DiagnosisOut):
    """A diagnosis as the pages show it: the code and its ICD-10-CM title."""

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented computed_field over a property
    @property
    def display(self) -> str | None:
        """The code's title (None for a code recorded before the list dropped it)."""
        return icd10.display(self.code)


class Icd10Out(BaseModel):
    """One code of the ICD-10-CM list (`GET /api/icd10cm`)."""

    model_config = ConfigDict(from_attributes=True)
    code: str
    display: str = Field(description="The tabular list's title")
    billable: bool = Field(description="False for a category header: not valid on a claim")


class EpisodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    complaint: str
    onset_date: date | None
    status: str
    diagnoses: list[DiagnosisOut]
    version: int


class EpisodeView(EpisodeOut):
    """An episode as the pages list it, each diagnosis with its title."""

    diagnoses: list[DiagnosisView]  # type: ignore[assignment]  # a DiagnosisOut with its title


class VisitIn(_In):
    visit_at: datetime
    episode_id: RecordId | None = None
    notes: str | None = Field(default=None, max_length=20000)
    pain_drawing: PainDrawingIn | None = Field(
        default=None, description="Saved with the visit, in the same transaction"
    )

    @field_validator("visit_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must include a time zone (e.g. 2026-11-24T09:30:00+00:00)")
        return v


class VisitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    episode_id: int | None
    clinician_id: int | None
    visit_at: datetime
    notes: str | None = Field(
        description="Clinical notes; omitted for roles that may not read them"
    )
    version: int
    pain_drawing_id: int | None = None


class MarkIn(_In):
    region: str = Field(min_length=1, max_length=120, description="Region id or name")
    intensity: int | None = Field(default=None, ge=0, le=10)


NO_MARKS = (
    "mark at least one painful region (a drawing with none records 'no pain' only when the "
    "whole chart was offered: complete)"
)


class PainDrawingIn(_In):
    """A pain drawing, from the API and the drawing form alike.

    The one rule for an empty drawing: with the whole chart offered (`complete`), no marks
    means the patient is pain-free everywhere, a meaningful record; a partial chart with no
    marks records nothing, so it is refused (422 naming `marks`).
    """

    complete: bool = Field(description="True if the whole chart was offered (unmarked = pain-free)")
    marks: list[MarkIn] = Field(
        max_length=250,
        description="Painful regions; may be empty only for a complete (pain-free) drawing",
    )

    @field_validator("marks")
    @classmethod
    def _marked_or_complete(cls, v: list[MarkIn], info: ValidationInfo) -> list[MarkIn]:
        if not v and info.data.get("complete") is False:
            raise ValueError(NO_MARKS)
        return v

    @model_validator(mode="after")
    def _unique_regions(self) -> PainDrawingIn:
        seen: set[str] = set()
        for m in self.marks:
            if m.region in seen:
                raise ValueError(f"region {m.region!r} is marked twice")
            seen.add(m.region)
        return self


class MarkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    region_id: str
    intensity: int | None


class PainDrawingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    visit_id: int | None
    complete: bool
    drawn_by: int | None
    drawn_at: datetime
    marks: list[MarkOut]
    source: str = Field(default="clinician", description='"clinician" or "patient" (reported)')
    request_id: int | None = Field(default=None, description="The questionnaire request, if any")


# The kinds of consent a patient gives (records.service.DRY_NEEDLING and RESEARCH): each is
# recorded, counted and withdrawn on its own, so withdrawing one leaves the other in force.
ConsentKind = Literal["dry_needling", "research"]
KEY_RISKS = ("pneumothorax", "post_needling_soreness", "bruising")  # every needling consent


class ConsentIn(_In):
    """A signed consent. Dry needling discloses the needling risks by name; research is
    consent to the de-identified use of the record in research, and discloses none."""

    kind: ConsentKind = Field(
        default="dry_needling",
        description=(
            "dry_needling (the default): consent to the treatment, risks disclosed; "
            "research: consent to the de-identified use of the record in research"
        ),
    )
    risks_disclosed: list[str] = Field(
        default_factory=list,
        validate_default=True,
        max_length=50,
        description="The needling risks explained (dry_needling); empty for research",
    )
    signed_by: str = Field(min_length=2, max_length=200)
    signer_relation: Literal["self", "parent", "guardian", "attorney"] = "self"
    signed_at: datetime

    @field_validator("risks_disclosed")
    @classmethod
    def _known_risks(cls, v: list[str], info: ValidationInfo) -> list[str]:
        kind = info.data.get("kind")
        if kind is None:
            return v  # the kind itself was refused: that is the error to report
        if kind == "research":
            if v:
                raise ValueError("a research consent discloses no needling risks: leave it empty")
            return []
        if not v:
            raise ValueError(f"must disclose at least: {', '.join(sorted(KEY_RISKS))}")
        unknown = sorted(set(v) - set(RISKS))
        if unknown:
            raise ValueError(f"unknown risks {unknown}; known: {', '.join(RISKS)}")
        missing = sorted(set(KEY_RISKS) - set(v))
        if missing:
            raise ValueError(f"must disclose at least: {', '.join(missing)}")
        return sorted(set(v))

    @field_validator("signed_at")
    @classmethod
    def _not_future(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must include a time zone")
        if v > utcnow() + CLOCK_SKEW:
            raise ValueError("must not be in the future")
        return v


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    kind: str
    risks_disclosed: list[str]
    signed_by: str
    signer_relation: str
    signed_at: datetime
    status: str
    withdrawn_at: datetime | None
    version: int


VisitIn.model_rebuild()
