"""Jinja2 environment that finds templates in every domain folder.

Each domain keeps its own `templates/<domain>/…`; the base layout lives in `ui/templates`.
It imports no domain and no knowledge package: what the templates need from them the app
factory (`web/app.py`) plugs in: the header's "who is logged in" through the lookup stored as
`app.state.principal_lookup`, the `region_names` filter (the body chart's names) and the
atlas's names (`plug_in_names`).

Names, never ids: a template shows a muscle as `muscle_name(muscle_id, side)` ("Upper
trapezius (right)"), a trigger point as `tp_name(muscle_id, trigger_point_id, side)` ("Upper
trapezius TP1 (anterior border), right") and a recorded pressure-pain site as
`site_name(text)`. Each is a template global and filter (`e.muscle_id|muscle_name`), and a
function Python callers use for the same words (a plot's title, a site list). Until the app
plugs the atlas in (the CLI, a unit test), and for an id the atlas no longer holds, they put
the id in words ("gluteus_medius" -> "Gluteus medius", "tp1" -> "TP1"): never a raw id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from triggerpoint.ui import localtime
from triggerpoint.ui.forms import label_for, labelled, words

PACKAGE = Path(__file__).resolve().parent.parent
HERE = "ui"
DISCLAIMER = (
    "triggerpoint supports clinical reasoning; it does not replace history, examination "
    "(palpation) or the clinician's judgement."
)
PrincipalLookup = Callable[[Request], object]
NO_NAME = "—"  # no trigger point recorded
_TP_NUMBER = re.compile(r"^tp(\d+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AtlasNames:
    """The atlas's names, by id: what `plug_in_names` hands over (this toolkit cannot read
    the atlas itself). `sites` maps a site as older records wrote it (casefolded) to its
    `site_label`."""

    muscles: Mapping[str, str] = field(default_factory=dict)
    points: Mapping[tuple[str, str], str] = field(default_factory=dict)
    sites: Mapping[str, str] = field(default_factory=dict)


_names = AtlasNames()


def plug_in_names(names: AtlasNames) -> None:
    """Use the atlas's names from now on (the app factory calls it at start-up)."""
    global _names
    _names = names


def field_label(name: str) -> str:
    """A form field's label from its dotted name, as `ui.forms` says it in error sentences."""
    return label_for([int(p) if p.isdigit() else p for p in name.split(".")])


def id_in_words(identifier: str) -> str:
    """An id nobody named, as words: 'gluteus_medius' -> 'Gluteus medius', 'tp2' -> 'TP2'."""
    if m := _TP_NUMBER.match(identifier):
        return f"TP{m.group(1)}"
    return words(identifier)


def _on_side(side: str | None) -> bool:
    return bool(side) and side != "midline"


def muscle_name(muscle_id: str | None, side: str | None = None) -> str:
    """'Upper trapezius (right)': the atlas's name for the muscle, on the patient's side."""
    name = _names.muscles.get(muscle_id or "") or id_in_words(muscle_id or "")
    return f"{name} ({side})" if _on_side(side) else name


def tp_name(muscle_id: str | None, tp_id: str | None, side: str | None = None) -> str:
    """'Upper trapezius TP1 (anterior border)': the atlas's name for the trigger point (it
    names the muscle too), with ', right' for a side; '—' when none was recorded."""
    if not tp_id:
        return NO_NAME
    name = _names.points.get((muscle_id or "", tp_id))
    if name is None:
        name = f"{muscle_name(muscle_id)} {id_in_words(tp_id)}"
    return site_label(name, side)


def site_label(tp_title: str, side: str | None) -> str:
    """A trigger point on one side, as a site is written and shown: 'Brachioradialis TP,
    left' (a comma, since the atlas's names often end in parentheses already)."""
    return f"{tp_title}, {side}" if _on_side(side) else tp_title


def site_name(site: str | None) -> str:
    """A recorded pressure-pain site in the atlas's words: older records named the trigger
    point by its id ('Brachioradialis tp1 (left)'); any other text is shown as written."""
    text = site or ""
    return _names.sites.get(text.strip().casefold(), text)


@cache
def templates() -> Jinja2Templates:
    dirs = [
        PACKAGE / HERE / "templates",
        *sorted(p for p in PACKAGE.glob("*/templates") if p.parent.name != HERE),
    ]
    t = Jinja2Templates(directory=str(dirs[0]), context_processors=[_who])
    t.env.loader = ChoiceLoader([FileSystemLoader(str(d)) for d in dirs])
    t.env.globals["disclaimer"] = DISCLAIMER
    t.env.filters["when"] = localtime.when
    t.env.filters["day"] = localtime.day
    t.env.filters["labelled"] = labelled  # an error message as a sentence naming its field
    t.env.globals["field_label"] = field_label  # "risks_disclosed" -> "Risks explained"
    t.env.globals["tz_name"] = localtime.zone_name  # per request: the asking clinic's zone
    for name, fn in (("muscle_name", muscle_name), ("tp_name", tp_name), ("site_name", site_name)):
        t.env.globals[name] = t.env.filters[name] = fn
    return t


def _who(request: Request) -> dict[str, object]:
    """Every page knows who is logged in (for the header), whatever its route passed."""
    lookup: PrincipalLookup | None = getattr(request.app.state, "principal_lookup", None)
    return {"principal": lookup(request) if lookup is not None else None}
