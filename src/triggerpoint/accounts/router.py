"""Login, logout, password change, user administration and API tokens: pages and JSON API.

The account actions (deactivate, reactivate, reset a password, change a role, revoke a
token) are thin here: `accounts.service` holds each rule, and this module turns its errors
into a page with the message, or a 4xx naming the field.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from triggerpoint.accounts import service
from triggerpoint.accounts.deps import (
    SESSION_COOKIE,
    ApiPrincipal,
    ApiSession,
    PagePrincipal,
    PageSession,
    UnitOfWorkRoute,
    api_handler,
)
from triggerpoint.accounts.models import Role, User
from triggerpoint.audit.pages import FILTER_FIELDS, chain_status, page_context, parse_query
from triggerpoint.audit.service import record
from triggerpoint.config import get_settings
from triggerpoint.db import unit_of_work, utcnow
from triggerpoint.errors import Conflict
from triggerpoint.inputs import InputModel
from triggerpoint.ratelimit import client_address
from triggerpoint.ui import localtime
from triggerpoint.ui.templating import templates

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api", tags=["accounts"])
LOGIN_CSRF_COOKIE = "tp_login_csrf"


def _secure(request: Request) -> bool:
    forced = get_settings().secure_cookies
    return forced if forced is not None else request.url.scheme == "https"


def _set_session_cookie(request: Request, resp: Response, token: str) -> None:
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=int(get_settings().session_hours * 3600),
    )


def _safe_next(next_url: str | None) -> str:
    return (
        next_url
        if next_url and next_url.startswith("/") and not next_url.startswith("//")
        else "/patients"
    )


@pages.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    resp = templates().TemplateResponse(
        request,
        "accounts/login.html",
        {"next": _safe_next(next), "login_csrf": token, "error": None},
    )
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=3600,
    )
    return resp


@pages.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=500)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/patients",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_error(request, next, "Your login form expired; please try again.", 403)
    with unit_of_work(clinic_id=None) as session:  # kept even when refused: the audit trail
        try:
            user = service.authenticate(
                session, username=username, password=password, address=client_address(request)
            )
        except service.LoginThrottled as exc:
            return _login_error(
                request,
                next,
                str(exc).capitalize() + ".",
                429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        token = service.start_session(session, user=user) if user else None
    if token is None:
        return _login_error(request, next, "Wrong username or password.", 401)
    resp = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    _set_session_cookie(request, resp, token)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


def _login_error(
    request: Request,
    next_url: str,
    message: str,
    code: int,
    headers: dict[str, str] | None = None,
) -> Response:
    token = secrets.token_urlsafe(24)
    resp = templates().TemplateResponse(
        request,
        "accounts/login.html",
        {"next": _safe_next(next_url), "login_csrf": token, "error": message},
        status_code=code,
        headers=headers,
    )
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=3600,
    )
    return resp


@pages.post("/logout")
def logout(request: Request, principal: PagePrincipal) -> Response:
    with unit_of_work(clinic_id=None) as session:
        service.end_session(session, token=request.cookies.get(SESSION_COOKIE, ""))
        record(
            session,
            actor=principal.actor,
            action="logout",
            entity="user",
            entity_id=principal.user_id,
        )
    resp = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@pages.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, principal: PagePrincipal) -> Response:
    return templates().TemplateResponse(
        request, "accounts/password.html", {"principal": principal, "errors": {}}
    )


@pages.post("/account/password", response_class=HTMLResponse)
def password_change(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    current_password: Annotated[str, Form(max_length=500)],
    new_password: Annotated[str, Form(max_length=500)],
    confirm_password: Annotated[str, Form(max_length=500)],
) -> Response:
    try:
        if new_password != confirm_password:
            raise service.AccountError("confirm_password", "does not match the new password")
        cookie = service.change_password(
            session,
            user_id=principal.user_id,
            current=current_password,
            new=new_password,
            actor=principal.actor,
            keep_session=request.cookies.get(SESSION_COOKIE),
        )
    except service.AccountError as exc:
        session.rollback()
        return templates().TemplateResponse(
            request,
            "accounts/password.html",
            {"principal": principal, "errors": {exc.field: str(exc)}},
            status_code=422,
        )
    resp = RedirectResponse("/patients", status_code=status.HTTP_303_SEE_OTHER)
    if cookie:  # this session stays, under a new token (and CSRF token)
        _set_session_cookie(request, resp, cookie)
    return resp


def _users_page(
    request: Request,
    principal: Any,
    session: Any,
    *,
    status_code: int = 200,
    **ctx: Any,
) -> Response:
    context = {
        "principal": principal,
        "users": service.list_users(session),
        "roles": [r.value for r in Role],
        "errors": {},
        "form": {},
        "created": None,
        "reset": None,
        "notice": None,
        "action_error": None,
        **ctx,
    }
    return templates().TemplateResponse(
        request, "accounts/users.html", context, status_code=status_code
    )


@pages.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    principal.require("users:manage")
    return _users_page(request, principal, session)


@pages.post("/admin/users", response_class=HTMLResponse)
def users_add(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    username: Annotated[str, Form(max_length=80)],
    full_name: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    principal.require("users:manage")
    form = {"username": username, "full_name": full_name, "role": role}
    try:
        user, one_time = service.create_user(
            session,
            clinic_id=principal.clinic_id,
            username=username,
            full_name=full_name,
            role=role,
            actor=principal.actor,
        )
    except service.AccountError as exc:
        session.rollback()
        return _users_page(
            request, principal, session, status_code=422, errors={exc.field: str(exc)}, form=form
        )
    return _users_page(request, principal, session, created=(user.username, one_time))


PageUsername = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,80}$")]


def _user_action(
    request: Request,
    principal: Any,
    session: Any,
    username: str,
    act: Callable[[], Any],
    done: Callable[[Any], Response],
) -> Response:
    """One button on a user's row: the action, then `done(result)`; or the users page again
    naming what failed (404 for a user the clinic does not have, else 422)."""
    principal.require("users:manage")  # before anything is shown
    try:
        result = act()
    except service.AccountError as exc:
        session.rollback()
        return _users_page(
            request,
            principal,
            session,
            status_code=exc.status,
            action_error=f"{username}: {exc}",
        )
    return done(result)


def _logged_out() -> Response:
    resp = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@pages.post("/admin/users/{username}/deactivate", response_class=HTMLResponse)
def user_deactivate_page(
    request: Request, principal: PagePrincipal, session: PageSession, username: PageUsername
) -> Response:
    def done(user: User) -> Response:
        if user.id == principal.user_id:
            return _logged_out()  # their own sessions just ended
        notice = (
            f"Deactivated {user.username}: their sessions ended and their API tokens were revoked."
        )
        return _users_page(request, principal, session, notice=notice)

    return _user_action(
        request,
        principal,
        session,
        username,
        lambda: service.deactivate_user(session, actor=principal.actor, username=username),
        done,
    )


@pages.post("/admin/users/{username}/reactivate", response_class=HTMLResponse)
def user_reactivate_page(
    request: Request, principal: PagePrincipal, session: PageSession, username: PageUsername
) -> Response:
    return _user_action(
        request,
        principal,
        session,
        username,
        lambda: service.reactivate_user(session, actor=principal.actor, username=username),
        lambda user: _users_page(
            request, principal, session, notice=f"Reactivated {user.username}."
        ),
    )


@pages.post("/admin/users/{username}/reset-password", response_class=HTMLResponse)
def user_reset_page(
    request: Request, principal: PagePrincipal, session: PageSession, username: PageUsername
) -> Response:
    def done(result: service.PasswordReset) -> Response:
        if result.session_token:  # they reset themselves: same session, new identity
            resp = RedirectResponse("/account/password", status_code=status.HTTP_303_SEE_OTHER)
            _set_session_cookie(request, resp, result.session_token)
            return resp
        reset = (result.user.username, result.one_time_password)
        return _users_page(request, principal, session, reset=reset)

    return _user_action(
        request,
        principal,
        session,
        username,
        lambda: service.reset_password(
            session,
            actor=principal.actor,
            username=username,
            keep_session=request.cookies.get(SESSION_COOKIE),
        ),
        done,
    )


@pages.post("/admin/users/{username}/role", response_class=HTMLResponse)
def user_role_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    username: PageUsername,
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    return _user_action(
        request,
        principal,
        session,
        username,
        lambda: service.change_role(session, actor=principal.actor, username=username, role=role),
        lambda user: _users_page(
            request, principal, session, notice=f"{user.username} is now {user.role}."
        ),
    )


# --- API tokens page: your own tokens; an admin sees (and may revoke) the clinic's ---


def _tokens_page(
    request: Request, principal: Any, session: Any, *, status_code: int = 200, **ctx: Any
) -> Response:
    context = {
        "principal": principal,
        "tokens": service.tokens_visible_to(session, principal=principal),
        "default_days": get_settings().token_days,
        "max_days": service.MAX_TOKEN_DAYS,
        "created": None,
        "notice": None,
        "errors": {},
        "form": {},
        **ctx,
    }
    return templates().TemplateResponse(
        request, "accounts/tokens.html", context, status_code=status_code
    )


@pages.get("/account/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    return _tokens_page(request, principal, session)


@pages.post("/account/tokens", response_class=HTMLResponse)
def tokens_create_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    label: Annotated[str, Form(max_length=200)],
    expires_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    form = {"label": label, "expires_days": expires_days}
    try:
        days = None
        if expires_days.strip():
            if not expires_days.strip().isdigit():
                raise service.AccountError("expires_days", "must be a whole number of days")
            days = int(expires_days)
        info, secret = service.issue_api_token(
            session,
            actor=principal.actor,
            username=principal.username,
            label=label,
            expires_days=days,
        )
    except service.AccountError as exc:
        session.rollback()
        return _tokens_page(
            request, principal, session, status_code=422, errors={exc.field: str(exc)}, form=form
        )
    return _tokens_page(request, principal, session, created=(info, secret))


@pages.post("/account/tokens/{token_id}/revoke", response_class=HTMLResponse)
def tokens_revoke_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    token_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
) -> Response:
    try:
        info = service.revoke_api_token(session, actor=principal.actor, token_id=token_id)
    except service.AccountError as exc:
        session.rollback()
        code = 404 if isinstance(exc, service.UnknownAccount) else 422
        return _tokens_page(
            request, principal, session, status_code=code, errors={"token_id": str(exc)}
        )
    return _tokens_page(
        request,
        principal,
        session,
        notice=f"Revoked API token {info.id} ({info.label}) of {info.username}.",
    )


class MeOut(BaseModel):
    user_id: int
    clinic_id: int
    username: str
    role: str


@api.get("/me", summary="Who am I")
@api_handler
def me(principal: ApiPrincipal) -> MeOut:
    return MeOut(
        user_id=principal.user_id,
        clinic_id=principal.clinic_id,
        username=principal.username,
        role=principal.role,
    )


class TokenOut(BaseModel):
    token: str
    label: str
    id: int
    expires_at: datetime


@api.post("/tokens", status_code=201, summary="Create an API token for yourself (shown once)")
@api_handler
def create_token(
    principal: ApiPrincipal,
    session: ApiSession,
    label: Annotated[str, Body(embed=True, min_length=1, max_length=100, pattern=r"^[^\x00]+$")],
    expires_days: Annotated[
        int | None,
        Body(
            embed=True,
            ge=service.MIN_TOKEN_DAYS,
            le=service.MAX_TOKEN_DAYS,
            description="Days until the token stops working (default TRIGGERPOINT_TOKEN_DAYS, 90)",
        ),
    ] = None,
) -> TokenOut:
    # In the request's own transaction: a second session would wait on SQLite's write lock,
    # which this request already holds.
    info, token = service.issue_api_token(
        session,
        actor=principal.actor,
        username=principal.username,
        label=label,
        expires_days=expires_days,
    )
    return TokenOut(token=token, label=info.label, id=info.id, expires_at=info.expires_at)


class TokenInfoOut(BaseModel):
    """A token without its secret: the same fields as `triggerpoint token list --json`."""

    id: int
    user: str
    user_id: int
    clinic: str
    clinic_id: int
    label: str
    created_at: datetime
    revoked: bool
    expires_at: datetime
    expired: bool


def _token_out(info: service.ApiTokenInfo) -> TokenInfoOut:
    fields = {name: getattr(info, name) for name in TokenInfoOut.model_fields if name != "user"}
    return TokenInfoOut(user=info.username, **fields)


@api.get("/tokens", summary="API tokens: your own, or (admins) every token of the clinic")
@api_handler
def list_tokens(
    principal: ApiPrincipal,
    session: ApiSession,
    mine: Annotated[bool, Query(description="Only your own tokens (admins see all)")] = False,
) -> list[TokenInfoOut]:
    if mine:
        tokens = service.list_api_tokens(session, username=principal.username)
    else:
        tokens = service.tokens_visible_to(session, principal=principal)
    return [_token_out(t) for t in tokens]


@api.post(
    "/tokens/{token_id}/revoke",
    summary="Revoke an API token (your own; admins: any of the clinic)",
    description="The token is refused (401) from the next request on. Revoking a token "
    "twice, or the token this request itself uses, is a 422 on `token_id`; an unknown id "
    "(or another clinic's) is a 404.",
)
@api_handler
def revoke_token(
    principal: ApiPrincipal,
    session: ApiSession,
    token_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
) -> TokenInfoOut:
    info = service.revoke_api_token(
        session,
        actor=principal.actor,
        token_id=token_id,
        current_token_id=principal.token_id,
    )
    return _token_out(info)


# --- user accounts (admins of the clinic) ---

ApiUsername = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9._-]{1,80}$", description="The user's login name")
]


class UserOut(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    active: bool
    must_change_password: bool
    clinic_id: int
    created_at: datetime


class PasswordResetOut(UserOut):
    one_time_password: str


class RoleIn(BaseModel):
    role: Role


def _user_out(user: User) -> UserOut:
    return UserOut(**{name: getattr(user, name) for name in UserOut.model_fields})


@api.get("/users", summary="The clinic's user accounts (admins)")
@api_handler
def list_users_api(principal: ApiPrincipal, session: ApiSession) -> list[UserOut]:
    principal.require("users:manage")
    return [_user_out(u) for u in service.list_users(session)]


@api.post(
    "/users/{username}/deactivate",
    summary="Deactivate a user: sessions end and API tokens are revoked at once (admins)",
)
@api_handler
def deactivate_user_api(
    principal: ApiPrincipal, session: ApiSession, username: ApiUsername
) -> UserOut:
    user = service.deactivate_user(session, actor=principal.actor, username=username)
    return _user_out(user)


@api.post("/users/{username}/reactivate", summary="Reactivate a deactivated user (admins)")
@api_handler
def reactivate_user_api(
    principal: ApiPrincipal, session: ApiSession, username: ApiUsername
) -> UserOut:
    user = service.reactivate_user(session, actor=principal.actor, username=username)
    return _user_out(user)


@api.post(
    "/users/{username}/reset-password",
    summary="Give a user a one-time password, shown once (admins)",
    description="The user must change it at their next login; their sessions and API "
    "tokens end at once.",
)
@api_handler
def reset_password_api(
    principal: ApiPrincipal, session: ApiSession, username: ApiUsername
) -> PasswordResetOut:
    result = service.reset_password(session, actor=principal.actor, username=username)
    return PasswordResetOut(
        **_user_out(result.user).model_dump(), one_time_password=result.one_time_password
    )


@api.post("/users/{username}/role", summary="Change a user's role (admins)")
@api_handler
def change_role_api(
    principal: ApiPrincipal, session: ApiSession, username: ApiUsername, body: RoleIn
) -> UserOut:
    user = service.change_role(
        session, actor=principal.actor, username=username, role=body.role.value
    )
    return _user_out(user)


# --- administration: the clinic at a glance, its settings, its API tokens, its audit log ---


@pages.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """Where an admin starts: what the clinic has, and where the demo data lives."""
    overview = service.clinic_overview(session, principal=principal)
    return templates().TemplateResponse(
        request,
        "accounts/admin.html",
        {"principal": principal, "overview": overview, "default_zone": get_settings().timezone},
    )


def _clinic_page(
    request: Request,
    principal: Any,
    session: Any,
    *,
    status_code: int = 200,
    **ctx: Any,
) -> Response:
    clinic = service.get_clinic(session, actor=principal.actor)
    context = {
        "principal": principal,
        "clinic": clinic,
        "default_zone": get_settings().timezone,
        "form": {"name": clinic.name, "timezone": clinic.timezone or ""},
        "errors": {},
        "suggestions": [],
        "notice": None,
        "clinic_now": localtime.when(utcnow()),
        **ctx,
    }
    return templates().TemplateResponse(
        request, "accounts/clinic.html", context, status_code=status_code
    )


@pages.get("/admin/clinic", response_class=HTMLResponse)
def clinic_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    principal.require("users:manage")
    return _clinic_page(request, principal, session)


@pages.post("/admin/clinic", response_class=HTMLResponse)
def clinic_save(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    name: Annotated[str, Form(max_length=1000)] = "",
    timezone: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    principal.require("users:manage")
    try:
        clinic = service.update_clinic(session, actor=principal.actor, name=name, timezone=timezone)
    except (service.AccountError, Conflict) as exc:
        session.rollback()
        suggestions = getattr(exc, "suggestions", None) or []
        return _clinic_page(
            request,
            principal,
            session,
            status_code=exc.status,
            form={"name": name, "timezone": timezone},
            errors={exc.field or "name": str(exc)},
            suggestions=suggestions,
        )
    localtime.use_zone(clinic.timezone)  # this page too already shows the new zone
    zone = clinic.timezone or f"{get_settings().timezone} (the server's default)"
    return _clinic_page(request, principal, session, notice=f"Saved. Times now show in {zone}.")


def _admin_tokens_page(
    request: Request, principal: Any, session: Any, *, status_code: int = 200, **ctx: Any
) -> Response:
    principal.require("users:manage")
    context = {
        "principal": principal,
        "tokens": list(reversed(service.tokens_visible_to(session, principal=principal))),
        "notice": None,
        "error": None,
        **ctx,
    }
    return templates().TemplateResponse(
        request, "accounts/admin_tokens.html", context, status_code=status_code
    )


@pages.get("/admin/tokens", response_class=HTMLResponse)
def admin_tokens(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    return _admin_tokens_page(request, principal, session)


@pages.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
def admin_token_revoke(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    token_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
) -> Response:
    principal.require("users:manage")
    try:
        info = service.revoke_api_token(session, actor=principal.actor, token_id=token_id)
    except service.AccountError as exc:
        session.rollback()
        return _admin_tokens_page(
            request, principal, session, status_code=exc.status, error=str(exc)
        )
    notice = f"Revoked API token {info.id} ({info.label}) of {info.username}."
    return _admin_tokens_page(request, principal, session, notice=notice)


def _audit_page(
    request: Request, principal: Any, session: Any, *, status_code: int = 200
) -> Response:
    principal.require("audit:read")
    users = service.list_users(session)
    raw = {k: v for k, v in request.query_params.items() if k in (*FILTER_FIELDS, "before")}
    query = parse_query(raw, {u.username: u.id for u in users})
    context = page_context(session, clinic_id=principal.clinic_id, query=query)
    context |= {
        "principal": principal,
        "usernames": [u.username for u in users],
        "zone": localtime.zone_name(),
    }
    code = 422 if query.errors else status_code
    return templates().TemplateResponse(request, "audit/log.html", context, status_code=code)


@pages.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    return _audit_page(request, principal, session)


@pages.post("/admin/audit/verify")
def audit_verify_page(principal: PagePrincipal, session: PageSession) -> Response:
    """Verify this clinic's audit chain now (it may take a while on a big one), then show the log."""
    principal.require("audit:read")
    chain_status(session, refresh=True)
    return RedirectResponse("/admin/audit", status_code=status.HTTP_303_SEE_OTHER)


