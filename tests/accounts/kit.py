"""Helpers for the account tests: a clinic of one's own, logins from a chosen address.

Lifecycle tests deactivate, demote and reset people, so they never touch the shared `world`
personas (other tests rely on them); each makes a fresh clinic with its own staff. Tests
that fail logins do so from an address of their own, so the per-address throttle they
trigger does not slow anyone else's logins.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import CSRF_RE
from tests.personas import Person, add_clinic, add_person, new_person, tag
from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import open_session

PASSWORD = "bedside needles 4 tests"
Member = Person  # the account tests' name for someone of their own clinic
TOKEN_FIELDS = {  # what token listings and `token ... --json` show of a token
    "id",
    "user",
    "user_id",
    "clinic",
    "clinic_id",
    "label",
    "created_at",
    "revoked",
    "expires_at",
    "expired",
}


def address() -> str:
    """A client address no other test uses (TEST-NET-2 and -3 style, made unique)."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


@dataclass
class Staff:
    clinic_id: int
    clinic: str
    admin: Member
    clinician: Member
    assistant: Member


def add_member(clinic_id: int, role: str, *, prefix: str = "m") -> Member:
    return new_person(clinic_id, role, prefix=prefix, password=PASSWORD)


def new_staff() -> Staff:
    """A clinic of its own with one admin, one clinician and one assistant."""
    name = f"Lifecycle clinic {tag()}"
    with open_session(clinic_id=None) as s:
        clinic_id = add_clinic(s, name)
        people = {
            role: add_person(
                s,
                clinic_id=clinic_id,
                username=f"{prefix}.{tag()}",
                role=role,
                password=PASSWORD,
                full_name=f"Test {role}",
            )
            for role, prefix in (("admin", "adm"), ("clinician", "cli"), ("assistant", "ast"))
        }
        s.commit()
    return Staff(clinic_id, name, **people)


def browser(app_client: TestClient, client_address: str | None = None) -> TestClient:
    """A fresh cookie jar on the app, connecting from `client_address`."""
    return TestClient(app_client.app, client=(client_address or address(), 50000))


def login(client: TestClient, username: str, password: str):
    page = client.get("/login")
    token = re.search(CSRF_RE, page.text).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def logged_in(app_client: TestClient, member: Member) -> tuple[TestClient, str]:
    """A browser with a session cookie for `member`, and the session's CSRF token."""
    client = browser(app_client)
    resp = login(client, member.username, member.password)
    assert resp.status_code == 303, resp.text
    return client, csrf_of(client)


def csrf_of(client: TestClient) -> str:
    return re.search(CSRF_RE, client.get("/account/password").text).group(1)


def audit(action: str, **where: str) -> list[AuditEvent]:
    with open_session(clinic_id=None) as s:
        stmt = select(AuditEvent).where(AuditEvent.action == action)
        for column, value in where.items():
            stmt = stmt.where(getattr(AuditEvent, column) == value)
        return list(s.scalars(stmt.order_by(AuditEvent.id)))


def me(app_client: TestClient, token: str) -> int:
    return app_client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code
