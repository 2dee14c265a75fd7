"""`triggerpoint regions …`: look up body chart regions by name."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from triggerpoint.bodychart import service
from triggerpoint.bodychart.catalog import UnknownRegionError
from triggerpoint.cli.output import console, fail, print_json

app = typer.Typer(help="Body chart regions.", no_args_is_help=True)

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (see docs/cli.md).")
]


def _table(rows: list[dict[str, object]], title: str) -> Table:
    table = Table(title=title)
    for col in ("id", "name", "side", "view", "group"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("id", "name", "side", "view", "group")))
    return table


@app.command("find")
def find(
    name: Annotated[str, typer.Argument(help='A region name, e.g. "right temple".')],
    json: JsonFlag = False,
) -> None:
    """Resolve a name (or alias, or group) to regions."""
    try:
        rows = service.find_regions(name=name)
    except UnknownRegionError as exc:
        fail(str(exc), field="region")
    print_json(rows) if json else console.print(_table(rows, f"Regions for {name!r}"))


@app.command("list")
def list_(
    view: Annotated[str | None, typer.Option(help="anterior or posterior")] = None,
    group: Annotated[str | None, typer.Option(help="a parent group, e.g. neck")] = None,
    json: JsonFlag = False,
) -> None:
    """List regions, optionally in one view or group."""
    if view not in (None, "anterior", "posterior"):
        fail(f"must be 'anterior' or 'posterior', not {view!r}", field="--view")
    rows = service.list_regions(view=view, group=group)  # type: ignore[arg-type]  # checked above: typer options are plain str
    if group and not rows:
        fail(f"unknown group {group!r}", field="--group")
    print_json(rows) if json else console.print(_table(rows, "Regions"))
