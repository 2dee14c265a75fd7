"""`triggerpoint serve`.

The command migrates the database once, creates the audit key if it is missing, and only then
starts uvicorn: with `--workers N` uvicorn spawns N processes, and each would otherwise run
the migrations itself at start-up. The workers inherit `MIGRATED_ENV`, so their start-up only
checks that the schema is at head (web/app.py). Two serve commands started at once still
migrate one after the other (the lock in migrate.py). See docs/deployment.md.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from triggerpoint.cli.output import console
from triggerpoint.config import get_settings


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            max=64,
            help="App processes sharing the port (uvicorn workers). Several are meant for "
            "PostgreSQL; on SQLite they are safe (SQLite serialises the writes across "
            "processes) but add little, since one write happens at a time.",
        ),
    ] = 1,
) -> None:
    """Start the web app (after bringing the database to the newest schema)."""
    import uvicorn

    from triggerpoint.audit.keys import signing_key
    from triggerpoint.db import get_engine
    from triggerpoint.migrate import MIGRATED_ENV, upgrade

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    engine = get_engine()
    upgrade(engine)
    signing_key()  # created here once, not raced for by N workers
    engine.dispose()  # no pooled connection is carried into the workers
    os.environ[MIGRATED_ENV] = "1"  # inherited by uvicorn's worker processes
    shown = f"{workers} processes" if workers > 1 else "one process"
    if workers > 1 and engine.dialect.name == "sqlite":
        shown += " on SQLite (writes wait for each other; PostgreSQL scales further)"
    console.print(
        f"triggerpoint is running at [bold]http://{host}:{port}/[/], {shown} (Ctrl+C stops it)"
    )
    uvicorn.run(
        "triggerpoint.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
