"""No database work on the event loop: a request that waits for the database (a writer
queued for SQLite's write lock) there would stall every other request of the process.

Coroutine endpoints and coroutine dependencies run on the loop; plain `def` ones, and what
they hand to `run_in_threadpool`, run in worker threads. So a handler that uses a session is
a plain `def` (it takes the posted form as a `PageForm` dependency), and the principal
lookup of pages runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from sqlalchemy import event

from tests.conftest import logged_in
from tests.personas import new_patient
from tests.routes import api_routes, page_routes
from triggerpoint.accounts.deps import api_session, page_session
from triggerpoint.db import get_engine

SESSION_DEPENDENCIES = {page_session, api_session}


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def test_no_coroutine_endpoint_takes_a_database_session(app_client):
    app = app_client.app
    offenders = []
    for route in api_routes(app) + page_routes(app):
        calls = list(_calls(route.dependant))
        if not SESSION_DEPENDENCIES.intersection(calls):
            continue
        if inspect.iscoroutinefunction(route.endpoint):
            offenders.append(f"{sorted(route.methods)} {route.path}")
    assert offenders == [], "coroutine endpoints that use a database session: make them `def`"


def test_the_scan_sees_session_routes(app_client):
    """The scan above would pass vacuously if it found no session dependency anywhere."""
    found = [r for r in page_routes(app_client.app) if page_session in set(_calls(r.dependant))]
    assert len(found) > 20


@pytest.fixture
def statements_on_the_loop() -> Iterator[list[str]]:
    """Every SQL statement run while an event loop runs in the executing thread."""
    seen: list[str] = []

    def before(_conn, _cursor, statement, *_args) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # a worker thread: fine
        seen.append(statement.split("\n")[0][:80])

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_pages_and_form_posts_run_no_sql_on_the_event_loop(
    app_client, alice, statements_on_the_loop
):
    client, csrf = logged_in(app_client, alice)
    patient_id = new_patient(app_client, alice)
    assert client.get("/patients").status_code == 200
    assert client.get(f"/patients/{patient_id}").status_code == 200
    resp = client.post(
        f"/patients/{patient_id}/edit",
        data={"csrf_token": csrf, "given_name": ""},
    )
    assert resp.status_code in (409, 422)  # refused, re-rendered: still a session's work
    resp = client.post(
        "/patients/new",
        data={
            "csrf_token": csrf,
            "given_name": "Loop",
            "family_name": "Free",
            "date_of_birth": "1970-03-04",
            "sex": "female",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert statements_on_the_loop == []
