"""FastAPI dependencies: who is asking, and a database session confined to their clinic.

Cookie sessions need a CSRF token on every state-changing request (header `X-CSRF-Token`
or form field `csrf_token`). Bearer API tokens are not sent ambiently by browsers, so they
need none.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator
from functools import wraps
from inspect import Parameter, Signature, iscoroutinefunction, signature
from typing import Annotated, Any, TypeVar, get_type_hints
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from triggerpoint.accounts import service
from triggerpoint.accounts.service import Principal
from triggerpoint.db import open_session
from triggerpoint.ui import localtime

SESSION_COOKIE = "tp_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Requests whose database work is read-only: their sessions never queue for SQLite's write
# lock, and the writes they must make (audit of the read, session slide) are deferred.
READ_METHODS = frozenset({"GET", "HEAD"})
# What a user with a printed (one-time) password may still reach: the form to change it,
# and the way out.
WHILE_PASSWORD_PENDING = frozenset({"/account/password", "/logout"})
T = TypeVar("T")  # what an API handler returns


class LoginRequired(Exception):
    """Raised by page dependencies; the app turns it into a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PasswordChangeRequired(Exception):
    pass


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def principal_from_credentials(request: Request, session: Session) -> Principal | None:
    """The one lookup of who is asking: a bearer API token first, else the session cookie."""
    if token := _bearer(request):
        return service.principal_from_api_token(session, token=token)
    if cookie := request.cookies.get(SESSION_COOKIE):
        return service.principal_from_session(session, token=cookie)
    return None


def is_read_request(request: Request) -> bool:
    """Whether the request's database work is read-only: a GET or HEAD must not change
    anything but what `defer_write` writes for it (its audit, the sliding expiry)."""
    return request.method in READ_METHODS


def resolve_principal(request: Request) -> Principal | None:
    """The principal for this request (or None), looked up once per request; times on the
    pages it renders are then shown in the principal's clinic's zone (set on every call: a
    sync dependency that looked first, the rate limiter, ran in a copy of the context)."""
    if "principal" in request.state._state:
        principal: Principal | None = request.state.principal
    else:
        # Read-only for every method: the lookup only reads, and a write request's own work
        # runs in its page session, so it queues once for the write lock, not twice.
        with open_session(clinic_id=None, read_only=True) as session:
            principal = principal_from_credentials(request, session)
            session.commit()  # writes the sliding expiry, when due (`defer_write`)
        request.state.principal = principal
    localtime.use_zone(principal.timezone if principal else None)
    return principal


def check_csrf(request: Request, principal: Principal, sent: object, *, hint: str) -> None:
    """The one CSRF check: a cookie-authenticated write must echo the session's CSRF token.

    Bearer-token principals have no CSRF token (browsers never send a bearer token on their
    own), and safe methods change nothing, so both pass. `sent` is what the request carried.
    """
    if request.method in SAFE_METHODS or principal.csrf_token is None:
        return
    if not isinstance(sent, str) or not hmac.compare_digest(sent, principal.csrf_token):
        raise HTTPException(403, detail=f"CSRF token missing or wrong {hint}")


async def _page_csrf(request: Request, principal: Principal) -> None:
    """Pages send the token in the X-CSRF-Token header or the form field `csrf_token`."""
    sent: object = request.headers.get("x-csrf-token")
    form = request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    )
    if sent is None and form and request.method not in SAFE_METHODS:
        sent = (await request.form()).get("csrf_token")
    check_csrf(request, principal, sent, hint="; reload the page and try again")


def authenticate(request: Request, session: Session) -> Principal:
    """Who is asking (bearer token or session cookie); confines `session` to their clinic.

    Raises 401 without valid credentials, 403 when a cookie-authenticated write lacks its
    CSRF token (the JSON API takes it in a header only) and 403 for a login session whose
    printed one-time password is still to be changed. API tokens are not refused for that:
    a token is a credential of its own, made by its owner or an admin, not the printed one.
    """
    principal = principal_from_credentials(request, session)
    if principal is None:
        raise HTTPException(
            401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"}
        )
    if principal.must_change_password and principal.csrf_token is not None:
        raise HTTPException(
            403, detail="password change required: log in to the web app and set a new password"
        )
    check_csrf(
        request,
        principal,
        request.headers.get("x-csrf-token", ""),
        hint="(send the X-CSRF-Token header)",
    )
    session.info["clinic_id"] = principal.clinic_id
    request.state.principal = principal
    localtime.use_zone(principal.timezone)
    return principal


def finish(session: Session, result: object) -> None:
    """End a request's transaction: commit what a handler returned, unless it answered with
    an error (4xx/5xx response), which rolls back like a raised error does. A handler that
    must keep something despite an error (a failed login's throttle count) commits it itself."""
    if isinstance(result, Response) and result.status_code >= 400:
        session.rollback()
    else:
        session.commit()


def api_session(request: Request) -> Iterator[Session]:
    """One session and one transaction for the whole API request: who is asking, then the
    work. The session starts unscoped to look up the token, then is confined to its clinic."""
    session = open_session(clinic_id=None, read_only=is_read_request(request))
    try:
        authenticate(request, session)
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def api_principal(
    request: Request, _session: Annotated[Session, Depends(api_session)]
) -> Principal:
    return request.state.principal


