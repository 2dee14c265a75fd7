"""The shapes of a pain drawing (input) and of a suggestion result (output).

Plain pydantic models, so the Python API, the CLI's `--json` and `POST /api/suggest` all give
exactly the same JSON (documented in docs/inference.md).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from triggerpoint.inference.network import Zone
from triggerpoint.inputs import InputModel

DISCLAIMER = (
    "These suggestions support clinical reasoning; they do not replace the clinical "
    "examination (palpation for the trigger point and the familiar pain it reproduces) "
    "or the clinician's judgement."
)
EXPLANATION_DEFINITION = (
    "Probability, given the drawing, that exactly these trigger points are active among all "
    "trigger points that refer to at least one painful region (the rest of the atlas cannot "
    "change the drawing and is left out)."
)
EMPTY_MESSAGE = "No painful region is marked: mark where the patient hurts to get suggestions."
NOTHING_REFERS = "No trigger point in the atlas refers pain to the marked regions."

RegionName = Annotated[str, Field(min_length=1, max_length=200)]


class Drawing(InputModel):
    """A pain drawing: painful regions, optionally pain-free ones, and how it was taken.

    complete: the whole chart was offered, so every unmarked region counts as pain-free.
    partial (complete = false, the default): unmarked regions are simply not observed.
    intensity: accepted and validated, but the model reads only presence or absence.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    pain: list[RegionName] = Field(default=[], max_length=500)
    pain_free: list[RegionName] = Field(default=[], max_length=500)
    complete: bool = False
    intensity: dict[RegionName, Annotated[float, Field(ge=0, le=10)]] | None = None


class RegionRef(BaseModel):
    id: str
    name: str


class ExplainedRegion(RegionRef):
    zone: Zone


class Zones(BaseModel):
    essential: list[str]
    spillover: list[str]
    local: list[str]


class Candidate(BaseModel):
    uid: str
    muscle_id: str
    muscle: str
    side: str
    trigger_point_id: str
    trigger_point: str
    probability: float = Field(description="Posterior P(active | drawing)")
    probability_interval: tuple[float, float] = Field(
        description="Rigorous bounds; equal to probability when the method is exact"
    )
    prior: float
    explains: list[ExplainedRegion] = Field(description="Painful regions in its zones")
    against: list[RegionRef] = Field(description="Essential-zone regions marked pain-free")
    location: str
    position_region: RegionRef
    needling: str = Field(description="One-line summary of the needling notes")
    depth_mm: tuple[int, int]
    thorax: bool
    zones: Zones


class ExplanationMember(BaseModel):
    uid: str
    muscle_id: str
    muscle: str
    side: str
    trigger_point_id: str


class Explanation(BaseModel):
    trigger_points: list[ExplanationMember]
    probability: float
    explained_share: float = Field(description="Share of painful regions in their zones")
    explained: list[str]
    unexplained: list[str]


class ComponentInfo(BaseModel):
    positives: int
    causes: int
    core_causes: int
    algorithm: str
    cost: float
    bound: float


class DrawingEcho(BaseModel):
    painful: list[RegionRef]
    pain_free: list[RegionRef]
    complete: bool
    negative_findings: int


class SuggestResult(BaseModel):
    candidates: list[Candidate]
    explanations: list[Explanation]
    explanations_exhaustive: bool = Field(
        description="False when a pool cap cut the exact search for best sets short"
    )
    method: str = Field(description='"exact", "exact-components" or "truncated-k<K>"')
    exact: bool
    bound: float = Field(description="Largest width of any posterior interval (0 when exact)")
    approximation: str | None = Field(
        default=None,
        description="When exact is false: a sentence saying why, what was enumerated and how "
        "far the probabilities can be trusted. None when exact",
    )
    cost: float = Field(default=0.0, description="Work done, in terms, over all components")
    budget: float = Field(
        default=0.0, description="Most work this request could do (TRIGGERPOINT_SUGGEST_MAX_TERMS)"
    )
    components: list[ComponentInfo]
    drawing: DrawingEcho
    unreferred: list[RegionRef] = Field(description="Painful regions no trigger point refers to")
    message: str | None = None
    explanation_definition: str = EXPLANATION_DEFINITION
    disclaimer: str = DISCLAIMER
    elapsed_ms: float = 0.0
