"""Load shedding: past `max_in_flight` requests at once a process answers 503 with
`Retry-After: 1` straight away (web/limits.py), /healthz excepted.

The real app, plus routes that wait on an event: the test knows exactly how many requests are
in flight because the handlers say when they have started, so no sleep decides anything.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from tests.aio import run_async
from triggerpoint.config import Settings, get_settings
from triggerpoint.web.limits import InFlightLimitMiddleware


class Gate:
    """Handlers hold here until released; `entered` fires when `want` of them are inside."""

    def __init__(self, want: int) -> None:
        self.want, self.inside = want, 0
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    async def hold(self) -> None:
        self.inside += 1
        if self.inside == self.want:
            self.entered.set()
        await self.release.wait()


def _app(gate: Gate) -> FastAPI:
    from triggerpoint.web.app import create_app

    app = create_app(migrate=False)

    @app.get("/api/test-held")
    async def held() -> dict[str, str]:
        await gate.hold()
        return {"status": "done"}

    @app.get("/api/test-crash")
    async def crash() -> dict[str, str]:
        raise RuntimeError("boom")

    return app


@pytest.fixture
def limit_two(monkeypatch):
    monkeypatch.setenv("TRIGGERPOINT_MAX_IN_FLIGHT", "2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def test_past_the_limit_503_retry_after_at_once_and_healthz_still_answers(limit_two):
    async def scenario() -> None:
        gate = Gate(want=2)
        async with _client(_app(gate)) as c:
            held = [asyncio.create_task(c.get("/api/test-held")) for _ in range(2)]
            await asyncio.wait_for(gate.entered.wait(), timeout=30)

            busy = await c.get("/api/test-held")
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "1"
            assert busy.headers["cache-control"] == "no-store"
            assert busy.headers["x-content-type-options"] == "nosniff"  # security headers too
            assert "busy" in busy.json()["detail"]
            page = await c.get("/patients", headers={"Accept": "text/html"})
            assert page.status_code == 503 and "The server is busy" in page.text
            assert (await c.get("/healthz")).status_code == 200
            assert gate.inside == 2  # the refused request never reached a handler

            gate.release.set()
            done = await asyncio.gather(*held)
            assert [r.status_code for r in done] == [200, 200]
            # The slots are free again: two more fit at once.
            again = Gate(want=2)
            gate.hold = again.hold  # type: ignore[method-assign]
            held = [asyncio.create_task(c.get("/api/test-held")) for _ in range(2)]
            await asyncio.wait_for(again.entered.wait(), timeout=30)
            again.release.set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]

    run_async(scenario())


def test_a_failed_request_gives_its_slot_back(limit_two):
    async def scenario() -> None:
        gate = Gate(want=1)
        gate.release.set()
        async with _client(_app(gate)) as c:
            for _ in range(3):  # more crashes than slots: each must have freed its own
                assert (await c.get("/api/test-crash")).status_code == 500
            assert (await c.get("/api/test-held")).status_code == 200

    run_async(scenario())


def test_the_app_sheds_before_it_reads_the_body():
    """Shedding wraps the body limit, so a refused upload is not read first."""
    from triggerpoint.web.app import create_app
    from triggerpoint.web.limits import BodyLimitMiddleware

    order = [m.cls for m in create_app(migrate=False).user_middleware]
    assert order.index(InFlightLimitMiddleware) < order.index(BodyLimitMiddleware)


def test_the_setting_defaults_to_64_and_refuses_nonsense(monkeypatch):
    monkeypatch.delenv("TRIGGERPOINT_MAX_IN_FLIGHT", raising=False)
    assert Settings().max_in_flight == 64
    for bad in ("0", "-3", "nan", "1e9"):
        monkeypatch.setenv("TRIGGERPOINT_MAX_IN_FLIGHT", bad)
        with pytest.raises(ValidationError, match="max_in_flight"):
            Settings()


def _events_of(user_id: int) -> int:
    from sqlalchemy import func, select

    from triggerpoint.audit.models import AuditEvent
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as s:
        return s.scalar(select(func.count()).where(AuditEvent.user_id == user_id)) or 0


def test_a_shed_read_is_not_audited_and_the_same_read_let_in_is(limit_two, alice):
    """A 503 reached no handler, so it read nothing and writes no audit event; once a slot
    is free the same patient list is answered and audited (the control)."""

    async def scenario() -> None:
        gate = Gate(want=2)
        async with _client(_app(gate)) as c:
            held = [asyncio.create_task(c.get("/api/test-held")) for _ in range(2)]
            await asyncio.wait_for(gate.entered.wait(), timeout=30)
            before = _events_of(alice.user_id)
            busy = await c.get("/api/patients", headers=alice.headers)
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert _events_of(alice.user_id) == before
            gate.release.set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
            served = await c.get("/api/patients", headers=alice.headers)
            assert served.status_code == 200
            assert _events_of(alice.user_id) > before

    run_async(scenario())
