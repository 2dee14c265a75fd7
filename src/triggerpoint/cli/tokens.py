"""`triggerpoint token …`: API tokens for integrations and scripts.

A thin layer over `accounts.service`: the service decides who may do what and writes the
audit events; this module names the arguments in errors and formats the output. The CLI acts
as the system (`Actor.system("cli")`), like `triggerpoint user add`: whoever can run it
already holds the database credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from triggerpoint.cli.output import console, fail, print_json

if TYPE_CHECKING:
    from triggerpoint.accounts.service import AccountError, ApiTokenInfo

app = typer.Typer(help="API tokens for integrations and scripts.", no_args_is_help=True)
JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (see docs/cli.md).")
]
CLI_ACTOR_LABEL = "cli"

# Service field names -> what the user typed, so an error names the argument or option.
_ARGUMENT_NAMES = {
    "username": "USERNAME",
    "token_id": "TOKEN_ID",
    "label": "--label",
    "expires_days": "--expires-days",
}


def _fail_with(exc: AccountError) -> NoReturn:
    fail(str(exc), field=_ARGUMENT_NAMES.get(exc.field, exc.field))


def _as_json(info: ApiTokenInfo) -> dict[str, Any]:
    """The public shape of a token (docs/cli.md); never the secret or its digest."""
    return {
        "id": info.id,
        "user": info.username,
        "user_id": info.user_id,
        "clinic": info.clinic,
        "clinic_id": info.clinic_id,
        "label": info.label,
        "created_at": info.created_at.isoformat(),
        "revoked": info.revoked,
        "expires_at": info.expires_at.isoformat(),
        "expired": info.expired,
    }


@app.command("create")
def create(
    username: Annotated[
        str, typer.Argument(metavar="USERNAME", help="Login name of the user the token acts for.")
    ],
    label: Annotated[
        str, typer.Option(help="What the token is for (shown in `token list`).")
    ] = "cli",
    expires_days: Annotated[
        int | None,
        typer.Option(
            "--expires-days",
            help="Days until the token stops working, 1-365 (default TRIGGERPOINT_TOKEN_DAYS, 90).",
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Create an API token for a user and print it once (only its hash is stored)."""
    from triggerpoint.accounts.service import AccountError, issue_api_token
    from triggerpoint.audit.service import Actor
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as session:
        try:
            info, secret = issue_api_token(
                session,
                actor=Actor.system(CLI_ACTOR_LABEL),
                username=username,
                label=label,
                expires_days=expires_days,
            )
        except AccountError as exc:
            _fail_with(exc)
        session.commit()
    if json:
        print_json({**_as_json(info), "token": secret})
        return
    console.print(
        f"Created API token {info.id} ({escape(repr(info.label))}) for {escape(info.username)} "
        f"in {escape(info.clinic)}, valid until {info.expires_at:%Y-%m-%d %H:%M} UTC. It is "
        "shown only now; send it as `Authorization: Bearer …`:"
    )
    # Its own line, never wrapped or styled by markup, so it can be copied whole.
    console.print(secret, style="bold", soft_wrap=True, markup=False, highlight=False)


@app.command("revoke")
def revoke(
    token_id: Annotated[
        int, typer.Argument(metavar="TOKEN_ID", help="Token id, as shown by `token list`.")
    ],
    json: JsonFlag = False,
) -> None:
    """Revoke an API token; it stops working on the next request. Exit 2 if already revoked."""
    from triggerpoint.accounts.service import AccountError, revoke_api_token
    from triggerpoint.audit.service import Actor
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as session:
        try:
            info = revoke_api_token(session, actor=Actor.system(CLI_ACTOR_LABEL), token_id=token_id)
        except AccountError as exc:
            _fail_with(exc)
        session.commit()
    if json:
        print_json(_as_json(info))
        return
    console.print(
        f"Revoked API token {info.id} ({escape(repr(info.label))}) of {escape(info.username)}."
    )


@app.command("list")
def list_(
    username: Annotated[
        str | None,
        typer.Argument(metavar="USERNAME", help="Only this user's tokens (default: everyone's)."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """List API tokens, oldest first, without their secrets."""
    from triggerpoint.accounts.service import AccountError, list_api_tokens
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as session:
        try:
            tokens = list_api_tokens(session, username=username)
        except AccountError as exc:
            _fail_with(exc)
    if json:
        print_json([_as_json(t) for t in tokens])
        return
    console.print(_table(tokens))


def _table(tokens: list[ApiTokenInfo]) -> Table:
    table = Table(title=f"{len(tokens)} API tokens")
    for column in ("id", "user", "clinic", "label", "created (UTC)", "expires (UTC)", "status"):
        table.add_column(column)
    for t in tokens:
        table.add_row(
            str(t.id),
            escape(t.username),
            escape(t.clinic),
            escape(t.label),
            t.created_at.strftime("%Y-%m-%d %H:%M"),
            t.expires_at.strftime("%Y-%m-%d %H:%M"),
            t.status,
        )
    return table
