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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.dependencies.models import Dependant
from sqlalchemy import Engine, event, text

from tests.conftest import logged_in
from tests.personas import new_patient
from tests.routes import api_routes, page_routes
from tests.waiting import wait_for
from triggerpoint.accounts.deps import api_session, page_session
from triggerpoint.db import get_engine, unit_of_work, write_queue

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


@contextmanager
def write_lock_held(engine: Engine, clinic_id: int) -> Iterator[Callable[[], int]]:
    """Hold what a form POST creating a patient of `clinic_id` waits for in its handler:
    SQLite's write lock (this process's FIFO queue before BEGIN IMMEDIATE), or on PostgreSQL
    the clinic's row (FOR UPDATE: the patient INSERT's foreign-key check needs a KEY SHARE
    lock on it; plain reads of the row do not wait). Yields how many writers wait."""
    holder = unit_of_work(clinic_id=None, engine=engine)
    s = holder.__enter__()
    try:
        if engine.dialect.name == "sqlite":
            s.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the lock is this session's
            queue = write_queue(str(engine.url.database))
            yield queue.waiting
        else:
            s.execute(text("SELECT 1 FROM clinic WHERE id = :c FOR UPDATE"), {"c": clinic_id})

            def waiting() -> int:
                with engine.connect() as c:
                    return c.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type"
                            " = 'Lock' AND datname = current_database()"
                        )
                    ).scalar_one()

            yield waiting
    finally:
        holder.__exit__(None, None, None)


def test_a_page_answers_while_a_form_post_waits_for_the_write_lock(app_client, world, engine):
    """A form POST queued for the database must not hold up the event loop: a GET (whose
    principal lookup reads the database) answers while the POST still waits. Ordering only:
    had the POST blocked the loop, nothing would answer until the POST had (a 503 once its
    wait for SQLite's lock ran out), or, on PostgreSQL, until the lock is let go."""
    alice = world.clinician_a
    browser, csrf = logged_in(app_client, alice)
    form = {
        "csrf_token": csrf,
        "given_name": "Queued",
        "family_name": "Writer",
        "date_of_birth": "1971-05-06",
        "sex": "female",
    }
    answered: list[tuple[str, int]] = []  # in the order the answers came

    def ask(name: str, method: str, path: str, **kwargs: object) -> threading.Thread:
        def run() -> None:
            resp = browser.request(method, path, follow_redirects=False, **kwargs)
            answered.append((name, resp.status_code))

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with browser:  # one event loop for every request, as under uvicorn
        with write_lock_held(engine, alice.clinic_id) as waiting:
            before = waiting()
            poster = ask("post", "POST", "/patients/new", data=form)
            wait_for(lambda: waiting() > before, "the form POST queued for the write lock")
            getter = ask("get", "GET", "/patients/new")
            wait_for(lambda: answered, "an answer while the POST waits")
        for thread in (poster, getter):  # the lock is let go: the POST goes on
            thread.join()
    assert answered == [("get", 200), ("post", 303)]
