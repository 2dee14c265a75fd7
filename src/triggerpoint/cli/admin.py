"""Administration: `setup`, `user add`, `audit verify|checkpoint`, `backup`, `restore`."""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy import func, select

from triggerpoint.cli.output import console, err_console, fail, print_json

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from triggerpoint.accounts.models import User
    from triggerpoint.audit.service import VerifyResult

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
    """Create or upgrade the database and the audit key; on the first run, the first admin.

    The admin gets a one-time password, printed once, which must be changed at first login.
    The audit key file (TRIGGERPOINT_AUDIT_KEY_FILE, mode 0600) is created if missing: back
    it up apart from the database (docs/security.md).
    """
    from triggerpoint.accounts.models import User
    from triggerpoint.accounts.service import AccountError, create_clinic, create_user
    from triggerpoint.atlas.loader import load_atlas
    from triggerpoint.audit.service import Actor
    from triggerpoint.db import database_url, open_session
    from triggerpoint.migrate import upgrade

    upgrade()
    console.print(f"Database ready: {database_url()}")
    _setup_audit_key()
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


def _setup_audit_key() -> None:
    from triggerpoint.audit.keys import AuditKeyError
    from triggerpoint.audit.service import prepare_key
    from triggerpoint.db import open_session

    try:
        with open_session(clinic_id=None) as session:
            key = prepare_key(session)
    except AuditKeyError as exc:
        fail(str(exc), field="TRIGGERPOINT_AUDIT_KEY_FILE")
    if key.created:
        console.print(
            f"[bold]Audit key created:[/] {key.path} (mode 0600, key {key.id}). Back it up "
            f"apart from the database: without it the audit trail cannot be verified."
        )
    else:
        console.print(f"Audit key: {key.path} (key {key.id})")


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


# Service field names -> what the user typed, so an error names the argument.
_USER_ARGUMENTS = {"username": "USERNAME", "role": "ROLE"}
UsernameArg = Annotated[str, typer.Argument(metavar="USERNAME", help="The user's login name.")]


def _user_json(user: User) -> dict[str, Any]:
    """The public shape of a user account (docs/cli.md)."""
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "active": user.active,
        "must_change_password": user.must_change_password,
        "clinic": user.clinic.name,
        "clinic_id": user.clinic_id,
    }


def _user_action(action: Callable[[Session], Any]) -> Any:
    """Run one account action as the system (`cli`) in one transaction; bad input exits 2."""
    from triggerpoint.accounts.service import AccountError
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as session:
        try:
            result = action(session)
        except AccountError as exc:
            fail(str(exc), field=_USER_ARGUMENTS.get(exc.field, exc.field))
        session.commit()
    return result


@user_app.command("list")
def user_list(
    clinic: Annotated[str | None, typer.Option(help="Only this clinic's users.")] = None,
    json: JsonFlag = False,
) -> None:
    """List user accounts (deactivated ones included), by clinic and username."""
    from rich.markup import escape
    from rich.table import Table

    from triggerpoint.accounts.models import Clinic, User
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as session:
        stmt = select(User).join(Clinic, Clinic.id == User.clinic_id)
        if clinic is not None:
            if session.scalar(select(Clinic.id).where(Clinic.name == clinic)) is None:
                names = ", ".join(session.scalars(select(Clinic.name).order_by(Clinic.name)))
                fail(f"no clinic called {clinic!r}; clinics: {names or 'none'}", field="--clinic")
            stmt = stmt.where(Clinic.name == clinic)
        users = list(session.scalars(stmt.order_by(Clinic.name, User.username)))
    if json:
        print_json([_user_json(u) for u in users])
        return
    table = Table(title=f"{len(users)} users")
    for column in ("username", "name", "role", "clinic", "status"):
        table.add_column(column)
    for u in users:
        status = "active" if u.active else "deactivated"
        if u.must_change_password:
            status += ", must change password"
        table.add_row(
            escape(u.username), escape(u.full_name), u.role, escape(u.clinic.name), status
        )
    console.print(table)


@user_app.command("deactivate")
def user_deactivate(username: UsernameArg, json: JsonFlag = False) -> None:
    """Deactivate a user: no more logins; their sessions end and API tokens are revoked now."""
    from rich.markup import escape

    from triggerpoint.accounts.service import deactivate_user
    from triggerpoint.audit.service import Actor

    user = _user_action(lambda s: deactivate_user(s, actor=Actor.system("cli"), username=username))
    if json:
        print_json(_user_json(user))
        return
    console.print(
        f"Deactivated {escape(user.username)}: their sessions ended and their API tokens "
        "were revoked."
    )


@user_app.command("reactivate")
def user_reactivate(username: UsernameArg, json: JsonFlag = False) -> None:
    """Reactivate a deactivated user (their old API tokens stay revoked)."""
    from rich.markup import escape

    from triggerpoint.accounts.service import reactivate_user
    from triggerpoint.audit.service import Actor

    user = _user_action(lambda s: reactivate_user(s, actor=Actor.system("cli"), username=username))
    if json:
        print_json(_user_json(user))
        return
    console.print(f"Reactivated {escape(user.username)}.")


@user_app.command("reset")
def user_reset(username: UsernameArg, json: JsonFlag = False) -> None:
    """Give a user a one-time password (printed once) to change at their next login.

    Their login sessions end and their API tokens are revoked.
    """
    from rich.markup import escape

    from triggerpoint.accounts.service import reset_password
    from triggerpoint.audit.service import Actor

    result = _user_action(lambda s: reset_password(s, actor=Actor.system("cli"), username=username))
    if json:
        print_json({**_user_json(result.user), "one_time_password": result.one_time_password})
        return
    console.print(
        f"New one-time password for {escape(result.user.username)} (shown only now; they "
        "must change it at their next login):"
    )
    # Its own line, never wrapped or styled by markup, so it can be copied whole.
    console.print(
        result.one_time_password, style="bold", soft_wrap=True, markup=False, highlight=False
    )


