"""The `triggerpoint` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from triggerpoint.cli import atlas, regions, server

app = typer.Typer(
    name="triggerpoint",
    help="Trigger point dry needling: body chart, referred-pain atlas and clinic records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(atlas.app, name="atlas")
app.add_typer(regions.app, name="regions")
app.command("serve")(server.serve)
app.command("setup")(server.setup)

if __name__ == "__main__":
    app()
