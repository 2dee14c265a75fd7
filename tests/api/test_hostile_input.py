"""Hostile input is always a 4xx, never a 5xx, and a refused write leaves no row.

Every JSON endpoint that takes a body (read from the app's OpenAPI schema, so a new one fails
`test_every_json_endpoint_has_a_case` until it has a valid body here) gets a valid body with
one place in it replaced by a hostile JSON token, sent as raw JSON text (Python's json reads
NaN, Infinity and 1e400; escaped lone surrogates). The places are every value and container
in the body, the body itself, a new key in every object, and every top-level field of the
schema the body leaves out (so optional `*_id` fields are reached too).

Where the refusal is certain it is asserted exactly: a non-finite number, an unpaired
surrogate or a NUL anywhere in a typed body is a 422 naming the top-level field; an extreme
date in a date field too; another clinic's id (or an unknown or out-of-range one) in an
`*_id` field is a 404 or a 422.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.api.conftest import hdr, row_counts

MARK = "@@hostile@@"
NEW_KEY = "hostile_key"
EXAMPLES = int(os.environ.get("TP_HOSTILE_EXAMPLES", "25"))  # per endpoint; more to explore

NON_FINITE = "non-finite"
SURROGATE = "surrogate"
NUL = "nul"
DATE = "extreme date"
HUGE = "huge"
FOREIGN_ID = "foreign id"


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # raw JSON text
    is_string: bool = False
    of: str | None = None  # a foreign id: the kind of record it names ("visit_id"), if any

    def __repr__(self) -> str:  # Hypothesis prints it: keep huge ones short
        shown = self.text if len(self.text) < 80 else f"{self.text[:40]}...({len(self.text)})"
        return f"Token({self.kind}, {shown})"


def _string(kind: str) -> Callable[[str], Token]:
    return lambda text: Token(kind, text, is_string=True)


_plain = st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=6)
non_finite = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1E999", "[NaN]", '{"k": Infinity}']
).map(lambda t: Token(NON_FINITE, t))
surrogates = st.builds(
    lambda a, s, b: '"' + a + s + b + '"',
    _plain,
    st.sampled_from([r"\ud800", r"\udbff", r"\udc00", r"\udfff", r"\ud83d", r"\ude00"]),
    _plain,
).map(_string(SURROGATE))
nul = st.builds(lambda a, b: f'"{a}\\u0000{b}"', _plain, _plain).map(_string(NUL))
extreme_dates = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:30:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "2201-01-01T00:00:00Z",
            "0001-01-01",
            "1899-12-31",
            "2201-01-01",
            "9999-12-31",
        ]
    ),
    st.builds(
        lambda d, off: d.isoformat() + off,
        st.datetimes(max_value=datetime(1899, 12, 31)),
        st.sampled_from(["", "Z", "+01:00", "+14:00", "-12:00"]),
    ),
    st.builds(
        lambda d, off: d.isoformat() + off,
        st.datetimes(min_value=datetime(2201, 1, 1)),
        st.sampled_from(["", "Z", "+01:00", "-01:00"]),
    ),
).map(lambda t: Token(DATE, json.dumps(t), is_string=True))
huge = st.one_of(
    st.integers(10_000, 300_000).map(lambda n: Token(HUGE, '"' + "x" * n + '"', True)),
    st.integers(20, 4_000).map(lambda n: Token(HUGE, "9" * n)),
    st.integers(1_000, 20_000).map(lambda n: Token(HUGE, "[" + ",".join(["1"] * n) + "]")),
    st.integers(40, 900).map(lambda n: Token(HUGE, "[" * n + "]" * n)),
    st.integers(40, 900).map(lambda n: Token(HUGE, '{"a":' * n + "1" + "}" * n)),
)


NO_SUCH_IDS = [0, -1, 2_147_483_647, 2_147_483_648, 2**63]  # no clinic has, or no column holds


def foreign_ids(theirs: dict[str, int]) -> st.SearchStrategy[Token]:
    """Clinic B's ids of every kind, and ids no clinic has."""
    return st.one_of(
        st.sampled_from(sorted(theirs.items())).map(
            lambda kv: Token(FOREIGN_ID, str(kv[1]), of=kv[0])
        ),
        st.sampled_from(NO_SUCH_IDS).map(lambda i: Token(FOREIGN_ID, str(i))),
    )