@user_app.command("role")
def user_role(
    username: UsernameArg,
    role: Annotated[str, typer.Argument(metavar="ROLE", help="admin, clinician or assistant.")],
    json: JsonFlag = False,
) -> None:
    """Change a user's role; it applies from their next request."""
    from rich.markup import escape

    from triggerpoint.accounts.service import change_role
    from triggerpoint.audit.service import Actor

    user = _user_action(
        lambda s: change_role(s, actor=Actor.system("cli"), username=username, role=role)
    )
    if json:
        print_json(_user_json(user))
        return
    console.print(f"{escape(user.username)} is now {user.role}.")


EXIT_AUDIT_FAILED = 2
EXIT_AUDIT_WARNING = 3


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="Also compare with the checkpoints in FILE (a copy kept elsewhere); repeatable.",
            metavar="FILE",
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Verify every audit chain (one per clinic, the system's, the legacy one) and compare
    each with its checkpoints; prints a table with one row per chain.

    Exit 0: intact. Exit 2: tampering or a changed key (each problem is named). Exit 3: the
    chain verifies, with a warning (e.g. the configured checkpoint file is missing).
    """
    from triggerpoint.audit.keys import AuditKeyError
    from triggerpoint.audit.service import verify
    from triggerpoint.db import open_session

    extra = list(checkpoint or [])
    for path in extra:
        if not path.is_file():
            fail(f"{path}: no such file", field="--checkpoint")
    try:
        with open_session(clinic_id=None) as session:
            result = verify(session, checkpoint_files=extra)
    except AuditKeyError as exc:
        fail(str(exc), field="TRIGGERPOINT_AUDIT_KEY_FILE")
    if json:
        print_json(result.as_dict())
    else:
        _print_verify(result)
    if not result.ok:
        raise typer.Exit(EXIT_AUDIT_FAILED)
    if result.warnings:
        raise typer.Exit(EXIT_AUDIT_WARNING)


def _print_verify(result: VerifyResult) -> None:
    """A table with one row per chain, the verdict, then each chain's problems under its name."""
    from rich.table import Table

    table = Table("chain", "of", "events", "checkpoints", "status", title="Audit chains")
    for c in result.chains:
        status = (
            "[green]ok[/]"
            if c.ok
            else f"[bold red]TAMPERED[/] (first: event {c.first_broken_event})"
        )
        if not c.ok and c.first_broken_event is None:
            status = "[bold red]TAMPERED[/]"
        chain = "legacy" if c.chain is None else str(c.chain)
        table.add_row(chain, c.label, str(c.events), str(c.checkpoints), status)
    if result.chains:
        console.print(table)
    cps = f", {result.checkpoints} checkpoint(s) compared" if result.checkpoints else ""
    if result.ok:
        console.print(f"[green]OK[/]: {result.events} audit events, chain intact{cps}.")
    else:
        console.print(
            f"[bold red]TAMPERED[/]: {len(result.problems)} problem(s) in "
            f"{result.events} events{cps}:"
        )
        in_chains = {p for c in result.chains for p in c.problems}
        for p in [p for p in result.problems if p not in in_chains][:50]:
            console.print(f"  - {p}", highlight=False)  # the checkpoint files themselves
        for c in result.chains:
            if c.problems:
                console.print(f"{c.label}:", highlight=False)
            for p in c.problems[:50]:
                console.print(f"  - {p}", highlight=False)
    for w in result.warnings:
        err_console.print(f"[bold yellow]warning:[/] {w}", highlight=False)


@audit_app.command("checkpoint")
def audit_checkpoint(json: JsonFlag = False) -> None:
    """Append each chain's head (chain, event count, newest MAC, time) to the checkpoint file.

    Keep a copy of each checkpoint somewhere else as well: `audit verify --checkpoint COPY`
    then detects newest events deleted with the head rewound even if this machine's file is
    lost or edited.
    """
    from triggerpoint.audit.keys import AuditKeyError
    from triggerpoint.audit.service import take_checkpoint
    from triggerpoint.db import open_session

    try:
        with open_session(clinic_id=None) as session:
            lines, path = take_checkpoint(session)
    except AuditKeyError as exc:
        fail(str(exc), field="TRIGGERPOINT_AUDIT_KEY_FILE")
    except OSError as exc:
        fail(
            f"cannot append to the checkpoint file: {exc}",
            field="TRIGGERPOINT_AUDIT_CHECKPOINT_FILE",
        )
    if json:
        print_json([{**line, "file": str(path)} for line in lines])
        return
    for line in lines:
        chain = "legacy chain" if line["chain"] is None else f"chain {line['chain']}"
        newest = f", newest event id {line['head_id']}" if line["head_id"] else ""
        console.print(
            f"Checkpoint of {chain}: {line['events']} audit events{newest}, MAC "
            f"{line['head'][:16]}…, at {line['at']}.",
            highlight=False,
        )
    console.print(
        f"Appended {len(lines)} line(s) to {path}.\n"
        "Keep a copy elsewhere too (paste these lines into an e-mail or a file off this "
        "machine):",
        highlight=False,
    )
    for line in lines:
        sys.stdout.write(jsonlib.dumps(line, sort_keys=True) + "\n")


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
