"""Region look-ups shared by the CLI, the HTTP API and the pages."""

from __future__ import annotations

from typing import Any

from triggerpoint.bodychart.catalog import View, load_catalog


def find_regions(*, name: str) -> list[dict[str, Any]]:
    """Regions a name resolves to; raises UnknownRegionError with the nearest names."""
    return [r.as_dict() for r in load_catalog().resolve(name)]


def list_regions(*, view: View | None = None, group: str | None = None) -> list[dict[str, Any]]:
    regions = load_catalog().regions.values()
    return [
        r.as_dict()
        for r in regions
        if (view is None or r.view == view) and (group is None or r.group == group)
    ]
