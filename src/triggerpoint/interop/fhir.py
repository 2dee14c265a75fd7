"""FHIR R4 export and import of one patient's record, validated with `fhir.resources` R4B.

The bundle carries everything needed to rebuild the record in another triggerpoint clinic
(the re-import test relies on that): standard codes where they exist (ICD-10-CM, CPT, LOINC)
and a documented local code system where they do not (docs/fhir.md). Needle entries travel in
a complex extension on Procedure; screening answers as a QuestionnaireResponse, each
restriction the screening gave as a `Flag`, and each palpation finding as an exam Observation
(palpation and atlas-muscle code systems).

Import trusts nothing in the bundle: every write goes through the service function and input
schema the JSON API uses (records, treatment, outcomes), derived values (screening outcome
and restrictions, depth limits, scores) are recomputed, and every refusal is an
`InvalidInput` naming the resource and element (``Procedure[0].needle-entry[1].depth_mm``).
"""

from __future__ import annotations

import html
import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn

from fhir.resources.R4B.bundle import Bundle
from pydantic import Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import User
from triggerpoint.accounts.service import Principal
from triggerpoint.audit.models import AuditEvent
from triggerpoint.audit.service import record
from triggerpoint.db import utcnow
from triggerpoint.errors import Conflict, InvalidInput, NotFound, SafetyBlock
from triggerpoint.examination.models import PalpationFinding
from triggerpoint.examination.service import label as site_label
from triggerpoint.inputs import InputModel
from triggerpoint.interop import questionnaires
from triggerpoint.notes import schemas as note_schemas
from triggerpoint.notes.models import SoapNote
from triggerpoint.notes.service import import_note
from triggerpoint.notes.service import people as note_people
from triggerpoint.outcomes import series
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.languages import PATIENT_LANGUAGES
from triggerpoint.records.models import Consent, Episode, Patient, Visit
from triggerpoint.records.service import DRY_NEEDLING, RESEARCH, consent_in_force
from triggerpoint.treatment.models import NeedlingSession, Screening
from triggerpoint.treatment.service import billing

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOCAL = "urn:triggerpoint:codesystem"
EXT = "urn:triggerpoint:fhir:extension"
PATIENT_ID = "urn:triggerpoint:patient-id"
EXTERNAL_ID = "urn:triggerpoint:external-id"
RECORD_ID = "urn:triggerpoint:record-id"
VISIT_ID = "urn:triggerpoint:visit-id"
SCREENING_Q = "urn:triggerpoint:questionnaire:dry-needling-screening"
MEASURE_Q = questionnaires.CANONICAL  # + instrument id: the Questionnaire's `url`
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
# Palpation findings (docs/fhir.md, "Palpation findings"): our own code systems, since the
# atlas carries no SNOMED CT codes for its muscles and trigger points.
PALPATION = "https://triggerpoint.example/fhir/CodeSystem/palpation"
ATLAS_MUSCLE = "https://triggerpoint.example/fhir/CodeSystem/atlas-muscle"
SNOMED = "http://snomed.info/sct"
PALPATION_CODES = {
    "palpation": "Trigger point palpation",
    "familiar": "Familiar pain reproduced",
    "tender": "Tender, not the familiar pain",
    "none": "No tender spot or taut band",
    "twitch": "Local twitch response",
    "referral": "Referral on compression",
}
COMPONENTS = ("twitch", "referral")
# SNOMED CT laterality qualifiers (the HL7 body-site laterality value set)
LATERALITY = {"right": ("24028007", "Right"), "left": ("7771000", "Left")}
SIDE_OF = {code: side for side, (code, _) in LATERALITY.items()}
NS = uuid.UUID("6f1c8d0e-7a52-4b0f-9d6e-2f6c7b1e9a11")
LOINC_FOR = {
    "nprs": ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    "odi": ("97909-6", "Oswestry Disability Index score"),
}
VITALS = {"8302-2": ("height_cm", "cm"), "29463-7": ("weight_kg", "kg")}
ITEMISED = {"ndi", "odi", "quickdash"}
ENTRY_FIELDS = (
    "muscle_id",
    "side",
    "trigger_point_id",
    "needle_diameter_mm",
    "needle_length_mm",
    "technique",
    "depth_mm",
    "depth_limit_mm",
    "over_limit_reason",
    "pleural_recess_acknowledged",
    "twitch_count",
    "familiar_pain",
    "duration_s",
)
SEVERITY_TO_FHIR = {"mild": "mild", "moderate": "moderate", "major": "severe"}


def _ref(kind: str, key: object) -> str:
    return f"urn:uuid:{uuid.uuid5(NS, f'{kind}/{key}')}"


def _dt(v: datetime | date | None) -> str | None:
    return None if v is None else v.isoformat()


def _ext_value(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"url": name, "valueBoolean": value}
    if isinstance(value, int):
        return {"url": name, "valueInteger": value}
    if isinstance(value, float):
        return {"url": name, "valueDecimal": value}
    return {"url": name, "valueString": str(value)}


def record_key(p: Patient) -> str:
    """The patient record's identity at its source: stable across exports of this record and
    distinct across clinics and installations (the creation time separates two clinics' own
    patient 1). Import uses it to refuse the same record twice in one clinic."""
    created = p.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return str(uuid.uuid5(NS, f"record/{p.clinic_id}/{p.id}/{created}"))


def _patient(p: Patient) -> dict[str, Any]:
    identifiers = [
        {"system": PATIENT_ID, "value": str(p.id)},
        {"system": RECORD_ID, "value": f"urn:uuid:{record_key(p)}"},
    ]
    if p.external_id:
        identifiers.append({"system": EXTERNAL_ID, "value": p.external_id})
    telecom = [{"system": "phone", "value": p.phone}] if p.phone else []
    telecom += [{"system": "email", "value": p.email}] if p.email else []
    return {
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": [{"family": p.family_name, "given": [p.given_name]}],
        "gender": p.sex,
        "birthDate": p.date_of_birth.isoformat(),
        **({"telecom": telecom} if telecom else {}),
        **(
            {"communication": [_communication(p.preferred_language)]}
            if p.preferred_language
            else {}
        ),
    }


def _communication(code: str) -> dict[str, Any]:
    """`Patient.communication` for the preferred language: FHIR R4 binds `language` to BCP 47
    codes (system `urn:ietf:bcp:47`, hl7.org/fhir/R4/valueset-languages.html) and marks the
    one to use with `preferred` (hl7.org/fhir/R4/patient.html)."""
    english = PATIENT_LANGUAGES.get(code, (code, code))[0]
    coding = {"system": "urn:ietf:bcp:47", "code": code, "display": english}
    return {"language": {"coding": [coding], "text": english}, "preferred": True}


def _vitals(p: Patient, subject: str) -> list[dict[str, Any]]:
    out = []
    for code, display, value, unit in (
        ("8302-2", "Body height", p.height_cm, "cm"),
        ("29463-7", "Body weight", p.weight_kg, "kg"),
    ):
        if value is not None:
            out.append(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [_category("vital-signs")],
                    "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                    "subject": {"reference": subject},
                    "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
                }
            )
    return out


def _category(code: str) -> dict[str, Any]:
    return {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": code}
        ]
    }


def _condition(e: Episode, d, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active" if e.status == "open" else "resolved",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": ICD10CM, "code": d.code}]},
        "subject": {"reference": subject},
        **({"onsetDateTime": e.onset_date.isoformat()} if e.onset_date else {}),
        "note": [{"text": e.complaint}],
        "extension": [_ext_value(f"{EXT}/episode-id", str(e.id))],
    }


def _encounter(v: Visit, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": subject},
        "period": {"start": _dt(v.visit_at)},
        "identifier": [{"system": VISIT_ID, "value": str(v.id)}],
    }


def _signer(session: Session, ns: NeedlingSession) -> str | None:
    """Who signed, by name: a user of this clinic, or the name an imported session came with."""
    if ns.imported_signer:
        return ns.imported_signer
    if ns.signed_by is None:
        return None
    user = session.get(User, ns.signed_by)
    return user.full_name if user else None


def _needle_entry(e) -> dict[str, Any]:
    subs = [_ext_value(f, getattr(e, f)) for f in ENTRY_FIELDS if getattr(e, f) is not None]
    if e.estim:
        subs.append(
            {"url": "estim", "extension": [_ext_value(k, v) for k, v in sorted(e.estim.items())]}
        )
    return {"url": f"{EXT}/needle-entry", "extension": subs}


def _procedure(
    session: Session, ns: NeedlingSession, subject: str, names: dict[str, str]
) -> dict[str, Any]:
    bill = billing(ns)
    sites = {(e.muscle_id, e.side) for e in ns.entries}
    signer = _signer(session, ns) if ns.status == "signed" else None
    return {
        "resourceType": "Procedure",
        "status": "completed" if ns.status == "signed" else "in-progress",
        "code": {
            "coding": (
                [{"system": CPT, "code": bill.cpt, "display": bill.cpt_description}]
                if bill.cpt
                else []
            )
            + [{"system": f"{LOCAL}/procedure", "code": "trigger-point-dry-needling"}],
            "text": "Trigger point dry needling",
        },
        "subject": {"reference": subject},
        "encounter": {"reference": _ref("visit", ns.visit_id)},
        "performedDateTime": _dt(ns.opened_at),
        "bodySite": [
            {
                "coding": [{"system": f"{LOCAL}/muscle", "code": m}],
                "text": f"{side} {names.get(m, m)}",
            }
            for m, side in sorted(sites)
        ],
        "extension": [_needle_entry(e) for e in ns.entries]
        + ([_ext_value(f"{EXT}/needles-out", ns.needles_out)] if ns.needles_out is not None else [])
        + ([_ext_value(f"{EXT}/signed-by", signer)] if signer else [])
        + (
            [{"url": f"{EXT}/signed-at", "valueDateTime": _dt(ns.signed_at)}]
            if ns.status == "signed" and ns.signed_at is not None
            else []
        )
        + ([_ext_value(f"{EXT}/imported", True)] if ns.imported else []),
    }


