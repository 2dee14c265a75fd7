"""Patient education: plain-language text (in the template) and plots from the model.

No patient data, so the page is public and its plots are computed once per process.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from triggerpoint.reports import plots

SOURCES = [
    "Simons DG. Review of enigmatic MTrPs as a common cause of enigmatic musculoskeletal pain and dysfunction. J Electromyogr Kinesiol 2004;14:95-107 (the integrated hypothesis).",
    "Shah JP et al. J Appl Physiol 2005;99:1977-1984 and Arch Phys Med Rehabil 2008;89:16-23 (chemicals and acidity at active and latent sites).",
    "Hong CZ. Am J Phys Med Rehabil 1994;73:256-263 (local twitch responses during needling).",
    "Quintner JL, Bove GM, Cohen ML. A critical evaluation of the trigger point phenomenon. Rheumatology 2015;54:392-399.",
    "Chys M et al. Clinical effectiveness of dry needling in patients with musculoskeletal pain: an umbrella review. J Clin Med 2023;12:1205.",
    "Brady S et al. J Man Manip Ther 2014;22:134-140 and Boyce D et al. Int J Sports Phys Ther 2020;15:103-113 (adverse events after dry needling).",
]


@cache
def _plots() -> dict[str, str]:
    return {"states": plots.model_states_svg(), "needling": plots.model_needling_svg()}


def context() -> dict[str, Any]:
    return {"plots": _plots(), "sources": SOURCES}
