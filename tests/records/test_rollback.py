"""The personas' rolled-back database (tests/personas.py), on both engines: what a test
writes, through the API, a service or the CLI, is gone in the next test; meanwhile the
sessions keep clinic isolation and the audit chain.

The first two tests run in this order (one file runs on one worker, `--dist loadfile`); the
third proves the same within one test, so it holds however the tests are distributed.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, func, select

import triggerpoint.models  # noqa: F401 - every table, for the tenant-table count
from tests.personas import new_patient, rolled_back
from triggerpoint.audit.models import AuditEvent
from triggerpoint.audit.service import verify
from triggerpoint.db import Base, IsolationError, get_engine, open_session
from triggerpoint.records.models import Patient

PROBE = "Rollbackprobe"
written: dict[str, list[int]] = {}  # engine -> patient ids the first test wrote


def _engine_name(db_url: str) -> str:
    return db_url.split(":", 1)[0]


def _probes() -> list[int]:
    with open_session(clinic_id=None) as s:
        return list(s.scalars(select(Patient.id).where(Patient.family_name == PROBE)))


def _committed_probes(db_url: str) -> list[int]:
    """What another connection, outside any test transaction, sees (a plain engine: the
    app's takes SQLite's write lock at BEGIN, which the test's transaction holds)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(Patient.id).where(Patient.family_name == PROBE)))
    finally:
        engine.dispose()


def _tenant_rows(clinic_ids: set[int]) -> dict[str, int]:
    with open_session(clinic_id=None) as s:
        counts = {
            t.name: s.scalar(
                select(func.count()).select_from(t).where(t.c.clinic_id.in_(clinic_ids))
            )
            for t in Base.metadata.sorted_tables
            if "clinic_id" in t.c and t.name != "user_account"  # the cast itself
        }
    return {name: n for name, n in counts.items() if n}


def test_1_alice_writes_a_patient_three_ways(app_client, cli, db_url, alice):
    via_api = new_patient(app_client, alice, family_name=PROBE)
    with open_session(clinic_id=alice.clinic_id) as s:
        via_service = new_patient(s, alice, family_name=PROBE, given_name="Service")
        s.commit()
    with open_session(clinic_id=alice.clinic_id) as s:  # committed twice, still one test
        new_patient(s, alice, family_name=PROBE, given_name="Second")
        s.commit()
    listed = json.loads(cli("patients", "list", "--json").stdout)
    assert {via_api, via_service} <= {row["id"] for row in listed}
    assert len(_probes()) == 3
    assert _committed_probes(db_url) == []  # nothing reached the database for good
    written[_engine_name(db_url)] = _probes()


def test_2_the_next_test_finds_none_of_them(app_client, db_url, alice):
    ids = written.get(_engine_name(db_url), [])
    assert _probes() == [] and _committed_probes(db_url) == []
    for pid in ids:
        assert app_client.get(f"/api/patients/{pid}", headers=alice.headers).status_code == 404
    listed = app_client.get("/api/patients", headers=alice.headers).json()
    assert listed["total"] == 0 and listed["items"] == []


def test_rolled_back_twice_in_one_test(db_url, cast):
    engine = get_engine()
    with open_session(clinic_id=None) as s:
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    with rolled_back(engine):
        with open_session(clinic_id=cast.clinic_a) as s:
            pid = new_patient(s, cast.alice, family_name=PROBE)
            s.commit()
        assert _probes() == [pid]
    with rolled_back(engine):
        assert _probes() == []
        with open_session(clinic_id=None) as s:
            assert s.get(Patient, pid) is None
            assert s.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_the_clinics_start_empty(app_client, cast, db):
    """Every clinic-owned table (audit events included) holds nothing of the cast's clinics
    but the cast, however many tests wrote there before."""
    assert _tenant_rows({cast.clinic_a, cast.clinic_b}) == {}
    new_patient(app_client, cast.alice)
    assert _tenant_rows({cast.clinic_a}).keys() >= {"patient", "audit_event"}


def test_sessions_keep_clinic_isolation(app_client, alice, carol):
    pid = new_patient(app_client, alice)
    assert app_client.get(f"/api/patients/{pid}", headers=carol.headers).status_code == 404
    with open_session(clinic_id=carol.clinic_id) as s:
        assert s.scalars(select(Patient)).all() == []  # the clinic filter
    with open_session(clinic_id=alice.clinic_id) as s:
        mine = s.get(Patient, pid)
        assert mine is not None
    with open_session(clinic_id=carol.clinic_id) as s:
        s.add(Patient(**{**_row(mine), "clinic_id": alice.clinic_id}))
        with pytest.raises(IsolationError):
            s.flush()


def _row(p: Patient) -> dict[str, object]:
    keep = ("given_name", "family_name", "search_name", "date_of_birth", "sex")
    return {k: getattr(p, k) for k in keep}


def test_writes_are_chained_in_the_audit_log(app_client, alice):
    pid = new_patient(app_client, alice)
    with open_session(clinic_id=None) as s:
        [event] = s.scalars(
            select(AuditEvent).where(
                AuditEvent.entity == "patient", AuditEvent.entity_id == str(pid)
            )
        )
        assert (event.action, event.user_id, event.clinic_id) == (
            "create",
            alice.user_id,
            alice.clinic_id,
        )
        result = verify(s, configured_checkpoints=False)
    assert result.ok, result.problems