def _palpation_coding(code: str) -> dict[str, str]:
    return {"system": PALPATION, "code": code, "display": PALPATION_CODES[code]}


def _finding(f: PalpationFinding, subject: str, names: dict[str, str]) -> dict[str, Any]:
    """One palpation finding as an exam Observation: the value from the palpation code system,
    the muscle as bodySite (with its side and, when named, the trigger point), twitch and
    referral as components, the visit's Encounter, and the time it was recorded."""
    name = names.get(f.muscle_id, f.muscle_id)
    code, display = LATERALITY[f.side]
    site_ext = [
        {
            "url": f"{EXT}/laterality",
            "valueCodeableConcept": {
                "coding": [{"system": SNOMED, "code": code, "display": display}]
            },
        }
    ]
    if f.trigger_point_id:
        site_ext.append(_ext_value(f"{EXT}/trigger-point", f.trigger_point_id))
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [_category("exam")],
        "code": {"coding": [_palpation_coding("palpation")], "text": "Trigger point palpation"},
        "subject": {"reference": subject},
        "encounter": {"reference": _ref("visit", f.visit_id)},
        "effectiveDateTime": _dt(f.recorded_at),
        "valueCodeableConcept": {
            "coding": [_palpation_coding(f.finding)],
            "text": PALPATION_CODES[f.finding].lower(),
        },
        "bodySite": {
            "coding": [{"system": ATLAS_MUSCLE, "code": f.muscle_id, "display": name}],
            "text": site_label(f.muscle_id, f.side, f.trigger_point_id),
            "extension": site_ext,
        },
        "component": [
            {"code": {"coding": [_palpation_coding(c)]}, "valueBoolean": value}
            for c, value in (("twitch", f.twitch), ("referral", f.referral))
            if value is not None
        ],
    }
    if f.note:
        obs["note"] = [{"text": f.note}]
    if not obs["component"]:
        del obs["component"]
    return obs


def _adverse(ae, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "AdverseEvent",
        "actuality": "actual",
        "subject": {"reference": subject},
        "event": {"coding": [{"system": f"{LOCAL}/adverse-event", "code": ae.type}]},
        "date": _dt(ae.reported_at),
        "severity": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
                    "code": SEVERITY_TO_FHIR[ae.severity],
                }
            ]
        },
        "seriousness": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
                    "code": "serious" if ae.severity == "major" else "non-serious",
                }
            ]
        },
        "suspectEntity": [{"instance": {"reference": _ref("procedure", ae.needling_id)}}],
        "extension": [
            _ext_value(f"{EXT}/{name}", value)
            for name, value in (
                ("action-taken", ae.action_taken),
                ("needles-unaccounted", ae.needles_unaccounted),
                ("description", ae.description),
                ("follow-up", ae.follow_up),
            )
            if value
        ],
    }


# A consent's kind as FHIR: our policyRule code, and the consentscope it falls under.
CONSENT_KINDS = {DRY_NEEDLING: ("dry-needling", "treatment"), RESEARCH: ("research", "research")}
CONSENT_CODES = {code: kind for kind, (code, _scope) in CONSENT_KINDS.items()}


def _consent(c: Consent, subject: str) -> dict[str, Any]:
    # a kind of an older or other system is still exported, as itself (import refuses it)
    code, scope = CONSENT_KINDS.get(c.kind) or (c.kind.replace("_", "-"), "treatment")
    period = {"start": _dt(c.signed_at)}
    if c.withdrawn_at is not None:
        period["end"] = _dt(c.withdrawn_at)
    return {
        "resourceType": "Consent",
        # active: in force for its own kind by the records rule (the policyRule below)
        "status": "active" if consent_in_force(c, kind=c.kind) else "inactive",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": scope,
                }
            ]
        },
        "category": [
            {"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": {"reference": subject},
        "dateTime": _dt(c.signed_at),
        "policyRule": {"coding": [{"system": f"{LOCAL}/consent", "code": code}]},
        "provision": {
            "period": period,
            "code": [
                {"coding": [{"system": f"{LOCAL}/risk", "code": r}]} for r in c.risks_disclosed
            ],
        },
        "extension": [
            _ext_value(f"{EXT}/signed-by", c.signed_by),
            _ext_value(f"{EXT}/signer-relation", c.signer_relation),
        ],
    }


def _measurement(m: Measurement, subject: str, urls: tuple[str, str]) -> list[dict[str, Any]]:
    spec = definitions()[m.instrument]
    system, code = (
        (LOINC, LOINC_FOR[m.instrument][0])
        if m.instrument in LOINC_FOR
        else (f"{LOCAL}/outcome", m.instrument)
    )
    unit = {"ppt": "kg/cm2", "rom": "deg"}.get(m.instrument, "{score}")
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final" if series.scored(m) else "preliminary",  # `outcomes.series`
        "category": [_category("survey")],
        "code": {"coding": [{"system": system, "code": code, "display": spec["name"]}]},
        "subject": {"reference": subject},
        "effectiveDateTime": _dt(m.measured_at),
        "extension": [
            _ext_value(f"{EXT}/{k}", v)
            for k, v in (("data", _json(m.data)), ("context", m.context), ("timing", m.timing))
            if v
        ],
    }
    if m.visit_id:
        obs["encounter"] = {"reference": _ref("visit", m.visit_id)}
    if m.score is not None:
        obs["valueQuantity"] = {"value": m.score, "unit": unit, "system": UCUM, "code": unit}
    else:
        obs["dataAbsentReason"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "error",
                }
            ],
            "text": "too many missing items",
        }
    out = [obs]
    patient_reported = m.source == "patient" and m.instrument in questionnaires.PATIENT_INSTRUMENTS
    if m.instrument in ITEMISED or patient_reported:
        # The answers as a response to the instrument's Questionnaire (GET
        # /api/fhir/Questionnaire/<id>); one the patient gave names them its `source`, and
        # `authored` is when they submitted it (the measurement's time).
        obs["derivedFrom"] = [{"reference": urls[1]}]
        qr: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": f"{MEASURE_Q}{m.instrument}",
            "status": "completed" if m.complete else "in-progress",
            "subject": {"reference": subject},
            "authored": _dt(m.measured_at),
            "item": questionnaires.response_items(m.instrument, m.data),
        }
        if patient_reported:
            qr["source"] = {"reference": subject}
        out.append(qr)
    return out


def _screening(s: Screening, subject: str) -> dict[str, Any]:
    items = [
        {
            "linkId": rid,
            "answer": [{"valueBoolean": a["present"]}]
            + ([{"valueString": a["detail"]}] if a.get("detail") else []),
        }
        for rid, a in sorted(s.answers.items())
    ]
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": SCREENING_Q,
        "status": "completed",
        "subject": {"reference": subject},
        "authored": _dt(s.screened_at),
        "item": items,
        "extension": [
            _ext_value(f"{EXT}/screening-outcome", s.outcome),
            _ext_value(f"{EXT}/rules-version", s.rules_version),
        ],
    }


def _flag(
    r: dict[str, Any], s: Screening, until: datetime | None, subject: str, screening_url: str
) -> dict[str, Any]:
    """One structured restriction of a screening as a safety Flag. Active while its screening
    is the one in force (the newest); a later screening ends it (`period.end`)."""
    parts = [_ext_value(k, r[k]) for k in ("rule", "scope") if r.get(k)]
    parts += [_ext_value("region", region) for region in r.get("regions") or []]
    parts += [_ext_value(k, r[k]) for k in ("where", "detail") if r.get(k)]
    code: dict[str, Any] = {"text": r.get("reason") or "Screening restriction"}
    if r.get("rule"):
        code["coding"] = [{"system": f"{LOCAL}/screening-rule", "code": r["rule"]}]
    period = {"start": _dt(s.screened_at)}
    if until is not None:
        period["end"] = _dt(until)
    return {
        "resourceType": "Flag",
        "status": "active" if until is None else "inactive",
        "category": [
            {"coding": [{"system": FLAG_CATEGORY, "code": "safety", "display": "Safety"}]}
        ],
        "code": code,
        "subject": {"reference": subject},
        "period": period,
        "extension": [
            {"url": f"{EXT}/restriction", "extension": parts},
            {"url": f"{EXT}/screening", "valueReference": {"reference": screening_url}},
        ],
    }


# LOINC's SOAP sections (as C-CDA progress notes use them), and the note itself.
SOAP_NOTE = ("11506-3", "Progress note")
SOAP_LOINC = {
    "subjective": ("61150-9", "Subjective Narrative"),
    "objective": ("61149-1", "Objective Narrative"),
    "assessment": ("51848-0", "Evaluation note"),
    "plan": ("18776-5", "Plan of care note"),
}
XHTML = "http://www.w3.org/1999/xhtml"


