"""Inputs and outputs of the palpation findings a visit records.

Field rules live here so the API (422 naming the field), the visit page (a message beside the
field) and FHIR import refuse the same input in the same words. Which sites exist is not a
field rule: the site is resolved by `inference.findings.resolve_site` (one home) in the
service. Hostile text (NUL, lone surrogates) is refused by `InputModel` before any rule runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from triggerpoint.inference.schemas import PalpationInput

Finding = Literal["familiar", "tender", "none"]  # == inference.schemas.PalpationValue
NOTE_MAX = 2000  # characters of the clinician's note on one finding
FINDING_WORDS = {
    "familiar": "familiar pain reproduced",
    "tender": "tender, not the familiar pain",
    "none": "no tender spot or taut band",
}


class FindingIn(PalpationInput):
    """One palpation finding as the suggestion engine reads it (`PalpationInput`: `site` as
    text, e.g. "right upper trapezius" or "right levator scapulae tp2", or `muscle_id` +
    `side`, optionally `trigger_point_id`; none: the whole muscle-side was palpated), plus
    the clinician's free-text note.

    finding: "familiar" (pressure reproduced the patient's own complaint), "tender" (painful
    to pressure, but not the complaint), "none" (no tender spot). twitch / referral: whether
    a local twitch response was seen and whether compression referred pain; null when not
    noted."""

    note: Annotated[str, Field(max_length=NOTE_MAX)] | None = None


class FindingView(BaseModel):
    """A recorded finding as every reader shows it (API, visit page, note, report, FHIR)."""

    id: int
    visit_id: int
    muscle_id: str
    muscle: str
    side: str
    trigger_point_id: str | None
    trigger_point: str | None
    finding: Finding
    twitch: bool | None
    referral: bool | None
    note: str | None
    label: str = Field(description='Human text of the site, e.g. "right upper trapezius (upper)"')
    summary: str = Field(
        description='e.g. "right upper trapezius (upper): familiar pain reproduced"'
    )
    recorded_at: datetime
    recorded_by_id: int | None
