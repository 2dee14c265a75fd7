"""Accounts: passwords, users, login sessions, API tokens, throttling and permissions.

Secrets are never stored: passwords as Argon2 hashes, session and API tokens as SHA-256
digests of random tokens (they are long and random, so a slow hash adds nothing).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import ApiToken, Clinic, LoginAttempt, LoginSession, Role, User
from triggerpoint.audit.service import Actor, record
from triggerpoint.config import get_settings
from triggerpoint.db import utcnow

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD = 10

# What each role may do. Assistants run the front desk: demographics, scheduling, consent
# status and pain drawings, but never clinical notes.
PERMISSIONS: dict[str, frozenset[str]] = {
    Role.admin: frozenset(
        {
            "patient:read",
            "patient:write",
            "clinical:read",
            "clinical:write",
            "users:manage",
            "audit:read",
        }
    ),
    Role.clinician: frozenset({"patient:read", "patient:write", "clinical:read", "clinical:write"}),
    Role.assistant: frozenset({"patient:read", "patient:write"}),
}


class AccountError(ValueError):
    """Bad account input; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class LoginThrottled(PermissionError):
    def __init__(self, minutes: int) -> None:
        super().__init__(f"too many failed logins; try again in {minutes} minutes")


class Forbidden(PermissionError):
    pass


@dataclass(frozen=True)
class Principal:
    """The authenticated user a request acts for."""

    user_id: int
    clinic_id: int
    username: str
    role: str
    must_change_password: bool = False
    csrf_token: str | None = None  # set for cookie sessions, None for API tokens

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(f"role {self.role!r} may not {permission.replace(':', ' ')}")

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.clinic_id, self.username)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str, *, username: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError("password", f"must be at least {MIN_PASSWORD} characters")
    if username and username.lower() in password.lower():
        raise AccountError("password", "must not contain the username")


def generate_password() -> str:
    """A one-time password: 16 URL-safe characters (about 96 bits)."""
    return secrets.token_urlsafe(12)


def create_clinic(session: Session, *, name: str, actor: Actor) -> Clinic:
    name = name.strip()
    if not name:
        raise AccountError("name", "must not be empty")
    if session.scalar(select(Clinic).where(Clinic.name == name)) is not None:
        raise AccountError("name", f"a clinic called {name!r} exists already")
    clinic = Clinic(name=name)
    session.add(clinic)
    session.flush()
    record(
        session,
        actor=actor,
        action="create",
        entity="clinic",
        entity_id=clinic.id,
        detail={"name": name},
    )
    return clinic


def create_user(
    session: Session,
    *,
    clinic_id: int,
    username: str,
    full_name: str,
    role: str,
    actor: Actor,
    password: str | None = None,
) -> tuple[User, str | None]:
    """Create a user. Without a password, a one-time password is generated and returned;
    the user must change it at first login. There are no default passwords."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError(
            "username", "2-80 characters: lower-case letters, digits, '.', '_' or '-'"
        )
    if role not in PERMISSIONS:
        raise AccountError("role", f"must be one of {', '.join(PERMISSIONS)}")
    if not full_name.strip():
        raise AccountError("full_name", "must not be empty")
    if session.scalar(
        select(User).where(User.username == username).execution_options(skip_tenancy=True)
    ):
        raise AccountError("username", f"{username!r} is taken")
    one_time = None
    if password is None:
        password = one_time = generate_password()
    else:
        check_password_strength(password, username=username)
    user = User(
        clinic_id=clinic_id,
        username=username,
        full_name=full_name.strip(),
        role=role,
        password_hash=hash_password(password),
        must_change_password=one_time is not None,
    )
    session.add(user)
    session.flush()
    record(
        session,
        actor=actor,
        action="create",
        entity="user",
        entity_id=user.id,
        detail={"username": username, "role": role},
    )
    return user, one_time


def _recent_failures(session: Session, username: str) -> int:
    settings = get_settings()
    since = utcnow() - timedelta(minutes=settings.login_lockout_minutes)
    last_ok = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.succeeded
        )
    )
    if last_ok is not None and last_ok > since:
        since = last_ok
    return (
        session.scalar(
            select(func.count()).where(
                LoginAttempt.username == username, ~LoginAttempt.succeeded, LoginAttempt.at > since
            )
        )
        or 0
    )


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """Check a password; throttle after repeated failures (even for unknown usernames)."""
    settings = get_settings()
    username = username.strip().lower()
    if _recent_failures(session, username) >= settings.login_max_failures:
        raise LoginThrottled(settings.login_lockout_minutes)
    user = session.scalar(
        select(User).where(User.username == username).execution_options(skip_tenancy=True)
    )
    ok = False
    if user is not None and user.active:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password)  # same cost either way: no username probing by timing
    session.add(LoginAttempt(username=username, succeeded=ok))
    actor = Actor(user.id if user else None, user.clinic_id if user else None, username)
    record(
        session,
        actor=actor,
        action="login" if ok else "login_failed",
        entity="user",
        entity_id=user.id if user else None,
    )
    session.flush()
    return user if ok else None


def start_session(session: Session, *, user: User) -> str:
    """Open a login session and return the cookie token (only its digest is stored)."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(hours=get_settings().session_hours)
    session.add(
        LoginSession(
            token_hash=_digest(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=expires,
        )
    )
    session.flush()
    return token


def end_session(session: Session, *, token: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == _digest(token)))