def _div(lines: Iterable[str]) -> dict[str, str]:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines) or "<p>Nothing written.</p>"
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}


def _soap_section(note: SoapNote, key: str) -> dict[str, Any]:
    """One SOAP section: the narrative for people, and the same content as extensions (the
    text verbatim, each structured finding by name) for a system that reads it back."""
    code, display = SOAP_LOINC[key]
    facts = [
        (name, getattr(note, name))
        for name, section in note_schemas.SECTION_OF.items()
        if section == key and getattr(note, name) is not None
    ]
    text = getattr(note, key)
    shown = [
        f"{note_schemas.LABELS[n]}: {('yes' if v else 'no') if isinstance(v, bool) else v}"
        for n, v in facts
    ]
    return {
        "title": note_schemas.SECTION_TITLES[key],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "text": _div([*shown, *(text.splitlines() if text else [])]),
        "extension": ([_ext_value(f"{EXT}/soap-text", text)] if text else [])
        + [_ext_value(f"{EXT}/soap/{n}", v) for n, v in facts],
    }


def _addenda_section(note: SoapNote, authors: list[str | None]) -> dict[str, Any]:
    pairs = list(zip(note.addenda, authors, strict=True))
    return {
        "title": "Addenda",
        "code": {"coding": [{"system": f"{LOCAL}/soap-section", "code": "addenda"}]},
        "text": _div(f"{_dt(a.created_at)}, {who or 'unknown'}: {a.text}" for a, who in pairs),
        "extension": [
            {
                "url": f"{EXT}/addendum",
                "extension": [
                    _ext_value("text", a.text),
                    {"url": "at", "valueDateTime": _dt(a.created_at)},
                    *([_ext_value("author", who)] if who else []),
                ],
            }
            for a, who in pairs
        ],
    }


def _composition(session: Session, note: SoapNote, subject: str) -> dict[str, Any]:
    """The visit's SOAP note: final once signed, preliminary before; addenda as a section."""
    signed = note.status == "signed" and note.signed_at is not None
    author, signer, authors = note_people(session, note)
    sections = [_soap_section(note, k) for k in note_schemas.SECTIONS]
    if note.addenda:
        sections.append(_addenda_section(note, authors))
    return {
        "resourceType": "Composition",
        "status": "final" if signed else "preliminary",
        "type": {
            "coding": [{"system": LOINC, "code": SOAP_NOTE[0], "display": SOAP_NOTE[1]}],
            "text": "SOAP note",
        },
        "subject": {"reference": subject},
        "encounter": {"reference": _ref("visit", note.visit_id)},
        "date": _dt(note.signed_at if signed else note.updated_at),
        "author": [{"display": author or "unknown"}],
        "title": "SOAP note",
        **({"attester": [{"mode": "legal", "time": _dt(note.signed_at)}]} if signed else {}),
        "section": sections,
        "extension": [_ext_value(f"{EXT}/signed-by", signer)] if signed and signer else [],
    }


def _json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def export_patient(session: Session, *, principal: Principal, patient_id: int) -> dict[str, Any]:
    """A FHIR R4 `collection` Bundle of the patient's record, validated before it is returned."""
    from triggerpoint.atlas.loader import load_atlas

    principal.require("clinical:read")
    p = session.get(Patient, patient_id)
    if p is None:
        raise NotFound("patient", patient_id)
    subject = _ref("patient", p.id)
    names = {m.id: m.name for m in load_atlas().muscles.values()}

    def q(model, *order):
        return list(session.scalars(select(model).where(model.patient_id == p.id).order_by(*order)))

    entries: list[tuple[str, dict[str, Any]]] = [(subject, _patient(p))]
    entries += [(_ref("vital", f"{p.id}/{i}"), r) for i, r in enumerate(_vitals(p, subject))]
    for e in q(Episode, Episode.id):
        entries += [
            (_ref("condition", f"{e.id}/{d.code}"), _condition(e, d, subject)) for d in e.diagnoses
        ]
    visits = q(Visit, Visit.visit_at, Visit.id)
    entries += [(_ref("visit", v.id), _encounter(v, subject)) for v in visits]
    entries += [
        (_ref("consent", c.id), _consent(c, subject))
        for c in q(Consent, Consent.signed_at, Consent.id)
    ]
    screenings = q(Screening, Screening.screened_at, Screening.id)
    entries += [(_ref("screening", s.id), _screening(s, subject)) for s in screenings]
    for k, s in enumerate(screenings):
        until = screenings[k + 1].screened_at if k + 1 < len(screenings) else None
        entries += [
            (_ref("flag", f"{s.id}/{j}"), _flag(r, s, until, subject, _ref("screening", s.id)))
            for j, r in enumerate(s.restrictions or [])
        ]
    for ns in q(NeedlingSession, NeedlingSession.opened_at, NeedlingSession.id):
        entries.append((_ref("procedure", ns.id), _procedure(session, ns, subject, names)))
        entries += [(_ref("adverse", ae.id), _adverse(ae, subject)) for ae in ns.adverse_events]
    for m in q(Measurement, Measurement.measured_at, Measurement.id):
        urls = (_ref("measurement", f"{m.id}/0"), _ref("measurement", f"{m.id}/1"))
        entries += list(zip(urls, _measurement(m, subject, urls), strict=False))
    found = session.scalars(
        select(PalpationFinding)
        .where(PalpationFinding.visit_id.in_([v.id for v in visits]))
        .order_by(PalpationFinding.recorded_at, PalpationFinding.id)
    )
    entries += [(_ref("palpation", f.id), _finding(f, subject, names)) for f in found]
    entries += [
        (_ref("soap_note", n.id), _composition(session, n, subject))
        for n in q(SoapNote, SoapNote.created_at, SoapNote.id)
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now().astimezone().isoformat(),
        "entry": [{"fullUrl": url, "resource": res} for url, res in entries],
    }
    validated = Bundle.model_validate(bundle)
    record(
        session,
        actor=principal.actor,
        action="export_fhir",
        entity="patient",
        entity_id=p.id,
        detail={"resources": len(entries)},
    )
    return validated.model_dump(mode="json", exclude_none=True)


# --- import -------------------------------------------------------------------------------


class FhirImportError(InvalidInput):
    """A bundle the import refuses; `field` names the resource and element
    (``Patient.birthDate``, ``Procedure[0].needle-entry[1].depth_mm``). The API answers 422."""


IMPORTED = (
    "Patient",
    "Observation",
    "Condition",
    "Encounter",
    "Consent",
    "QuestionnaireResponse",
    "Flag",
    "Procedure",
    "AdverseEvent",
    "Composition",
)
# The elements import reads, per resource type (plus id, meta and the narrative text). Any
# other element is refused rather than silently dropped.
ELEMENTS = {
    kind: set(names.split())
    for kind, names in {
        "Patient": "identifier name gender birthDate telecom communication",
        "Observation": "status category code subject effectiveDateTime extension encounter "
        "valueQuantity dataAbsentReason derivedFrom",
        "Condition": "clinicalStatus category code subject onsetDateTime note extension",
        "Encounter": "status class subject period identifier",
        "Consent": "status scope category patient dateTime policyRule provision extension",
        "QuestionnaireResponse": "questionnaire status subject source authored item extension",
        "Flag": "status category code subject period extension",
        "Procedure": "status code subject encounter performedDateTime bodySite extension",
        "AdverseEvent": "actuality subject event date severity seriousness suspectEntity extension",
        "Composition": "status type subject encounter date author title attester section extension",
    }.items()
}
# A palpation Observation (code from `PALPATION`) carries other elements than a measurement.
PALPATION_ELEMENTS = {
    "status",
    "category",
    "code",
    "subject",
    "encounter",
    "effectiveDateTime",
    "valueCodeableConcept",
    "bodySite",
    "component",
    "note",
}
ALWAYS = {"resourceType", "id", "meta", "text"}
MAX_ENTRIES = 5000
MAX_NEEDLES = 500
SEVERITY_FROM_FHIR = {v: k for k, v in SEVERITY_TO_FHIR.items()}
STRICTNESS = {"cleared": 0, "cleared_with_precautions": 1, "not_cleared": 2}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")
_HEAD = re.compile(r"^([^.\[]*)(.*)$", re.S)
_ITEM = re.compile(r"^[0-9]{1,3}$")
_INDEXED = re.compile(r"^([^.\[]*\[\d+\])(.*)$", re.S)
_MUSCLE = re.compile(r"(needle-entry\[\d+\])\.muscle$")
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _fail(path: str, message: str) -> NoReturn:
    raise FhirImportError(path, f"{path}: {message}")


@dataclass
class _Res:
    """One resource of the bundle and the name errors give it: ``Procedure[0]`` is the first
    Procedure in bundle order (the Patient, of which there is one, is just ``Patient``)."""

    type: str
    n: int
    url: str
    data: dict[str, Any]

    @property
    def path(self) -> str:
        return self.type if self.type == "Patient" else f"{self.type}[{self.n}]"


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out


def _rename(path: str, names: Mapping[str, str], field: str) -> str:
    """A service or schema field (``entries[2].depth_mm``) as the bundle element it came from:
    `names` maps the first part of the field to an element path; others hang under `path`."""
    out = f"{path}.{field}" if field else path
    for pattern in (_INDEXED, _HEAD):  # `diagnoses[1]` before `diagnoses`
        match = pattern.match(field)
        if match and match.group(1) in names:
            out = names[match.group(1)] + match.group(2)
            break
    # charting names the muscle `muscle`; the needle-entry extension calls it `muscle_id`
    return _MUSCLE.sub(r"\1.muscle_id", out)


