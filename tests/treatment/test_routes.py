"""Every treatment route refuses another clinic, and every treatment write is audited
(tests/mixins.py): the JSON API and the bedside forms alike."""

from __future__ import annotations

from tests.examination.calls import FINDING_FORM, palpated
from tests.mixins import NO, AuditsEveryWrite, Call, RefusesAnotherClinic, counted, signed
from tests.treatment.test_needling_flow import TRAP

SCREENING_FORM = {rule: "no" for rule in NO}
CONSENT_FORM = {
    "risks": ["bruising", "post_needling_soreness", "pneumothorax"],
    "signed_by": "Owned Patient",
    "signer_relation": "self",
    "signed_at": "2026-11-01T10:00",
}
ENTRY_FORM = {
    **{k: str(v) for k, v in TRAP.items() if k != "familiar_pain"},
    "trigger_point_id": "tp1",
    "familiar_pain": "on",
}
ADVERSE = {"type": "bruising", "severity": "mild", "action_taken": "pressure"}
TARGET = {"muscle": "upper trapezius", "side": "right"}
SESSION = "{session_id}"


def _action(action, form, audits, entity_id=None, *, visit="{visit_id}", prepare=None) -> Call:
    """One of the bedside form's actions (POST /visits/{visit_id}/needling/{action}), at the
    owned visit with the open session unless told `visit`."""
    return Call(
        form=form,
        path={"action": action, "visit_id": visit},
        prepare=prepare,
        audits=audits,
        entity_id=entity_id,
        label=action,
    )


class TestTreatmentRoutes(RefusesAnotherClinic, AuditsEveryWrite):
    domain = "treatment"
    calls = {  # noqa: RUF012 - read by the mixins
        ("GET", "/visits/{visit_id}"): Call(),
        ("POST", "/visits/{visit_id}/palpation"): Call(
            form=FINDING_FORM, audits=("palpation_finding", "create"), entity_id=None
        ),
        ("POST", "/visits/{visit_id}/palpation/{finding_id}/delete"): Call(
            form={},
            path={"finding_id": "{finding_id}"},
            prepare=palpated,
            audits=("palpation_finding", "delete"),
            entity_id="{finding_id}",
        ),
        ("POST", "/api/patients/{patient_id}/screenings"): Call(
            json={"answers": NO}, audits=("screening", "create")
        ),
        ("POST", "/api/visits/{visit_id}/screening-confirmation"): Call(
            path={"visit_id": "{new_visit_id}"}, audits=("screening", "confirm"), entity_id=None
        ),
        ("POST", "/api/needling-sessions"): Call(
            json={"visit_id": "{free_visit_id}"}, audits=("needling_session", "create")
        ),
        ("GET", "/api/needling-sessions/{session_id}"): Call(),
        ("POST", "/api/needling-sessions/{session_id}/targets"): Call(
            json=TARGET,
            audits=("planned_target", "create"),
            entity_id=None,  # the answer is the session, not the target
        ),
        ("POST", "/api/needling-sessions/{session_id}/entries"): Call(
            json=TRAP, audits=("needle_entry", "create")
        ),
        ("POST", "/api/needling-sessions/{session_id}/count"): Call(
            json={"needles_out": 0}, audits=("needling_session", "count"), entity_id=SESSION
        ),
        ("POST", "/api/needling-sessions/{session_id}/adverse-events"): Call(
            json=ADVERSE, audits=("adverse_event", "create")
        ),
        ("POST", "/api/needling-sessions/{session_id}/sign"): Call(
            json={"version": "{version}"},
            prepare=counted,
            audits=("needling_session", "sign"),
            entity_id=SESSION,
        ),
        ("POST", "/api/needling-sessions/{session_id}/addenda"): Call(
            json={"text": "Patient phoned: soreness settled."},
            prepare=signed,
            audits=("needling_session", "addendum"),
            entity_id=SESSION,
        ),
        ("GET", "/api/needling-sessions/{session_id}/billing"): Call(),
        ("GET", "/patients/{patient_id}/screening"): Call(),
        ("POST", "/patients/{patient_id}/screening"): Call(
            form=SCREENING_FORM, audits=("screening", "create"), entity_id=None
        ),
        ("GET", "/patients/{patient_id}/consent"): Call(),
        ("POST", "/patients/{patient_id}/consent"): Call(
            form=CONSENT_FORM, audits=("consent", "create"), entity_id=None
        ),
        ("GET", "/visits/{visit_id}/needling"): Call(),
        ("POST", "/visits/{visit_id}/needling/{action}"): (
            _action("confirm", {}, ("screening", "confirm"), visit="{new_visit_id}"),
            _action("open", {}, ("needling_session", "create"), visit="{free_visit_id}"),
            _action("target", TARGET, ("planned_target", "create")),
            _action("entry", ENTRY_FORM, ("needle_entry", "create")),
            _action("count", {"needles_out": "0"}, ("needling_session", "count"), SESSION),
            _action("adverse", ADVERSE, ("adverse_event", "create")),
            _action(
                "sign",
                {"version": "{version}"},
                ("needling_session", "sign"),
                SESSION,
                prepare=counted,
            ),
            _action(
                "addendum",
                {"text": "Soreness settled."},
                ("needling_session", "addendum"),
                SESSION,
                prepare=signed,
            ),
        ),
    }
