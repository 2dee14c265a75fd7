"""Shared CLI plumbing: JSON printing and the one way bad input leaves the program (exit 2)."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from triggerpoint.errors import DomainError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, *, field: str | None = None) -> NoReturn:
    """Report bad input on stderr and exit with code 2."""
    where = f"{field}: " if field else ""
    err_console.print(f"[bold red]error:[/] {where}{message}", highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


class DomainErrorsExit2(TyperGroup):
    """The root command group: any error a service raises on purpose (triggerpoint.errors)
    leaves the program the one way bad input does, on stderr with exit code 2."""

    # (`click` is no dependency of ours, nor of typer's, which vendors its own)
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer passes its Context; the base it declares is private
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            fail(str(exc), field=exc.field)
