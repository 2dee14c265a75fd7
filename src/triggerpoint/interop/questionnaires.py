"""The outcome instruments as FHIR R4 `Questionnaire`s, and `QuestionnaireResponse`s both ways.

Why a module of its own: the Questionnaire is the contract between triggerpoint and a
patient's app (SDC style: `url`, `name`, `status`, items with `linkId`, a type and the allowed
answers), and the same item <-> measurement mapping serves three places: the Questionnaire
itself, the responses in the patient export (`interop.fhir`) and the import of a response for a
questionnaire request (through `portal.service.submit_request`, the patient page's own rules).

Wording. The instruments hold structure, not text (docs/design/patient-reports.md): NDI, ODI
and QuickDASH are copyrighted questionnaires whose item wording needs a licence, so their items
here carry a number, a type and the answer range only. NPRS and GROC carry our own short labels
(`outcomes/data/instruments.yaml`). A clinic with licensed wording renders it on the patient's
page from its own catalogue (`instrument_texts_dir`); it is never put into these resources.

LOINC. Only codes found in LOINC's own pages or a LOINC browser are used (docs/fhir.md): NPRS
72514-3 (0-10 verbal numeric rating, reported), the ODI panel 97908-8 and its score 97909-6.
NDI, QuickDASH and GROC get our local code system: no panel code for them was confirmed.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from triggerpoint.errors import InvalidInput, NotFound
from triggerpoint.outcomes.instruments import definitions

LOINC = "http://loinc.org"
LOCAL = "urn:triggerpoint:codesystem"
# The canonical base: the export's QuestionnaireResponses have referenced
# `urn:triggerpoint:questionnaire:<instrument>` since itemised instruments were first exported,
# so the Questionnaire takes that as its `url` and every earlier bundle resolves to it.
CANONICAL = "urn:triggerpoint:questionnaire:"
VERSION = "1"
PATIENT_LINK = "urn:triggerpoint:patient-link"  # identifier system: the link's raw token
DRAWING = "pain-drawing"  # the body chart as a Questionnaire of its own
REGION = f"{LOCAL}/body-region"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
# Patient-reported instruments (ppt and rom are measured by the clinician; PSFS asks the
# patient to name their own activities, which a fixed Questionnaire cannot hold yet).
PATIENT_INSTRUMENTS = ("nprs", "ndi", "odi", "quickdash", "groc")
SERVED = (*PATIENT_INSTRUMENTS, DRAWING)
ITEMISED = ("ndi", "odi", "quickdash")
# What `copyright` says: the holder where LOINC's page for the instrument names it (ODI:
# loinc.org/97909-6), otherwise only that the wording is licensed.
_LICENCE = " The item wording is not included here: use it under the holder's licence."
LICENSED = {
    "ndi": "The Neck Disability Index is a copyrighted instrument." + _LICENCE,
    "odi": "ODI (c) Jeremy Fairbank, 1980. All rights reserved." + _LICENCE,
    "quickdash": "QuickDASH is a copyrighted instrument." + _LICENCE,
}
# (code, display) for the questionnaire as a whole, where LOINC has the instrument.
PANEL = {
    "nprs": ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    "odi": ("97908-8", "Oswestry Disability Index"),
}
NAMES = {
    "nprs": "NumericPainRatingScale",
    "ndi": "NeckDisabilityIndex",
    "odi": "OswestryDisabilityIndex",
    "quickdash": "QuickDASH",
    "groc": "GlobalRatingOfChange",
    DRAWING: "PainDrawing",
}
_ID = re.compile(r"^[a-z-]{1,20}$")


def _range(lo: int, hi: int) -> list[dict[str, Any]]:
    return [{"url": MIN_VALUE, "valueInteger": lo}, {"url": MAX_VALUE, "valueInteger": hi}]


def _items(instrument: str) -> list[dict[str, Any]]:
    spec = definitions()[instrument]
    lo, hi = spec["item_range"]
    if instrument == "nprs":
        return [
            {
                "linkId": key,
                "text": f"{label} (0 no pain, 10 worst pain imaginable)",
                "type": "integer",
                "required": key in spec["required"],
                **(
                    {"code": [{"system": LOINC, "code": PANEL["nprs"][0]}]}
                    if key == spec["score"]
                    else {}
                ),
                "extension": _range(lo, hi),
            }
            for key, label in spec["items"].items()
        ]
    if instrument == "groc":
        return [
            {
                "linkId": "value",
                "text": "Global rating of change since treatment began (-7 very much worse, "
                "0 no change, +7 very much better)",
                "type": "integer",
                "required": True,
                "extension": _range(lo, hi),
            }
        ]
    # Itemised: the item's number and its answer range, no wording (licensed).
    return [
        {
            "linkId": str(k),
            "prefix": str(k),
            "text": f"Item {k}",
            "type": "choice",
            "answerOption": [{"valueInteger": v} for v in range(lo, hi + 1)],
        }
        for k in range(1, spec["n_items"] + 1)
    ]


def _drawing() -> dict[str, Any]:
    """The pain drawing: the painful regions (body-chart region ids, the patient's own left
    and right) and whether the whole chart was offered (then unmarked regions are pain-free)."""
    from triggerpoint.bodychart.catalog import load_catalog

    regions = sorted(load_catalog().regions.values(), key=lambda r: r.id)
    return {
        "resourceType": "Questionnaire",
        "id": DRAWING,
        "url": f"{CANONICAL}{DRAWING}",
        "version": VERSION,
        "name": NAMES[DRAWING],
        "title": "Pain drawing",
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": "triggerpoint",
        "description": "Where it hurts, on triggerpoint's body chart. Left and right are the "
        "patient's own sides. Our own wording.",
        "code": [{"system": f"{LOCAL}/outcome", "code": DRAWING, "display": "Pain drawing"}],
        "item": [
            {
                "linkId": "regions",
                "text": "Where do you feel pain? Mark every area.",
                "type": "choice",
                "repeats": True,
                "answerOption": [
                    {"valueCoding": {"system": REGION, "code": r.id, "display": r.name}}
                    for r in regions
                ],
            },
            {
                "linkId": "complete",
                "text": "The whole body chart was shown (areas not marked are free of pain)",
                "type": "boolean",
                "required": True,
            },
        ],
    }


def questionnaire(instrument: str) -> dict[str, Any]:
    """One instrument as a validated Questionnaire (404 for an id that is not one)."""
    if instrument not in SERVED:
        raise NotFound("questionnaire", str(instrument)[:40])
    if instrument == DRAWING:
        return Questionnaire.model_validate(_drawing()).model_dump(mode="json", exclude_none=True)
    spec = definitions()[instrument]
    description = (
        "Structure only (items, answer ranges): the item wording is copyrighted and is shown "
        "from the clinic's licensed catalogue, never carried here."
        if instrument in LICENSED
        else "Our own wording."
    )
    body: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": instrument,
        "url": f"{CANONICAL}{instrument}",
        "version": VERSION,
        "name": NAMES[instrument],
        "title": spec["name"],
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": "triggerpoint",
        "description": description,
        "code": [
            (
                {"system": LOINC, "code": PANEL[instrument][0], "display": PANEL[instrument][1]}
                if instrument in PANEL
                else {"system": f"{LOCAL}/outcome", "code": instrument, "display": spec["name"]}
            )
        ],
        "item": _items(instrument),
    }
    if instrument in LICENSED:
        body["copyright"] = LICENSED[instrument]
    return Questionnaire.model_validate(body).model_dump(mode="json", exclude_none=True)


def questionnaire_bundle(*, url: str | None = None, name: str | None = None) -> dict[str, Any]:
    """A `searchset` Bundle of the patient-reported instruments' Questionnaires, optionally
    only the one whose canonical `url` (with or without `|version`) or `name` matches."""
    from fhir.resources.R4B.bundle import Bundle

    found = [questionnaire(i) for i in SERVED]
    if url is not None:
        base, _, version = url.partition("|")
        found = [q for q in found if q["url"] == base and version in ("", q["version"])]
    if name is not None:
        found = [q for q in found if q["name"].casefold().startswith(name.casefold())]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "entry": [{"fullUrl": q["url"], "resource": q, "search": {"mode": "match"}} for q in found],
    }
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


# --- answers <-> measurement data ------------------------------------------------------------


def response_items(instrument: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """A measurement's `data` as QuestionnaireResponse items (linkIds of `questionnaire`)."""
    if instrument in ITEMISED:
        return [
            {
                "linkId": str(i + 1),
                **({"answer": [{"valueInteger": int(v)}]} if v is not None else {}),
            }
            for i, v in enumerate(data.get("items", []))
        ]
    keys = list(definitions()["nprs"]["items"]) if instrument == "nprs" else ["value"]
    return [
        {"linkId": k, "answer": [{"valueInteger": int(data[k])}]}
        for k in keys
        if data.get(k) is not None
    ]


