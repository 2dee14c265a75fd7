"""Login, logout, password change, user administration and API tokens."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Body, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from triggerpoint.accounts import service
from triggerpoint.accounts.deps import (
    SESSION_COOKIE,
    ApiPrincipal,
    ApiSession,
    PagePrincipal,
    PageSession,
    api_handler,
)
from triggerpoint.audit.service import record
from triggerpoint.config import get_settings
from triggerpoint.db import open_session
from triggerpoint.web.templating import templates

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["accounts"])
LOGIN_CSRF_COOKIE = "tp_login_csrf"


def _secure(request: Request) -> bool:
    forced = get_settings().secure_cookies
    return forced if forced is not None else request.url.scheme == "https"


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
    with open_session(clinic_id=None) as session:
        try:
            user = service.authenticate(session, username=username, password=password)
        except service.LoginThrottled as exc:
            session.commit()
            return _login_error(request, next, str(exc).capitalize() + ".", 429)
        token = service.start_session(session, user=user) if user else None
        session.commit()
    if token is None:
        return _login_error(request, next, "Wrong username or password.", 401)
    resp = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=int(get_settings().session_hours * 3600),
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


def _login_error(request: Request, next_url: str, message: str, code: int) -> Response:
    token = secrets.token_urlsafe(24)
    resp = templates().TemplateResponse(
        request,
        "accounts/login.html",
        {"next": _safe_next(next_url), "login_csrf": token, "error": message},
        status_code=code,
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
    with open_session(clinic_id=None) as session:
        service.end_session(session, token=request.cookies.get(SESSION_COOKIE, ""))
        record(
            session,
            actor=principal.actor,
            action="logout",
            entity="user",
            entity_id=principal.user_id,
        )
        session.commit()
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
        service.change_password(
            session,
            user_id=principal.user_id,
            current=current_password,
            new=new_password,
            actor=principal.actor,
        )
    except service.AccountError as exc:
        session.rollback()
        return templates().TemplateResponse(
            request,
            "accounts/password.html",
            {"principal": principal, "errors": {exc.field: str(exc)}},
            status_code=422,
        )
    session.commit()
    return RedirectResponse("/patients", status_code=status.HTTP_303_SEE_OTHER)


@pages.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    principal.require("users:manage")
    users = service.list_users(session)
    return templates().TemplateResponse(
        request,
        "accounts/users.html",
        {"principal": principal, "users": users, "errors": {}, "form": {}, "created": None},
    )


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
        users = service.list_users(session)
        return templates().TemplateResponse(
            request,
            "accounts/users.html",
            {
                "principal": principal,
                "users": users,
                "errors": {exc.field: str(exc)},
                "form": form,
                "created": None,
            },
            status_code=422,
        )
    session.commit()
    users = service.list_users(session)
    return templates().TemplateResponse(
        request,
        "accounts/users.html",
        {
            "principal": principal,
            "users": users,
            "errors": {},
            "form": {},
            "created": (user.username, one_time),
        },
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


@api.post("/tokens", status_code=201, summary="Create an API token for yourself (shown once)")
@api_handler
def create_token(
    principal: ApiPrincipal,
    session: ApiSession,
    label: Annotated[str, Body(embed=True, min_length=1, max_length=100, pattern=r"^[^\x00]+$")],
) -> TokenOut:
    # In the request's own transaction: a second session would wait on SQLite's write lock,
    # which this request already holds.
    token = service.create_api_token(
        session, user_id=principal.user_id, label=label, actor=principal.actor
    )
    session.commit()
    return TokenOut(token=token, label=label)
