"""The shapes of a pain drawing (input) and of a suggestion result (output).

Plain pydantic models, so the Python API, the CLI's `--json` and `POST /api/suggest` all give
exactly the same JSON (documented in docs/inference.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
PalpationValue = Literal["familiar", "tender", "none"]
MAX_PALPATION = 200


class PalpationInput(InputModel):
    """One palpation finding: where (a site text, or muscle_id + side [+ trigger_point_id])
    and what was found.

    familiar: a tender spot in a taut band whose pressure reproduces the patient's familiar
    pain; tender: a tender spot or taut band that does not reproduce it; none: neither.
    twitch: a local twitch response was seen (true) or looked for and not seen (false);
    referral: pressure referred pain elsewhere (true) or did not (false); null = not noted.
    Without a trigger point the finding is for the muscle as a whole (the point not named).
    """

    model_config = ConfigDict(extra="forbid")
    site: str | None = Field(default=None, min_length=1, max_length=200)
    muscle_id: str | None = Field(default=None, min_length=1, max_length=80)
    side: str | None = Field(default=None, min_length=1, max_length=10)
    trigger_point_id: str | None = Field(default=None, min_length=1, max_length=80)
    finding: PalpationValue
    twitch: bool | None = None
    referral: bool | None = None

    @model_validator(mode="after")
    def _one_way_to_name_the_site(self) -> PalpationInput:
        named = self.muscle_id is not None or self.side is not None
        if self.site is not None and (named or self.trigger_point_id is not None):
            raise ValueError("give either site or muscle_id and side, not both")
        if self.site is None and (self.muscle_id is None or self.side is None):
            raise ValueError("give site, or muscle_id and side (and optionally trigger_point_id)")
        return self


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
    palpation: list[PalpationInput] = Field(default=[], max_length=MAX_PALPATION)


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
    p_active: float = Field(
        default=0.0, description="P(active | drawing, findings); == probability"
    )
    p_latent: float = Field(
        default=0.0,
        description="P(latent | drawing, findings): a trigger point that hurts only when pressed",
    )
    palpation: PalpationValue | None = Field(
        default=None, description="The palpation finding recorded on this trigger point, if any"
    )
    state: str = Field(default="", description="One sentence: likely active, latent, or unknown")


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


class ExamineNext(BaseModel):
    uid: str
    muscle_id: str
    muscle: str
    side: str
    trigger_point_id: str
    trigger_point: str
    gain_bits: float = Field(description="Expected information gain about the explanation")
    cost: float = Field(description="Relative cost of palpating it (deep, incompressible: more)")
    reason: str


class MuscleTriggerPoint(BaseModel):
    uid: str
    trigger_point_id: str
    trigger_point: str
    p_active: float
    p_latent: float
    explains: list[str] = Field(description="Painful region ids in its zones")


class MuscleSummary(BaseModel):
    muscle_id: str
    muscle: str
    side: str
    p_active: float = Field(description="P(at least one of its trigger points is active)")
    p_latent: float = Field(description="P(none active, at least one latent)")
    trigger_points: list[MuscleTriggerPoint]


class PalpationEcho(BaseModel):
    muscle_id: str
    muscle: str
    side: str
    trigger_point_id: str | None
    trigger_point: str | None
    finding: PalpationValue
    twitch: bool | None
    referral: bool | None
    label: str


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
    examine_next: list[ExamineNext] = Field(
        default=[], description="Up to 3 trigger points whose palpation would tell most"
    )
    muscles: list[MuscleSummary] = Field(
        default=[], description="Muscle-sides by P(at least one trigger point active)"
    )
    palpation: list[PalpationEcho] = Field(default=[], description="The findings, resolved")