def _fail(path: str, message: str) -> NoReturn:
    raise InvalidInput(path, f"{path}: {message}")


def answers_data(instrument: str, items: Any, path: str) -> dict[str, Any]:
    """QuestionnaireResponse items as the measurement `data` the instrument scores; every
    refusal names the element (``QuestionnaireResponse.item[2].linkId``). Ranges and the
    missing-item rules are left to the scoring the clinician's entry uses."""
    if not isinstance(items, list):
        _fail(f"{path}.item", "must be a list")
    links = [i["linkId"] for i in _items(instrument)]
    values: dict[str, int] = {}
    for k, item in enumerate(items):
        where = f"{path}.item[{k}]"
        link = item.get("linkId") if isinstance(item, dict) else None
        if not isinstance(link, str) or link not in links or link in values:
            _fail(f"{where}.linkId", f"must be one of {', '.join(links)}, once each")
        answers = item.get("answer") or []
        if not isinstance(answers, list) or len(answers) > 1:
            _fail(f"{where}.answer", "one answer per item")
        if not answers:
            continue
        value = answers[0].get("valueInteger") if isinstance(answers[0], dict) else None
        if not isinstance(value, int) or isinstance(value, bool):
            _fail(f"{where}.answer[0].valueInteger", "is required (a whole number)")
        values[link] = value
    if instrument in ITEMISED:
        return {"items": [values.get(link) for link in links]}
    return values