@contextmanager
def _naming(path: str, names: Mapping[str, str] | None = None) -> Iterator[None]:
    """Errors from schemas and services inside the block name the bundle element."""
    names = names or {}
    try:
        yield
    except FhirImportError:
        raise
    except ValidationError as exc:
        err = exc.errors()[0]
        _fail(_rename(path, names, _loc(err["loc"])), err["msg"])
    except InvalidInput as exc:
        _fail(_rename(path, names, exc.field), str(exc))
    except SafetyBlock as exc:
        _fail(path, str(exc))


def _get(node: Any, key: str, path: str, kind: type | tuple[type, ...], *, required=False) -> Any:
    if not isinstance(node, dict):
        _fail(path, "must be a JSON object")
    value = node.get(key)
    if value is None:
        if required:
            _fail(f"{path}.{key}", "is required")
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        _fail(f"{path}.{key}", f"must be {' or '.join(k.__name__ for k in kinds)}")
    return value


def _items(node: Any, key: str, path: str, *, required=False) -> list[Any]:
    return _get(node, key, path, list, required=required) or []


def _code(concept: Any, path: str, system: str | None = None) -> str:
    """The code of a CodeableConcept's first coding (of `system`, when given)."""
    codings = _items(concept, "coding", path, required=True)
    for k, coding in enumerate(codings):
        where = f"{path}.coding[{k}]"
        if system is None or _get(coding, "system", where, str) == system:
            return _get(coding, "code", where, str, required=True)
    _fail(f"{path}.coding", f"needs a code of the system {system}" if system else "needs a code")


def _reference(node: Any, key: str, path: str, *, required=False) -> str | None:
    ref = _get(node, key, path, dict, required=required)
    return None if ref is None else _get(ref, "reference", f"{path}.{key}", str, required=True)


def _one(values: dict[str, list[Any]], name: str, path: str, kind, *, required=False) -> Any:
    found = values.get(name) or [None]
    value = found[0]
    if value is None:
        if required:
            _fail(f"{path}.{name}", "is required")
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        _fail(f"{path}.{name}", f"must be {' or '.join(k.__name__ for k in kinds)}")
    return value


def _extensions(
    node: Any, path: str, allowed: Iterable[str], *, repeat: Iterable[str] = (), prefix=f"{EXT}/"
) -> dict[str, list[Any]]:
    """The node's extensions by name: each a value[x], or a complex one's own dict. An unknown
    name, a second one of a single-valued name or a missing value is refused."""
    out: dict[str, list[Any]] = {}
    allowed, repeat = set(allowed), set(repeat)
    for k, ext in enumerate(_items(node, "extension", path)):
        where = f"{path}.extension[{k}]"
        url = _get(ext, "url", where, str, required=True)
        name = url[len(prefix) :] if url.startswith(prefix) else None
        if name not in allowed:
            _fail(where, f"{url!r} is not an extension this import reads")
        values = [key for key in ext if key.startswith("value")]
        if "extension" in ext:
            if values:
                _fail(f"{path}.{name}", "a complex extension has no value of its own")
            _items(ext, "extension", f"{path}.{name}")
            value = ext
        elif len(values) != 1 or ext[values[0]] is None:
            _fail(f"{path}.{name}", "needs exactly one value")
        else:
            value = ext[values[0]]
        if name in out and name not in repeat:
            _fail(f"{path}.{name}", "appears twice")
        out.setdefault(name, []).append(value)
    return out


def _when(value: Any, path: str, *, past: bool, date_only: bool = False) -> datetime:
    """A FHIR dateTime with a time and a zone, from 1900 to 2100 (a visit's date alone is taken
    as 12:00 UTC that day, the same calendar date from UTC-11 to UTC+11)."""
    if not isinstance(value, str):
        _fail(path, "must be a date-time string")
    if date_only and _DATE.match(value):
        try:
            d = date.fromisoformat(value)
        except ValueError as exc:
            _fail(path, str(exc))
        when = datetime(d.year, d.month, d.day, 12, tzinfo=UTC)
    elif _DATETIME.match(value):
        try:
            when = datetime.fromisoformat(value)
        except ValueError as exc:
            _fail(path, str(exc))
    else:
        _fail(
            path,
            f"{value[:40]!r} is not a date and time with a time zone "
            "(e.g. 2026-11-20T10:00:00+00:00)",
        )
    if not EARLIEST <= when < LATEST:
        _fail(path, f"{value!r} is not between 1900 and 2100")
    if past and when > utcnow() + timedelta(minutes=5):
        _fail(path, f"{value!r} is in the future")
    return when


def _vital(res: _Res) -> str | None:
    """The patient attribute a body height or weight Observation carries (None: not one)."""
    code = _code(_get(res.data, "code", res.path, dict, required=True), f"{res.path}.code")
    system = res.data["code"]["coding"][0].get("system")
    return VITALS[code][0] if system == LOINC and code in VITALS else None


def _subject(res: _Res, patient_url: str, key: str = "subject") -> None:
    if _reference(res.data, key, res.path, required=True) != patient_url:
        _fail(f"{res.path}.{key}", "refers to a patient that is not this bundle's Patient")


class _SignerIn(InputModel):
    name: str = Field(min_length=1, max_length=200)


@dataclass
class _Run:
    """One import: the principal, the bundle's resources by type and what has been created."""

    session: Session
    principal: Principal
    by_type: dict[str, list[_Res]]
    patient_url: str = ""
    patient_id: int = 0
    visits: dict[str, int] = field(default_factory=dict)
    # the dry-needling consents imported: (signed, withdrawn, in force, id)
    consents: list[tuple[datetime, datetime | None, bool, int]] = field(default_factory=list)
    screenings: dict[str, Screening] = field(default_factory=dict)
    adverse: dict[str, list[tuple[Any, datetime | None]]] = field(default_factory=dict)
    pairs: dict[str, str] = field(default_factory=dict)  # measurement QR -> its Observation

    def of(self, kind: str) -> list[_Res]:
        return self.by_type.get(kind, [])


def import_bundle(session: Session, *, principal: Principal, bundle: Any) -> int:
    """Rebuild a patient's record from a bundle in the principal's clinic; returns the new
    patient id. Every write goes through the service the JSON API uses, in the caller's
    transaction; on any error (FhirImportError/InvalidInput 422, Conflict 409, ...) the caller
    must roll back, and nothing is written."""
    principal.require("clinical:write")
    principal.require("patient:write")
    run = _Run(session, principal, _resources(bundle))
    key = _check_not_imported(run)
    _import_patient(run)
    _import_episodes(run)
    _import_visits(run)
    _import_findings(run)  # before the notes and sessions that sign their visits
    _import_notes(run)
    _import_consents(run)
    _import_screenings(run)
    _check_flags(run)
    _read_adverse_events(run)
    _import_procedures(run)
    _import_measurements(run)
    if key is not None:
        record(
            session,
            actor=principal.actor,
            action="import_fhir",
            entity="fhir_record",
            entity_id=key,
            detail={"patient_id": run.patient_id},
        )
    record(
        session,
        actor=principal.actor,
        action="import_fhir",
        entity="patient",
        entity_id=run.patient_id,
        detail={"resources": sum(len(v) for v in run.by_type.values())},
    )
    return run.patient_id


