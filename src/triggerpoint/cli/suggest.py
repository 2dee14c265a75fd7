"""`triggerpoint suggest`: which trigger points most likely explain a pain drawing, and, once
some have been palpated, which of them pressure showed to be active or latent.

Palpation findings arrive as repeatable `--palpated "<site>=<finding>[,<qualifier>...]"`
values. This module only splits that text; the site itself is resolved by the one resolver
every entry layer shares (`inference.findings.resolve_site`, called inside `suggest`), so the
CLI, the API and the pages accept exactly the same names.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import JustifyMethod
from rich.markup import escape
from rich.table import Table

from triggerpoint.cli.output import console, fail, print_json

if TYPE_CHECKING:
    from triggerpoint.errors import InvalidInput
    from triggerpoint.inference.schemas import (
        ExamineNext,
        PalpationEcho,
        SuggestResult,
    )

_FIELDS = {"pain": "--pain", "pain_free": "--pain-free", "palpation": "--palpated"}
FINDINGS = ("familiar", "tender", "none")
# Each qualifier sets one optional observation of a finding: (field, value).
QUALIFIERS: dict[str, tuple[str, bool]] = {
    "twitch": ("twitch", True),
    "no-twitch": ("twitch", False),
    "referral": ("referral", True),
    "no-referral": ("referral", False),
}
PALPATED_SYNTAX = (
    'write "<side> <muscle> [<trigger point>]=<familiar|tender|none>", optionally followed by '
    '",twitch", ",no-twitch", ",referral" or ",no-referral", e.g. '
    '"right upper trapezius=familiar" or "right infraspinatus tp1=tender,twitch"'
)


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
    palpated: Annotated[
        list[str] | None,
        typer.Option(
            "--palpated",
            help='A palpation finding, repeatable: "right upper trapezius=familiar", '
            '"right levator scapulae tp1=none", "right infraspinatus=tender,twitch". '
            "Findings: familiar (pressure reproduces the familiar pain), tender (tender, but "
            "not the familiar pain), none (no tender spot or taut band). Qualifiers: twitch, "
            "no-twitch, referral, no-referral (pain referred on compression). Without a trigger "
            "point the finding is about the whole muscle on that side.",
        ),
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=100, help="How many candidates to list.")] = 10,
    params: Annotated[
        Path | None, typer.Option("--params", help="YAML file overriding model parameters.")
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (see docs/cli.md).")
    ] = False,
) -> None:
    """Rank trigger points by how well they explain a pain drawing and any palpation findings
    (supports, not replaces, the clinical examination)."""
    from triggerpoint.errors import InvalidInput
    from triggerpoint.inference.params import ParamsError, load_params
    from triggerpoint.inference.service import suggest as run

    raw = list(palpated or [])
    drawing: dict[str, Any] = {
        "pain": _split(pain),
        "pain_free": _split(pain_free),
        "complete": complete,
    }
    if raw:
        drawing["palpation"] = [parse_palpated(value) for value in raw]
    try:
        model_params = load_params(params) if params else None
    except ParamsError as exc:
        fail(str(exc), field="--params")
    try:
        result = run(drawing, params=model_params, top=top)
    except InvalidInput as exc:  # DrawingError, UnknownSite, a bad finding
        option, message = _option_message(exc, raw)
        fail(message, field=option)
    if json:
        print_json(result.model_dump(mode="json"))
        return
    _print(result)


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]


def parse_palpated(value: str) -> dict[str, Any]:
    """One `--palpated` value as a palpation entry of the drawing (`site`, `finding`, and
    `twitch` / `referral` only when a qualifier says so: an unstated sign stays unobserved
    rather than counting as absent). Bad syntax exits 2 naming `--palpated`."""
    site, eq, rest = value.rpartition("=")
    site = site.strip()
    if not eq or not site:
        fail(f'"{value}" is not a finding: {PALPATED_SYNTAX}.', field="--palpated")
    finding, *qualifiers = (p.strip().lower() for p in rest.split(","))
    if finding not in FINDINGS:
        fail(
            f'unknown finding "{finding}" in "{value}"{_nearest(finding, FINDINGS)}; '
            "use familiar, tender or none.",
            field="--palpated",
        )
    entry: dict[str, Any] = {"site": site, "finding": finding}
    for q in qualifiers:
        if q not in QUALIFIERS:
            fail(
                f'unknown qualifier "{q}" in "{value}"{_nearest(q, QUALIFIERS)}; '
                "use twitch, no-twitch, referral or no-referral.",
                field="--palpated",
            )
        key, seen = QUALIFIERS[q]
        if entry.get(key, seen) != seen:
            fail(f'"{value}" says both {key} and no-{key}.', field="--palpated")
        entry[key] = seen
    return entry


def _nearest(word: str, choices: Any) -> str:
    """ " (nearest: familiar)" for a misspelt word, or nothing when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.5)
    return f" (nearest: {', '.join(close)})" if close else ""


def _option_message(exc: InvalidInput, raw: list[str]) -> tuple[str, str]:
    """The option an engine error belongs to, and its message: a palpation error quotes the
    `--palpated` value it came from and lists the nearest names the resolver offered."""
    parts = exc.field.split(".")
    option = _FIELDS.get(parts[0], exc.field)
    message = str(exc)
    if parts[0] != "palpation":
        return option, message
    if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(raw):
        message = f'"{raw[int(parts[1])]}": {message}'
    names = [n for n in (exc.suggestions or []) if n not in message]
    if names:
        message += f" Nearest names: {', '.join(names)}."
    return option, message


