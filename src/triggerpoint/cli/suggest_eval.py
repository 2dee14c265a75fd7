"""`triggerpoint suggest-eval`: how well the suggestions rank the muscle a source blames.

Runs the engine on the clinical vignettes (tests/inference/vignettes by default) and prints
top-1/3/5 accuracy per split and per tag, and the calibration of P(active). The default split
is `tune`: the held-out third is looked at on purpose (`--split heldout` or `all`), not on
every run of a tuning session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from triggerpoint.cli.output import console, err_console, fail, print_json

if TYPE_CHECKING:
    from rich.console import Console

    from triggerpoint.inference.evaluation import Accuracy, EvalReport, ManifestCheck

DEFAULT_DIR = Path("tests/inference/vignettes")


def suggest_eval(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="[DIR]", help="Directory of vignette *.yaml files (and HELDOUT.sha256)."
        ),
    ] = DEFAULT_DIR,
    split: Annotated[
        Literal["tune", "heldout", "all"],
        typer.Option("--split", help="Which vignettes to evaluate: tune (default), heldout, all."),
    ] = "tune",
    params: Annotated[
        Path | None, typer.Option("--params", help="YAML file overriding model parameters.")
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (see docs/cli.md).")
    ] = False,
    as_complete: Annotated[
        bool,
        typer.Option(
            "--as-complete",
            help="Read every drawing as a complete chart (unmarked regions pain-free): the mode "
            "the `completeness` parameter acts on.",
        ),
    ] = False,
    freeze: Annotated[
        bool,
        typer.Option(
            "--freeze",
            help="Append held-out vignettes not yet frozen to HELDOUT.sha256 (never rewrites "
            "a frozen entry), then evaluate.",
        ),
    ] = False,
) -> None:
    """Evaluate the suggestions on clinical vignettes: top-k accuracy and calibration."""
    from triggerpoint.inference import evaluation as ev
    from triggerpoint.inference.params import ParamsError, load_params

    try:
        model_params = load_params(params) if params else None
    except ParamsError as exc:
        fail(str(exc), field="--params")
    try:
        vignettes = ev.load_vignettes(directory)
    except ev.VignetteError as exc:
        fail(str(exc), field=exc.field)
    if freeze:
        added = ev.freeze(vignettes, directory)
        # stderr, so that --freeze --json still prints nothing but JSON on stdout
        err_console.print(f"Froze {len(added)} held-out vignette(s) in {directory / ev.MANIFEST}.")
    chosen = [v for v in vignettes if split == "all" or v.split == split]
    if not chosen:
        fail(f"no {split} vignette in {directory}", field="--split")
    report = ev.evaluate(
        chosen, params=model_params, mode="complete" if as_complete else "as_written"
    )
    if json:
        print_json(report.model_dump(mode="json"))
        return
    _print(report, ev.check_manifest(vignettes, directory))


def _pct(acc: Accuracy, key: str) -> str:
    value = acc.accuracy[key]
    return "-" if value is None else f"{value:.0%} ({acc.hits[key]}/{acc.n})"


def print_tables(report: EvalReport, *, out: Console = console) -> None:
    """The top-k table and the calibration table (shared with the test-suite summary)."""
    table = Table(title="Muscle ranking: answer within top k")
    for col in ("group", "vignettes", "top 1", "top 3", "top 5"):
        table.add_column(col, justify="left" if col == "group" else "right")
    groups = [(k, a) for k, a in report.splits.items()]
    groups += [(f"tag: {k}", a) for k, a in report.tags.items()]
    for name, acc in groups:
        n = str(acc.n) + (f" (+{acc.not_in_atlas} not in atlas)" if acc.not_in_atlas else "")
        table.add_row(name, n, _pct(acc, "top1"), _pct(acc, "top3"), _pct(acc, "top5"))
    out.print(table)
    for name, cal in report.calibration.items():
        table = Table(title=f"Calibration of P(active), top 10 muscles per vignette ({name})")
        for col in ("P(active)", "count", "mean predicted", "observed answer"):
            table.add_column(col, justify="right")
        for b in cal.bins:
            table.add_row(
                f"{b.low:.1f}-{b.high:.1f}",
                str(b.count),
                f"{b.mean_predicted:.3f}",
                f"{b.observed:.3f}",
            )
        out.print(table)
        brier = "-" if cal.brier is None else f"{cal.brier:.4f}"
        out.print(f"[dim]{name}: {cal.pairs} predictions, Brier score {brier}[/]")
    out.print(
        "[dim]Ranking: result.muscles (P(at least one point active)); palpation findings used.[/]"
    )


def _print(report: EvalReport, check: ManifestCheck) -> None:
    print_tables(report)
    if not check.ok:
        console.print(
            "[bold yellow]Held-out manifest out of date:[/] "
            f"changed {check.changed or '-'}, removed {check.missing or '-'}, "
            f"not frozen {check.unfrozen or '-'} (run with --freeze for new ones)."
        )