# --- the endpoints and a valid body for each --------------------------------------------


def _no() -> dict[str, Any]:
    """The rulebook's "no" to every question."""
    from tests.treatment.test_needling_flow import NO

    return NO


ENTRY = {
    "muscle": "upper trapezius",
    "side": "right",
    "needle_diameter_mm": 0.25,
    "needle_length_mm": 40,
    "technique": "pistoning",
    "depth_mm": 12,
    "twitch_count": 3,
    "familiar_pain": True,
    "duration_s": 30,
}
PATIENT = {
    "given_name": "Hos",
    "family_name": "Tile",
    "date_of_birth": "1980-01-01",
    "sex": "female",
    "height_cm": 170,
    "weight_kg": 70,
    "phone": "+34 600 000 000",
    "email": "hostile@example.org",
    "external_id": "H-1",
}
# (method, path) -> the ids in `clinics["a"]` for its path, and a valid body.
BASES: dict[tuple[str, str], Callable[[dict[str, int]], tuple[dict[str, int], Any]]] = {
    ("POST", "/api/suggest"): lambda a: (
        {},
        {
            "pain": ["right temple"],
            "pain_free": [],
            "complete": False,
            "intensity": {"x": 5},
            "palpation": [{"site": "right upper trapezius", "finding": "familiar", "twitch": True}],
        },
    ),
    ("POST", "/api/tokens"): lambda a: ({}, {"label": "hostile"}),
    ("POST", "/api/patients"): lambda a: ({}, PATIENT),
    ("PUT", "/api/patients/{patient_id}"): lambda a: (a, {**PATIENT, "version": 1}),
    ("POST", "/api/patients/{patient_id}/episodes"): lambda a: (
        a,
        {"complaint": "Neck pain", "onset_date": "2026-01-02", "diagnoses": [{"code": "M79.12"}]},
    ),
    ("POST", "/api/patients/{patient_id}/visits"): lambda a: (
        a,
        {
            "visit_at": "2026-11-20T10:00:00+00:00",
            "episode_id": a["episode_id"],
            "notes": "ok",
            "pain_drawing": {"complete": True, "marks": [{"region": "right temple"}]},
        },
    ),
    ("POST", "/api/patients/{patient_id}/pain-drawings"): lambda a: (
        a,
        {"complete": False, "marks": [{"region": "right temple", "intensity": 4}]},
    ),
    ("POST", "/api/patients/{patient_id}/consents"): lambda a: (
        a,
        {
            "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
            "signed_by": "Hos Tile",
            "signer_relation": "self",
            "signed_at": "2026-11-20T09:00:00+00:00",
        },
    ),
    ("POST", "/api/consents/{consent_id}/withdraw"): lambda a: (a, {"version": 1}),
    ("POST", "/api/patients/{patient_id}/screenings"): lambda a: (
        a,
        {"episode_id": a["episode_id"], "answers": _no()},
    ),
    ("POST", "/api/needling-sessions"): lambda a: ({}, {"visit_id": a["visit_id"]}),
    ("POST", "/api/needling-sessions/{session_id}/targets"): lambda a: (
        a,
        {
            "muscle": "upper trapezius",
            "side": "right",
            "trigger_point_id": None,
            "source": "suggestion",
            "probability": 0.5,
        },
    ),
    ("POST", "/api/needling-sessions/{session_id}/entries"): lambda a: (a, ENTRY),
    ("POST", "/api/needling-sessions/{session_id}/count"): lambda a: (a, {"needles_out": 1}),
    ("POST", "/api/needling-sessions/{session_id}/adverse-events"): lambda a: (
        a,
        {
            "type": "broken_or_retained_needle",
            "severity": "mild",
            "description": "tip",
            "action_taken": "removed",
            "follow_up": None,
            "needles_unaccounted": 1,
        },
    ),
    ("POST", "/api/needling-sessions/{session_id}/sign"): lambda a: (a, {"version": 1}),
    ("POST", "/api/needling-sessions/{session_id}/addenda"): lambda a: (
        {"session_id": a["signed_session_id"]},
        {"text": "late note"},
    ),
    ("POST", "/api/patients/{patient_id}/measurements"): lambda a: (
        a,
        {
            "instrument": "ppt",
            "data": {"trials": [3.1, 3.3, 3.2]},
            "context": "upper_trapezius.tp1.right",
            "timing": "pre",
            "visit_id": a["visit_id"],
            "measured_at": "2026-11-20T10:00:00+00:00",
        },
    ),
    ("POST", "/api/fhir/import"): lambda a: ({}, "FHIR"),  # the export of A's patient
    ("POST", "/api/patients/{patient_id}/episodes/{episode_id}/diagnoses"): lambda a: (
        a,
        {"code": "M54.2"},
    ),
    ("PUT", "/api/visits/{visit_id}/note"): lambda a: (
        a,
        {
            "subjective": "x",
            "pain_now_nprs": 5,
            "red_flags_checked": True,
            "template": "dry_needling_visit",
        },
    ),
    ("POST", "/api/visits/{visit_id}/note/sign"): lambda a: (a, {"version": 1}),
    ("POST", "/api/patients/{patient_id}/questionnaire-requests"): lambda a: (
        a,
        {
            "instruments": ["nprs"],
            "pain_drawing": True,
            "expires_in_days": 7,
            "channel": "qr",
            "visit_id": a["visit_id"],
            "episode_id": a["episode_id"],
            "language": "en",
        },
    ),
    ("POST", "/api/fhir/QuestionnaireResponse"): lambda a: (
        {},
        {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "questionnaire": "urn:triggerpoint:questionnaire:nprs",
            "identifier": {"system": "urn:triggerpoint:patient-link", "value": "x"},
            "item": [{"linkId": "current", "answer": [{"valueInteger": 5}]}],
        },
    ),
    ("POST", "/api/visits/{visit_id}/palpation"): lambda a: (
        a,
        {
            "site": "right upper trapezius",
            "finding": "tender",
            "twitch": True,
            "referral": False,
            "note": "taut band",
        },
    ),
    ("POST", "/api/visits/{visit_id}/note/addenda"): lambda a: (a, {"text": "late"}),
    ("POST", "/api/note-templates"): lambda a: ({}, {"name": "Hostile", "subjective": "x"}),
    ("POST", "/api/research/studies"): lambda a: ({}, _study(a)),
    ("PUT", "/api/research/studies/{study_id}"): lambda a: (a, _study(a)),  # open: 409
    ("POST", "/api/research/studies/{study_id}/participants"): lambda a: (a, {"code": "H01"}),
    ("POST", "/api/research/exports"): lambda a: ({}, {"format": "parquet"}),
    ("PUT", "/api/research/studies/{study_id}/participants/{participant_id}/findings"): lambda a: (
        a,
        [{"muscle": "upper_trapezius", "side": "right", "criterion": "taut_band", "present": True}],
    ),
    ("POST", "/api/clinic/questionnaire-rules"): lambda a: (
        {},
        {
            "name": "Hostile rule",
            "instruments": ["nprs"],
            "pain_drawing": True,
            "keywords": ["neck"],
            "icd10_prefixes": ["M54.2"],
            "days_before": 2,
            "expires_in_days": 5,
            "channel": "email",
        },
    ),
    ("PATCH", "/api/clinic/questionnaire-rules/{rule_id}"): lambda a: (
        a,
        {"version": 1, "active": False, "days_before": 3},
    ),
    # The clinician may not change the clinic's settings: a 403 whatever the body (no clinic
    # is renamed by the fuzzing).
    ("PUT", "/api/clinic"): lambda a: ({}, {"name": "Hostile clinic", "timezone": "UTC"}),
    # A user no clinic has (and the clinician may not manage users): no persona's role changes.
    ("POST", "/api/users/{username}/role"): lambda a: (
        {"username": "hostile.nobody"},
        {"role": "assistant"},
    ),
}
FHIR_IMPORT = ("POST", "/api/fhir/import")