def _resources(bundle: Any) -> dict[str, list[_Res]]:
    """The bundle's resources by type, after the shape checks and FHIR R4B validation."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        _fail("bundle.resourceType", "must be Bundle")
    if bundle.get("type") != "collection":
        _fail("bundle.type", "must be collection (a patient's record as exported)")
    entries = _items(bundle, "entry", "bundle", required=True)
    if len(entries) > MAX_ENTRIES:
        _fail("bundle.entry", f"{len(entries)} resources; at most {MAX_ENTRIES} are imported")
    by_type: dict[str, list[_Res]] = {}
    order: list[_Res] = []
    urls: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"bundle.entry[{i}]"
        resource = _get(entry, "resource", where, dict, required=True)
        kind = _get(resource, "resourceType", f"{where}.resource", str, required=True)
        if kind not in IMPORTED:
            _fail(
                f"{where}.resource.resourceType",
                f"{kind[:60]!r} is not imported (it would be lost); this import reads "
                + ", ".join(IMPORTED),
            )
        url = _get(entry, "fullUrl", where, str) or ""
        if url and url in urls:
            _fail(f"{where}.fullUrl", f"{url[:80]!r} appears twice")
        urls.add(url)
        res = _Res(kind, len(by_type.get(kind, [])), url, resource)
        by_type.setdefault(kind, []).append(res)
        order.append(res)
    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        if len(loc) >= 3 and loc[0] == "entry" and isinstance(loc[1], int) and loc[1] < len(order):
            rest = _loc(loc[3:])
            where = order[loc[1]].path + (f".{rest}" if rest and rest[0] != "[" else rest)
        else:
            where = "bundle" + (f".{_loc(loc)}" if loc else "")
        _fail(where, f"not valid FHIR R4: {err['msg']}")
    except Exception as exc:  # the validator fails in its own ways on some malformed input
        _fail("bundle", f"not a valid FHIR R4 Bundle ({type(exc).__name__})")
    for res in order:
        allowed = PALPATION_ELEMENTS if _is_palpation(res) else ELEMENTS[res.type]
        extra = sorted(set(res.data) - allowed - ALWAYS)
        if extra:
            _fail(
                f"{res.path}.{extra[0]}", "is not an element this import reads (it would be lost)"
            )
    patients = by_type.get("Patient", [])
    if len(patients) != 1:
        _fail("bundle.entry", f"expected exactly one Patient, found {len(patients)}")
    return by_type


def _is_palpation(res: _Res) -> bool:
    """A palpation finding rather than a measurement: an Observation coded in `PALPATION`."""
    code = res.data.get("code") if res.type == "Observation" else None
    codings = code.get("coding") if isinstance(code, dict) else None
    return isinstance(codings, list) and any(
        isinstance(c, dict) and c.get("system") == PALPATION for c in codings
    )


def _identifiers(run: _Run) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, ident in enumerate(_items(run.of("Patient")[0].data, "identifier", "Patient")):
        where = f"Patient.identifier[{k}]"
        system = _get(ident, "system", where, str, required=True)
        if system not in (PATIENT_ID, RECORD_ID, EXTERNAL_ID):
            _fail(f"{where}.system", f"{system[:80]!r} is not an identifier this import reads")
        if system in out:
            _fail(f"{where}.system", "appears twice")
        out[system] = _get(ident, "value", where, str, required=True)
    return out


def _check_not_imported(run: _Run) -> str | None:
    """The record's key (None when the bundle carries no source identity); 409 if this clinic
    already imported it. Kept in the audit trail, which records every import."""
    ids = _identifiers(run)
    patient = run.of("Patient")[0].data
    if RECORD_ID in ids:
        source = f"record/{ids[RECORD_ID]}"
    elif PATIENT_ID in ids:  # bundles exported before the record identifier existed
        source = f"legacy/{ids[PATIENT_ID]}/{patient.get('birthDate')}/{_json(patient.get('name'))}"
    else:
        return None
    key = str(uuid.uuid5(NS, source))
    earlier = run.session.scalar(
        select(AuditEvent.detail)
        .where(
            AuditEvent.clinic_id == run.principal.clinic_id,
            AuditEvent.action == "import_fhir",
            AuditEvent.entity == "fhir_record",
            AuditEvent.entity_id == key,
        )
        .limit(1)
    )
    if earlier is not None:
        raise Conflict(
            "this bundle's patient record was already imported into this clinic"
            f" (patient {earlier.get('patient_id')}); update that record instead"
        )
    return key


def _import_patient(run: _Run) -> None:
    from triggerpoint.records import schemas
    from triggerpoint.records.service import create_patient

    res = run.of("Patient")[0]
    d, path = res.data, res.path
    if not res.url:
        _fail(f"{path}.fullUrl", "is required: the other resources refer to the Patient by it")
    run.patient_url = res.url
    names = _items(d, "name", path, required=True)
    if len(names) != 1:
        _fail(f"{path}.name", "needs exactly one name (family and given)")
    name = names[0]
    given = _items(name, "given", f"{path}.name[0]", required=True)
    if not all(isinstance(g, str) for g in given):
        _fail(f"{path}.name.given", "must be strings")
    telecom: dict[str, str] = {}
    for k, t in enumerate(_items(d, "telecom", path)):
        system = _get(t, "system", f"{path}.telecom[{k}]", str, required=True)
        if system not in ("phone", "email") or system in telecom:
            _fail(f"{path}.telecom[{k}]", "one phone and one email are imported")
        telecom[system] = _get(t, "value", f"{path}.telecom[{k}]", str, required=True)
    body: dict[str, Any] = {
        "given_name": " ".join(given),
        "family_name": _get(name, "family", f"{path}.name[0]", str, required=True),
        "date_of_birth": _get(d, "birthDate", path, str, required=True),
        "sex": _get(d, "gender", path, str) or "unknown",
        "phone": telecom.get("phone"),
        "email": telecom.get("email"),
        "external_id": _identifiers(run).get(EXTERNAL_ID),
    }
    language_path = _preferred_language(d, path, body)
    fields = {
        "given_name": f"{path}.name.given",
        "family_name": f"{path}.name.family",
        "date_of_birth": f"{path}.birthDate",
        "sex": f"{path}.gender",
        "phone": f"{path}.telecom.phone",
        "email": f"{path}.telecom.email",
        "external_id": f"{path}.identifier.external-id",
        "preferred_language": language_path,
    }
    for obs in run.of("Observation"):
        attr = _vital(obs)
        if attr is None:
            continue
        _subject(obs, run.patient_url)
        unit = "cm" if attr == "height_cm" else "kg"
        if attr in body:
            _fail(obs.path, f"a second {attr.split('_')[0]}: one of each is imported")
        quantity = _get(obs.data, "valueQuantity", obs.path, dict, required=True)
        if (
            _get(quantity, "code", f"{obs.path}.valueQuantity", str) or quantity.get("unit")
        ) != unit:
            _fail(f"{obs.path}.valueQuantity.code", f"must be {unit}")
        body[attr] = _get(
            quantity, "value", f"{obs.path}.valueQuantity", (int, float), required=True
        )
        fields[attr] = f"{obs.path}.valueQuantity.value"
    with _naming(path, fields):
        patient = create_patient(
            run.session, principal=run.principal, data=schemas.PatientIn.model_validate(body)
        )
    run.patient_id = patient.id


def _preferred_language(d: dict[str, Any], path: str, body: dict[str, Any]) -> str:
    """`Patient.communication`'s preferred language (else its first) into `body`, as its
    primary BCP 47 subtag ("es-ES" -> "es"); the patient schema refuses a language the
    patient's pages lack, naming the returned path, so nothing is dropped silently."""
    comms = _items(d, "communication", path)
    if not comms:
        return f"{path}.communication"
    k = next((i for i, c in enumerate(comms) if _get(c, "preferred", path, bool)), 0)
    where = f"{path}.communication[{k}].language"
    code = _code(_get(comms[k], "language", where.rsplit(".", 1)[0], dict, required=True), where)
    body["preferred_language"] = code.split("-")[0]
    return where


def _import_episodes(run: _Run) -> None:
    from triggerpoint.records import schemas
    from triggerpoint.records.service import create_episode

    groups: dict[str, list[_Res]] = {}
    for res in run.of("Condition"):
        _subject(res, run.patient_url)
        x = _extensions(res.data, res.path, {"episode-id"})
        key = _one(x, "episode-id", res.path, str)
        groups.setdefault(f"episode/{key}" if key else f"condition/{res.n}", []).append(res)
    for group in groups.values():
        first = group[0]
        complaints: set[str | None] = set()  # a condition may have no text
        onsets: set[str | None] = set()
        codes: list[str] = []
        for res in group:
            status = res.data.get("clinicalStatus")
            if status is not None and _code(status, f"{res.path}.clinicalStatus") != "active":
                _fail(
                    f"{res.path}.clinicalStatus",
                    "only active conditions are imported: triggerpoint has no way to close an "
                    "episode of care yet",
                )
            concept = _get(res.data, "code", res.path, dict, required=True)
            note = _items(res.data, "note", res.path)
            text = _get(note[0], "text", f"{res.path}.note[0]", str) if note else None
            complaints.add(text or _get(concept, "text", f"{res.path}.code", str))
            onset = _get(res.data, "onsetDateTime", res.path, str)
            onsets.add(onset[:10] if onset else None)
            code = _code(concept, f"{res.path}.code", ICD10CM)
            if code.upper() in {c.upper() for c in codes}:
                _fail(f"{res.path}.code", f"{code!r} appears twice in one episode")
            codes.append(code)
        if len(complaints) > 1 or len(onsets) > 1:
            _fail(
                f"{group[-1].path}.note",
                "conditions of one episode must share the complaint and onset date",
            )
        fields = {
            "complaint": f"{first.path}.note",
            "onset_date": f"{first.path}.onsetDateTime",
            **{f"diagnoses[{k}]": res.path for k, res in enumerate(group)},
        }
        complaint, onset = complaints.pop(), onsets.pop()
        with _naming(first.path, fields):
            data = schemas.EpisodeIn.model_validate(
                {
                    "complaint": complaint if complaint is not None else "",
                    "onset_date": onset,
                    "diagnoses": [{"code": c} for c in codes],
                }
            )
            create_episode(
                run.session, principal=run.principal, patient_id=run.patient_id, data=data
            )


def _import_visits(run: _Run) -> None:
    from triggerpoint.records import schemas
    from triggerpoint.records.service import create_visit

    for res in run.of("Encounter"):
        _subject(res, run.patient_url)
        if _get(res.data, "status", res.path, str) in ("cancelled", "entered-in-error"):
            _fail(f"{res.path}.status", "a cancelled encounter is not a visit")
        period = _get(res.data, "period", res.path, dict, required=True)
        start = _get(period, "start", f"{res.path}.period", str, required=True)
        at = _when(start, f"{res.path}.period.start", past=False, date_only=True)
        with _naming(res.path, {"visit_at": f"{res.path}.period.start"}):
            visit = create_visit(
                run.session,
                principal=run.principal,
                patient_id=run.patient_id,
                data=schemas.VisitIn(visit_at=at),
            )
        if res.url:
            run.visits[res.url] = visit.id


