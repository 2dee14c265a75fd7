"""NetBox-style test mixins: one class of tests for all of a domain's routes, read from the app.

A domain's test folder subclasses them, names its domain and gives each route the request
that exercises it, as NetBox's `ViewTestCases`/`APIViewTestCases` take a model and form data:

    class TestTreatmentRoutes(RefusesAnotherClinic, AuditsEveryWrite):
        domain = "treatment"
        calls = {("POST", "/api/needling-sessions/{session_id}/count"): Call(...), ...}

- `RefusesAnotherClinic`: for every route of the domain that takes a record's id (patient,
  visit, consent, needling session), carol of clinic B gets a 404 naming nothing of ours and
  changes nothing, while alice, whose record it is, is served.
- `AuditsEveryWrite`: every write route of the domain (POST, PUT, PATCH, DELETE; API and form
  pages) appends an audit event naming the entity it wrote, its id, and alice.

The routes come from the app (`tests/routes.py`), by the module their endpoint lives in
(`triggerpoint.<domain>.`): a new route fails the class's coverage test until someone writes
down its call, and a call whose route is gone fails it too. Each test runs in a rolled-back
database (the `alice` and `carol` fixtures) on records `owned_records` builds for alice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

import triggerpoint.models  # noqa: F401 - every table, for row_counts
from tests.personas import Api, Person, new_patient
from tests.routes import api_routes, page_routes
from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import Base, open_session
from triggerpoint.safety.screening import rulebook

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
NOT_RECORDS = {"rate_limit_hit"}  # written for every request to a rate-limited route, by design
NO = {r.id: {"present": False} for r in rulebook().rules}
CONSENT = {
    "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
    "signed_by": "Owned Patient",
    "signed_at": "2026-11-01T09:00:00+00:00",
}
Ids = dict[str, int]


@dataclass(frozen=True)
class Call:
    """How to call one route for these tests.

    json / form / query: the request (strings "{name}" are filled from the owned records'
    ids and from what `prepare` returned). path: values for path parameters that are not
    plain record ids, or point them at another record ("{free_visit_id}").
    prepare: run first, as alice (an Api), to bring the records into the state the call
    needs; returns extra ids ("version"). audits: (entity, action) the write appends, with
    the written entity's id taken from `entity_id`: "response" (the JSON body's id),
    "location" (the redirect's last path segment), "{name}" (an owned id), or None (any).
    label: tells several calls to one route apart (the bedside form's actions).
    """

    json: Any = None
    form: dict[str, Any] | None = None
    query: dict[str, Any] = field(default_factory=dict)
    path: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[Api, Ids], Ids] | None = None
    audits: tuple[str, str] | None = None
    entity_id: str | None = "response"
    label: str = ""


def owned_records(client: TestClient, person: Person) -> Ids:
    """One of everything for `person`'s clinic: a screened, consented patient (BMI 22.9)
    with an episode, a confirmed visit with an open needling session (`visit_id`,
    `session_id`), a confirmed visit without one (`free_visit_id`) and a visit not yet
    confirmed (`new_visit_id`)."""
    api = Api(client, person)
    pid = new_patient(
        client, person, given_name="Owned", family_name="Patient", height_cm=175, weight_kg=70
    )
    episode = api.post(f"/api/patients/{pid}/episodes", {"complaint": "Neck pain"})["id"]
    api.post(f"/api/patients/{pid}/screenings", {"answers": NO})
    consent = api.post(f"/api/patients/{pid}/consents", CONSENT)["id"]
    visits = [
        api.post(f"/api/patients/{pid}/visits", {"visit_at": f"2026-11-0{d}T10:00:00+00:00"})["id"]
        for d in (1, 2, 3)
    ]
    for vid in visits[:2]:
        api.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
    session = api.post("/api/needling-sessions", {"visit_id": visits[0]})["id"]
    return {
        "patient_id": pid,
        "episode_id": episode,
        "consent_id": consent,
        "visit_id": visits[0],
        "session_id": session,
        "free_visit_id": visits[1],
        "new_visit_id": visits[2],
    }


def counted(api: Api, ids: Ids) -> Ids:
    """`prepare` step: the open session's needles counted (none in, none out)."""
    s = api.post(f"/api/needling-sessions/{ids['session_id']}/count", {"needles_out": 0}, 200)
    return {"version": s["version"]}


def signed(api: Api, ids: Ids) -> Ids:
    """`prepare` step: the open session counted and signed."""
    version = counted(api, ids)["version"]
    api.post(f"/api/needling-sessions/{ids['session_id']}/sign", {"version": version}, 200)
    return {"version": version + 1}


def fill(value: Any, ids: Ids) -> Any:
    """Ids into a request's placeholders ("{visit_id}" -> the owned visit's id)."""
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    return value


def row_counts() -> dict[str, int]:
    with open_session(clinic_id=None) as s:
        return {
            t.name: s.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
            if t.name not in NOT_RECORDS
        }


def last_event_id() -> int:
    with open_session(clinic_id=None) as s:
        return s.scalar(select(func.max(AuditEvent.id))) or 0


def events_after(event_id: int) -> list[AuditEvent]:
    with open_session(clinic_id=None) as s:
        return list(
            s.scalars(select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id))
        )


Route = tuple[str, str]  # (method, path template)
Case = tuple[str, str, Call]


class _DomainRoutes:
    """What both mixins share: the domain's routes from the app, and making their calls."""

    domain: ClassVar[str]  # "records": routes whose endpoint is in triggerpoint.records.*
    calls: ClassVar[dict[Route, Call | tuple[Call, ...]]]

    @classmethod
    def cases(cls, keep: Callable[[str, str, Call], bool]) -> list[Case]:
        out = []
        for (method, path), calls in cls.calls.items():
            for call in calls if isinstance(calls, tuple) else (calls,):
                if keep(method, path, call):
                    out.append((method, path, call))
        return out

    @staticmethod
    def case_id(case: Case) -> str:
        method, path, call = case
        return f"{method} {path}" + (f" ({call.label})" if call.label else "")

    @classmethod
    def app_routes(cls, app: Any) -> set[Route]:
        prefix = f"triggerpoint.{cls.domain}."
        return {
            (m, r.path)
            for r in [*api_routes(app), *page_routes(app)]
            if r.endpoint.__module__.startswith(prefix)
            for m in r.methods
            if m != "HEAD"
        }

    @staticmethod
    def request(client: TestClient, person: Person, case: Case, ids: Ids) -> Response:
        method, path, call = case
        url = path.format(**{**ids, **fill(call.path, ids)})
        return client.request(
            method,
            url,
            json=fill(call.json, ids) if call.form is None else None,
            data=fill(call.form, ids) if call.form is not None else None,
            params=fill(call.query, ids),
            headers=person.headers,
            follow_redirects=False,
        )

    @staticmethod
    def ready(client: TestClient, person: Person, call: Call) -> Ids:
        ids = owned_records(client, person)
        if call.prepare is not None:
            ids |= call.prepare(Api(client, person), ids)
        return ids

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        for name, keep in self.parametrised().items():
            if name in metafunc.fixturenames:
                cases = self.cases(keep)
                metafunc.parametrize(name, cases, ids=[self.case_id(c) for c in cases])

    def parametrised(self) -> dict[str, Callable[[str, str, Call], bool]]:
        return {}


def takes_a_record_id(path: str) -> bool:
    return any(f"{{{n}}}" in path for n in ("patient_id", "visit_id", "consent_id", "session_id"))


class RefusesAnotherClinic(_DomainRoutes):
    """Every route of the domain that takes a record's id refuses another clinic: 404, and
    nothing written; the record's own clinic is served."""

    def parametrised(self) -> dict[str, Callable[[str, str, Call], bool]]:
        return {**super().parametrised(), "id_route": lambda m, p, c: takes_a_record_id(p)}

    def test_every_route_that_takes_an_id_has_a_call(self, app_client):
        routes = {rt for rt in self.app_routes(app_client.app) if takes_a_record_id(rt[1])}
        assert routes, f"no {self.domain} route takes a record id: has the layout changed?"
        listed = {(m, p) for m, p, _ in self.cases(lambda m, p, c: takes_a_record_id(p))}
        assert sorted(routes - listed) == [], "add a Call for these routes to `calls`"
        assert sorted(listed - routes) == [], "these calls match no route of the domain"

    def test_another_clinic_gets_404_and_changes_nothing(self, app_client, alice, carol, id_route):
        ids = self.ready(app_client, alice, id_route[2])
        before = row_counts()
        theirs = self.request(app_client, carol, id_route, ids)
        assert theirs.status_code == 404, theirs.text
        assert "Owned" not in theirs.text  # nothing of the patient, not even the name
        assert row_counts() == before
        ours = self.request(app_client, alice, id_route, ids)
        assert ours.status_code < 400, f"{ours.status_code} {ours.text[:500]}"


class AuditsEveryWrite(_DomainRoutes):
    """Every write route of the domain appends an audit event naming what it wrote."""

    def parametrised(self) -> dict[str, Callable[[str, str, Call], bool]]:
        return {**super().parametrised(), "write": lambda m, p, c: m in WRITES}

    def test_every_write_route_has_a_call(self, app_client):
        routes = {rt for rt in self.app_routes(app_client.app) if rt[0] in WRITES}
        assert routes, f"no {self.domain} route writes: has the layout changed?"
        listed = {(m, p) for m, p, _ in self.cases(lambda m, p, c: m in WRITES)}
        assert sorted(routes - listed) == [], "add a Call for these routes to `calls`"
        unaudited = self.cases(lambda m, p, c: m in WRITES and c.audits is None)
        assert [self.case_id(c) for c in unaudited] == [], "say which audit event each appends"

    def test_the_write_is_audited_naming_its_entity(self, app_client, alice, write):
        call = write[2]
        ids = self.ready(app_client, alice, call)
        since = last_event_id()
        resp = self.request(app_client, alice, write, ids)
        assert resp.status_code in (200, 201, 303), f"{resp.status_code} {resp.text[:500]}"
        assert call.audits is not None
        entity, action = call.audits
        expected = _written_id(call.entity_id, resp, ids)
        events = [(e.entity, e.action, e.entity_id, e.user_id) for e in events_after(since)]
        wanted = [
            e
            for e in events
            if e[:2] == (entity, action)
            and e[3] == alice.user_id
            and (e[2] == expected if expected is not None else e[2] is not None)
        ]
        assert wanted, f"no {action} of {entity} {expected or ''} by alice among {events}"


def _written_id(spec: str | None, resp: Response, ids: Ids) -> str | None:
    if spec is None:
        return None
    if spec == "response":
        return str(resp.json()["id"])
    if spec == "location":
        return resp.headers["location"].split("?")[0].split("#")[0].rstrip("/").rsplit("/", 1)[1]
    return str(fill(spec, ids))