def _study(a: dict[str, int]) -> dict[str, Any]:
    return {
        "title": "Hostile study",
        "sites": [{"muscle": "upper_trapezius", "side": "right"}],
        "criteria": ["taut_band", "twitch"],
        "examiners": [a["examiner_id"], a["second_examiner_id"]],
    }


def _json_endpoints(app) -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation with a JSON request body, with the schema of that body."""
    spec = app.openapi()
    out = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = content["application/json"]["schema"]
                if "$ref" in schema:
                    schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
                out[(method.upper(), path)] = schema
    return out


def test_every_json_endpoint_has_a_case(app_client):
    found = set(_json_endpoints(app_client.app))
    assert found == set(BASES), (
        f"add to BASES: {sorted(found - set(BASES))}; remove: {sorted(set(BASES) - found)}"
    )


# --- where a token goes -------------------------------------------------------------------

Path = tuple[Any, ...]


def _places(body: Any, path: Path = ()) -> Iterator[tuple[Path, bool]]:
    """(path, is a new key) for every value and container, and a new key in every object."""
    yield path, False
    if isinstance(body, dict):
        yield (*path, NEW_KEY), True
        for k, v in body.items():
            yield from _places(v, (*path, k))
    elif isinstance(body, list):
        for i, v in enumerate(body):
            yield from _places(v, (*path, i))


def _with_token(body: Any, path: Path, token: Token) -> str:
    """The body as JSON text, the token's raw text at `path` (a key too, if it is a string
    and the place is a new key: then the new key's value is 1)."""
    if not path:
        return token.text
    body = copy.deepcopy(body)
    node = body
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = MARK
    text = json.dumps(body)
    return text.replace(json.dumps(MARK), token.text, 1)


