"""The demo clinic: drawings explained by atlas trigger points, signed care, model outcomes."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.db import open_session
from triggerpoint.demo.generator import DEMO_CLINIC, seed
from triggerpoint.migrate import upgrade
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import PainDrawing, Patient, Visit
from triggerpoint.treatment.models import NeedlingSession


@pytest.fixture(scope="module")
def seeded(db_url):
    with open_session(clinic_id=None) as s:
        result = seed(s, patients=12, seed=7)
        s.commit()
    return result


def test_seed_prints_a_login_once_and_makes_the_patients(seeded, db_url):
    assert seeded.username == "demo.clinician" and len(seeded.password) >= 12
    with open_session(clinic_id=None) as s:
        n = s.scalar(
            select(func.count()).select_from(Patient).where(Patient.clinic_id == seeded.clinic_id)
        )
    assert n == 12


def test_every_drawing_contains_the_essential_zone_of_a_needled_trigger_point(seeded):
    atlas = load_atlas()
    with open_session(clinic_id=None) as s:
        sessions = s.scalars(
            select(NeedlingSession).where(NeedlingSession.clinic_id == seeded.clinic_id)
        ).all()
        assert sessions
        for ns in sessions:
            drawing = s.scalar(select(PainDrawing).where(PainDrawing.visit_id == ns.visit_id))
            marked = {m.region_id for m in drawing.marks}
            zones = [
                set(atlas.trigger_point(f"{e.muscle_id}.{e.trigger_point_id}.{e.side}").essential)
                for e in ns.entries
            ]
            assert any(z <= marked for z in zones), (marked, zones)


def test_sessions_are_signed_with_a_balanced_needle_count(seeded):
    with open_session(clinic_id=None) as s:
        for ns in s.scalars(
            select(NeedlingSession).where(NeedlingSession.clinic_id == seeded.clinic_id)
        ):
            assert ns.status == "signed" and ns.signed_at >= ns.opened_at
            assert ns.needles_out == len(ns.entries) > 0
            for e in ns.entries:
                assert 0 < e.depth_mm < e.needle_length_mm and e.twitch_count >= 0


def test_each_visit_has_pre_and_post_outcomes_in_range(seeded):
    with open_session(clinic_id=None) as s:
        visits = s.scalar(
            select(func.count()).select_from(Visit).where(Visit.clinic_id == seeded.clinic_id)
        )
        rows = s.execute(
            select(
                Measurement.instrument,
                Measurement.timing,
                func.count(),
                func.min(Measurement.score),
                func.max(Measurement.score),
            )
            .where(Measurement.clinic_id == seeded.clinic_id)
            .group_by(Measurement.instrument, Measurement.timing)
        ).all()
    by = {(r[0], r[1]): r[2:] for r in rows}
    for key in [("nprs", "pre"), ("nprs", "post"), ("ppt", "pre"), ("ppt", "post")]:
        count, lo, hi = by[key]
        assert count == visits
        assert (0 <= lo <= hi <= 10) if key[0] == "nprs" else (0 < lo <= hi <= 20)


def _fingerprint(url: str) -> list[tuple]:
    engine = create_engine(url)
    with Session(engine) as s:
        rows = s.execute(
            select(Measurement.instrument, Measurement.timing, Measurement.score).order_by(
                Measurement.id
            )
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_same_seed_same_clinic(tmp_path):
    urls = [f"sqlite:///{tmp_path}/a.sqlite3", f"sqlite:///{tmp_path}/b.sqlite3"]
    for url in urls:
        engine = create_engine(url)
        upgrade(engine)
        with Session(engine) as s:
            seed(s, patients=5, seed=99)
            s.commit()
        engine.dispose()
    a, b = (_fingerprint(u) for u in urls)
    assert a and a == b


def test_demo_clinic_name_is_stable():
    # `make run` seeds once and finds the clinic again by this name (--if-empty).
    assert DEMO_CLINIC == "Demo clinic"
