"""Named people (as healthchecks has them), a database each test rolls back, one `new_patient`.

The cast, created once per database engine and committed, so every test meets them the same:

    alice  clinician  clinic A ("Alice's clinic")
    bob    assistant  clinic A
    carol  admin      clinic B ("Carol's clinic")
    dave   admin      clinic A   (for the tests that need an admin of alice's clinic)
    erin   clinician  clinic B   (for the tests that try every role of the other clinic)

A test that takes one of them (the fixtures in tests/conftest.py) runs inside `rolled_back`:
one connection and an outer transaction, and every session opened meanwhile joins it with a
SAVEPOINT (SQLAlchemy 2, "joining a session into an external transaction",
`join_transaction_mode="create_savepoint"`). That covers the sessions the test opens itself,
the app's (API handlers, pages, rate limits) and the in-process CLI's, because all of them come
from `triggerpoint.db.open_session`, which asks `triggerpoint.db._factory` for its sessionmaker:
that one function is swapped for the test. A FastAPI dependency override could not do it:
`api_handler` opens its session itself, as do `resolve_principal` and the rate limiter.

The sessions are still `open_session`'s: it sets `info["clinic_id"]`, so the global Session
hooks of `triggerpoint.db` confine reads and writes to the clinic, and the audit hook
(`before_commit`) chains each commit's events on the shared connection. `session.commit()`
releases the savepoint; at teardown the outer transaction is rolled back, so the next test
finds the clinics empty again (tests/records/test_rollback.py proves it on both engines).

What a shared connection cannot show: two transactions racing, or a process being killed.
Tests of those (records/test_durability.py, the dashboard at scale) keep engines of their own.
On SQLite the outer transaction holds the write lock for the whole test (BEGIN IMMEDIATE), so
a test must not write through a connection of its own to the same file: it would wait for
the lock. Write through `open_session`, or Core on the `db` fixture's connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

import triggerpoint.db
from triggerpoint.accounts.service import Principal, create_api_token, create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.db import open_session

PASSWORD = "correct horse battery staple"
SYSTEM = Actor.system("tests")


@dataclass(frozen=True)
class Person:
    """Someone who can log in: their principal, an API token, their password."""

    principal: Principal
    token: str
    password: str = PASSWORD

    def __getattr__(self, name: str) -> Any:
        """`username`, `user_id`, `clinic_id`, `role`: the principal's."""
        if name in ("username", "user_id", "clinic_id", "role"):
            return getattr(self.principal, name)
        raise AttributeError(name)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def actor(self) -> Actor:
        return self.principal.actor


def tag() -> str:
    """A short unique suffix for names that must not collide across tests."""
    return uuid.uuid4().hex[:8]


def add_clinic(session: Session, name: str) -> int:
    return create_clinic(session, name=name, actor=SYSTEM).id


def add_person(
    session: Session,
    *,
    clinic_id: int,
    username: str,
    role: str,
    password: str = PASSWORD,
    full_name: str | None = None,
    token: bool = True,
) -> Person:
    """A user who has set their own password (no change pending), with an API token.

    `token=False`: no token (`Person.token` is then ""), for tests that count a user's tokens.
    """
    user, _ = create_user(
        session,
        clinic_id=clinic_id,
        username=username,
        full_name=full_name or username,
        role=role,
        actor=SYSTEM,
        password=password,
    )
    user.must_change_password = False
    secret = (
        create_api_token(session, user_id=user.id, label="tests", actor=SYSTEM) if token else ""
    )
    return Person(Principal(user.id, clinic_id, user.username, role), secret, password)


def new_person(
    clinic_id: int, role: str, *, prefix: str = "m", password: str = PASSWORD, token: bool = True
) -> Person:
    """`add_person` in a transaction of its own, with a unique username `prefix.xxxxxxxx`."""
    with open_session(clinic_id=None) as s:
        person = add_person(
            s,
            clinic_id=clinic_id,
            username=f"{prefix}.{tag()}",
            role=role,
            password=password,
            full_name=f"Test {role}",
            token=token,
        )
        s.commit()
    return person