def _print(result: SuggestResult) -> None:
    d = result.drawing
    kind = "complete (unmarked = pain-free)" if d.complete else "partial"
    painful = escape(", ".join(r.name for r in d.painful) or "-")
    console.print(f"Painful: {painful}  [dim]({kind})[/]")
    if d.pain_free:
        console.print(f"Pain-free: {escape(', '.join(r.name for r in d.pain_free))}")
    if result.palpation:
        text = "; ".join(_finding_text(f) for f in result.palpation)
        console.print(f"Palpated: {escape(text)}")
    if result.message:
        console.print(escape(result.message))
    if result.candidates:
        _candidates_table(result)
    examine = result.examine_next[:3]
    if examine:
        table = Table(title="Examine next (most informative palpation for its effort)")
        table.add_column("#", justify="right")
        table.add_column("palpate")
        table.add_column("gain (bits)", justify="right")
        table.add_column("why")
        for n, e in enumerate(examine, 1):
            table.add_row(str(n), escape(_site_text(e)), f"{e.gain_bits:.2f}", escape(e.reason))
        console.print(table)
    muscles = result.muscles[: len(result.candidates) or 10]
    if muscles:
        names = _region_names()
        table = Table(title="Muscles (chance that at least one of its trigger points is active)")
        table.add_column("muscle")
        table.add_column("P(active)", justify="right")
        table.add_column("P(latent)", justify="right")
        table.add_column("its trigger points: P(active), painful regions explained")
        for m in muscles:
            lines = [
                f"{t.trigger_point} {t.p_active:.0%}: {', '.join(names.get(r, r) for r in t.explains)}"
                for t in m.trigger_points
                if t.explains
            ]
            if idle := len(m.trigger_points) - len(lines):
                lines.append(f"({idle} other point{'s' if idle > 1 else ''}: no painful region)")
            points = "\n".join(lines)
            table.add_row(
                escape(f"{m.muscle} ({m.side})"),
                f"{m.p_active:.1%}",
                f"{m.p_latent:.1%}",
                escape(points),
            )
        console.print(table)
    if result.explanations:
        table = Table(title="Best explanations (sets of 1 to 3 trigger points)")
        for col in ("P(exactly these)", "trigger points", "explains"):
            table.add_column(col)
        for x in result.explanations:
            members = " + ".join(
                f"{t.muscle} {t.trigger_point_id} ({t.side})" for t in x.trigger_points
            )
            table.add_row(f"{x.probability:.1%}", escape(members), f"{x.explained_share:.0%}")
        console.print(table)
    if result.unreferred:
        names_text = ", ".join(r.name for r in result.unreferred)
        console.print(f"No trigger point in the atlas refers to: {escape(names_text)}")
    how = "exact" if result.exact else f"error bound {result.bound:.3f}"
    console.print(f"[dim]Method: {result.method} ({how}).[/]")
    console.print(f"[dim]{escape(result.disclaimer)}[/]")


def _candidates_table(result: SuggestResult) -> None:
    """One row per candidate; the numbers never wrap, the words do (80 columns must do)."""
    table = Table(title="Likely trigger points", show_lines=True)
    columns: list[tuple[str, JustifyMethod]] = [
        ("#", "right"),
        ("P(active)", "right"),
        ("P(latent)", "right"),
    ]
    for col, just in columns:
        table.add_column(col, justify=just, no_wrap=True)
    table.add_column("trigger point / state", min_width=16)
    table.add_column("explains")
    table.add_column("needling", max_width=10)
    for n, c in enumerate(result.candidates, 1):
        point = escape(f"{c.trigger_point} ({c.side})")
        if c.palpation:
            point += f"\n[bold]palpated: {escape(c.palpation)}[/]"
        if c.state:
            point += f"\n[italic]{escape(c.state)}[/]"
        explains = escape(", ".join(f"{r.name} ({r.zone})" for r in c.explains))
        if c.against:
            against = ", ".join(r.name for r in c.against)
            explains += f"\n[red]against (pain-free): {escape(against)}[/]"
        table.add_row(
            str(n),
            f"{c.probability:.1%}",
            f"{c.p_latent:.1%}",
            point,
            explains,
            ("[bold red]THORAX[/] " if c.thorax else "") + f"{c.depth_mm[0]}-{c.depth_mm[1]} mm",
        )
    console.print(table)


def _finding_text(f: PalpationEcho) -> str:
    """ "right upper trapezius (upper) = familiar, twitch" for one echoed finding."""
    signs = [
        name if seen else f"no {name}"
        for name, seen in (("twitch", f.twitch), ("referral", f.referral))
        if seen is not None
    ]
    return f"{f.label} = {', '.join([f.finding, *signs])}"


def _site_text(e: ExamineNext) -> str:
    return f"{e.trigger_point} ({e.side})"


def _region_names() -> dict[str, str]:
    from triggerpoint.bodychart.catalog import load_catalog

    return {rid: r.name for rid, r in load_catalog().regions.items()}
