"""Jinja2 environment that finds templates in every domain folder.

Each domain keeps its own `templates/<domain>/…`; the base layout lives in `web/templates`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from triggerpoint.config import get_settings
from triggerpoint.web import localtime

PACKAGE = Path(__file__).resolve().parent.parent
DISCLAIMER = (
    "triggerpoint supports clinical reasoning; it does not replace history, examination "
    "(palpation) or the clinician's judgement."
)


@cache
def templates() -> Jinja2Templates:
    dirs = [
        PACKAGE / "web" / "templates",
        *sorted(p for p in PACKAGE.glob("*/templates") if p.parent.name != "web"),
    ]
    t = Jinja2Templates(directory=str(dirs[0]), context_processors=[_who])
    t.env.loader = ChoiceLoader([FileSystemLoader(str(d)) for d in dirs])
    t.env.globals["disclaimer"] = DISCLAIMER
    t.env.filters["region_names"] = region_names
    t.env.filters["when"] = localtime.when
    t.env.filters["day"] = localtime.day
    t.env.globals["tz_name"] = lambda: get_settings().timezone  # read per page: settings may change
    return t


def _who(request: Request) -> dict[str, object]:
    """Every page knows who is logged in (for the header), whatever its route passed."""
    from triggerpoint.accounts.deps import resolve_principal

    return {"principal": resolve_principal(request)}


def region_names(region_ids: list[str] | tuple[str, ...]) -> str:
    """Display names for region ids, comma-separated (a template filter)."""
    from triggerpoint.bodychart.catalog import load_catalog

    regions = load_catalog().regions
    return ", ".join(regions[r].name for r in region_ids)
