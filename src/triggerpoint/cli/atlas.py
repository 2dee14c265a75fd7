"""`triggerpoint atlas …`: browse the referred-pain atlas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from triggerpoint.atlas import service
from triggerpoint.atlas.loader import MuscleNotFoundError
from triggerpoint.bodychart.catalog import UnknownRegionError
from triggerpoint.cli.output import console, fail, print_json

app = typer.Typer(
    help="The referred-pain atlas of muscles and trigger points.", no_args_is_help=True
)

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (see docs/cli.md).")
]


@app.command("list")
def list_(
    group: Annotated[str | None, typer.Option(help="Only this group, e.g. neck.")] = None,
    json: JsonFlag = False,
) -> None:
    """List muscles with their group and trigger points."""
    try:
        rows = service.list_muscles(group=group)
    except service.UnknownGroupError as exc:
        fail(str(exc), field="--group")
    if json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} muscles" + (f" in {group}" if group else ""))
    for col in ("id", "name", "group", "trigger points", "essential zones"):
        table.add_column(col)
    for m in rows:
        zones = "; ".join(", ".join(tp["essential"]) for tp in m["trigger_points"])
        table.add_row(m["id"], m["name"], m["group"], str(len(m["trigger_points"])), zones)
    console.print(table)


@app.command("show")
def show(
    muscle: Annotated[
        str, typer.Argument(help='Muscle name, id or synonym, e.g. "upper trapezius".')
    ],
    side: Annotated[str, typer.Option(help="The patient's side: right or left.")] = "right",
    svg: Annotated[Path | None, typer.Option(help="Write the referral map as SVG.")] = None,
    png: Annotated[Path | None, typer.Option(help="Write the referral map as PNG.")] = None,
    json: JsonFlag = False,
) -> None:
    """Show a muscle: trigger points, zones, needling notes; optionally draw its referral map."""
    if side not in ("right", "left"):
        fail(f"must be 'right' or 'left', not {side!r}", field="--side")
    try:
        m = service.get_muscle(name=muscle)
    except MuscleNotFoundError as exc:
        fail(str(exc), field="muscle")
    if svg or png:
        from triggerpoint.atlas.render import referral_map_svg, svg_to_png

        drawing = referral_map_svg(m, side)  # type: ignore[arg-type]  # checked above: typer options are plain str
        if svg:
            svg.write_text(drawing, encoding="utf-8")
        if png:
            png.write_bytes(svg_to_png(drawing))
    if json:
        print_json(service.muscle_detail(m))
        return
    _print_muscle(m)
    for path in (svg, png):
        if path:
            console.print(f"Wrote {path}")


def _print_muscle(m) -> None:
    console.print(
        f"[bold]{m.name}[/] ({m.group}); {m.innervation.nerve}, {'-'.join(m.innervation.roots)}"
    )
    table = Table(show_lines=True)
    for col in ("trigger point", "location", "essential", "spillover"):
        table.add_column(col)
    for tp in m.trigger_points:
        table.add_row(
            tp.name, tp.location, ", ".join(tp.zones.essential), ", ".join(tp.zones.spillover)
        )
    console.print(table)
    n = m.needling
    warn = " [bold red]THORAX: pneumothorax risk[/]" if n.thorax else ""
    console.print(f"Needling: {n.patient_position}; {n.depth_mm[0]}-{n.depth_mm[1]} mm.{warn}")
    console.print(n.approach)


@app.command("refers-to")
def refers_to(
    region: Annotated[str, typer.Argument(help='A region name, e.g. "right lateral epicondyle".')],
    json: JsonFlag = False,
) -> None:
    """Muscles whose essential or spillover zone covers a region (essential first)."""
    try:
        result = service.refers_to(region=region)
    except UnknownRegionError as exc:
        fail(str(exc), field="region")
    if json:
        print_json(result)
        return
    names = ", ".join(r["name"] for r in result["regions"])
    table = Table(title=f"Trigger points referring to {names}")
    for col in ("zone", "muscle", "side", "trigger point"):
        table.add_column(col)
    for hit in result["matches"]:
        table.add_row(hit["zone"], hit["muscle"], hit["side"], hit["trigger_point"])
    console.print(table)


@app.command("coverage")
def coverage(
    write: Annotated[
        bool, typer.Option("--write", help="Write docs/atlas.md instead of printing.")
    ] = False,
) -> None:
    """Coverage per body group and what is still missing (the source of docs/atlas.md)."""
    from triggerpoint.atlas.coverage import report

    text = report()
    if write:
        Path("docs/atlas.md").write_text(text, encoding="utf-8")
        console.print("Wrote docs/atlas.md")
    else:
        print(text, end="")
