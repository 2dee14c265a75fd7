"""Accounts: passwords, users, login sessions, API tokens, throttling and permissions.

Secrets are never stored: passwords as Argon2 hashes, session and API tokens as SHA-256
digests of random tokens (they are long and random, so a slow hash adds nothing).

Each account action (deactivate, reactivate, reset a password, change a role, revoke a
token) is one keyword-only function here holding its permission rule, so the web pages,
the JSON API and the CLI cannot disagree about who may do what.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from difflib import get_close_matches
from functools import cache
from zoneinfo import available_timezones

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from triggerpoint.accounts import throttle
from triggerpoint.accounts.models import (
    ApiToken,
    Clinic,
    LoginAttempt,
    LoginSession,
    PasswordHistory,
    Role,
    User,
)
from triggerpoint.audit.models import AuditEvent
from triggerpoint.audit.service import Actor, record
from triggerpoint.config import get_settings
from triggerpoint.db import Base, defer_write, rowcount, utcnow
from triggerpoint.errors import Conflict, Forbidden, InvalidInput, TooManyAttempts

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD = 12  # visible characters, after NFKC normalisation (NIST SP 800-63B: >= 8)
MAX_PASSWORD = 256
MIN_SCORE = 3  # zxcvbn: 0 (guessable in a few tries) .. 4 (very unguessable)
ZXCVBN_MAX = 72  # the longest input zxcvbn accepts
PASSWORD_HISTORY = 5  # previous passwords a user may not choose again
MIN_TOKEN_DAYS, MAX_TOKEN_DAYS = 1, 365
INVISIBLE = frozenset({"Zs", "Cc", "Cf"})  # spaces, controls, format (zero-width) characters

# What each role may do (docs/security.md, "Roles"). Assistants run the front desk: they read
# and write demographics, visits' dates and consent records, and may enter an intake pain
# drawing or questionnaire, but read nothing clinical (that is "clinical:read": notes,
# episodes, screenings, needling, pain drawings, outcome measures, clinical reports, FHIR).
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
# What a patient's own questionnaire link may do: report for that one patient, nothing else
# (not a role a user account can have: `PERMISSIONS` lists those).
LINK_PERMISSIONS = frozenset({"patient:report"})
LINK_ROLE = "patient"


class AccountError(InvalidInput):
    """Bad account input; `field` names the offending field."""


class UnknownAccount(AccountError):
    """The user or token named does not exist (as the caller's clinic sees it): 404."""

    status = 404


class LoginThrottled(TooManyAttempts):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        wait = (
            f"{retry_after} seconds" if retry_after < 120 else f"{(retry_after + 59) // 60} minutes"
        )
        super().__init__(f"too many failed logins; try again in {wait}")


@dataclass(frozen=True)
class Principal:
    """The authenticated user a request acts for, or a patient's questionnaire link
    (`patient_link`); a link has no user (`user_id` 0, `recorder` None)."""

    user_id: int
    clinic_id: int
    username: str
    role: str
    must_change_password: bool = False
    csrf_token: str | None = None  # set for cookie sessions, None for API tokens
    token_id: int | None = None  # the API token this request came with, if any
    timezone: str | None = None  # the clinic's IANA zone (None: the deployment's setting)
    link_patient_id: int | None = None  # a patient link: the one patient it may report for
    link_request_id: int | None = None  # a patient link: the questionnaire request it answers

    def can(self, permission: str) -> bool:
        if self.link_patient_id is not None:
            return permission in LINK_PERMISSIONS
        return permission in PERMISSIONS.get(self.role, frozenset())

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(f"role {self.role!r} may not {permission.replace(':', ' ')}")

    def require_entry(self, patient_id: int) -> None:
        """May enter a measurement or a pain drawing for this patient: staff with
        patient:write, or the patient's own link (patient:report, for its patient only). The
        one rule for both ways in, so outcomes and records cannot disagree."""
        if self.link_patient_id is None:
            self.require("patient:write")
        elif patient_id != self.link_patient_id or not self.can("patient:report"):
            raise Forbidden("a patient link may report only for its own patient")

    @property
    def recorder(self) -> int | None:
        """The user to store as having entered a row: None for a patient link."""
        return None if self.link_patient_id is not None else self.user_id

    @property
    def actor(self) -> Actor:
        if self.link_patient_id is not None:
            return Actor(None, self.clinic_id, self.username)
        return Actor(self.user_id, self.clinic_id, self.username)


def patient_link_principal(*, clinic_id: int, patient_id: int, request_id: int) -> Principal:
    """Who acts when a patient submits through their link: no user, the request's clinic,
    audited as "patient-link:<request id>", allowed only to report for that patient."""
    return Principal(
        0,
        clinic_id,
        f"patient-link:{request_id}",
        LINK_ROLE,
        link_patient_id=patient_id,
        link_request_id=request_id,
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B asks before hashing: the same password typed on another
    keyboard or system (composed or decomposed accents, full-width digits) still matches."""
    return unicodedata.normalize("NFKC", password)


def _hasher() -> PasswordHasher:
    """Argon2 at the configured cost (TRIGGERPOINT_ARGON2_*; production: argon2-cffi's
    defaults). Verifying reads the cost from the stored hash, so any cost verifies."""
    s = get_settings()
    return _hasher_at(s.argon2_time_cost, s.argon2_memory_cost, s.argon2_parallelism)


@cache
def _hasher_at(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hash_password(password: str) -> str:
    return _hasher().hash(normalise_password(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches; hashes made before normalisation match the raw text."""
    normalised = normalise_password(password)
    for candidate in dict.fromkeys((normalised, password)):
        try:
            if _hasher().verify(password_hash, candidate):
                return True
        except (VerificationError, InvalidHashError):
            continue
    return False


def _visible(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) not in INVISIBLE)


def _folded(text: str) -> str:
    return _visible(normalise_password(text)).casefold()


def check_password_strength(
    password: str, *, username: str = "", user_inputs: Iterable[str] = ()
) -> None:
    """NIST SP 800-63B: long enough, not guessable, no composition rules. Raises
    AccountError("password", why) naming the reason.

    * at least MIN_PASSWORD characters after NFKC normalisation, counting only visible
      ones (spaces, control and zero-width characters do not count);
    * not built from the username or the other `user_inputs` (clinic name, full name);
    * not common or breached: zxcvbn (frequency lists of leaked passwords, names, words,
      keyboard patterns, sequences, repeats and dates) must score it at least MIN_SCORE.
    """
    normalised = normalise_password(password)
    if len(normalised) > MAX_PASSWORD:
        raise AccountError("password", f"must be at most {MAX_PASSWORD} characters")
    visible = _visible(normalised)
    if not visible:
        raise AccountError("password", "must not be only spaces or invisible characters")
    if len(visible) < MIN_PASSWORD:
        raise AccountError(
            "password",
            f"must be at least {MIN_PASSWORD} characters (not counting spaces or "
            f"invisible characters); a few unrelated words make a good one",
        )
    folded = visible.casefold()
    if len(username) >= 3 and _folded(username) in folded:
        raise AccountError("password", "must not contain the username")
    inputs = [i for i in (username, *user_inputs) if i and i.strip()]
    for given in user_inputs:
        name = _folded(given)
        if len(name) >= 4 and name in folded:
            raise AccountError("password", f"must not contain {given.strip()!r}")
    from zxcvbn import zxcvbn  # imported on first use: its word lists take 0.2 s to load

    words = [w for i in inputs for w in re.split(r"[\s._-]+", i) if len(w) >= 3]
    # zxcvbn 4.5 refuses (ValueError) anything over 72 characters; the first 72 of a long
    # passphrase are what it can judge, and a 72-character start that scores well is strong.
    result = zxcvbn(normalised[:ZXCVBN_MAX], user_inputs=[*inputs, *words])
    if result["score"] < MIN_SCORE:
        warning = result["feedback"].get("warning") or "it follows a common pattern."
        raise AccountError(
            "password",
            f"is too easy to guess ({warning.rstrip('.')}); a few unrelated words make a good one",
        )


def _check_not_reused(session: Session, user: User, password: str) -> None:
    """Refuse the current password and the PASSWORD_HISTORY before it."""
    previous = session.scalars(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.id.desc())
        .limit(PASSWORD_HISTORY)
    )
    for old_hash in [user.password_hash, *previous]:
        if verify_password(old_hash, password):
            raise AccountError(
                "password",
                f"must not be your current password or one of your last {PASSWORD_HISTORY}",
            )