def _as_key(body: Any, path: Path, token: Token) -> str:
    body = copy.deepcopy(body)
    node = body
    for step in path[:-1]:
        node = node[step]
    node[MARK] = 1
    return json.dumps(body).replace(json.dumps(MARK), token.text, 1)


@pytest.fixture(scope="module")
def fhir_bundle(app_client, world, clinics):
    resp = app_client.get(
        f"/api/patients/{clinics['a']['patient_id']}/fhir",
        headers=hdr(app_client, world.clinician_a),
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.parametrize("endpoint", sorted(BASES), ids=lambda e: f"{e[0]} {e[1]}")
def test_hostile_input_is_never_a_5xx(app_client, world, clinics, fhir_bundle, endpoint):
    method, route = endpoint
    ids, body = BASES[endpoint](clinics["a"])
    if body == "FHIR":
        body = fhir_bundle
    # A FHIR bundle is imported by clinic B (clinic A made it); everything else is clinic A's.
    person = world.clinician_b if endpoint == FHIR_IMPORT else world.clinician_a
    headers = {**hdr(app_client, person), "Content-Type": "application/json"}
    url = route.format(**ids)
    schema = _json_endpoints(app_client.app)[endpoint]
    properties = schema.get("properties", {})
    typed = endpoint != FHIR_IMPORT
    strict = schema.get("additionalProperties") is False
    places = list(_places(body))
    if isinstance(body, dict):
        places += [((name,), False) for name in properties if name not in body]
    tokens = st.one_of(non_finite, surrogates, nul, extreme_dates, huge, foreign_ids(clinics["b"]))

    def hostile(place: tuple[Path, bool], token: Token, as_key: bool) -> None:
        path, new_key = place
        keyed = new_key and as_key and token.is_string  # the token is the new key itself
        text = _as_key(body, path, token) if keyed else _with_token(body, path, token)
        before = row_counts()
        resp = app_client.request(method, url, content=text.encode("utf-8"), headers=headers)
        where = f"{method} {url} with {token!r} at {path}{' (as a key)' if keyed else ''}"
        assert resp.status_code < 500, f"{where} -> {resp.status_code}: {resp.text[:300]}"
        if resp.status_code >= 400:
            assert row_counts() == before, f"{where} was refused but wrote rows"
        top = path[0] if path else None
        declared = top in properties or (top == NEW_KEY and strict)
        if typed and token.kind in (NON_FINITE, SURROGATE, NUL) and (declared or not path):
            assert resp.status_code == 422, f"{where} -> {resp.status_code}: {resp.text[:300]}"
            _names(resp, None if keyed and len(path) == 1 else top)
        if typed and token.kind == DATE and len(path) == 1 and _is_date(properties.get(top, {})):
            assert resp.status_code == 422, f"{where} -> {resp.status_code}: {resp.text[:300]}"
            _names(resp, top)
        # (B's id of another kind may happen to be an id of ours of this kind: not asserted.)
        foreign = token.kind == FOREIGN_ID and token.of in (None, top)
        if typed and foreign and len(path) == 1 and str(top).endswith("_id"):
            assert resp.status_code in (404, 422), f"{where} -> {resp.status_code}: {resp.text}"

    run = settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )(given(place=st.sampled_from(places), token=tokens, as_key=st.booleans())(hostile))
    for token, name in _explicit(properties, clinics["b"]):
        run = example(place=((name,), False), token=token, as_key=False)(run)
    run()


