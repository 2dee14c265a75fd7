"""FHIR R4 export and import of one patient's record, validated with `fhir.resources` R4B.

The bundle carries everything needed to rebuild the record in another triggerpoint clinic
(the re-import test relies on that): standard codes where they exist (ICD-10-CM, CPT, LOINC)
and a documented local code system where they do not (docs/fhir.md). Needle entries travel in
a complex extension on Procedure; screening answers as a QuestionnaireResponse.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import record
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Consent, Episode, Patient, Visit
from triggerpoint.records.service import NotFound
from triggerpoint.treatment.models import NeedlingSession, Screening
from triggerpoint.treatment.service import billing

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOCAL = "urn:triggerpoint:codesystem"
EXT = "urn:triggerpoint:fhir:extension"
NS = uuid.UUID("6f1c8d0e-7a52-4b0f-9d6e-2f6c7b1e9a11")
LOINC_FOR = {
    "nprs": ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    "odi": ("97909-6", "Oswestry Disability Index score"),
}
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
    "twitch_count",
    "familiar_pain",
    "duration_s",
)


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


def _patient(p: Patient) -> dict[str, Any]:
    identifiers = [{"system": "urn:triggerpoint:patient-id", "value": str(p.id)}]
    if p.external_id:
        identifiers.append({"system": "urn:triggerpoint:external-id", "value": p.external_id})
    telecom = [{"system": "phone", "value": p.phone}] if p.phone else []
    telecom += [{"system": "email", "value": p.email}] if p.email else []
    return {
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": [{"family": p.family_name, "given": [p.given_name]}],
        "gender": p.sex,
        "birthDate": p.date_of_birth.isoformat(),
        **({"telecom": telecom} if telecom else {}),
    }


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
        "identifier": [{"system": "urn:triggerpoint:visit-id", "value": str(v.id)}],
    }


def _procedure(ns: NeedlingSession, subject: str, names: dict[str, str]) -> dict[str, Any]:
    bill = billing(ns)
    sites = {(e.muscle_id, e.side) for e in ns.entries}
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
        "extension": [
            {
                "url": f"{EXT}/needle-entry",
                "extension": [
                    _ext_value(f, getattr(e, f)) for f in ENTRY_FIELDS if getattr(e, f) is not None
                ],
            }
            for e in ns.entries
        ]
        + [_ext_value(f"{EXT}/needles-out", ns.needles_out)] * (ns.needles_out is not None),
    }


def _adverse(ae, subject: str) -> dict[str, Any]:
    severity = {"mild": "mild", "moderate": "moderate", "major": "severe"}[ae.severity]
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
                    "code": severity,
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
        "suspectEntity": [{"instance": {"reference": _ref("procedure", ae.session_id)}}],
        "extension": [_ext_value(f"{EXT}/action-taken", ae.action_taken)]
        + (
            [_ext_value(f"{EXT}/needles-unaccounted", ae.needles_unaccounted)]
            if ae.needles_unaccounted
            else []
        ),
    }


def _consent(c: Consent, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "status": "active" if c.status == "active" else "inactive",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "treatment",
                }
            ]
        },
        "category": [
            {"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": {"reference": subject},
        "dateTime": _dt(c.signed_at),
        "policyRule": {"coding": [{"system": f"{LOCAL}/consent", "code": "dry-needling"}]},
        "provision": {
            "code": [
                {"coding": [{"system": f"{LOCAL}/risk", "code": r}]} for r in c.risks_disclosed
            ]
        },
        "extension": [
            _ext_value(f"{EXT}/signed-by", c.signed_by),
            _ext_value(f"{EXT}/signer-relation", c.signer_relation),
        ],
    }


def _measurement(m: Measurement, subject: str) -> list[dict[str, Any]]:
    spec = definitions()[m.instrument]
    system, code = (
        (LOINC, LOINC_FOR[m.instrument][0])
        if m.instrument in LOINC_FOR
        else (f"{LOCAL}/outcome", m.instrument)
    )
    unit = {"ppt": "kg/cm2", "rom": "deg"}.get(m.instrument, "{score}")
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final" if m.complete else "preliminary",
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
    if m.instrument in ITEMISED:
        items = [
            {
                "linkId": str(i + 1),
                **({"answer": [{"valueInteger": int(v)}]} if v is not None else {}),
            }
            for i, v in enumerate(m.data.get("items", []))
        ]
        out.append(
            {
                "resourceType": "QuestionnaireResponse",
                "questionnaire": f"urn:triggerpoint:questionnaire:{m.instrument}",
                "status": "completed" if m.complete else "in-progress",
                "subject": {"reference": subject},
                "authored": _dt(m.measured_at),
                "item": items,
            }
        )
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
        "questionnaire": "urn:triggerpoint:questionnaire:dry-needling-screening",
        "status": "completed",
        "subject": {"reference": subject},
        "authored": _dt(s.screened_at),
        "item": items,
        "extension": [
            _ext_value(f"{EXT}/screening-outcome", s.outcome),
            _ext_value(f"{EXT}/rules-version", s.rules_version),
        ],
    }


def _json(data: Any) -> str:
    import json

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
    entries += [
        (_ref("visit", v.id), _encounter(v, subject)) for v in q(Visit, Visit.visit_at, Visit.id)
    ]
    entries += [
        (_ref("consent", c.id), _consent(c, subject))
        for c in q(Consent, Consent.signed_at, Consent.id)
    ]
    entries += [
        (_ref("screening", s.id), _screening(s, subject))
        for s in q(Screening, Screening.screened_at, Screening.id)
    ]
    for ns in q(NeedlingSession, NeedlingSession.opened_at, NeedlingSession.id):
        entries.append((_ref("procedure", ns.id), _procedure(ns, subject, names)))
        entries += [(_ref("adverse", ae.id), _adverse(ae, subject)) for ae in ns.adverse_events]
    for m in q(Measurement, Measurement.measured_at, Measurement.id):
        entries += [
            (_ref("measurement", f"{m.id}/{i}"), r) for i, r in enumerate(_measurement(m, subject))
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


class FhirImportError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def _exts(res: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for e in res.get("extension", []):
        name = e["url"].rsplit("/", 1)[-1]
        value = next((v for k, v in e.items() if k.startswith("value")), None)
        out[name] = value if value is not None else e
    return out


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def import_bundle(session: Session, *, principal: Principal, bundle: dict[str, Any]) -> int:
    """Rebuild a patient's record from an exported bundle in the principal's clinic; returns the
    new patient id. Everything is created in the caller's transaction (all or nothing)."""
    try:
        return _import(session, principal, bundle)
    except (KeyError, IndexError, TypeError, ValueError, StopIteration) as exc:
        if isinstance(exc, FhirImportError):
            raise
        raise FhirImportError(
            "bundle", f"missing or malformed element in the bundle: {exc!r}"
        ) from None