def _set_password(session: Session, user: User, password: str) -> None:
    """Replace the user's password hash, remembering the old one (the newest few only)."""
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))
    session.flush()
    keep = select(PasswordHistory.id).where(PasswordHistory.user_id == user.id)
    keep = keep.order_by(PasswordHistory.id.desc()).limit(PASSWORD_HISTORY)
    session.execute(
        delete(PasswordHistory).where(
            PasswordHistory.user_id == user.id,
            PasswordHistory.id.not_in(keep.scalar_subquery()),
        )
    )
    user.password_hash = hash_password(password)


def _user_inputs(session: Session, user: User | None, clinic_id: int, full_name: str) -> list[str]:
    clinic = session.scalar(
        select(Clinic.name).where(Clinic.id == clinic_id).execution_options(skip_tenancy=True)
    )
    return [x for x in (clinic, full_name, user.full_name if user else "") if x]


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
        check_password_strength(
            password,
            username=username,
            user_inputs=_user_inputs(session, None, clinic_id, full_name),
        )
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


def authenticate(session: Session, *, username: str, password: str, address: str) -> User | None:
    """Check a password from a client `address`; throttled (LoginThrottled) with exponential
    backoff per address and username, and per address (see accounts.throttle), the same for
    unknown usernames. A throttled attempt is audited ("login_throttled") and its password
    is not checked."""
    username = username.strip().lower()[:80]
    blocked = throttle.check(session, address=address, username=username)
    if blocked is not None:
        user = session.scalar(
            select(User).where(User.username == username).execution_options(skip_tenancy=True)
        )
        record(
            session,
            actor=Actor(user.id if user else None, user.clinic_id if user else None, username),
            action="login_throttled",
            entity="user",
            entity_id=user.id if user else None,
            detail={
                "address": address,
                "username": username,
                "scope": blocked.scope,
                "retry_after": blocked.retry_after,
            },
        )
        raise LoginThrottled(blocked.retry_after)
    user = session.scalar(
        select(User).where(User.username == username).execution_options(skip_tenancy=True)
    )
    ok = False
    if user is not None and user.active:
        ok = verify_password(user.password_hash, password)
        if ok and _hasher().check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
    else:
        _hasher().hash(password)  # same cost either way: no username probing by timing
    if ok:
        throttle.succeeded(session, address=address, username=username)
    else:
        throttle.failed(session, address=address, username=username)
    session.add(LoginAttempt(username=username, succeeded=ok))
    actor = Actor(user.id if user else None, user.clinic_id if user else None, username)
    record(
        session,
        actor=actor,
        action="login" if ok else "login_failed",
        entity="user",
        entity_id=user.id if user else None,
        detail={"address": address},
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
        user.id,
        user.clinic_id,
        user.username,
        user.role,
        user.must_change_password,
        csrf,
        timezone=user.clinic.timezone,
    )


