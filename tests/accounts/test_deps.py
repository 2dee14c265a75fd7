"""accounts.deps.api_handler: one worker thread per API call, same contract as the plain deps."""

from __future__ import annotations

import inspect
import threading

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from tests.conftest import as_person
from tests.routes import api_routes
from triggerpoint.accounts.deps import (
    ApiPrincipal,
    ApiSession,
    api_handler,
    api_principal,
    api_session,
)
from triggerpoint.records.models import Patient


class Seen(BaseModel):
    clinic_id: int
    session_clinic: int
    same_thread: bool
    n: int


def _probe_app() -> tuple[FastAPI, list[int]]:
    """A one-route app whose handler reports what api_handler gave it."""
    app, threads = FastAPI(), []

    @app.get("/probe/{n}")
    @api_handler
    def probe(principal: ApiPrincipal, session: ApiSession, n: int) -> Seen:
        threads.append(threading.get_ident())
        session.scalar(Patient.__table__.select().limit(1))
        return Seen(
            clinic_id=principal.clinic_id,
            session_clinic=session.info["clinic_id"],
            same_thread=threading.get_ident() == threads[0],
            n=n,
        )

    return app, threads


def test_handler_gets_principal_and_a_session_confined_to_its_clinic(app_client, world):
    app, threads = _probe_app()
    with TestClient(app) as c:
        resp = c.get("/probe/7", headers=as_person(c, world.clinician_b))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "clinic_id": world.clinic_b,
        "session_clinic": world.clinic_b,
        "same_thread": True,
        "n": 7,
    }
    assert threads and threads[0] != threading.get_ident()  # not on the event loop's thread


def test_no_credentials_is_401_before_input_is_validated(app_client, world):
    app, threads = _probe_app()
    with TestClient(app) as c:
        assert c.get("/probe/not-a-number").status_code == 401
        bad = c.get("/probe/1", headers={"Authorization": "Bearer tp_wrong"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert threads == []  # the handler never ran


def test_wrapped_signature_is_the_handlers_minus_what_it_injects():
    app, _ = _probe_app()
    route = next(r for r in app.routes if isinstance(r, APIRoute))
    assert inspect.iscoroutinefunction(route.endpoint)
    params = app.openapi()["paths"]["/probe/{n}"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["n"]


def test_every_authenticated_api_route_is_wrapped(app_client):
    """A sync route with ApiPrincipal/ApiSession still works, but pays three thread hops."""
    slow = [
        r.path
        for r in api_routes(app_client.app)
        if not inspect.iscoroutinefunction(r.endpoint)
        and any(d.call in (api_session, api_principal) for d in r.dependant.dependencies)
    ]
    assert slow == []