def _import_findings(run: _Run) -> None:
    """Each palpation Observation as a finding of its visit, through
    `examination.service.record_finding` (which resolves the site in the atlas and checks the
    value). They are imported right after the visits, as a session's needle entries are
    recorded before it is signed: a visit signed later in the import (its note, its needling
    session) had its findings when it was signed."""
    from triggerpoint.examination.schemas import FindingIn
    from triggerpoint.examination.service import record_finding

    seen: set[int] = set()
    for res in run.of("Observation"):
        if not _is_palpation(res):
            continue
        d, path = res.data, res.path
        _subject(res, run.patient_url)
        if _code(d["code"], f"{path}.code", PALPATION) != "palpation":
            _fail(f"{path}.code", "a palpation Observation is coded 'palpation'")
        if _get(d, "status", path, str) in ("cancelled", "entered-in-error"):
            _fail(f"{path}.status", "a cancelled observation is not a finding")
        visit_id = run.visits.get(_reference(d, "encounter", path, required=True) or "")
        if visit_id is None:
            _fail(f"{path}.encounter", "refers to an Encounter that is not in the bundle")
        value = _get(d, "valueCodeableConcept", path, dict, required=True)
        finding = _code(value, f"{path}.valueCodeableConcept", PALPATION)
        site = _get(d, "bodySite", path, dict, required=True)
        where = f"{path}.bodySite"
        muscle_id = _code(site, where, ATLAS_MUSCLE)
        x = _extensions(site, where, {"laterality", "trigger-point"})
        laterality = _one(x, "laterality", where, dict, required=True)
        side = SIDE_OF.get(_code(laterality, f"{where}.laterality", SNOMED))
        if side is None:
            _fail(
                f"{where}.laterality",
                "must be SNOMED CT 24028007 (right) or 7771000 (left)",
            )
        extra: dict[str, bool] = {}
        for k, comp in enumerate(_items(d, "component", path)):
            at = f"{path}.component[{k}]"
            name = _code(_get(comp, "code", at, dict, required=True), f"{at}.code", PALPATION)
            if name not in COMPONENTS:
                _fail(f"{at}.code", f"{name[:40]!r} is not one of {', '.join(COMPONENTS)}")
            if name in extra:
                _fail(f"{at}.code", f"{name} appears twice")
            extra[name] = _get(comp, "valueBoolean", at, bool, required=True)
        notes = _items(d, "note", path)
        if len(notes) > 1:
            _fail(f"{path}.note", "at most one note")
        note = _get(notes[0], "text", f"{path}.note[0]", str) if notes else None
        recorded_at = _when(
            _get(d, "effectiveDateTime", path, str, required=True),
            f"{path}.effectiveDateTime",
            past=True,
        )
        fields = {
            "finding": f"{path}.valueCodeableConcept",
            "site": where,
            "muscle_id": where,
            "side": f"{where}.laterality",
            "trigger_point_id": f"{where}.trigger-point",
            "twitch": f"{path}.component",
            "referral": f"{path}.component",
            "note": f"{path}.note",
        }
        with _naming(path, fields):
            data = FindingIn.model_validate(
                {
                    "muscle_id": muscle_id,
                    "side": side,
                    "trigger_point_id": _one(x, "trigger-point", where, str),
                    "finding": finding,
                    "twitch": extra.get("twitch"),
                    "referral": extra.get("referral"),
                    "note": note,
                }
            )
            row = record_finding(
                run.session,
                principal=run.principal,
                visit_id=visit_id,
                data=data,
                recorded_at=recorded_at,
            )
        if row.id in seen:  # recording a site again updates it: a bundle would lose one
            _fail(where, "a second finding on the same site at the same visit")
        seen.add(row.id)


SOAP_BY_CODE = {code: key for key, (code, _) in SOAP_LOINC.items()}
SECTION_ELEMENTS = {"title", "code", "text", "extension"}


def _import_notes(run: _Run) -> None:
    """Each Composition as the visit's SOAP note, through `notes.service.import_note`: the
    content from the extensions (the narrative is derived and not read), its author and
    signer as names, its times, its addenda."""
    for res in run.of("Composition"):
        d, path = res.data, res.path
        _subject(res, run.patient_url)
        encounter = _reference(d, "encounter", path, required=True)
        if encounter not in run.visits:
            _fail(f"{path}.encounter", "refers to no Encounter of this bundle")
        status = _get(d, "status", path, str, required=True)
        if status not in ("final", "preliminary"):
            _fail(f"{path}.status", "must be final (a signed note) or preliminary (a draft)")
        at = _when(_get(d, "date", path, str, required=True), f"{path}.date", past=True)
        authors = _items(d, "author", path, required=True)
        author = _get(authors[0], "display", f"{path}.author[0]", str) or "unknown"
        signer = _one(_extensions(d, path, {"signed-by"}), "signed-by", path, str)
        signed_at = None
        if status == "final":
            attester = _items(d, "attester", path, required=True)[0]
            where = f"{path}.attester[0]"
            signed_at = _when(
                _get(attester, "time", where, str, required=True), f"{where}.time", past=True
            )
        content, names, addenda = _note_sections(d, path)
        with _naming(path, names):
            for name, where in (
                (author, f"{path}.author[0].display"),
                (signer, f"{path}.signed-by"),
            ):
                if name is not None:
                    with _naming(where, {"name": where}):
                        _SignerIn(name=name)
            import_note(
                run.session,
                principal=run.principal,
                visit_id=run.visits[encounter],
                content=note_schemas.NoteContent.model_validate(content),
                at=at,
                author=author,
                signed_at=signed_at,
                signer=signer,
                addenda=addenda,
            )


def _note_sections(
    d: dict[str, Any], path: str
) -> tuple[dict[str, Any], dict[str, str], list[tuple[Any, datetime, str | None]]]:
    """The note's content by field, the element each field came from, and its addenda."""
    content: dict[str, Any] = {}
    names: dict[str, str] = {}
    addenda: list[tuple[Any, datetime, str | None]] = []
    seen: set[str] = set()
    for k, sec in enumerate(_items(d, "section", path)):
        where = f"{path}.section[{k}]"
        if not isinstance(sec, dict):
            _fail(where, "must be a JSON object")
        if extra := sorted(set(sec) - SECTION_ELEMENTS):
            _fail(f"{where}.{extra[0]}", "is not an element this import reads (it would be lost)")
        code = _code(_get(sec, "code", where, dict, required=True), f"{where}.code")
        key = "addenda" if code == "addenda" else SOAP_BY_CODE.get(code)
        if key is None:
            _fail(f"{where}.code", f"{code[:40]!r} is not a SOAP section")
        if key in seen:
            _fail(f"{where}.code", "appears twice")
        seen.add(key)
        if key == "addenda":
            addenda = _note_addenda(sec, where)
            continue
        fields = [n for n, s in note_schemas.SECTION_OF.items() if s == key]
        exts = _extensions(sec, where, {"soap-text", *(f"soap/{n}" for n in fields)})
        names[key] = f"{where}.soap-text"
        content[key] = _one(exts, "soap-text", where, str)
        for n in fields:
            names[n] = f"{where}.soap/{n}"
            content[n] = _one(exts, f"soap/{n}", where, (str, int, bool))
    return content, names, addenda


def _note_addenda(sec: dict[str, Any], where: str) -> list[tuple[Any, datetime, str | None]]:
    from triggerpoint.notes.schemas import NoteAddendumIn

    out: list[tuple[Any, datetime, str | None]] = []
    exts = _extensions(sec, where, {"addendum"}, repeat={"addendum"})
    for i, ext in enumerate(exts.get("addendum", [])):
        w = f"{where}.addendum[{i}]"
        inner = _extensions(ext, w, {"text", "at", "author"}, prefix="")
        when = _when(_one(inner, "at", w, str, required=True), f"{w}.at", past=True)
        who = _one(inner, "author", w, str)
        with _naming(w, {"text": f"{w}.text", "name": f"{w}.author"}):
            text = NoteAddendumIn(text=_one(inner, "text", w, str, required=True))
            if who is not None:
                _SignerIn(name=who)
        out.append((text, when, who))
    return out