SLIDE_EVERY = timedelta(seconds=60)  # a session's expiry is written at most this often


def principal_from_session(
    session: Session, *, token: str, now: datetime | None = None
) -> Principal | None:
    """The user behind a session cookie, sliding its expiry; None if unknown or expired.

    The slide is written at most once per SLIDE_EVERY (the last slide is the expiry minus
    the session lifetime), so most requests of a busy session write nothing for it; on a
    read-only session it is deferred to the short write after the read (`defer_write`).
    """
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == _digest(token)))
    now = now or utcnow()
    if row is None or row.expires_at <= now:
        return None
    user = session.scalar(
        select(User).where(User.id == row.user_id).execution_options(skip_tenancy=True)
    )
    if user is None or not user.active:
        return None
    lifetime = timedelta(hours=get_settings().session_hours)
    if now - (row.expires_at - lifetime) >= SLIDE_EVERY:
        _slide(session, row.id, now + lifetime)
    return _principal(user, row.csrf_token)


def _slide(session: Session, session_id: int, expires: datetime) -> None:
    def write(w: Session) -> None:
        w.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id, LoginSession.expires_at < expires)
            .values(expires_at=expires)
        )

    defer_write(session, write)


def _token_lifetime(expires_days: int | None) -> timedelta:
    days = get_settings().token_days if expires_days is None else expires_days
    if isinstance(days, bool) or not isinstance(days, int):
        raise AccountError("expires_days", "must be a whole number of days")
    if not MIN_TOKEN_DAYS <= days <= MAX_TOKEN_DAYS:
        raise AccountError(
            "expires_days", f"must be between {MIN_TOKEN_DAYS} and {MAX_TOKEN_DAYS} days"
        )
    return timedelta(days=days)