def _principal(user: User, csrf: str | None) -> Principal:
    return Principal(
        user.id, user.clinic_id, user.username, user.role, user.must_change_password, csrf
    )


def principal_from_session(session: Session, *, token: str) -> Principal | None:
    """The user behind a session cookie, sliding its expiry; None if unknown or expired."""
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == _digest(token)))
    now = utcnow()
    if row is None or row.expires_at <= now:
        return None
    user = session.scalar(
        select(User).where(User.id == row.user_id).execution_options(skip_tenancy=True)
    )
    if user is None or not user.active:
        return None
    row.expires_at = now + timedelta(hours=get_settings().session_hours)
    return _principal(user, row.csrf_token)


def create_api_token(session: Session, *, user_id: int, label: str, actor: Actor) -> str:
    token = "tp_" + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=_digest(token), user_id=user_id, label=label.strip() or "token")
    session.add(row)
    session.flush()
    # The token's own id, so its creation and its revocation are one entity in the trail.
    record(
        session,
        actor=actor,
        action="create",
        entity="api_token",
        entity_id=row.id,
        detail={"label": label, "user_id": user_id},
    )
    return token


def principal_from_api_token(session: Session, *, token: str) -> Principal | None:
    # Every API request starts here, so: one round trip for the token and its user, and only
    # the columns a Principal needs (loading a User entity also joins its clinic).
    row = session.execute(
        select(User.id, User.clinic_id, User.username, User.role, User.must_change_password)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _digest(token), ~ApiToken.revoked, User.active)
        .execution_options(skip_tenancy=True)
    ).one_or_none()
    return None if row is None else Principal(*row, None)


def change_password(
    session: Session, *, user_id: int, current: str, new: str, actor: Actor
) -> None:
    user = session.scalar(
        select(User).where(User.id == user_id).execution_options(skip_tenancy=True)
    )
    if user is None:
        raise AccountError("user", "unknown user")
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise AccountError("current_password", "is not correct") from None
    if new == current:
        raise AccountError("new_password", "must differ from the current password")
    try:
        check_password_strength(new, username=user.username)
    except AccountError as exc:
        raise AccountError("new_password", str(exc)) from None
    user.password_hash = hash_password(new)
    user.must_change_password = False
    record(session, actor=actor, action="change_password", entity="user", entity_id=user.id)
    session.flush()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


# --- API token administration (the `triggerpoint token` CLI, and any future admin page) ---

MAX_TOKEN_LABEL = 100  # the width of api_token.label


@dataclass(frozen=True)
class ApiTokenInfo:
    """What may be shown about an API token: everything but its secret (and its digest).

    Returning this rather than the ORM row means no caller can print the hash by accident.
    """

    id: int
    user_id: int
    username: str
    clinic_id: int
    clinic: str
    label: str
    created_at: datetime
    revoked: bool