def _import_consents(run: _Run) -> None:
    from triggerpoint.records import schemas
    from triggerpoint.records.service import record_consent, withdraw_consent

    for res in run.of("Consent"):
        d, path = res.data, res.path
        _subject(res, run.patient_url, "patient")
        status = _get(d, "status", path, str, required=True)
        if status not in ("active", "inactive"):
            _fail(f"{path}.status", "must be active or inactive")
        policy = d.get("policyRule")
        code = "dry-needling" if policy is None else _code(policy, f"{path}.policyRule")
        if code not in CONSENT_CODES:
            _fail(f"{path}.policyRule", f"must be one of {', '.join(CONSENT_CODES)}")
        x = _extensions(d, path, {"signed-by", "signer-relation"})
        provision = _get(d, "provision", path, dict) or {}
        risks = [
            _code(c, f"{path}.provision.code[{k}]", f"{LOCAL}/risk")
            for k, c in enumerate(_items(provision, "code", f"{path}.provision"))
        ]
        signed_at = _when(
            _get(d, "dateTime", path, str, required=True), f"{path}.dateTime", past=True
        )
        ended = (_get(provision, "period", f"{path}.provision", dict) or {}).get("end")
        withdrawn = _when(ended, f"{path}.provision.period.end", past=True) if ended else None
        if withdrawn is not None and (status == "active" or withdrawn < signed_at):
            _fail(f"{path}.provision.period.end", "must be a withdrawal after signing")
        fields = {
            "risks_disclosed": f"{path}.provision.code",
            "signed_by": f"{path}.signed-by",
            "signer_relation": f"{path}.signer-relation",
            "signed_at": f"{path}.dateTime",
        }
        with _naming(path, fields):
            data = schemas.ConsentIn.model_validate(
                {
                    "kind": CONSENT_CODES[code],
                    "risks_disclosed": risks,
                    "signed_by": _one(x, "signed-by", path, str, required=True),
                    "signer_relation": _one(x, "signer-relation", path, str) or "self",
                    "signed_at": signed_at,
                }
            )
            consent = record_consent(
                run.session, principal=run.principal, patient_id=run.patient_id, data=data
            )
            if status == "inactive":
                withdraw_consent(
                    run.session,
                    principal=run.principal,
                    consent_id=consent.id,
                    version=consent.version,
                )
        if consent.kind == DRY_NEEDLING:  # what a needling session in the bundle may rest on
            run.consents.append((signed_at, withdrawn, status == "active", consent.id))


def _import_screenings(run: _Run) -> None:
    from triggerpoint.treatment import schemas
    from triggerpoint.treatment.service import record_screening

    for res in run.of("QuestionnaireResponse"):
        d, path = res.data, res.path
        _subject(res, run.patient_url)
        questionnaire = _get(d, "questionnaire", path, str, required=True)
        if questionnaire != SCREENING_Q:
            name = questionnaire[len(MEASURE_Q) :] if questionnaire.startswith(MEASURE_Q) else ""
            if name in ITEMISED or name in questionnaires.PATIENT_INSTRUMENTS:
                continue  # an outcome measure's answers, read with its Observation
            _fail(
                f"{path}.questionnaire",
                f"{questionnaire[:80]!r} is not a questionnaire this import reads",
            )
        if _get(d, "status", path, str) != "completed":
            _fail(f"{path}.status", "only a completed screening is imported")
        x = _extensions(d, path, {"screening-outcome", "rules-version"})
        claimed = _one(x, "screening-outcome", path, str)
        if claimed is not None and claimed not in STRICTNESS:
            _fail(
                f"{path}.screening-outcome",
                f"{claimed[:40]!r} is not a screening outcome ({', '.join(STRICTNESS)})",
            )
        screened_at = _when(
            _get(d, "authored", path, str, required=True), f"{path}.authored", past=True
        )
        answers: dict[str, dict[str, Any]] = {}
        for k, item in enumerate(_items(d, "item", path, required=True)):
            where = f"{path}.item[{k}]"
            rule = _get(item, "linkId", where, str, required=True)
            if rule in answers:
                _fail(f"{where}.linkId", f"{rule[:40]!r} is answered twice")
            given = _items(item, "answer", where, required=True)
            if not 1 <= len(given) <= 2:
                _fail(f"{where}.answer", "a yes/no answer and at most one detail")
            answers[rule] = {
                "present": _get(given[0], "valueBoolean", f"{where}.answer[0]", bool, required=True)
            }
            if len(given) == 2:
                answers[rule]["detail"] = _get(
                    given[1], "valueString", f"{where}.answer[1]", str, required=True
                )
        with _naming(path):
            screening = record_screening(
                run.session,
                principal=run.principal,
                patient_id=run.patient_id,
                data=schemas.ScreeningIn.model_validate({"answers": answers}),
                screened_at=screened_at,
            )
        if claimed is not None and STRICTNESS[screening.outcome] < STRICTNESS[claimed]:
            _fail(
                f"{path}.screening-outcome",
                f"the answers give {screening.outcome} under the current rules but the bundle "
                f"says {claimed}: a safety judgement would be loosened; screen the patient again",
            )
        run.screenings[res.url or f"#{res.n}"] = screening


def _check_flags(run: _Run) -> None:
    """Each restriction the source exported as a Flag must be given again by the recomputed
    screening (same rule and scope, at least the same regions): the answers are the source of
    truth, and a restriction is never dropped silently."""
    for res in run.of("Flag"):
        d, path = res.data, res.path
        _subject(res, run.patient_url)
        if _get(d, "status", path, str) not in ("active", "inactive"):
            _fail(f"{path}.status", "must be active or inactive")
        x = _extensions(d, path, {"restriction", "screening"})
        screening_ref = _one(x, "screening", path, dict, required=True)
        url = _get(screening_ref, "reference", f"{path}.screening", str, required=True)
        screening = run.screenings.get(url)
        if screening is None:
            _fail(f"{path}.screening", "refers to a screening that is not in the bundle")
        where = f"{path}.restriction"
        parts = _extensions(
            _one(x, "restriction", path, dict, required=True),
            where,
            {"rule", "scope", "region", "where", "detail"},
            repeat={"region"},
            prefix="",
        )
        rule = _one(parts, "rule", where, str, required=True)
        scope = _one(parts, "scope", where, str, required=True)
        regions = parts.get("region", [])
        if not all(isinstance(r, str) for r in regions):
            _fail(f"{where}.region", "must be body-chart region ids")
        if not any(
            r.get("rule") == rule
            and r.get("scope") == scope
            and set(regions) <= set(r.get("regions") or [])
            for r in screening.restrictions
        ):
            _fail(
                where,
                f"the screening's answers do not give this restriction ({rule[:40]}, {scope[:20]}"
                + (f", {len(regions)} regions" if regions else "")
                + ") under the current rules; it would be lost: screen the patient again",
            )


def _read_adverse_events(run: _Run) -> None:
    from triggerpoint.treatment import schemas

    procedures = {res.url for res in run.of("Procedure") if res.url}
    for res in run.of("AdverseEvent"):
        d, path = res.data, res.path
        _subject(res, run.patient_url)
        if _get(d, "actuality", path, str) != "actual":
            _fail(f"{path}.actuality", "only actual adverse events are imported")
        suspects = _items(d, "suspectEntity", path, required=True)
        if len(suspects) != 1:
            _fail(f"{path}.suspectEntity", "must name the one needling session it followed")
        url = _reference(suspects[0], "instance", f"{path}.suspectEntity[0]", required=True)
        if url not in procedures:
            _fail(f"{path}.suspectEntity", "refers to a Procedure that is not in the bundle")
        severity = _code(_get(d, "severity", path, dict, required=True), f"{path}.severity")
        if severity not in SEVERITY_FROM_FHIR:
            _fail(f"{path}.severity", "must be mild, moderate or severe")
        x = _extensions(
            d, path, {"action-taken", "needles-unaccounted", "description", "follow-up"}
        )
        reported = _get(d, "date", path, str)
        fields = {
            "type": f"{path}.event",
            "severity": f"{path}.severity",
            "action_taken": f"{path}.action-taken",
            "needles_unaccounted": f"{path}.needles-unaccounted",
            "description": f"{path}.description",
            "follow_up": f"{path}.follow-up",
        }
        with _naming(path, fields):
            data = schemas.AdverseEventIn.model_validate(
                {
                    "type": _code(
                        _get(d, "event", path, dict, required=True),
                        f"{path}.event",
                        f"{LOCAL}/adverse-event",
                    ),
                    "severity": SEVERITY_FROM_FHIR[severity],
                    "action_taken": _one(x, "action-taken", path, str, required=True),
                    "needles_unaccounted": _one(x, "needles-unaccounted", path, int),
                    "description": _one(x, "description", path, str),
                    "follow_up": _one(x, "follow-up", path, str),
                }
            )
        at = _when(reported, f"{path}.date", past=True) if reported else None
        run.adverse.setdefault(url, []).append((data, at))


# What a needle-entry extension may carry: the exported fields and the stimulation parameters.
ENTRY_NAMES = {*ENTRY_FIELDS, "estim"}


def _entry(ext: dict[str, Any], where: str) -> Any:
    """One needle entry as the charting schema takes it; the depth limit is recomputed."""
    from triggerpoint.treatment import schemas

    parts = _extensions(ext, where, ENTRY_NAMES, prefix="")
    body: dict[str, Any] = {k: v[0] for k, v in parts.items() if k not in ("depth_limit_mm",)}
    if "muscle_id" in body:
        body["muscle"] = body.pop("muscle_id")
    if "estim" in body:
        estim = _extensions(
            body["estim"],
            f"{where}.estim",
            {"frequency_hz", "pulse_width_us", "intensity_ma"},
            prefix="",
        )
        body["estim"] = {k: v[0] for k, v in estim.items()}
    with _naming(where):
        return schemas.EntryIn.model_validate(body)


def _in_force(run: _Run, at: datetime) -> tuple[Screening | None, int | None]:
    """The screening and the consent in force at `at`: the latest screened (signed) at or
    before it, the consent not withdrawn by then."""
    screening = max(
        (s for s in run.screenings.values() if s.screened_at <= at),
        key=lambda s: (s.screened_at, s.id),
        default=None,
    )
    consent = max(
        (c for c in run.consents if c[0] <= at and (c[2] or (c[1] is not None and c[1] > at))),
        key=lambda c: (c[0], c[3]),
        default=None,
    )
    return screening, consent[3] if consent else None


