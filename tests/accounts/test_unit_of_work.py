"""A unit of work a handler cannot forget: our routes commit when the handler returns, roll
back when it raises or answers with an error, and no handler commits its own normal work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import triggerpoint
from triggerpoint.accounts import deps
from triggerpoint.accounts.deps import PageSession, UnitOfWorkRoute
from triggerpoint.web.app import create_app

SRC = Path(triggerpoint.__file__).parent


class Recorder:
    """Stands in for the database session: records how the request's transaction ended."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def commit(self) -> None:
        self.calls.append("commit")

    def rollback(self) -> None:
        self.calls.append("rollback")


@pytest.fixture
def recorded() -> tuple[TestClient, Recorder]:
    recorder = Recorder()
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.get("/ok")
    def ok(session: PageSession) -> dict[str, str]:
        return {"saved": "yes"}

    @router.get("/refused")
    def refused(session: PageSession) -> Response:
        return Response("no", status_code=422)

    @router.get("/raises")
    def raises(session: PageSession) -> None:
        raise RuntimeError("the service failed half-way")

    @router.post("/async-ok")
    async def async_ok(session: PageSession) -> dict[str, str]:
        return {"saved": "yes"}

    app = FastAPI()
    app.include_router(router)

    def session_dependency():
        try:
            yield recorder
        except BaseException:
            recorder.rollback()
            raise

    app.dependency_overrides[deps.page_session] = session_dependency
    return TestClient(app, raise_server_exceptions=False), recorder


def test_a_handler_that_returns_has_its_work_committed(recorded) -> None:
    client, recorder = recorded
    assert client.get("/ok").json() == {"saved": "yes"}
    assert recorder.calls == ["commit"]


def test_an_async_handler_that_returns_has_its_work_committed(recorded) -> None:
    client, recorder = recorded
    assert client.post("/async-ok").status_code == 200
    assert recorder.calls == ["commit"]


def test_a_handler_that_answers_with_an_error_is_rolled_back(recorded) -> None:
    client, recorder = recorded
    assert client.get("/refused").status_code == 422
    assert recorder.calls == ["rollback"]


def test_a_handler_that_raises_is_rolled_back_never_committed(recorded) -> None:
    client, recorder = recorded
    assert client.get("/raises").status_code == 500
    assert "commit" not in recorder.calls
    assert recorder.calls == ["rollback"]


def test_every_route_with_a_session_is_a_unit_of_work() -> None:
    """A route added with a plain APIRouter would not commit: every route that takes a page
    or API session must be ours (api_handler endpoints take no session parameter)."""
    app = create_app(migrate=False)
    offenders = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        takes_session = any(
            d.call in (deps.page_session, deps.api_session) for d in route.dependant.dependencies
        )
        if takes_session and not isinstance(route, UnitOfWorkRoute):
            offenders.append(route.path)
    assert offenders == []


def test_handlers_do_not_commit_their_own_work() -> None:
    """A `session.commit()` left in a route module is either gone or says why it is needed
    (a refused login's audit event, an error page whose reads stay audited)."""
    bare = []
    for path in [*SRC.glob("*/router.py"), *SRC.glob("*/pages.py")]:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if re.search(r"session\.commit\(\)", line) and "#" not in line:
                bare.append(f"{path.relative_to(SRC)}:{number}")
    assert bare == []