def _token_info(token: ApiToken, user: User) -> ApiTokenInfo:
    return ApiTokenInfo(
        id=token.id,
        user_id=user.id,
        username=user.username,
        clinic_id=user.clinic_id,
        clinic=user.clinic.name,
        label=token.label,
        created_at=token.created_at,
        revoked=token.revoked,
    )


def _user_named(session: Session, username: str) -> User:
    """The user called `username` (as the session's clinic sees it), or AccountError."""
    name = username.strip().lower()
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        raise AccountError("username", f"no user called {name!r}")
    return user


def _require_token_authority(session: Session, actor: Actor, owner: User) -> None:
    """Who may create or revoke a token of `owner`: the owner, an admin of the owner's clinic,
    or the system (the CLI: whoever runs it already holds the database credentials).

    Kept here, not in the CLI, so a future web page or API endpoint gets the same rule.
    """
    if actor.clinic_id is not None and actor.clinic_id != owner.clinic_id:
        raise Forbidden("API tokens of another clinic's users are out of reach")
    if actor.user_id is None or actor.user_id == owner.id:
        return
    role = session.scalar(
        select(User.role)
        .where(User.id == actor.user_id, User.active)
        .execution_options(skip_tenancy=True)
    )
    if role is None or "users:manage" not in PERMISSIONS.get(role, frozenset()):
        raise Forbidden("only an admin may manage another user's API tokens")


def _check_label(label: str) -> str:
    label = label.strip()
    if not label:
        raise AccountError("label", "must not be empty")
    if len(label) > MAX_TOKEN_LABEL or "\x00" in label:
        raise AccountError("label", f"at most {MAX_TOKEN_LABEL} characters, no NUL")
    return label


def issue_api_token(
    session: Session, *, actor: Actor, username: str, label: str
) -> tuple[ApiTokenInfo, str]:
    """Create an API token for a user named by login; return what may be shown and the secret.

    Wraps `create_api_token` (which stores only the digest and audits the creation) so that
    scripts can name the user, and so the authority rule and label checks apply first.
    """
    owner = _user_named(session, username)
    _require_token_authority(session, actor, owner)  # before saying anything more about them
    if not owner.active:
        raise AccountError(
            "username", f"{owner.username!r} is deactivated; its tokens would not work"
        )
    secret = create_api_token(session, user_id=owner.id, label=_check_label(label), actor=actor)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(secret))).one()
    return _token_info(row, owner), secret


def revoke_api_token(session: Session, *, actor: Actor, token_id: int) -> ApiTokenInfo:
    """Revoke one token; `principal_from_api_token` refuses it from the next request on.

    Revoking twice is an error rather than a silent success: the caller learns that someone
    else already did it, and the audit log gets one revocation per token.
    """
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id)
    ).one_or_none()
    if found is None:
        raise AccountError("token_id", f"no API token with id {token_id}")
    token, owner = found
    _require_token_authority(session, actor, owner)
    if token.revoked:
        raise AccountError("token_id", f"API token {token_id} is already revoked")
    token.revoked = True
    record(
        session,
        actor=actor,
        action="revoke",
        entity="api_token",
        entity_id=token.id,
        detail={"user_id": owner.id, "label": token.label},
    )
    session.flush()
    return _token_info(token, owner)


def list_api_tokens(
    session: Session, *, clinic_id: int | None = None, username: str | None = None
) -> list[ApiTokenInfo]:
    """Tokens, oldest first, optionally of one clinic or one user; never their secrets.

    A session confined to a clinic sees only that clinic's users, hence only their tokens.
    """
    stmt = select(ApiToken, User).join(User, User.id == ApiToken.user_id)
    if clinic_id is not None:
        stmt = stmt.where(User.clinic_id == clinic_id)
    if username is not None:
        stmt = stmt.where(User.id == _user_named(session, username).id)
    rows = session.execute(stmt.order_by(ApiToken.id))
    return [_token_info(token, owner) for token, owner in rows]