async def _credentials_present(request: Request) -> None:
    """401 before anything else when no credentials were sent (no database work needed)."""
    if _bearer(request) is None and SESSION_COOKIE not in request.cookies:
        raise HTTPException(
            401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"}
        )


async def page_principal(request: Request) -> Principal:
    if "principal" not in request.state._state:
        # The lookup reads the database (and may write the sliding expiry): in a worker
        # thread, never on the event loop, where a wait would stall every request.
        await run_in_threadpool(resolve_principal, request)
    principal = resolve_principal(request)  # looked up above: sets the zone in this context
    if principal is None:
        raise LoginRequired(quote(str(request.url.path)))
    await _page_csrf(request, principal)
    if principal.must_change_password and request.url.path not in WHILE_PASSWORD_PENDING:
        raise PasswordChangeRequired()
    return principal


async def page_form(request: Request) -> FormData:
    """The posted form, read on the event loop (it awaits the body) so that the handler can
    be a plain `def`: FastAPI then runs it, and its database work, in a worker thread. A
    coroutine handler that used its session would block the event loop while it waits for
    the database (tests/accounts/test_no_db_on_loop.py checks that none does)."""
    return await request.form()


def _scoped(principal: Principal, *, read_only: bool) -> Iterator[Session]:
    session = open_session(clinic_id=principal.clinic_id, read_only=read_only)
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def page_session(
    request: Request, principal: Annotated[Principal, Depends(page_principal)]
) -> Iterator[Session]:
    yield from _scoped(principal, read_only=is_read_request(request))


ApiPrincipal = Annotated[Principal, Depends(api_principal)]
ApiSession = Annotated[Session, Depends(api_session)]
PagePrincipal = Annotated[Principal, Depends(page_principal)]
PageSession = Annotated[Session, Depends(page_session)]
PageForm = Annotated[FormData, Depends(page_form)]


def api_handler(handler: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run a sync API handler, and the authentication its ApiPrincipal/ApiSession parameters
    need, in one worker thread.

    Why: FastAPI gives each sync dependency, each sync endpoint and the response check of a
    sync endpoint a thread hop of their own (0.1-0.2 ms each), so an API call paid three.
    Wrapped, it pays one. The handler is written exactly as without the wrapper (and works
    without it): it receives a principal and a session confined to their clinic and does its
    work; the wrapper commits when it returns and rolls back when it raises (a unit of work
    the handler cannot forget; see `finish`).
    """
    hints = get_type_hints(handler, include_extras=True)
    roles = {name: role for name, t in hints.items() if (role := _injected(t))}
    wants_request = next((n for n, t in hints.items() if t is Request), None)
    params = [
        Parameter(name, Parameter.KEYWORD_ONLY, default=p.default, annotation=hints[name])
        for name, p in signature(handler).parameters.items()
        if name not in roles
    ]
    if wants_request is None:
        params.append(Parameter("request", Parameter.KEYWORD_ONLY, annotation=Request))
    params.append(
        Parameter(
            "_credentials",
            Parameter.KEYWORD_ONLY,
            annotation=Annotated[None, Depends(_credentials_present)],
        )
    )

    async def endpoint(**kwargs: Any) -> T:
        kwargs.pop("_credentials")
        request = kwargs[wants_request] if wants_request else kwargs.pop("request")
        return await run_in_threadpool(_run_handler, handler, request, roles, kwargs)

    endpoint.__signature__ = Signature(params, return_annotation=hints.get("return"))  # type: ignore[attr-defined]  # FastAPI reads it; functions do not declare it
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(endpoint, attr, getattr(handler, attr))
    return endpoint


def _injected(annotation: object) -> str | None:
    """What api_handler passes for a parameter with this annotation (None: FastAPI does)."""
    if annotation == ApiPrincipal:
        return "principal"
    return "session" if annotation == ApiSession else None


def _run_handler(
    handler: Callable[..., T], request: Request, roles: dict[str, str], kwargs: dict[str, Any]
) -> T:
    session = open_session(clinic_id=None, read_only=is_read_request(request))
    try:
        provided = {"principal": authenticate(request, session), "session": session}
        result = handler(**kwargs, **{name: provided[role] for name, role in roles.items()})
        finish(session, result)
        return result
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class UnitOfWorkRoute(APIRoute):
    """Every route of our routers: a handler that takes a PageSession or ApiSession has its
    transaction committed when it returns and rolled back when it raises (see `finish`), in
    the handler's own call, so before the response is sent: an acknowledged write is a
    committed write. Handlers never call `session.commit()` for their normal work."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _committing(endpoint), **kwargs)


def _committing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    hints = get_type_hints(endpoint, include_extras=True)
    name = next((n for n, t in hints.items() if t in (PageSession, ApiSession)), None)
    if name is None:
        return endpoint  # no session (or api_handler, whose wrapper commits itself)

    if iscoroutinefunction(endpoint):

        @wraps(endpoint)
        async def committing_async(*args: Any, **kwargs: Any) -> Any:
            result = await endpoint(*args, **kwargs)
            await run_in_threadpool(finish, kwargs[name], result)
            return result

        return committing_async

    @wraps(endpoint)
    def committing(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        finish(kwargs[name], result)
        return result

    return committing