def create_api_token(
    session: Session,
    *,
    user_id: int,
    label: str,
    actor: Actor,
    expires_days: int | None = None,
) -> str:
    """Store a new token's digest and return the secret. It expires after `expires_days`
    (default TRIGGERPOINT_TOKEN_DAYS, 90; 1..365)."""
    lifetime = _token_lifetime(expires_days)
    token = "tp_" + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        token_hash=_digest(token),
        user_id=user_id,
        label=label.strip() or "token",
        created_at=now,
        expires_at=now + lifetime,
    )
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


# Every API request starts with this lookup, so: one round trip for the token and its user,
# only the columns a Principal needs (loading a User entity also joins its clinic), and the
# statement built once (building a select costs more CPU than running it on SQLite).
_PRINCIPAL_BY_TOKEN = (
    select(
        User.id,
        User.clinic_id,
        User.username,
        User.role,
        User.must_change_password,
        ApiToken.id,
        Clinic.timezone,
    )
    .join(ApiToken, ApiToken.user_id == User.id)
    .join(Clinic, Clinic.id == User.clinic_id)
    .where(
        ApiToken.token_hash == bindparam("token_hash"),
        ~ApiToken.revoked,
        ApiToken.expires_at > bindparam("now"),
        User.active,
    )
)


def principal_from_api_token(session: Session, *, token: str) -> Principal | None:
    """The user behind a bearer token; None if unknown, revoked, expired or deactivated."""
    # Core, on the session's connection (and transaction): users and tokens belong to no
    # clinic's confinement here, as for `skip_tenancy`.
    row = (
        session.connection()
        .execute(_PRINCIPAL_BY_TOKEN, {"token_hash": _digest(token), "now": utcnow()})
        .one_or_none()
    )
    if row is None:
        return None
    user_id, clinic_id, username, role, must_change_password, token_id, zone = row
    return Principal(user_id, clinic_id, username, role, must_change_password, None, token_id, zone)


def _end_credentials(
    session: Session, user: User, *, keep_session: str | None, reason: str, actor: Actor
) -> tuple[str | None, dict[str, object]]:
    """End every login session of `user` but `keep_session` (a cookie token, which gets a
    new token and CSRF token: a new identity) and revoke every live API token of theirs.

    Returns the kept session's new cookie token (None if none was kept) and what ended,
    for the audit detail.
    """
    new_cookie = None
    kept_hash = _digest(keep_session) if keep_session else None
    if kept_hash is not None:
        kept = session.scalar(
            select(LoginSession).where(
                LoginSession.token_hash == kept_hash, LoginSession.user_id == user.id
            )
        )
        if kept is not None:
            new_cookie = secrets.token_urlsafe(32)
            kept.token_hash = _digest(new_cookie)
            kept.csrf_token = secrets.token_urlsafe(32)
            session.flush()
    ended = rowcount(
        session.execute(
            delete(LoginSession).where(
                LoginSession.user_id == user.id,
                *([LoginSession.token_hash != _digest(new_cookie)] if new_cookie else []),
            )
        )
    )
    live = list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ~ApiToken.revoked))
    )
    for token in live:
        token.revoked = True
        record(
            session,
            actor=actor,
            action="revoke",
            entity="api_token",
            entity_id=token.id,
            detail={"user_id": user.id, "label": token.label, "reason": reason},
        )
    session.flush()
    return new_cookie, {"sessions_ended": ended, "tokens_revoked": [t.id for t in live]}


