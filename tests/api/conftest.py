"""Records of both clinics for the hostile-input and id-ownership tests, and a row counter."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

import triggerpoint.models  # noqa: F401 - every table, for row_counts
from tests.conftest import as_person
from tests.personas import new_person
from tests.treatment.test_needling_flow import TRAP, Clinic
from triggerpoint.config import get_settings
from triggerpoint.db import Base, open_session

# Written for every request to a rate-limited route, before its body is read (by design).
NOT_RECORDS = {"rate_limit_hit"}


@pytest.fixture(scope="module", autouse=True)
def _generous_rate_limits() -> Iterator[None]:
    """These modules send many requests to the rate-limited routes (suggest, FHIR) as one
    user within a minute: lift the limits, so what answers is the body's check, not a 429."""
    names = [f"TRIGGERPOINT_RATE_LIMIT_{g}" for g in ("PDF", "FHIR", "SUGGEST")]
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(dict.fromkeys(names, "100000/minute"))
    get_settings.cache_clear()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()


def records_of(client, person) -> dict[str, int]:
    """One of everything for `person`'s clinic: a patient ready for needling (with an
    episode, a visit, consent, screening, an open session with one needle and a signed
    session), and a second patient with an episode and a visit of their own."""
    c = Clinic(client, person)
    pid = c.patient()
    episode = c.post(f"/api/patients/{pid}/episodes", {"complaint": "Neck pain"}, 201).json()
    _, vid, sid = c.ready(pid)
    consent = c.consent(pid)["id"]
    c.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    signed_visit = c.visit(pid)
    c.post(f"/api/visits/{signed_visit}/screening-confirmation", None, 200)
    signed = c.post("/api/needling-sessions", {"visit_id": signed_visit}, 201).json()
    counted = c.post(f"/api/needling-sessions/{signed['id']}/count", {"needles_out": 0}, 200)
    c.post(
        f"/api/needling-sessions/{signed['id']}/sign", {"version": counted.json()["version"]}, 200
    )
    other = c.patient()
    other_episode = c.post(f"/api/patients/{other}/episodes", {"complaint": "Low back"}, 201)
    second = new_person(person.clinic_id, "clinician", prefix="examiner")
    study = c.post(
        "/api/research/studies",
        {
            "title": "Hostile study",
            "sites": [{"muscle": "upper_trapezius", "side": "right"}],
            "criteria": ["taut_band"],
            "examiners": [person.user_id, second.user_id],
        },
        201,
    ).json()
    c.post(f"/api/research/studies/{study['id']}/open", None, 200)
    participant = c.post(
        f"/api/research/studies/{study['id']}/participants", {"code": "P01"}, 201
    ).json()
    rule = c.post(
        "/api/clinic/questionnaire-rules",
        {"name": "Neck, before visits", "instruments": ["nprs"], "keywords": ["neck"]},
        201,
    ).json()
    return {
        "examiner_id": person.user_id,
        "second_examiner_id": second.user_id,
        "study_id": study["id"],
        "participant_id": participant["id"],
        "rule_id": rule["id"],
        "patient_id": pid,
        "episode_id": episode["id"],
        "visit_id": vid,
        "consent_id": consent,
        "session_id": sid,
        "signed_session_id": signed["id"],
        "signed_visit_id": signed_visit,
        "other_patient_id": other,
        "other_episode_id": other_episode.json()["id"],
        "other_visit_id": c.visit(other),
    }


@pytest.fixture(scope="session")
def clinics(app_client, world) -> dict[str, dict[str, int]]:
    """Records of clinic A (the caller's) and clinic B (the foreign ones), per engine."""
    return {
        "a": records_of(app_client, world.clinician_a),
        "b": records_of(app_client, world.clinician_b),
    }


def row_counts() -> dict[str, int]:
    """Rows in every table of records, read in one statement by the system (no clinic
    filter): a refused write must leave these unchanged."""
    tables = [t for t in Base.metadata.sorted_tables if t.name not in NOT_RECORDS]
    query = select(
        *(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables)
    )
    with open_session(clinic_id=None) as s:
        return dict(s.execute(query).one()._mapping)


def hdr(client, person) -> dict[str, str]:
    return as_person(client, person)