def _explicit(properties: dict[str, Any], theirs: dict[str, int]) -> Iterator[tuple[Token, str]]:
    """Always tried, besides what Hypothesis draws: NaN in every top-level field, an
    overflowing date in every date field, and clinic B's id (and an unknown one) in every
    `*_id` field."""
    for name, schema in properties.items():
        yield Token(NON_FINITE, "NaN"), name
        if _is_date(schema):
            yield Token(DATE, '"0001-01-01T00:30:00+01:00"', is_string=True), name
        if name.endswith("_id"):
            if name in theirs:
                yield Token(FOREIGN_ID, str(theirs[name]), of=name), name
            yield Token(FOREIGN_ID, "2147483647"), name


def _is_date(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(o.get("format") in ("date", "date-time") for o in options)


def _names(resp, top: Any) -> None:
    """The refusal names the top-level field (or the body, for the body or a hostile key)."""
    errors = resp.json()["detail"]
    if top is None:
        assert all(e["loc"][:1] == ["body"] for e in errors), errors
    else:
        assert any(e["loc"][1:2] == [top] for e in errors), errors


# --- the cases of the issue, one by one ----------------------------------------------------

ISSUE_CASES = [
    # (route in clinics["a"] terms, body as raw JSON text, the field the 422 names)
    ("/api/patients", '{"height_cm": NaN}', "height_cm"),
    ("/api/patients", '{"height_cm": Infinity}', "height_cm"),
    ("/api/patients", '{"weight_kg": -Infinity}', "weight_kg"),
    ("/api/patients", '{"weight_kg": 1e400}', "weight_kg"),
    ("/api/patients", r'{"given_name": "\ud800x"}', "given_name"),
    ("/api/patients/{patient_id}/visits", '{"visit_at": "0001-01-01T00:30:00+01:00"}', "visit_at"),
    ("/api/patients/{patient_id}/visits", '{"visit_at": "9999-12-31T23:59:59-01:00"}', "visit_at"),
    ("/api/patients/{patient_id}/episodes", '{"onset_date": "1899-12-31"}', "onset_date"),
    ("/api/patients/{patient_id}/consents", r'{"signed_by": "a\udfffb"}', "signed_by"),
    ("/api/patients/{patient_id}/measurements", '{"data": {"current": NaN}}', "data"),
    ("/api/patients/{patient_id}/measurements", r'{"data": {"current": 5, "\ud800": 1}}', "data"),
    ("/api/patients/{patient_id}/measurements", '{"data": {"current": 5, "x": [1e400]}}', "data"),
    (
        "/api/patients/{patient_id}/measurements",
        '{"measured_at": "2201-01-01T00:00:00Z"}',
        "measured_at",
    ),
    (
        "/api/patients/{patient_id}/screenings",
        r'{"answers": {"x": {"detail": "\udc00"}}}',
        "answers",
    ),
    ("/api/needling-sessions/{session_id}/entries", '{"depth_mm": NaN}', "depth_mm"),
    ("/api/suggest", '{"intensity": {"right temple": Infinity}}', "intensity"),
    ("/api/suggest", r'{"pain": ["\ud800"]}', "pain"),
    (
        "/api/suggest",
        '{"palpation": [{"site": "right masseter", "finding": "none", "twitch": NaN}]}',
        "palpation",
    ),
    ("/api/suggest", r'{"palpation": [{"site": "right \ud800", "finding": "none"}]}', "palpation"),
    (
        "/api/visits/{visit_id}/palpation",
        '{"site": "right masseter", "finding": "none", "twitch": NaN}',
        "twitch",
    ),
    ("/api/tokens", r'{"label": "\ud800"}', "label"),
    ("/api/consents/{consent_id}/withdraw", '{"version": NaN}', "version"),
]


@pytest.mark.parametrize(("route", "text", "field"), ISSUE_CASES)
def test_each_hostile_value_is_a_422_naming_the_field(
    app_client, world, clinics, route, text, field
):
    before = row_counts()
    resp = app_client.post(
        route.format(**clinics["a"]),
        content=text.encode(),
        headers={**hdr(app_client, world.clinician_a), "Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert [field] in [e["loc"][1:2] for e in resp.json()["detail"]], resp.text
    assert row_counts() == before
