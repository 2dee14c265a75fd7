"""Administration: `setup`, `user add`, `audit verify`, `backup`, `restore`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from triggerpoint.cli.output import console, fail, print_json

user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (see docs/cli.md).")
]


def setup(
    clinic: Annotated[
        str, typer.Option(help="Name of the first clinic (first run only).")
    ] = "My clinic",
    admin: Annotated[
        str, typer.Option(help="Username of the first admin (first run only).")
    ] = "admin",
) -> None:
    """Create or upgrade the database; on the first run, create the first admin.

    The admin gets a one-time password, printed once, which must be changed at first login.
    """
    from triggerpoint.accounts.models import User
    from triggerpoint.accounts.service import AccountError, create_clinic, create_user
    from triggerpoint.atlas.loader import load_atlas
    from triggerpoint.audit.service import Actor
    from triggerpoint.db import database_url, open_session
    from triggerpoint.migrate import upgrade

    upgrade()
    console.print(f"Database ready: {database_url()}")
    atlas = load_atlas()
    console.print(
        f"Atlas: {len(atlas.muscles)} muscles, {len(atlas.trigger_points)} sided trigger points."
    )
    with open_session(clinic_id=None) as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
        try:
            c = create_clinic(session, name=clinic, actor=Actor.system("setup"))
            user, password = create_user(
                session,
                clinic_id=c.id,
                username=admin,
                full_name="Administrator",
                role="admin",
                actor=Actor.system("setup"),
            )
        except AccountError as exc:
            fail(str(exc), field=f"--{exc.field}")
        session.commit()
    console.print(
        f"[bold]First run:[/] created clinic {clinic!r} and admin [bold]{user.username}[/] "
        f"with one-time password [bold]{password}[/] (you must change it at first login)."
    )


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name (lower case).")],
    full_name: Annotated[str, typer.Option("--name", help="Full name.")],
    role: Annotated[str, typer.Option(help="admin, clinician or assistant.")] = "clinician",
    clinic: Annotated[
        str | None, typer.Option(help="Clinic name (default: the only clinic).")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Add a user with a one-time password (printed once)."""
    from triggerpoint.accounts.models import Clinic
    from triggerpoint.accounts.service import AccountError, create_user
    from triggerpoint.audit.service import Actor
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as session:
        clinics = list(session.scalars(select(Clinic).order_by(Clinic.id)))
        chosen = [c for c in clinics if clinic is None or c.name == clinic]
        if len(chosen) != 1:
            names = ", ".join(c.name for c in clinics) or "none (run `triggerpoint setup`)"
            fail(f"choose one clinic with --clinic; clinics: {names}", field="--clinic")
        try:
            user, password = create_user(
                session,
                clinic_id=chosen[0].id,
                username=username,
                full_name=full_name,
                role=role,
                actor=Actor.system("cli"),
            )
        except AccountError as exc:
            fail(str(exc), field=exc.field)
        session.commit()
    if json:
        print_json(
            {
                "id": user.id,
                "username": user.username,
                "role": user.role,
                "clinic": chosen[0].name,
                "one_time_password": password,
            }
        )
    else:
        console.print(
            f"Created {user.username} ({user.role}) in {chosen[0].name}; one-time password: [bold]{password}[/]"
        )


@audit_app.command("verify")
def audit_verify(json: JsonFlag = False) -> None:
    """Recompute the audit hash chain; exit 1 if any row was edited or deleted."""
    from triggerpoint.audit.service import verify
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as session:
        result = verify(session)
    if json:
        print_json(result.as_dict())
    elif result.ok:
        console.print(f"[green]OK[/]: {result.events} audit events, chain intact.")
    else:
        console.print(
            f"[bold red]TAMPERED[/]: {len(result.problems)} problem(s) in {result.events} events:"
        )
        for p in result.problems[:50]:
            console.print(f"  - {p}")
    if not result.ok:
        raise typer.Exit(1)


def backup(file: Annotated[Path, typer.Argument(help="Backup file to write.")]) -> None:
    """Back up the database (SQLite online backup, or pg_dump)."""
    from triggerpoint.backup.service import BackupError
    from triggerpoint.backup.service import backup as do_backup

    try:
        do_backup(file)
    except BackupError as exc:
        fail(str(exc), field="FILE")
    console.print(f"Backed up to {file}")


def restore(file: Annotated[Path, typer.Argument(help="Backup file to restore from.")]) -> None:
    """Replace the database with a backup (stop the app first)."""
    from triggerpoint.backup.service import BackupError
    from triggerpoint.backup.service import restore as do_restore

    try:
        do_restore(file)
    except BackupError as exc:
        fail(str(exc), field="FILE")
    console.print(f"Restored from {file}")