def canonical_instrument(reference: Any, path: str) -> str:
    """The instrument a `questionnaire` canonical reference names (version 1 or none)."""
    if not isinstance(reference, str) or not reference.startswith(CANONICAL):
        _fail(path, f"must be a triggerpoint Questionnaire ({CANONICAL}<instrument>)")
    base, _, version = reference.partition("|")
    instrument = base[len(CANONICAL) :]
    if instrument not in SERVED or not _ID.match(instrument):
        _fail(path, f"{instrument[:40]!r} is not a patient-reported instrument")
    if version not in ("", VERSION):
        _fail(path, f"version {version[:20]!r} is not served (version {VERSION})")
    return instrument


def validate_response(body: Any, path: str) -> dict[str, Any]:
    """FHIR R4B validation of one QuestionnaireResponse; 422 naming the element."""
    if not isinstance(body, dict) or body.get("resourceType") != "QuestionnaireResponse":
        _fail(f"{path}.resourceType", "must be QuestionnaireResponse")
    try:
        QuestionnaireResponse.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
        _fail(f"{path}.{loc}" if loc else path, f"not valid FHIR R4: {err['msg']}")
    except Exception as exc:  # the validator fails in its own ways on some malformed input
        _fail(path, f"not a valid FHIR R4 QuestionnaireResponse ({type(exc).__name__})")
    return body


def _drawing_answers(items: Any, path: str) -> dict[str, Any]:
    """The pain drawing's response as the patient page's drawing input."""
    if not isinstance(items, list):
        _fail(f"{path}.item", "must be a list")
    marks: list[str] = []
    complete: bool | None = None
    seen: set[str] = set()
    for k, item in enumerate(items):
        where = f"{path}.item[{k}]"
        link = item.get("linkId") if isinstance(item, dict) else None
        if link not in ("regions", "complete") or link in seen:
            _fail(f"{where}.linkId", "must be regions or complete, once each")
        seen.add(link)
        answers = item.get("answer") or []
        if not isinstance(answers, list):
            _fail(f"{where}.answer", "must be a list")
        if link == "complete":
            value = answers[0].get("valueBoolean") if len(answers) == 1 else None
            if not isinstance(value, bool):
                _fail(f"{where}.answer", "one valueBoolean")
            complete = value
            continue
        for j, answer in enumerate(answers):
            coding = answer.get("valueCoding") if isinstance(answer, dict) else None
            if not isinstance(coding, dict) or coding.get("system") != REGION:
                _fail(f"{where}.answer[{j}].valueCoding", f"must be a region of {REGION}")
            code = coding.get("code")
            if not isinstance(code, str):
                _fail(f"{where}.answer[{j}].valueCoding.code", "is required")
            marks.append(code)
    if complete is None:
        _fail(f"{path}.item", "needs the complete item (was the whole chart shown?)")
    return {"marks": marks, "complete": complete}


