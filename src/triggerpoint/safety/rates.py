"""Published adverse-event rates after dry needling, and what consent says about each risk.

The one home of the consent risk frequencies: the consent page and the printed consent form
both show `consent_risks()`, computed from data/published_rates.yaml (`published()`), so a
corrected figure in the data changes every place a patient reads it. Plain knowledge: this
module reads its data file and imports no records.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

# The risks a dry-needling consent discloses, in the order the forms list them. A label names
# the risk only: how often it happens is the summary's (`consent_risks`), which the forms show
# beside it in parentheses, so a frequency word here would be said twice ("(rare) (rare)").
RISKS = {
    "pain_during": "Pain during needling",
    "post_needling_soreness": "Soreness for 24-72 hours afterwards",
    "bruising": "Bruising",
    "bleeding": "Minor bleeding",
    "fatigue_drowsiness": "Drowsiness or fatigue",
    "fainting": "Feeling faint or fainting",
    "aggravation": "Temporary aggravation of symptoms",
    "nerve_irritation": "Nerve irritation",
    "infection": "Infection",
    "pneumothorax": "Pneumothorax when needling over the chest wall",
    "broken_needle": "Broken or retained needle",
}
# Consent risk -> its adverse-event type in published_rates.yaml (`by_type`).
CONSENT_RATES = {
    "bruising": "bruising",
    "bleeding": "bleeding",
    "pain_during": "pain_during",
    "post_needling_soreness": "post_needling_soreness",
    "aggravation": "aggravation",
    "fatigue_drowsiness": "drowsiness",
}
# Risks the surveys do not count separately: how the consent describes them.
RARE = {
    "fainting": "rare; not separately counted in these surveys",
    "nerve_irritation": "rare",
    "infection": "rare",
    "pneumothorax": "rare but serious: no significant adverse events in 7,629 treatments (Brady 2014; upper 95% limit 0.04%); 20 significant events of any kind in about 20,000 sessions (Boyce 2020)",
    "broken_needle": "very rare",
}
STUDY_NAMES = {"brady_2014": "Brady et al. 2014", "boyce_2020": "Boyce et al. 2020"}


@cache
def published() -> list[dict]:
    """The studies in data/published_rates.yaml, as cited (rates are percent per session)."""
    text = (
        resources.files("triggerpoint.safety")
        .joinpath("data/published_rates.yaml")
        .read_text("utf-8")
    )
    return yaml.safe_load(text)["studies"]


def _one_in(percent: float) -> str:
    return f"about 1 in {round(100 / percent):,}" if percent > 0 else "not observed"


def consent_risks() -> list[dict[str, Any]]:
    """Each disclosed risk with its published per-session frequency by study, or its wording
    when the surveys do not count it; `summary` is the one-line form of the same figures and
    `line` the risk as a form lists it, "Infection (rare)"."""
    studies = {s["id"]: s for s in published()}
    out = []
    for key, label in RISKS.items():
        rates = []
        if key in CONSENT_RATES:
            for sid, study in STUDY_NAMES.items():
                pct = studies[sid].get("by_type", {}).get(CONSENT_RATES[key])
                if pct is not None:
                    rates.append(
                        {
                            "study": study,
                            "percent": pct,
                            "text": f"{pct:g}% of sessions ({_one_in(pct)})",
                        }
                    )
        rare = RARE.get(key)
        summary = "; ".join(f"{r['text']}, {r['study']}" for r in rates) or rare or "rare"
        out.append(
            {
                "key": key,
                "label": label,
                "rates": rates,
                "rare": rare,
                "summary": summary,
                "line": f"{label} ({summary})",
            }
        )
    return out
