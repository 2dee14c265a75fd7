"""FastAPI dependencies: who is asking, and a database session confined to their clinic.

Cookie sessions need a CSRF token on every state-changing request (header `X-CSRF-Token`
or form field `csrf_token`). Bearer API tokens are not sent ambiently by browsers, so they
need none.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator
from inspect import Parameter, Signature, signature
from typing import Annotated, Any, TypeVar, get_type_hints
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from triggerpoint.accounts import service
from triggerpoint.accounts.service import Principal
from triggerpoint.db import open_session

SESSION_COOKIE = "tp_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
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


def resolve_principal(request: Request) -> Principal | None:
    """The principal for this request from a bearer token or the session cookie (or None)."""
    if "principal" in request.state._state:
        return request.state.principal
    principal = None
    with open_session(clinic_id=None) as session:
        if token := _bearer(request):
            principal = service.principal_from_api_token(session, token=token)
        elif cookie := request.cookies.get(SESSION_COOKIE):
            principal = service.principal_from_session(session, token=cookie)
        session.commit()
    request.state.principal = principal
    return principal


async def _check_csrf(request: Request, principal: Principal) -> None:
    if request.method in SAFE_METHODS or principal.csrf_token is None:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get("csrf_token")  # type: ignore[assignment]
    if not isinstance(sent, str) or not hmac.compare_digest(sent, principal.csrf_token):
        raise HTTPException(
            403, detail="CSRF token missing or wrong; reload the page and try again"
        )


def _api_check_csrf(request: Request, principal: Principal) -> None:
    """The JSON API takes the CSRF token in a header only (it has no forms)."""
    if request.method in SAFE_METHODS or principal.csrf_token is None:
        return
    sent = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(sent, principal.csrf_token):
        raise HTTPException(
            403, detail="CSRF token missing or wrong (send the X-CSRF-Token header)"
        )


def authenticate(request: Request, session: Session) -> Principal:
    """Who is asking (bearer token or session cookie); confines `session` to their clinic.

    Raises 401 without valid credentials, 403 while a password change is pending or when a
    cookie-authenticated write lacks its CSRF token.
    """
    principal = None
    if token := _bearer(request):
        principal = service.principal_from_api_token(session, token=token)
    elif cookie := request.cookies.get(SESSION_COOKIE):
        principal = service.principal_from_session(session, token=cookie)
    if principal is None:
        raise HTTPException(
            401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"}
        )
    if principal.must_change_password:
        raise HTTPException(
            403, detail="password change required: log in to the web app and set a new password"
        )
    _api_check_csrf(request, principal)
    session.info["clinic_id"] = principal.clinic_id
    request.state.principal = principal
    return principal


def api_session(request: Request) -> Iterator[Session]:
    """One session and one transaction for the whole API request: who is asking, then the
    work. The session starts unscoped to look up the token, then is confined to its clinic."""
    session = open_session(clinic_id=None)
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
    principal = resolve_principal(request)
    if principal is None:
        raise LoginRequired(quote(str(request.url.path)))
    await _check_csrf(request, principal)
    if principal.must_change_password and request.url.path != "/account/password":
        raise PasswordChangeRequired()
    return principal


def _scoped(principal: Principal) -> Iterator[Session]:
    session = open_session(clinic_id=principal.clinic_id)
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def page_session(principal: Annotated[Principal, Depends(page_principal)]) -> Iterator[Session]:
    yield from _scoped(principal)


ApiPrincipal = Annotated[Principal, Depends(api_principal)]
ApiSession = Annotated[Session, Depends(api_session)]
PagePrincipal = Annotated[Principal, Depends(page_principal)]
PageSession = Annotated[Session, Depends(page_session)]


def api_handler(handler: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run a sync API handler, and the authentication its ApiPrincipal/ApiSession parameters
    need, in one worker thread.

    Why: FastAPI gives each sync dependency, each sync endpoint and the response check of a
    sync endpoint a thread hop of their own (0.1-0.2 ms each), so an API call paid three.
    Wrapped, it pays one. The handler is written exactly as without the wrapper (and works
    without it): it receives a principal and a session confined to their clinic, does its work
    in one transaction and commits; any error rolls back.
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

    endpoint.__signature__ = Signature(params, return_annotation=hints.get("return"))  # type: ignore[attr-defined]
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
    session = open_session(clinic_id=None)
    try:
        provided = {"principal": authenticate(request, session), "session": session}
        return handler(**kwargs, **{name: provided[role] for name, role in roles.items()})
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