def _token(body: dict[str, Any], path: str) -> str:
    ident = body.get("identifier")
    value = ident.get("value") if isinstance(ident, dict) else None
    if not isinstance(ident, dict) or ident.get("system") != PATIENT_LINK or not value:
        _fail(f"{path}.identifier", f"must carry the patient link's token (system {PATIENT_LINK})")
    return str(value)


def _responses(body: Any) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        if body.get("type") not in ("collection", "batch"):
            _fail("Bundle.type", "must be collection (the responses of one request)")
        entries = body.get("entry")
        if not isinstance(entries, list) or not entries:
            _fail("Bundle.entry", "is required: one QuestionnaireResponse per instrument")
        if len(entries) > len(SERVED):
            _fail("Bundle.entry", f"at most {len(SERVED)} responses (one per instrument)")
        out = []
        for k, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            out.append((f"QuestionnaireResponse[{k}]", resource))
        return [(path, validate_response(r, path)) for path, r in out]
    return [("QuestionnaireResponse", validate_response(body, "QuestionnaireResponse"))]


def import_responses(session: Session, *, body: Any) -> dict[str, Any]:
    """Submit a questionnaire request's answers given as QuestionnaireResponses (one, or a
    Bundle of them: one per requested instrument, the pain drawing as the `pain-drawing`
    Questionnaire), for a patient app that speaks FHIR.

    The link's token (in `identifier`) is the only credential, exactly as on the patient's
    page, and the answers go through `portal.service.submit_request`, the page's own rules:
    same checks, same provenance (patient-reported, timed at submission, "before needling"
    before the visit), single use. Every refusal is 422 naming the element; a wrong token is
    404, a used, cancelled or expired one 410; nothing is written then. `session` must start
    unscoped (the token names the clinic).
    """
    from triggerpoint.portal import service as portal
    from triggerpoint.portal.schemas import SubmissionIn

    responses = _responses(body)
    tokens = {_token(qr, path) for path, qr in responses}
    if len(tokens) != 1:
        _fail("QuestionnaireResponse.identifier", "all responses must answer the same link")
    answers: dict[str, Any] = {}
    drawing: dict[str, Any] | None = None
    paths: dict[str, str] = {}
    for path, qr in responses:
        instrument = canonical_instrument(qr.get("questionnaire"), f"{path}.questionnaire")
        if instrument in paths:
            _fail(f"{path}.questionnaire", f"{instrument} is answered twice")
        paths[instrument] = path
        if qr.get("status") != "completed":
            _fail(f"{path}.status", "must be completed (a draft is saved on the patient's page)")
        if instrument == DRAWING:
            drawing = _drawing_answers(qr.get("item") or [], path)
        else:
            answers[instrument] = answers_data(instrument, qr.get("item") or [], path)
    try:
        data = SubmissionIn.model_validate({"answers": answers, "drawing": drawing})
    except ValidationError as exc:
        err = exc.errors()[0]
        _fail("QuestionnaireResponse", err["msg"])
    try:
        row = portal.submit_request(session, token=tokens.pop(), data=data)
    except InvalidInput as exc:
        raise InvalidInput(*_named(exc, paths)) from None
    return {"request_id": row.id, "status": row.status, "submitted_at": row.submitted_at}


def _named(exc: InvalidInput, paths: dict[str, str]) -> tuple[str, str]:
    """A submission error's field (``answers.ndi.items.3``, ``drawing.marks.0``) as the
    response and item it came from (``QuestionnaireResponse[1].item.4``)."""
    head, _, rest = (exc.field or "").partition(".")
    key, _, rest = rest.partition(".") if head == "answers" else (DRAWING, "", rest)
    where = paths.get(key)
    if where is None:  # asked for, but no response answers it
        name = "the pain drawing" if key == DRAWING else key
        return "QuestionnaireResponse", f"QuestionnaireResponse: {name} was asked for: {exc}"
    parts = rest.split(".") if rest else []
    if key in ITEMISED and len(parts) == 2 and parts[0] == "items" and parts[1].isdigit():
        parts = [str(int(parts[1]) + 1)]  # items[k] is the item with linkId k + 1
    if key == DRAWING and parts[:1] == ["marks"]:
        parts = ["regions", *(f"answer[{p}]" for p in parts[1:2])]
    field = f"{where}.item.{'.'.join(parts)}" if parts else where
    return field, f"{field}: {exc}"
