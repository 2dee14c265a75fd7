"""`triggerpoint serve` and `triggerpoint setup`."""

from __future__ import annotations

from typing import Annotated

import typer

from triggerpoint.cli.output import console
from triggerpoint.config import get_settings


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
) -> None:
    """Start the web app."""
    import uvicorn

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    console.print(f"triggerpoint is running at [bold]http://{host}:{port}/[/] (Ctrl+C stops it)")
    uvicorn.run(
        "triggerpoint.web.app:create_app", factory=True, host=host, port=port, log_level="warning"
    )
