"""The `triggerpoint` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from triggerpoint.cli import admin, atlas, demo, physiology, records, regions, server
from triggerpoint.cli import export as export_cli
from triggerpoint.cli import imports as import_cli
from triggerpoint.cli import research as research_cli
from triggerpoint.cli import suggest as suggest_cli
from triggerpoint.cli import suggest_eval as suggest_eval_cli
from triggerpoint.cli import tokens as tokens_cli
from triggerpoint.cli import worker as worker_cli
from triggerpoint.cli.output import DomainErrorsExit2

app = typer.Typer(
    name="triggerpoint",
    help="Trigger point dry needling: body chart, referred-pain atlas and clinic records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=DomainErrorsExit2,
)


@app.callback()
def _start() -> None:
    # Start-up of every command: the data layer's hooks (the dashboard's tallies, the pain
    # maps' derived rows, the research data version) follow what the command writes.
    from triggerpoint.listeners import register_listeners

    register_listeners()


app.add_typer(atlas.app, name="atlas")
app.command("suggest")(suggest_cli.suggest)
app.command("suggest-eval")(suggest_eval_cli.suggest_eval)
app.add_typer(regions.app, name="regions")
app.command("serve")(server.serve)
app.command("worker")(worker_cli.worker)
app.command("simulate")(physiology.simulate)
app.command("setup")(admin.setup)
app.add_typer(admin.user_app, name="user")
app.add_typer(tokens_cli.app, name="token")
app.add_typer(admin.audit_app, name="audit")
app.add_typer(records.app, name="patients")
app.add_typer(demo.app, name="demo")
app.add_typer(export_cli.app, name="export")
app.add_typer(import_cli.app, name="import")
app.add_typer(research_cli.app, name="research")
app.command("backup")(admin.backup)
app.command("restore")(admin.restore)

if __name__ == "__main__":
    app()