def change_password(
    session: Session,
    *,
    user_id: int,
    current: str,
    new: str,
    actor: Actor,
    keep_session: str | None = None,
) -> str | None:
    """Change a user's own password. Ends every other login session and revokes every API
    token of the user; the session `keep_session` (the cookie that asked) stays, with a new
    token and CSRF token, returned here for the caller to set."""
    user = session.scalar(
        select(User).where(User.id == user_id).execution_options(skip_tenancy=True)
    )
    if user is None:
        raise UnknownAccount("user", "unknown user")
    if not verify_password(user.password_hash, current):
        raise AccountError("current_password", "is not correct")
    if new == current:
        raise AccountError("new_password", "must differ from the current password")
    try:
        check_password_strength(
            new,
            username=user.username,
            user_inputs=_user_inputs(session, user, user.clinic_id, user.full_name),
        )
        _check_not_reused(session, user, new)
    except AccountError as exc:
        raise AccountError("new_password", str(exc)) from None
    _set_password(session, user, new)
    user.must_change_password = False
    cookie, ended = _end_credentials(
        session, user, keep_session=keep_session, reason="password_change", actor=actor
    )
    record(
        session,
        actor=actor,
        action="change_password",
        entity="user",
        entity_id=user.id,
        detail=ended,
    )
    session.flush()
    return cookie


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


# --- account lifecycle: deactivate, reactivate, reset a password, change a role ---


def _user_named(session: Session, username: str) -> User:
    """The user called `username` (as the session's clinic sees it), or UnknownAccount."""
    name = username.strip().lower()
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        raise UnknownAccount("username", f"no user called {name!r}")
    return user


def _is_active_admin(session: Session, user_id: int | None) -> bool:
    """Whether this user is active and may manage accounts (read across clinics on purpose:
    the caller compares clinics itself)."""
    role = session.scalar(
        select(User.role)
        .where(User.id == user_id, User.active)
        .execution_options(skip_tenancy=True)
    )
    return role is not None and "users:manage" in PERMISSIONS.get(role, frozenset())


def _require_admin(session: Session, actor: Actor) -> None:
    """The actor is the system (CLI) or an active admin; checked before any lookup, so the
    answer says nothing about who exists."""
    if actor.user_id is None and actor.clinic_id is None:
        return
    if not _is_active_admin(session, actor.user_id):
        raise Forbidden("only an admin may manage user accounts")


def _managed_user(session: Session, actor: Actor, username: str) -> User:
    """The target of an account action, if `actor` may act on them: the system (the CLI:
    whoever runs it holds the database credentials), or an active admin of their clinic."""
    _require_admin(session, actor)
    user = _user_named(session, username)
    if actor.clinic_id is not None and actor.clinic_id != user.clinic_id:
        raise Forbidden("users of another clinic are out of reach")
    return user


def _keeps_an_admin(session: Session, actor: Actor, user: User, change: str) -> None:
    """An admin cannot deactivate or demote themselves when they are their clinic's last
    active admin: nobody would be left to manage the clinic's users from the app."""
    if actor.user_id != user.id or user.role != Role.admin or not user.active:
        return
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.clinic_id == user.clinic_id,
            User.role == Role.admin,
            User.active,
            User.id != user.id,
        )
        .execution_options(skip_tenancy=True)
    )
    if not others:
        raise AccountError(
            "username",
            f"you are the last active admin of your clinic, so you cannot {change} yourself; "
            "make another user admin first",
        )


