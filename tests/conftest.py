"""Shared fixtures.

Database tests take `db_url`, which is parametrised over SQLite and a throwaway PostgreSQL
server started for this run, so one suite covers both engines. Personas (healthchecks-style)
give tests named people: `world.clinician_a`, `world.assistant_a`, `world.admin_b`, …
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.pg import PostgresServer, PostgresUnavailable, start_postgres
from triggerpoint.accounts.service import Principal, create_api_token, create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.cli.main import app as cli_app
from triggerpoint.config import get_settings
from triggerpoint.db import get_engine, make_engine, open_session
from triggerpoint.migrate import upgrade


def _reset_caches() -> None:
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.fail(
            f"POSTGRESQL COULD NOT BE STARTED, so the PostgreSQL half of the suite cannot run: {exc}"
        )
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated, empty database on each engine, shared by the tests of this session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/test.sqlite3"
    else:
        url = request.getfixturevalue("pg_server").create_database("tp_test")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    previous = os.environ.get("TRIGGERPOINT_DATABASE_URL")
    os.environ["TRIGGERPOINT_DATABASE_URL"] = url
    _reset_caches()
    yield url
    if previous is None:
        os.environ.pop("TRIGGERPOINT_DATABASE_URL", None)
    else:
        os.environ["TRIGGERPOINT_DATABASE_URL"] = previous
    _reset_caches()


@pytest.fixture
def engine(db_url):
    return get_engine()


@dataclass
class Person:
    principal: Principal
    token: str
    password: str


@dataclass
class World:
    clinic_a: int
    clinic_b: int
    admin_a: Person
    clinician_a: Person
    assistant_a: Person
    admin_b: Person
    clinician_b: Person

    def people(self) -> dict[str, Person]:
        return {k: v for k, v in vars(self).items() if isinstance(v, Person)}


PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def world(db_url) -> World:
    """Two clinics and their staff, created once per database engine."""
    system = Actor.system("tests")
    with open_session(clinic_id=None) as s:
        a = create_clinic(s, name="Clinic A", actor=system).id
        b = create_clinic(s, name="Clinic B", actor=system).id
        people = {}
        for name, clinic, role in [
            ("admin_a", a, "admin"),
            ("clinician_a", a, "clinician"),
            ("assistant_a", a, "assistant"),
            ("admin_b", b, "admin"),
            ("clinician_b", b, "clinician"),
        ]:
            user, _ = create_user(
                s,
                clinic_id=clinic,
                username=name.replace("_", "."),
                full_name=name,
                role=role,
                actor=system,
                password=PASSWORD,
            )
            user.must_change_password = False
            token = create_api_token(s, user_id=user.id, label="tests", actor=system)
            people[name] = Person(Principal(user.id, clinic, user.username, role), token, PASSWORD)
        s.commit()
    return World(a, b, **people)


@pytest.fixture(scope="session")
def app_client(db_url) -> Iterator[TestClient]:
    """The app on this engine (no migration at start-up: db_url did it)."""
    from triggerpoint.web.app import create_app

    with TestClient(create_app(migrate=False)) as c:
        yield c


def as_person(client: TestClient, person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.token}"}


def new_patient(client: TestClient, person: Person, **fields: object) -> int:
    """A patient created through the API by `person` (defaults for what the test ignores)."""
    body = {"given_name": "Test", "family_name": "Patient", "date_of_birth": "1980-01-01"}
    resp = client.post(
        "/api/patients", json={**body, "sex": "female", **fields}, headers=as_person(client, person)
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


@pytest.fixture(scope="session")
def client() -> TestClient:
    """The app for tests that touch no database (atlas, regions)."""
    from triggerpoint.web.app import create_app

    return TestClient(create_app(migrate=False))


@pytest.fixture
def cli():
    """Run the CLI in-process: `cli("atlas", "list", "--json")` -> click Result."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli_app, list(args))

    return run


@pytest.fixture
def fresh_db(db_url, request, tmp_path):
    """A brand-new migrated database on the same engine as `db_url` (for destructive tests)."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/fresh.sqlite3"
    else:
        name = "tp_" + request.node.name.lower().translate({ord(c): "_" for c in "[]-. "})[:50]
        url = request.getfixturevalue("pg_server").create_database(name)
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


CSRF_RE = r'name="csrf_token" value="([^"]+)"'


def logged_in(app_client: TestClient, person: Person) -> tuple[TestClient, str]:
    """A browser-like client with a session cookie for `person`, and its CSRF token."""
    import re

    client = TestClient(app_client.app)
    token = re.search(CSRF_RE, client.get("/login").text).group(1)
    resp = client.post(
        "/login",
        data={
            "username": person.principal.username,
            "password": person.password,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    csrf = re.search(CSRF_RE, client.get("/account/password").text).group(1)
    return client, csrf
