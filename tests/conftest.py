"""Shared fixtures.

Database tests take `db_url`, which is parametrised over SQLite and a throwaway PostgreSQL
server started for this run, so one suite covers both engines.

People: the personas `alice` (clinician) and `bob` (assistant) of clinic A, `carol` (admin)
and `erin` (clinician) of clinic B, `dave` (admin of A), from tests/personas.py. A test that
takes one of them, or `db`, runs in a database that is rolled back when it ends, the app's
and the CLI's sessions included. The older session-wide `world` (`world.clinician_a`, …, in
"Clinic A" and "Clinic B", not the personas' clinics) keeps what every test wrote; tests
that only read shared data may still use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from typer.testing import CliRunner

from tests.personas import (
    PASSWORD,
    Cast,
    Person,
    add_clinic,
    add_person,
    create_cast,
    new_patient,
    rolled_back,
)
from tests.pg import PostgresServer, PostgresUnavailable, start_postgres
from triggerpoint.cli.main import app as cli_app
from triggerpoint.config import get_settings
from triggerpoint.db import get_engine, make_engine, open_session
from triggerpoint.listeners import register_listeners
from triggerpoint.migrate import upgrade

# Jobs queued by API tests stay in memory: no ./data/jobs.sqlite3 left behind.
os.environ.setdefault("TRIGGERPOINT_QUEUE_URL", "memory:")

__all__ = ["PASSWORD", "Person", "as_person", "logged_in", "new_patient"]

# The vignette evaluation table at the end of `make test` (controller and xdist workers).
pytest_plugins = ["tests.inference.vignette_summary"]


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
    register_listeners()  # as app, CLI and worker start-up do (triggerpoint.listeners)
    yield url
    if previous is None:
        os.environ.pop("TRIGGERPOINT_DATABASE_URL", None)
    else:
        os.environ["TRIGGERPOINT_DATABASE_URL"] = previous
    _reset_caches()


@pytest.fixture
def engine(db_url):
    return get_engine()


@pytest.fixture(scope="session")
def cast(db_url) -> Cast:
    """The personas and their two clinics, created once per database engine (committed)."""
    return create_cast()


@pytest.fixture
def db(db_url) -> Iterator[Connection]:
    """This test's database: everything written through `open_session` (the test's own
    sessions, the app's, the in-process CLI's) is rolled back when the test ends."""
    with rolled_back(get_engine()) as connection:
        yield connection


def _persona(name: str, doc: str):
    """The fixture `name`: that persona of the cast, in this test's rolled-back database."""

    @pytest.fixture(name=name)
    def persona(cast: Cast, db: Connection) -> Person:
        return getattr(cast, name)

    persona.__doc__ = doc
    return persona


alice = _persona("alice", "A clinician of clinic A (Alice's clinic).")
bob = _persona("bob", "An assistant of clinic A (no clinical notes, no needling).")
carol = _persona("carol", "An admin of clinic B (Carol's clinic): she never sees A's records.")
dave = _persona("dave", "An admin of clinic A.")
erin = _persona("erin", "A clinician of clinic B.")


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


@pytest.fixture(scope="session")
def world(db_url) -> World:
    """Two clinics and their staff, created once per database engine, shared (and written
    to) by every test that takes it. New tests take the personas instead."""
    with open_session(clinic_id=None) as s:
        a = add_clinic(s, "Clinic A")
        b = add_clinic(s, "Clinic B")
        people = {
            name: add_person(
                s, clinic_id=clinic, username=name.replace("_", "."), full_name=name, role=role
            )
            for name, clinic, role in [
                ("admin_a", a, "admin"),
                ("clinician_a", a, "clinician"),
                ("assistant_a", a, "assistant"),
                ("admin_b", b, "admin"),
                ("clinician_b", b, "clinician"),
            ]
        }
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
