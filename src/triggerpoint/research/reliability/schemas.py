"""Inputs and outputs of reliability studies.

Field rules live here so the API (422 naming the field) and the pages (a message beside the
field) refuse the same input in the same words. Whether a muscle exists, whether an examiner
is a clinician of the clinic, or whether a participant's patient has a research consent are
not field rules: the service checks them (one home each).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from triggerpoint.inputs import InputModel

Criterion = Literal[
    "taut_band", "tender_spot", "pain_recognition", "referral", "twitch", "jump_sign"
]
Side = Literal["left", "right"]
Status = Literal["draft", "open", "closed"]
Id = Annotated[int, Field(ge=1, le=2_147_483_647)]
CRITERION_WORDS: dict[str, str] = {
    "taut_band": "Taut band",
    "tender_spot": "Tender spot",
    "pain_recognition": "Pain recognition",
    "referral": "Referred pain on compression",
    "twitch": "Local twitch response",
    "jump_sign": "Jump sign",
}
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$")
MAX_SITES = 40
MAX_EXAMINERS = 12


class SiteIn(InputModel):
    """A muscle (atlas id, e.g. "upper_trapezius") on one side."""

    muscle: Annotated[str, Field(min_length=1, max_length=80)]
    side: Side


class StudyIn(InputModel):
    title: Annotated[str, Field(min_length=3, max_length=200)]
    sites: Annotated[list[SiteIn], Field(min_length=1, max_length=MAX_SITES)]
    criteria: Annotated[list[Criterion], Field(min_length=1, max_length=6)]
    examiners: Annotated[
        list[Id], Field(min_length=2, max_length=MAX_EXAMINERS, description="User ids")
    ]

    @field_validator("title")
    @classmethod
    def _trimmed(cls, v: str) -> str:
        v = " ".join(v.split())
        if len(v) < 3:
            raise ValueError("must be at least 3 characters long")
        return v

    @field_validator("criteria")
    @classmethod
    def _unique_criteria(cls, v: list[Criterion]) -> list[Criterion]:
        if len(set(v)) != len(v):
            raise ValueError("must not name a criterion twice")
        return v

    @field_validator("examiners")
    @classmethod
    def _unique_examiners(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("must not name an examiner twice")
        return v


class ParticipantIn(InputModel):
    code: Annotated[
        str,
        Field(
            min_length=1,
            max_length=20,
            title="Participant code",
            description='A coded label such as "P01": letters, digits, hyphens and underscores; never a name',
        ),
    ]
    patient_id: Id | None = None

    @field_validator("code")
    @classmethod
    def _coded(cls, v: str) -> str:
        if not CODE.match(v):
            raise ValueError(
                "must be a code such as P01 (letters, digits, hyphens and underscores only)"
            )
        return v


class StudyFindingIn(InputModel):
    muscle: Annotated[str, Field(min_length=1, max_length=80)]
    side: Side
    criterion: Criterion
    present: bool | None = Field(description="true, false, or null for not assessed")


class FindingsIn(InputModel):
    findings: Annotated[list[StudyFindingIn], Field(max_length=MAX_SITES * 6)]


class ExaminerOut(BaseModel):
    user_id: int
    username: str
    full_name: str
    position: int


class SiteOut(BaseModel):
    muscle: str
    side: Side
    name: str = Field(description='e.g. "Upper trapezius (right)"')


class ExamStatus(BaseModel):
    """One examiner's progress with one participant: order and time, never values."""

    examiner_id: int
    sequence: int | None
    started_at: datetime | None
    submitted_at: datetime | None


class ParticipantOut(BaseModel):
    id: int
    code: str
    patient_linked: bool
    exams: list[ExamStatus]
    complete: bool = Field(description="Every examiner has submitted this participant")


class StudyOut(BaseModel):
    id: int
    title: str
    status: Status
    sites: list[SiteOut]
    criteria: list[Criterion]
    examiners: list[ExaminerOut]
    participants: list[ParticipantOut]
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None


class StudySummary(BaseModel):
    id: int
    title: str
    status: Status
    examiners: int
    participants: int
    complete: int
    created_at: datetime


class FindingOut(BaseModel):
    muscle: str
    side: Side
    criterion: Criterion
    present: bool | None


class MyFindings(BaseModel):
    """The caller's own findings for one participant (blinded: nobody else's)."""

    participant_id: int
    code: str
    sequence: int | None
    submitted_at: datetime | None
    findings: list[FindingOut]


class PublishedOut(BaseModel):
    """A published figure for the same criterion, as the report cites it."""

    source: str = Field(description='First author and year, e.g. "Lucas 2009"')
    citation: str
    doi: str
    statistic: str = Field(description='"kappa" or "percent"')
    value: str = Field(description='e.g. "κ −0.08 to 0.75 (range)"')
    raters: str
    muscle: str | None = Field(description="The muscle(s) in the source's words, if specific")


class ReportRow(BaseModel):
    muscle: str
    side: Side
    site: str
    criterion: Criterion
    n: int = Field(description="Participants rated by every examiner on this item")
    raters: int
    percent_agreement: float | None
    percent_agreement_ci: tuple[float, float] | None
    kappa: float | None
    kappa_kind: str
    kappa_ci: tuple[float, float] | None
    alpha: float | None
    alpha_ci: tuple[float, float] | None
    pabak: float | None
    pabak_ci: tuple[float, float] | None
    prevalence_index: float | None
    bias_index: float | None
    note: str | None
    published: list[PublishedOut]


class ReportOut(BaseModel):
    study_id: int
    title: str
    status: Status
    examiners: int
    participants: int
    complete_participants: int = Field(description="Submitted by every examiner: these count")
    excluded_no_consent: int = Field(
        description="Complete participants left out: their patient's research consent is withdrawn"
    )
    rows: list[ReportRow]
    methods: str