def deactivate_user(session: Session, *, actor: Actor, username: str) -> User:
    """Deactivate a user: they cannot log in, their login sessions end at once and their
    API tokens are revoked (so reactivating them does not revive old tokens)."""
    user = _managed_user(session, actor, username)
    if not user.active:
        raise AccountError("username", f"{user.username!r} is already deactivated")
    _keeps_an_admin(session, actor, user, "deactivate")
    user.active = False
    _, ended = _end_credentials(session, user, keep_session=None, reason="deactivated", actor=actor)
    record(
        session,
        actor=actor,
        action="deactivate",
        entity="user",
        entity_id=user.id,
        detail={"username": user.username, **ended},
    )
    session.flush()
    return user


def reactivate_user(session: Session, *, actor: Actor, username: str) -> User:
    """Let a deactivated user log in again (with their password; tokens stay revoked)."""
    user = _managed_user(session, actor, username)
    if user.active:
        raise AccountError("username", f"{user.username!r} is already active")
    user.active = True
    record(
        session,
        actor=actor,
        action="reactivate",
        entity="user",
        entity_id=user.id,
        detail={"username": user.username},
    )
    session.flush()
    return user


@dataclass(frozen=True)
class PasswordReset:
    user: User
    one_time_password: str  # shown once; the user must change it at their next login
    session_token: str | None  # the actor's own rotated cookie, when they reset themselves


def reset_password(
    session: Session, *, actor: Actor, username: str, keep_session: str | None = None
) -> PasswordReset:
    """Give a user a one-time password they must change at their next login. Every login
    session and API token of theirs ends (an admin resetting themselves keeps the session
    `keep_session`, with a new identity)."""
    user = _managed_user(session, actor, username)
    if not user.active:
        raise AccountError("username", f"{user.username!r} is deactivated; reactivate first")
    one_time = generate_password()
    _set_password(session, user, one_time)
    user.must_change_password = True
    cookie, ended = _end_credentials(
        session,
        user,
        keep_session=keep_session if actor.user_id == user.id else None,
        reason="password_reset",
        actor=actor,
    )
    record(
        session,
        actor=actor,
        action="reset_password",
        entity="user",
        entity_id=user.id,
        detail={"username": user.username, **ended},
    )
    session.flush()
    return PasswordReset(user, one_time, cookie)


def change_role(session: Session, *, actor: Actor, username: str, role: str) -> User:
    """Give a user another role; it applies from their next request (sessions and tokens
    read the role each time)."""
    role = role.strip().lower()
    if role not in PERMISSIONS:
        raise AccountError("role", f"must be one of {', '.join(PERMISSIONS)}")
    user = _managed_user(session, actor, username)
    if user.role == role:
        raise AccountError("role", f"{user.username!r} is already {role}")
    if role != Role.admin:
        _keeps_an_admin(session, actor, user, "demote")
    old = user.role
    user.role = role
    record(
        session,
        actor=actor,
        action="change_role",
        entity="user",
        entity_id=user.id,
        detail={"username": user.username, "from": old, "to": role},
    )
    session.flush()
    return user


# --- API token administration (the `triggerpoint token` CLI, the tokens page and API) ---

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
    expires_at: datetime

    @property
    def expired(self) -> bool:
        return self.expires_at <= utcnow()

    @property
    def status(self) -> str:
        return "revoked" if self.revoked else "expired" if self.expired else "active"


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
        expires_at=token.expires_at,
    )


def _require_token_authority(session: Session, actor: Actor, owner: User) -> None:
    """Who may create or revoke a token of `owner`: the owner, an admin of the owner's clinic,
    or the system (the CLI: whoever runs it already holds the database credentials).

    Kept here, not in the CLI, so the web page and the API endpoint get the same rule.
    """
    if actor.clinic_id is not None and actor.clinic_id != owner.clinic_id:
        raise Forbidden("API tokens of another clinic's users are out of reach")
    if actor.user_id is None or actor.user_id == owner.id:
        return
    if not _is_active_admin(session, actor.user_id):
        raise Forbidden("only an admin may manage another user's API tokens")


def _check_label(label: str) -> str:
    label = label.strip()
    if not label:
        raise AccountError("label", "must not be empty")
    if len(label) > MAX_TOKEN_LABEL or "\x00" in label:
        raise AccountError("label", f"at most {MAX_TOKEN_LABEL} characters, no NUL")
    return label


