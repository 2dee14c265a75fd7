"""Jinja2 environment that finds templates in every domain folder.

Each domain keeps its own `templates/<domain>/…`; the base layout lives in `ui/templates`.
It imports no domain and no knowledge package: what the templates need from them the app
factory (`web/app.py`) plugs in: the header's "who is logged in" through the lookup stored as
`app.state.principal_lookup`, and the `region_names` filter (the body chart's names).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from triggerpoint.config import get_settings
from triggerpoint.ui import localtime

PACKAGE = Path(__file__).resolve().parent.parent
HERE = "ui"
DISCLAIMER = (
    "triggerpoint supports clinical reasoning; it does not replace history, examination "
    "(palpation) or the clinician's judgement."
)
PrincipalLookup = Callable[[Request], object]


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
    t.env.globals["tz_name"] = lambda: get_settings().timezone  # read per page: settings may change
    return t


def _who(request: Request) -> dict[str, object]:
    """Every page knows who is logged in (for the header), whatever its route passed."""
    lookup: PrincipalLookup | None = getattr(request.app.state, "principal_lookup", None)
    return {"principal": lookup(request) if lookup is not None else None}
