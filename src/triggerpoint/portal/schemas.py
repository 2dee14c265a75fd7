"""Inputs and outputs of questionnaire requests and of the patient's page.

`PatientView` is everything the patient's page may show: the clinic's name, the patient's
first name, what is asked and the saved draft. Nothing else of the record is in it, so no
template or JSON response built from it can leak a visit, a note or a diagnosis.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from triggerpoint.inputs import FreeJson, InputModel
from triggerpoint.outcomes.schemas import Instrument
from triggerpoint.records.schemas import RecordId

ChannelName = Literal["email", "sms", "qr", "none"]
# BCP 47 primary language, optionally with a region ("en", "es", "pt-BR").
LANGUAGE = r"^[a-z]{2}(-[A-Z]{2})?$"
MAX_DAYS = 60  # a link kept longer is a standing key to the record: chosen, not sourced


class RequestIn(InputModel):
    """A clinician's request (input from people and programs: see triggerpoint.inputs)."""

    instruments: list[Instrument] = Field(
        default_factory=list,
        max_length=8,
        description="Outcome instrument ids, e.g. ['nprs', 'ndi']; may be empty with a pain drawing",
    )
    pain_drawing: bool = False
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description="Default: the request_days setting (7)"
    )
    channel: ChannelName = "none"
    visit_id: RecordId | None = Field(default=None, description="The visit it is before, if any")
    episode_id: RecordId | None = None
    language: str | None = Field(
        default=None,
        pattern=LANGUAGE,
        description="The page's language; default the patient's preferred language, else en",
    )


class RequestCreated(BaseModel):
    """The answer to a new request (and a resend): the only time the link is shown."""

    id: int
    url: str = Field(description="The patient's link; shown once, never returned again")
    expires_at: datetime
    status: str
    visit_id: int | None = Field(default=None, description="The visit it is asked before")
    episode_id: int | None = None


class RequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    visit_id: int | None
    episode_id: int | None = None
    instruments: list[str]
    pain_drawing: bool
    status: str
    channel: str
    language: str
    created_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    submitted_at: datetime | None
    reminded_at: datetime | None
    cancelled_at: datetime | None
    expires_at: datetime


class DrawingIn(InputModel):
    """The patient's pain drawing: the painful regions' ids, and whether the whole chart was
    offered (then unmarked regions are pain-free)."""

    marks: list[str] = Field(default_factory=list, max_length=250)
    complete: bool = True


class SubmissionIn(InputModel):
    """What the patient sends: per instrument the data `outcomes.instruments.score` takes
    ({"nprs": {"current": 6}, "ndi": {"items": [0, 1, null, ...]}}), and the drawing."""

    answers: dict[str, FreeJson] = Field(default_factory=dict, max_length=16)
    drawing: DrawingIn | None = None


class PatientView(BaseModel):
    """All the patient's page may know (see the module docstring)."""

    clinic_name: str
    first_name: str
    language: str
    instruments: list[str]
    pain_drawing: bool
    draft: dict[str, Any] | None
    expires_at: datetime