def issue_api_token(
    session: Session,
    *,
    actor: Actor,
    username: str,
    label: str,
    expires_days: int | None = None,
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
    secret = create_api_token(
        session,
        user_id=owner.id,
        label=_check_label(label),
        actor=actor,
        expires_days=expires_days,
    )
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(secret))).one()
    return _token_info(row, owner), secret


def revoke_api_token(
    session: Session, *, actor: Actor, token_id: int, current_token_id: int | None = None
) -> ApiTokenInfo:
    """Revoke one token; `principal_from_api_token` refuses it from the next request on.

    Revoking twice is an error rather than a silent success: the caller learns that someone
    else already did it, and the audit log gets one revocation per token. So is revoking
    `current_token_id`, the token the request itself came with: a script would cut off its
    own access halfway (revoke it from another session, the tokens page or the CLI).
    """
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id)
    ).one_or_none()
    if found is None:
        raise UnknownAccount("token_id", f"no API token with id {token_id}")
    token, owner = found
    _require_token_authority(session, actor, owner)
    if token.revoked:
        raise AccountError("token_id", f"API token {token_id} is already revoked")
    if current_token_id is not None and token.id == current_token_id:
        raise AccountError(
            "token_id",
            f"API token {token_id} is the one this request uses; revoke it from another "
            "token, the tokens page or the CLI",
        )
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


def tokens_visible_to(session: Session, *, principal: Principal) -> list[ApiTokenInfo]:
    """What the tokens page and `GET /api/tokens` show: an admin sees every token of the
    clinic, anyone else only their own."""
    if principal.can("users:manage"):
        return list_api_tokens(session, clinic_id=principal.clinic_id)
    return list_api_tokens(session, username=principal.username)


# --- the clinic's own settings: its name and time zone (the admin pages and /api/clinic) ---

MAX_CLINIC_NAME = 200  # the width of clinic.name


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone_suggestions(name: str) -> list[str]:
    """Zones a mistyped name probably meant: the same name in other case, then close ones
    (compared on the city part too, so "Madird" finds Europe/Madrid)."""
    zones = sorted(_known_zones())
    folded = {z.casefold(): z for z in zones}
    if name.casefold() in folded:
        return [folded[name.casefold()]]
    cities = {z.rsplit("/", 1)[-1].casefold(): z for z in zones}
    close = get_close_matches(name.casefold(), list(folded), n=3, cutoff=0.6)
    close += get_close_matches(name.rsplit("/", 1)[-1].casefold(), list(cities), n=3, cutoff=0.7)
    found = [folded.get(c) or cities[c] for c in close]
    return list(dict.fromkeys(found))[:3]


def check_timezone(name: str) -> str:
    """An IANA zone name as zoneinfo knows it ("Europe/Madrid"); InvalidInput on
    `timezone`, with near matches as suggestions, for anything else."""
    name = name.strip()
    problem = None if name.isprintable() else "must be printable text"
    if problem is None and name not in _known_zones():
        problem = f"{name[:80]!r} is not an IANA time zone (e.g. Europe/Madrid)"
    if problem is None:
        return name
    near = _zone_suggestions(name) if name.isprintable() and len(name) <= 80 else []
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise AccountError("timezone", problem + hint, suggestions=near)


def _check_clinic_name(session: Session, clinic: Clinic, name: str) -> str:
    name = name.strip()
    if not name:
        raise AccountError("name", "must not be empty")
    if len(name) > MAX_CLINIC_NAME or not name.isprintable():
        raise AccountError("name", f"at most {MAX_CLINIC_NAME} printable characters")
    taken = session.scalar(select(Clinic.id).where(Clinic.name == name, Clinic.id != clinic.id))
    if taken is not None:
        raise Conflict(f"a clinic called {name!r} exists already", field="name")
    return name


def get_clinic(session: Session, *, actor: Actor) -> Clinic:
    """The actor's own clinic (what /admin/clinic and `GET /api/clinic` show)."""
    clinic = session.get(Clinic, actor.clinic_id) if actor.clinic_id is not None else None
    if clinic is None:
        raise UnknownAccount("clinic", "no clinic for this user")
    return clinic