def _import_procedures(run: _Run) -> None:
    from triggerpoint.treatment import schemas
    from triggerpoint.treatment.service import import_needling_session

    used: set[int] = set()
    for res in run.of("Procedure"):
        d, path = res.data, res.path
        _subject(res, run.patient_url)
        kind = _code(
            _get(d, "code", path, dict, required=True), f"{path}.code", f"{LOCAL}/procedure"
        )
        if kind != "trigger-point-dry-needling":
            _fail(f"{path}.code", "only trigger point dry needling is imported")
        status = _get(d, "status", path, str, required=True)
        if status not in ("completed", "in-progress"):
            _fail(f"{path}.status", "must be completed (signed) or in-progress (open)")
        visit_id = run.visits.get(_reference(d, "encounter", path, required=True) or "")
        if visit_id is None:
            _fail(f"{path}.encounter", "refers to an Encounter that is not in the bundle")
        if visit_id in used:
            _fail(f"{path}.encounter", "the visit already has a needling session in this bundle")
        used.add(visit_id)
        opened_at = _when(
            _get(d, "performedDateTime", path, str, required=True),
            f"{path}.performedDateTime",
            past=True,
        )
        x = _extensions(
            d,
            path,
            {"needle-entry", "needles-out", "signed-by", "signed-at", "imported"},
            repeat={"needle-entry"},
        )
        needles = x.get("needle-entry", [])
        if len(needles) > MAX_NEEDLES:
            _fail(f"{path}.needle-entry", f"at most {MAX_NEEDLES} needles per session")
        entries = [_entry(ext, f"{path}.needle-entry[{k}]") for k, ext in enumerate(needles)]
        needles_out = _one(x, "needles-out", path, int)
        if needles_out is not None:
            with _naming(path, {"needles_out": f"{path}.needles-out"}):
                schemas.CountIn(needles_out=needles_out)
        _one(x, "imported", path, bool)  # an import is always marked imported
        signed_at = signer = None
        if status == "completed":
            signed = _one(x, "signed-at", path, str)
            signed_at = (
                _when(signed, f"{path}.signed-at", past=True) if signed is not None else opened_at
            )
            if signed_at < opened_at:
                _fail(f"{path}.signed-at", "is before the session began")
            name = _one(x, "signed-by", path, str)
            if name is not None:
                with _naming(path, {"name": f"{path}.signed-by"}):
                    signer = _SignerIn(name=name).name
        elif "signed-at" in x or "signed-by" in x:
            _fail(f"{path}.status", "an in-progress (unsigned) session has no signature")
        screening, consent_id = _in_force(run, opened_at)
        if screening is None:
            _fail(f"{path}.performedDateTime", "no screening in the bundle was done by then")
        if consent_id is None:
            _fail(
                f"{path}.performedDateTime",
                "no dry-needling consent in the bundle was in force then",
            )
        with _naming(
            path, {"entries": f"{path}.needle-entry", "needles_out": f"{path}.needles-out"}
        ):
            import_needling_session(
                run.session,
                principal=run.principal,
                visit_id=visit_id,
                screening_id=screening.id,
                consent_id=consent_id,
                opened_at=opened_at,
                entries=entries,
                needles_out=needles_out,
                adverse_events=run.adverse.get(res.url, []),
                signed_at=signed_at,
                signer=signer,
            )


def _measure_items(run: _Run, res: _Res, instrument: str) -> tuple[dict[str, Any], str] | None:
    """The answers (as measurement data) of the questionnaire response this Observation was
    derived from (by `derivedFrom`, or in older bundles the same instrument and time) and its
    name, if any. A response the patient gave (`source`) must name this bundle's Patient."""
    derived = _items(res.data, "derivedFrom", res.path)
    if len(derived) > 1:
        _fail(f"{res.path}.derivedFrom", "at most one questionnaire response")
    url = (
        _get(derived[0], "reference", f"{res.path}.derivedFrom[0]", str, required=True)
        if derived
        else None
    )
    qr = None
    for other in run.of("QuestionnaireResponse"):
        if other.data.get("questionnaire") != f"{MEASURE_Q}{instrument}":
            continue
        if (url is not None and other.url == url) or (
            url is None
            and other.path not in run.pairs
            and other.data.get("authored") == res.data.get("effectiveDateTime")
        ):
            qr = other
            break
    if qr is None:
        if url is not None:
            _fail(
                f"{res.path}.derivedFrom", f"refers to no {instrument} questionnaire in the bundle"
            )
        return None
    if qr.path in run.pairs:
        _fail(f"{res.path}.derivedFrom", f"{qr.path} already belongs to another Observation")
    run.pairs[qr.path] = res.path
    _subject(qr, run.patient_url)
    if "source" in qr.data:
        _subject(qr, run.patient_url, "source")
    if instrument not in ITEMISED:
        return questionnaires.answers_data(
            instrument, _items(qr.data, "item", qr.path), qr.path
        ), qr.path
    n = definitions()[instrument]["n_items"]
    items: list[Any] = [None] * n
    for k, item in enumerate(_items(qr.data, "item", qr.path)):
        where = f"{qr.path}.item[{k}]"
        link = _get(item, "linkId", where, str, required=True)
        if not _ITEM.match(link) or not 1 <= int(link) <= n or items[int(link) - 1] is not None:
            _fail(f"{where}.linkId", f"must be one of the items 1 to {n}, once each")
        answers = _items(item, "answer", where)
        if len(answers) > 1:
            _fail(f"{where}.answer", "one answer per item")
        if answers:
            items[int(link) - 1] = _get(
                answers[0], "valueInteger", f"{where}.answer[0]", int, required=True
            )
    return {"items": items}, qr.path


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def _import_measurements(run: _Run) -> None:
    from triggerpoint.outcomes import schemas
    from triggerpoint.outcomes.service import record_measurement

    reverse_loinc = {code: name for name, (code, _) in LOINC_FOR.items()}
    for res in run.of("Observation"):
        d, path = res.data, res.path
        if _vital(res) or _is_palpation(res):
            continue
        coding = d["code"]["coding"][0]
        code = coding.get("code")
        _subject(res, run.patient_url)
        if coding.get("system") == LOINC and code in reverse_loinc:
            instrument = reverse_loinc[code]
        elif coding.get("system") == f"{LOCAL}/outcome" and code in definitions():
            instrument = code
        else:
            _fail(
                f"{path}.code",
                f"{str(code)[:40]!r} is not an outcome measure or vital sign this import reads",
            )
        if _get(d, "status", path, str) in ("cancelled", "entered-in-error"):
            _fail(f"{path}.status", "a cancelled observation is not a measurement")
        x = _extensions(d, path, {"data", "context", "timing"})
        raw = _one(x, "data", path, str)
        data: Any = None
        if raw is not None:
            try:
                data = json.loads(raw, parse_constant=_no_constant)
            except (ValueError, RecursionError) as exc:
                _fail(f"{path}.data", f"is not JSON ({str(exc)[:80]})")
            if not isinstance(data, dict):
                _fail(f"{path}.data", "must be a JSON object")
        paired = (
            _measure_items(run, res, instrument)
            if instrument in ITEMISED or instrument in questionnaires.PATIENT_INSTRUMENTS
            else None
        )
        if paired is not None:
            answered, qr_path = paired
            if data is None:
                data = answered
            else:
                given = (
                    {"items": data.get("items")}
                    if instrument in ITEMISED
                    else {k: v for k, v in data.items() if v is not None}
                )
                if given != answered:
                    _fail(f"{qr_path}.item", f"the answers differ from {path}'s items")
        if data is None:
            _fail(f"{path}.data", "is required")
        encounter = _reference(d, "encounter", path)
        if encounter is not None and encounter not in run.visits:
            _fail(f"{path}.encounter", "refers to an Encounter that is not in the bundle")
        fields = {
            "instrument": f"{path}.code",
            "data": f"{path}.data",
            "context": f"{path}.context",
            "timing": f"{path}.timing",
            "visit_id": f"{path}.encounter",
            "measured_at": f"{path}.effectiveDateTime",
        }
        measured_at = _when(
            _get(d, "effectiveDateTime", path, str, required=True),
            f"{path}.effectiveDateTime",
            past=True,
        )
        with _naming(path, fields):
            m = record_measurement(
                run.session,
                principal=run.principal,
                patient_id=run.patient_id,
                data=schemas.MeasurementIn.model_validate(
                    {
                        "instrument": instrument,
                        "data": data,
                        "context": _one(x, "context", path, str) or "",
                        "timing": _one(x, "timing", path, str) or "",
                        "visit_id": run.visits.get(encounter) if encounter else None,
                        "measured_at": measured_at,
                    }
                ),
            )
        quantity = _get(d, "valueQuantity", path, dict)
        stated = (
            None
            if quantity is None
            else _get(quantity, "value", f"{path}.valueQuantity", (int, float), required=True)
        )
        if stated is not None and (
            m.score is None or not math.isclose(stated, m.score, rel_tol=0, abs_tol=0.01)
        ):
            _fail(
                f"{path}.valueQuantity.value",
                f"{stated!r} is not the score of the items ("
                + ("incomplete: no score" if m.score is None else f"{m.score:g}")
                + ")",
            )
    for qr in run.of("QuestionnaireResponse"):
        if qr.data.get("questionnaire") != SCREENING_Q and qr.path not in run.pairs:
            _fail(qr.path, "an outcome questionnaire without the Observation that scores it")