def _import(session: Session, principal: Principal, bundle: dict[str, Any]) -> int:
    import json

    from pydantic import ValidationError

    from triggerpoint.records.models import Diagnosis
    from triggerpoint.records.service import search_key
    from triggerpoint.treatment.models import AdverseEvent, NeedleEntry

    principal.require("clinical:write")
    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        raise FhirImportError(
            "bundle",
            f"not a valid FHIR R4 Bundle: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}",
        ) from None
    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for e in bundle.get("entry", []):
        by_type.setdefault(e["resource"]["resourceType"], []).append(
            (e.get("fullUrl", ""), e["resource"])
        )
    patients = by_type.get("Patient", [])
    if len(patients) != 1:
        raise FhirImportError(
            "bundle.entry", f"expected exactly one Patient, found {len(patients)}"
        )
    _, pr = patients[0]
    if pr.get("gender", "unknown") not in ("female", "male", "other", "unknown"):
        raise FhirImportError(
            "bundle", f"Patient.gender {pr['gender']!r} is not female, male, other or unknown"
        )
    if (
        not pr.get("name")
        or not pr["name"][0].get("family")
        or not pr["name"][0].get("given")
        or not pr.get("birthDate")
    ):
        raise FhirImportError(
            "bundle", "the Patient needs a family name, a given name and a birth date"
        )
    ext_id = next(
        (
            i["value"]
            for i in pr.get("identifier", [])
            if i.get("system") == "urn:triggerpoint:external-id"
        ),
        None,
    )
    name = pr["name"][0]
    telecom = {t["system"]: t["value"] for t in pr.get("telecom", [])}
    p = Patient(
        given_name=name["given"][0],
        family_name=name["family"],
        search_name=search_key(name["family"], name["given"][0]),
        date_of_birth=date.fromisoformat(pr["birthDate"]),
        sex=pr.get("gender", "unknown"),
        phone=telecom.get("phone"),
        email=telecom.get("email"),
        external_id=ext_id,
    )
    for _, o in by_type.get("Observation", []):
        code = o["code"]["coding"][0]["code"]
        if code in ("8302-2", "29463-7"):
            setattr(
                p, "height_cm" if code == "8302-2" else "weight_kg", o["valueQuantity"]["value"]
            )
    session.add(p)
    session.flush()
    episodes: dict[str, Episode] = {}
    for _, c in by_type.get("Condition", []):
        key = _exts(c).get("episode-id", "")
        if key not in episodes:
            episodes[key] = Episode(
                patient_id=p.id,
                complaint=(c.get("note") or [{"text": "imported"}])[0]["text"],
                onset_date=date.fromisoformat(c["onsetDateTime"][:10])
                if c.get("onsetDateTime")
                else None,
                status="open" if c["clinicalStatus"]["coding"][0]["code"] == "active" else "closed",
            )
            session.add(episodes[key])
        episodes[key].diagnoses.append(
            Diagnosis(code=c["code"]["coding"][0]["code"], system="ICD-10-CM")
        )
    visits: dict[str, Visit] = {}
    for url, enc in by_type.get("Encounter", []):
        visits[url] = Visit(
            patient_id=p.id, visit_at=_when(enc["period"]["start"]), clinician_id=principal.user_id
        )
        session.add(visits[url])
    consents = []
    for _, c in by_type.get("Consent", []):
        x = _exts(c)
        consents.append(
            Consent(
                patient_id=p.id,
                risks_disclosed=[
                    pc["coding"][0]["code"] for pc in c.get("provision", {}).get("code", [])
                ],
                signed_by=x.get("signed-by", "unknown"),
                signer_relation=x.get("signer-relation", "self"),
                signed_at=_when(c["dateTime"]),
                status="active" if c["status"] == "active" else "withdrawn",
                recorded_by=principal.user_id,
            )
        )
    session.add_all(consents)
    screenings = []
    for _, q in by_type.get("QuestionnaireResponse", []):
        if q.get("questionnaire") != "urn:triggerpoint:questionnaire:dry-needling-screening":
            continue
        x = _exts(q)
        answers = {
            i["linkId"]: {
                "present": i["answer"][0]["valueBoolean"],
                "detail": i["answer"][1]["valueString"] if len(i["answer"]) > 1 else None,
            }
            for i in q["item"]
        }
        screenings.append(
            Screening(
                patient_id=p.id,
                answers=answers,
                outcome=x["screening-outcome"],
                reasons=[],
                restrictions=[],
                rules_version=x.get("rules-version", "imported"),
                screened_by=principal.user_id,
                screened_at=_when(q["authored"]),
            )
        )
    session.add_all(screenings)
    session.flush()
    procedures: dict[str, NeedlingSession] = {}
    for url, proc in by_type.get("Procedure", []):
        if not screenings or not consents:
            raise FhirImportError(
                "bundle.entry", "a Procedure needs the screening and consent it was performed under"
            )
        visit = visits.get(proc.get("encounter", {}).get("reference", ""))
        if visit is None:
            raise FhirImportError(
                "bundle.entry", "a Procedure refers to an Encounter that is not in the bundle"
            )
        x = _exts(proc)
        ns = NeedlingSession(
            patient_id=p.id,
            visit_id=visit.id,
            screening_id=screenings[-1].id,
            consent_id=consents[-1].id,
            opened_by=principal.user_id,
            opened_at=_when(proc["performedDateTime"]),
            status="signed" if proc["status"] == "completed" else "open",
            needles_out=x.get("needles-out"),
            signed_at=_when(proc["performedDateTime"]) if proc["status"] == "completed" else None,
        )
        for seq, entry_ext in enumerate(
            (e for e in proc.get("extension", []) if e["url"].endswith("/needle-entry")), start=1
        ):
            fields = {
                sub["url"]: next(v for k, v in sub.items() if k.startswith("value"))
                for sub in entry_ext["extension"]
            }
            ns.entries.append(NeedleEntry(seq=seq, created_by=principal.user_id, **fields))
        session.add(ns)
        procedures[url] = ns
    session.flush()
    for _, ae in by_type.get("AdverseEvent", []):
        ns = procedures.get(ae["suspectEntity"][0]["instance"]["reference"])
        if ns is None:
            raise FhirImportError(
                "bundle.entry", "an AdverseEvent refers to a Procedure that is not in the bundle"
            )
        x = _exts(ae)
        severity = {"mild": "mild", "moderate": "moderate", "severe": "major"}[
            ae["severity"]["coding"][0]["code"]
        ]
        session.add(
            AdverseEvent(
                session_id=ns.id,
                patient_id=p.id,
                type=ae["event"]["coding"][0]["code"],
                severity=severity,
                action_taken=x.get("action-taken", ""),
                needles_unaccounted=x.get("needles-unaccounted"),
                reported_at=_when(ae["date"]),
                reported_by=principal.user_id,
            )
        )
    reverse_loinc = {code: name for name, (code, _) in LOINC_FOR.items()}
    for _, o in by_type.get("Observation", []):
        coding = o["code"]["coding"][0]
        instrument = (
            reverse_loinc.get(coding["code"])
            if coding["system"] == LOINC
            else coding["code"]
            if coding["system"] == f"{LOCAL}/outcome"
            else None
        )
        if instrument is None:
            continue
        x = _exts(o)
        value = o.get("valueQuantity", {}).get("value")
        enc = visits.get(o.get("encounter", {}).get("reference", ""))
        session.add(
            Measurement(
                patient_id=p.id,
                visit_id=enc.id if enc else None,
                instrument=instrument,
                context=x.get("context", ""),
                timing=x.get("timing", ""),
                data=json.loads(x.get("data", "{}")),
                score=value,
                complete=o["status"] == "final",
                answered=0,
                measured_at=_when(o["effectiveDateTime"]),
                recorded_by=principal.user_id,
            )
        )
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="import_fhir",
        entity="patient",
        entity_id=p.id,
        detail={"resources": len(bundle.get("entry", []))},
    )
    return p.id
