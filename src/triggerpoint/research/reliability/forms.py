"""Form parsing for the study pages: the new-study form and the examiner's grid.

Field names of the grid are `f.<muscle>.<side>.<criterion>` with the values "yes", "no" or
"na" (not assessed), so one form post is one `FindingsIn`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.research.reliability.schemas import StudyFindingIn, StudyOut
from triggerpoint.ui.forms import field_errors

M = TypeVar("M", bound=BaseModel)
VALUES = {"yes": True, "no": False, "na": None}


@cache
def muscle_choices() -> list[tuple[str, str]]:
    """(atlas id, name) of every muscle, by name: the new-study form's list."""
    return sorted(((m.id, m.name) for m in load_atlas().muscles.values()), key=lambda x: x[1])


def _many(form: Any, name: str) -> list[str]:
    return [str(v) for v in form.getlist(name)] if hasattr(form, "getlist") else []


def study_form(form: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the StudyIn fields, what the form showed): each chosen muscle on each chosen side."""
    muscles, sides = _many(form, "muscles"), _many(form, "sides")
    examiners = _many(form, "examiners")
    raw = {
        "title": str(form.get("title", "")),
        "sites": [{"muscle": m, "side": s} for m in muscles for s in sides],
        "criteria": _many(form, "criteria"),
        "examiners": [int(e) if e.isdigit() and len(e) < 10 else e for e in examiners],
    }
    shown = {
        "title": raw["title"],
        "muscles": muscles,
        "sides": sides,
        "criteria": raw["criteria"],
        "examiners": examiners,
    }
    return raw, shown


def form_field(field: str) -> str:
    """The new-study form's field for a StudyIn field ("sites.2.muscle" -> "muscles")."""
    head = field.split(".", 1)[0]
    return {"sites": "muscles"}.get(head, head)


def validate(model: type[M], raw: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """The model, or errors keyed by the form's field names."""
    try:
        return model.model_validate(raw), {}
    except ValidationError as exc:
        errors = field_errors(exc, model)
        return None, {form_field(k): v for k, v in reversed(list(errors.items()))}


def field_name(muscle: str, side: str, criterion: str) -> str:
    return f"f.{muscle}.{side}.{criterion}"


def findings_form(form: Mapping[str, Any], study: StudyOut) -> list[StudyFindingIn]:
    """Every cell of the grid the form carried; a cell left blank is "not assessed"."""
    items = []
    for site in study.sites:
        for criterion in study.criteria:
            value = str(form.get(field_name(site.muscle, site.side, criterion), "na"))
            items.append(
                StudyFindingIn(
                    muscle=site.muscle,
                    side=site.side,
                    criterion=criterion,
                    present=VALUES.get(value),
                )
            )
    return items