class ClinicOut(BaseModel):
    id: int
    name: str
    timezone: str | None
    effective_timezone: str  # what times are shown in: the clinic's zone, else the server's


class ClinicIn(InputModel):
    """The clinic's name (unique among clinics) and IANA time zone."""

    name: str = Field(min_length=1, max_length=200)
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="An IANA time zone such as Europe/Madrid; null: the server's default",
    )


def _clinic_out(clinic: Any) -> ClinicOut:
    return ClinicOut(
        id=clinic.id,
        name=clinic.name,
        timezone=clinic.timezone,
        effective_timezone=clinic.timezone or get_settings().timezone,
    )


@api.get("/clinic", summary="Your clinic: its name and time zone")
@api_handler
def get_clinic_api(principal: ApiPrincipal, session: ApiSession) -> ClinicOut:
    return _clinic_out(service.get_clinic(session, actor=principal.actor))


@api.put(
    "/clinic",
    summary="Rename your clinic and set its time zone (admins)",
    description="A name another clinic has is a 409 on `name`; an unknown time zone a 422 "
    "on `timezone`, with near matches in `suggestions`.",
)
@api_handler
def put_clinic_api(principal: ApiPrincipal, session: ApiSession, body: ClinicIn) -> ClinicOut:
    principal.require("users:manage")
    clinic = service.update_clinic(
        session, actor=principal.actor, name=body.name, timezone=body.timezone
    )
    return _clinic_out(clinic)
