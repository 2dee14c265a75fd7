"""`triggerpoint suggest`: which trigger points most likely explain a pain drawing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import JustifyMethod
from rich.table import Table

from triggerpoint.cli.output import console, fail, print_json

_FIELDS = {"pain": "--pain", "pain_free": "--pain-free"}


def suggest(
    pain: Annotated[
        str,
        typer.Option(
            "--pain", help='Painful regions, comma-separated: "right temple, right angle of jaw".'
        ),
    ] = "",
    pain_free: Annotated[
        str, typer.Option("--pain-free", help="Regions marked pain-free, comma-separated.")
    ] = "",
    complete: Annotated[
        bool,
        typer.Option(
            "--complete/--partial",
            help="--complete: the whole chart was offered, so unmarked regions count as "
            "pain-free. --partial (default): unmarked regions are unobserved.",
        ),
    ] = False,
    top: Annotated[int, typer.Option(min=1, max=100, help="How many candidates to list.")] = 10,
    params: Annotated[
        Path | None, typer.Option("--params", help="YAML file overriding model parameters.")
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (see docs/cli.md).")
    ] = False,
) -> None:
    """Rank trigger points by how well they explain a pain drawing (supports, not replaces,
    palpation)."""
    from triggerpoint.inference.params import ParamsError, load_params
    from triggerpoint.inference.service import DrawingError
    from triggerpoint.inference.service import suggest as run

    drawing = {"pain": _split(pain), "pain_free": _split(pain_free), "complete": complete}
    try:
        model_params = load_params(params) if params else None
    except ParamsError as exc:
        fail(str(exc), field="--params")
    try:
        result = run(drawing, params=model_params, top=top)
    except DrawingError as exc:
        fail(str(exc), field=_FIELDS.get(exc.field.split(".")[0], exc.field))
    if json:
        print_json(result.model_dump(mode="json"))
        return
    _print(result)


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]


def _print(result) -> None:
    d = result.drawing
    kind = "complete (unmarked = pain-free)" if d.complete else "partial"
    console.print(f"Painful: {', '.join(r.name for r in d.painful) or '-'}  [dim]({kind})[/]")
    if d.pain_free:
        console.print(f"Pain-free: {', '.join(r.name for r in d.pain_free)}")
    if result.message:
        console.print(result.message)
    if result.candidates:
        table = Table(title="Likely trigger points", show_lines=True)
        columns: list[tuple[str, JustifyMethod]] = [
            ("#", "right"),
            ("P(active)", "right"),
            ("muscle", "left"),
        ]
        for col, just in columns:
            table.add_column(col, justify=just)
        for col in ("trigger point", "explains", "against", "needling"):
            table.add_column(col)
        for n, c in enumerate(result.candidates, 1):
            table.add_row(
                str(n),
                f"{c.probability:.1%}",
                f"{c.muscle} ({c.side})",
                c.trigger_point,
                ", ".join(f"{r.name} ({r.zone})" for r in c.explains),
                ", ".join(r.name for r in c.against) or "-",
                ("[bold red]THORAX[/] " if c.thorax else "")
                + f"{c.depth_mm[0]}-{c.depth_mm[1]} mm",
            )
        console.print(table)
    if result.explanations:
        table = Table(title="Best explanations (sets of 1 to 3 trigger points)")
        for col in ("P(exactly these)", "trigger points", "explains"):
            table.add_column(col)
        for e in result.explanations:
            names = " + ".join(
                f"{t.muscle} {t.trigger_point_id} ({t.side})" for t in e.trigger_points
            )
            table.add_row(f"{e.probability:.1%}", names, f"{e.explained_share:.0%}")
        console.print(table)
    if result.unreferred:
        names = ", ".join(r.name for r in result.unreferred)
        console.print(f"No trigger point in the atlas refers to: {names}")
    how = "exact" if result.exact else f"error bound {result.bound:.3f}"
    console.print(f"[dim]Method: {result.method} ({how}).[/]")
    console.print(f"[dim]{result.disclaimer}[/]")