def update_clinic(session: Session, *, actor: Actor, name: str, timezone: str | None) -> Clinic:
    """Rename the actor's clinic and set its IANA time zone (None or "": the deployment's,
    TRIGGERPOINT_TIMEZONE). Admins only; the name is unique (Conflict on `name`), the zone
    one zoneinfo knows (InvalidInput on `timezone`, naming near matches). Audited with
    what changed; times show in the new zone from the next request on."""
    _require_admin(session, actor)
    clinic = get_clinic(session, actor=actor)
    new_name = _check_clinic_name(session, clinic, name)
    new_zone = check_timezone(timezone) if timezone and timezone.strip() else None
    changed = {
        field: {"from": old, "to": new}
        for field, old, new in (
            ("name", clinic.name, new_name),
            ("timezone", clinic.timezone, new_zone),
        )
        if old != new
    }
    if not changed:
        return clinic
    clinic.name, clinic.timezone = new_name, new_zone
    record(
        session,
        actor=actor,
        action="update",
        entity="clinic",
        entity_id=clinic.id,
        detail=changed,
    )
    session.flush()
    return clinic


# --- what an admin's landing page shows: the clinic at a glance, and where the demo is ---


@dataclass(frozen=True)
class DemoClinic:
    """A clinic `triggerpoint demo seed` filled with synthetic patients, and its logins."""

    clinic_id: int
    name: str
    patients: int
    logins: list[tuple[str, str]]  # (username, role) of its active users


@dataclass(frozen=True)
class ClinicOverview:
    clinic: Clinic
    users: int
    active_users: int
    admins: int
    pending_password: int  # users who still have a printed one-time password
    patients: int
    live_tokens: int
    demo_here: bool
    demo_elsewhere: list[DemoClinic]


def _patients_of(session: Session, clinic_id: int) -> int:
    """How many patients a clinic has. Read from the table by name: `records` imports this
    package, so importing its model here would make a cycle of packages."""
    patient = Base.metadata.tables["patient"]
    return (
        session.scalar(
            select(func.count()).select_from(patient).where(patient.c.clinic_id == clinic_id)
        )
        or 0
    )


def _demo_clinic_ids(session: Session) -> list[int]:
    """Clinics the demo generator seeded, known from its audit events (`demo_seed`)."""
    ids = session.scalars(
        select(AuditEvent.entity_id)
        .where(AuditEvent.action == "demo_seed", AuditEvent.entity == "clinic")
        .distinct()
    )
    return sorted({int(i) for i in ids if i and i.isdigit()})


def clinic_overview(session: Session, *, principal: Principal) -> ClinicOverview:
    """The admin's clinic at a glance, and whether the demo data is here or in another
    clinic (with that clinic's logins: the demo is the one other clinic an admin is told
    about, since its patients are synthetic)."""
    principal.require("users:manage")
    clinic = get_clinic(session, actor=principal.actor)
    users = list_users(session)
    demo_ids = _demo_clinic_ids(session)
    elsewhere = []
    for cid in (i for i in demo_ids if i != clinic.id):
        other = session.scalar(
            select(Clinic).where(Clinic.id == cid).execution_options(skip_tenancy=True)
        )
        if other is None:
            continue
        logins = session.execute(
            select(User.username, User.role)
            .where(User.clinic_id == cid, User.active)
            .order_by(User.username)
            .execution_options(skip_tenancy=True)
        ).all()
        elsewhere.append(
            DemoClinic(cid, other.name, _patients_of(session, cid), [(u, r) for u, r in logins])
        )
    return ClinicOverview(
        clinic=clinic,
        users=len(users),
        active_users=sum(u.active for u in users),
        admins=sum(u.active and u.role == Role.admin for u in users),
        pending_password=sum(u.active and u.must_change_password for u in users),
        patients=_patients_of(session, clinic.id),
        live_tokens=sum(
            t.status == "active" for t in tokens_visible_to(session, principal=principal)
        ),
        demo_here=clinic.id in demo_ids,
        demo_elsewhere=elsewhere,
    )