def new_clinic(name: str) -> int:
    """A clinic in a transaction of its own (`name` gets a unique suffix)."""
    with open_session(clinic_id=None) as s:
        clinic_id = add_clinic(s, f"{name} {tag()}")
        s.commit()
    return clinic_id


@dataclass(frozen=True)
class Cast:
    clinic_a: int
    clinic_b: int
    alice: Person
    bob: Person
    carol: Person
    dave: Person
    erin: Person


CLINIC_A, CLINIC_B = "Alice's clinic", "Carol's clinic"  # "Clinic A" and "B" are `world`'s
CAST = {  # name -> (clinic, role)
    "alice": ("a", "clinician"),
    "bob": ("a", "assistant"),
    "carol": ("b", "admin"),
    "dave": ("a", "admin"),
    "erin": ("b", "clinician"),
}


def create_cast() -> Cast:
    with open_session(clinic_id=None) as s:
        clinics = {"a": add_clinic(s, CLINIC_A), "b": add_clinic(s, CLINIC_B)}
        people = {
            name: add_person(
                s, clinic_id=clinics[clinic], username=name, role=role, full_name=name.title()
            )
            for name, (clinic, role) in CAST.items()
        }
        s.commit()
    return Cast(clinics["a"], clinics["b"], **people)


# --- the rolled-back database ------------------------------------------------------------


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Connection]:
    """Every session `open_session` makes on `engine` inside the block joins one outer
    transaction, which is rolled back at the end: nothing the block wrote survives it."""
    connection = engine.connect()
    # `audit.verify` asks the session's bind for its URL; a Connection has none of its own.
    connection.url = engine.url  # type: ignore[attr-defined]
    outer = connection.begin()
    joined = sessionmaker(
        bind=connection,
        class_=triggerpoint.db.AppSession,  # its commit runs the writes a read deferred
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    )
    original = triggerpoint.db._factory
    ours = engine.url.render_as_string(hide_password=False)

    def factory(bound: Engine) -> sessionmaker[Session]:
        if bound.url.render_as_string(hide_password=False) == ours:
            return joined
        return original(bound)  # another database (a fresh one, a backup target)

    triggerpoint.db._factory = factory  # type: ignore[assignment]
    try:
        yield connection
    finally:
        triggerpoint.db._factory = original
        if outer.is_active:
            outer.rollback()
        connection.close()


class Api:
    """A person's JSON API calls, each asserted to answer `expect`; returns the JSON."""

    def __init__(self, client: TestClient, person: Person) -> None:
        self.client, self.person = client, person

    def post(self, path: str, body: Any = None, expect: int = 201) -> Any:
        r = self.client.post(path, json=body, headers=self.person.headers)
        assert r.status_code == expect, f"{path}: {r.status_code} {r.text}"
        return r.json()


# --- patients ------------------------------------------------------------------------------

PATIENT: dict[str, Any] = {
    "given_name": "Test",
    "family_name": "Patient",
    "date_of_birth": "1980-01-01",
    "sex": "female",
}


def new_patient(via: TestClient | Session, person: Person | Principal, **fields: Any) -> int:
    """A patient of `person`'s clinic, created the way a user would (defaults for the fields
    the test ignores), and its id.

    `via` a TestClient: through the JSON API (POST /api/patients, asserted 201), as `person`.
    `via` a Session: through `records.service.create_patient` in that session (flushed, not
    committed), so the audit event is queued like the API's.
    """
    body = {**PATIENT, **fields}
    if isinstance(via, Session):
        from triggerpoint.records.schemas import PatientIn
        from triggerpoint.records.service import create_patient

        principal = person.principal if isinstance(person, Person) else person
        return create_patient(via, principal=principal, data=PatientIn(**body)).id
    headers = person.headers if isinstance(person, Person) else None
    assert headers is not None, "over HTTP a patient is created by a Person (who has a token)"
    resp = via.post("/api/patients", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]
