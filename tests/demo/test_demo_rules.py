"""The demo generator meets the clinical rules where a clinician's request meets them: it writes
through the services (never rows by hand), so a rule refuses it with the API's own error, and
the audit trail has an event for each clinical write."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.treatment.test_safety_matrix import ready
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import Base, open_session
from triggerpoint.demo import generator
from triggerpoint.errors import SafetyBlock
from triggerpoint.notes.models import SoapNote
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Consent, Episode, PainDrawing, Patient, Visit
from triggerpoint.safety.screening import Answer
from triggerpoint.treatment.models import (
    AdverseEvent,
    NeedleEntry,
    NeedlingSession,
    PlannedTarget,
    Screening,
    ScreeningConfirmation,
)

RESTRICTED = ("deltoid", "middle", "left")  # in the left arm: lymphoedema there restricts it


def test_the_generator_constructs_no_model_rows():
    """A write path that builds rows by hand, around the services, is a defect: no mapped
    class is called, and nothing is added to the session or bulk-inserted directly."""
    import triggerpoint.models  # noqa: F401  # every model mapped

    models = {m.class_.__name__ for m in Base.registry.mappers}
    tree = ast.parse(Path(generator.__file__).read_text("utf-8"))
    named, on_session = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            named.add(node.func.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            named.add(node.func.attr)
            if isinstance(node.func.value, ast.Name) and node.func.value.id == "session":
                on_session.add(node.func.attr)
    assert "Patient" in models and "NeedleEntry" in models  # the check can see models
    assert not named & models, sorted(named & models)
    assert "insert" not in named
    assert not on_session & {"add", "add_all", "merge", "execute", "bulk_save_objects"}
    assert {"flush", "expunge_all"} <= on_session  # the walk does see the session's calls


def test_a_restricted_limb_refuses_the_demo_as_it_refuses_the_api(app_client, alice, monkeypatch):
    """A demo patient with lymphoedema of the left arm and a trigger point in the left
    deltoid: the treatment service refuses to plan it, with the message the API gives."""
    muscle, tp, side = RESTRICTED
    _, _, sid = ready(app_client, alice, {"lymphoedema": "left arm"})
    api = app_client.post(
        f"/api/needling-sessions/{sid}/targets",
        json={"muscle": muscle, "side": side, "trigger_point_id": tp},
        headers=alice.headers,
    )
    assert api.status_code == 409, api.text

    atlas = load_atlas()
    base = generator._screening_answers
    monkeypatch.setattr(
        generator,
        "_screening_answers",
        lambda: base() | {"lymphoedema": Answer(present=True, detail="left arm")},
    )
    monkeypatch.setattr(
        generator,
        "_trigger_points",
        lambda rng, atlas: [atlas.trigger_point(f"{muscle}.{tp}.{side}")],
    )
    with open_session(clinic_id=None) as s:
        with pytest.raises(SafetyBlock) as refused:
            generator.populate(s, staff=alice.principal, patients=1, seed=5, atlas=atlas)
        s.rollback()
    assert str(refused.value) == api.json()["detail"]
    assert "cannot plan this target" in str(refused.value)


# Each clinical row the demo writes, and the audit event its service appends for it.
AUDITED = [
    (Patient, "patient", "create"),
    (Episode, "episode", "create"),
    (Consent, "consent", "create"),
    (Visit, "visit", "create"),
    (PainDrawing, "pain_drawing", "create"),
    (Screening, "screening", "create"),
    (ScreeningConfirmation, "screening", "confirm"),
    (NeedlingSession, "needling_session", "create"),
    (NeedlingSession, "needling_session", "count"),
    (NeedlingSession, "needling_session", "sign"),
    (PlannedTarget, "planned_target", "create"),
    (NeedleEntry, "needle_entry", "create"),
    (AdverseEvent, "adverse_event", "create"),
    (Measurement, "measurement", "create"),
    (SoapNote, "soap_note", "create"),
    (SoapNote, "soap_note", "sign"),
]


def test_the_audit_trail_has_an_event_for_each_clinical_write(db):
    with open_session(clinic_id=None) as s:
        clinic_id = generator.seed(s, patients=6, seed=21).clinic_id
        s.commit()  # audit events are written at commit (rolled back with the test)
        events = Counter(
            (e.entity, e.action, e.actor)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.clinic_id == clinic_id))
        )
        for model, entity, action in AUDITED:
            rows = s.scalar(
                select(func.count()).select_from(model).where(model.clinic_id == clinic_id)
            )
            assert rows, f"the demo wrote no {model.__name__}"
            assert events[(entity, action, "demo seed")] == rows, (entity, action)
