"""Every route, API and pages alike, called as every persona: other clinics get 404 on our
records, the assistant gets 403 on everything clinical, the clinician reaches it all.

The routes are read from the app itself, so a new endpoint without an entry in BODIES (JSON
API) or PAGES (HTML pages, PDFs, forms) fails here until someone decides what it should
accept and who may use it (NetBox-style generic permission test). The roles are written out
in docs/security.md, "Roles".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.personas import new_patient
from tests.ratelimits import generous_rate_limits
from tests.routes import api_routes, page_routes

PATIENT = {
    "given_name": "Iso",
    "family_name": "Lation",
    "date_of_birth": "1975-01-01",
    "sex": "male",
}
CONSENT = {
    "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
    "signed_by": "Iso Lation",
    "signed_at": "2026-11-01T10:00:00+00:00",
}
STUDY = {
    "title": "Matrix study",
    "sites": [{"muscle": "upper_trapezius", "side": "right"}],
    "criteria": ["taut_band"],
    "examiners": ["{alice_id}", "{dave_id}"],
}
BODIES = {
    ("POST", "/api/patients/{patient_id}/questionnaire-requests"): {"instruments": ["nprs"]},
    ("GET", "/api/patients/{patient_id}/questionnaire-requests"): None,
    ("POST", "/api/questionnaire-requests/{request_id}/resend"): None,
    ("POST", "/api/questionnaire-requests/{request_id}/cancel"): None,
    ("GET", "/api/visits/{visit_id}/palpation"): None,
    ("POST", "/api/visits/{visit_id}/palpation"): {
        "site": "right upper trapezius",
        "finding": "familiar",
    },
    ("DELETE", "/api/visits/{visit_id}/palpation/{finding_id}"): None,
    ("GET", "/api/patients"): None,
    ("POST", "/api/patients"): PATIENT,
    ("GET", "/api/patients/{patient_id}"): None,
    ("PUT", "/api/patients/{patient_id}"): {**PATIENT, "version": 1},
    ("GET", "/api/patients/{patient_id}/episodes"): None,
    ("POST", "/api/patients/{patient_id}/episodes"): {"complaint": "Neck pain"},
    ("GET", "/api/patients/{patient_id}/visits"): None,
    ("POST", "/api/patients/{patient_id}/visits"): {"visit_at": "2026-11-02T10:00:00+00:00"},
    ("GET", "/api/patients/{patient_id}/pain-drawings"): None,
    ("POST", "/api/patients/{patient_id}/pain-drawings"): {
        "complete": False,
        "marks": [{"region": "right temple"}],
    },
    ("GET", "/api/patients/{patient_id}/consents"): None,
    ("POST", "/api/patients/{patient_id}/consents"): CONSENT,
    ("POST", "/api/consents/{consent_id}/withdraw"): {"version": 1},
    ("POST", "/api/patients/{patient_id}/episodes/{episode_id}/diagnoses"): {"code": "M79.12"},
    ("DELETE", "/api/patients/{patient_id}/episodes/{episode_id}/diagnoses/{code}"): None,
    ("POST", "/api/patients/{patient_id}/screenings"): {"answers": {}},
    ("GET", "/api/visits/{visit_id}/note"): None,
    ("PUT", "/api/visits/{visit_id}/note"): {"subjective": "Matrix"},
    ("POST", "/api/visits/{visit_id}/note/sign"): {"version": 1},
    ("POST", "/api/visits/{visit_id}/note/addenda"): {"text": "late"},
    ("POST", "/api/visits/{visit_id}/screening-confirmation"): None,
    ("POST", "/api/needling-sessions"): {"visit_id": "{visit_id}"},
    ("GET", "/api/needling-sessions/{session_id}"): None,
    ("POST", "/api/needling-sessions/{session_id}/targets"): {
        "muscle": "upper trapezius",
        "side": "right",
    },
    ("POST", "/api/needling-sessions/{session_id}/entries"): {
        "muscle": "upper trapezius",
        "side": "right",
        "needle_diameter_mm": 0.25,
        "needle_length_mm": 40,
        "technique": "static",
        "depth_mm": 10,
        "twitch_count": 0,
        "familiar_pain": False,
        "duration_s": 10,
    },
    ("POST", "/api/needling-sessions/{session_id}/count"): {"needles_out": 0},
    ("POST", "/api/needling-sessions/{session_id}/adverse-events"): {
        "type": "bruising",
        "severity": "mild",
        "action_taken": "pressure",
    },
    ("POST", "/api/needling-sessions/{session_id}/sign"): {"version": 1},
    ("POST", "/api/needling-sessions/{session_id}/addenda"): {"text": "late note"},
    ("GET", "/api/needling-sessions/{session_id}/billing"): None,
    ("GET", "/api/safety/adverse-event-rates"): None,
    ("GET", "/api/dashboard/unsigned-sessions"): None,
    ("POST", "/api/patients/{patient_id}/measurements"): {
        "instrument": "nprs",
        "data": {"current": 5},
        "measured_at": "2026-11-02T10:00:00+00:00",
    },
    ("GET", "/api/patients/{patient_id}/measurements"): None,
    ("GET", "/api/patients/{patient_id}/outcomes"): None,
    ("GET", "/api/patients/{patient_id}/fhir"): None,
    # the research registry (a reliability study of clinic A, examined by alice and dave)
    ("POST", "/api/research/studies"): STUDY,
    ("GET", "/api/research/studies"): None,
    ("GET", "/api/research/studies/{study_id}"): None,
    ("PUT", "/api/research/studies/{study_id}"): STUDY,  # drafts only: 409 once open
    ("POST", "/api/research/studies/{study_id}/participants"): {"code": "P99"},
    ("GET", "/api/research/studies/{study_id}/participants/{participant_id}/findings"): None,
    ("PUT", "/api/research/studies/{study_id}/participants/{participant_id}/findings"): [
        {"muscle": "upper_trapezius", "side": "right", "criterion": "taut_band", "present": True}
    ],
    ("POST", "/api/research/studies/{study_id}/participants/{participant_id}/submit"): None,
    ("GET", "/api/research/studies/{study_id}/report"): None,
    ("GET", "/api/research/studies/{study_id}/report.csv"): None,
    ("GET", "/api/research/studies/{study_id}/report.pdf"): None,
    ("POST", "/api/research/studies/{study_id}/open"): None,
    ("POST", "/api/research/studies/{study_id}/close"): None,
    ("GET", "/api/research/painmap"): None,
    ("GET", "/api/research/ltr"): None,
    ("POST", "/api/research/exports"): {"format": "odm"},
    ("GET", "/api/research/exports"): None,
    ("GET", "/api/research/exports/{job_id}"): None,
    ("GET", "/api/research/exports/{job_id}/download"): None,
}
# Endpoints whose data is not patient data (atlas, regions, own account, user administration
# (tests/accounts), the API docs page).
NOT_PATIENT_DATA = {
    "/api/fhir/Questionnaire",  # the instruments' forms; QuestionnaireResponse needs a link token
    "/api/atlas",
    "/api/regions",
    "/api/me",
    "/api/tokens",
    "/api/users",
    "/api/suggest",
    "/api/fhir/import",
    "/api/docs",
    "/api/icd10cm",
    "/api/clinic",
    "/api/note-templates",
}
# What needs "clinical:read" or "clinical:write": the assistant gets 403 on these and on
# nothing else of BODIES (docs/security.md, "Roles").
CLINICAL = {
    ("GET", "/api/visits/{visit_id}/palpation"),
    ("POST", "/api/visits/{visit_id}/palpation"),
    ("DELETE", "/api/visits/{visit_id}/palpation/{finding_id}"),
    ("GET", "/api/patients/{patient_id}/episodes"),
    ("POST", "/api/patients/{patient_id}/episodes"),
    ("POST", "/api/patients/{patient_id}/episodes/{episode_id}/diagnoses"),
    ("DELETE", "/api/patients/{patient_id}/episodes/{episode_id}/diagnoses/{code}"),
    ("GET", "/api/patients/{patient_id}/pain-drawings"),
    ("POST", "/api/patients/{patient_id}/screenings"),
    ("GET", "/api/visits/{visit_id}/note"),
    ("PUT", "/api/visits/{visit_id}/note"),
    ("POST", "/api/visits/{visit_id}/note/sign"),
    ("POST", "/api/visits/{visit_id}/note/addenda"),
    ("POST", "/api/visits/{visit_id}/screening-confirmation"),
    ("POST", "/api/needling-sessions"),
    ("GET", "/api/needling-sessions/{session_id}"),
    ("POST", "/api/needling-sessions/{session_id}/targets"),
    ("POST", "/api/needling-sessions/{session_id}/entries"),
    ("POST", "/api/needling-sessions/{session_id}/count"),
    ("POST", "/api/needling-sessions/{session_id}/adverse-events"),
    ("POST", "/api/needling-sessions/{session_id}/sign"),
    ("POST", "/api/needling-sessions/{session_id}/addenda"),
    ("GET", "/api/needling-sessions/{session_id}/billing"),
    ("GET", "/api/safety/adverse-event-rates"),
    ("GET", "/api/dashboard/unsigned-sessions"),
    ("GET", "/api/patients/{patient_id}/measurements"),
    ("GET", "/api/patients/{patient_id}/outcomes"),
    ("GET", "/api/patients/{patient_id}/fhir"),
    *((m, p) for m, p in BODIES if p.startswith("/api/research/")),
}
REFUSED = {401, 403, 404}  # an allowed caller may still get 409 or 422 on the request's merits


# --- pages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """What a page route is, for the matrix.

    kind: "public" (no login: atlas, education, login…), "account" (any logged-in user, not
    about the clinic's patients), "clinic" (the clinic's own lists and forms: every clinic
    sees its own) or "record" (one of clinic A's records, by id: other clinics get 404).
    clinical: needs clinical:read (GET) or clinical:write (POST); the assistant gets 403.
    roles: for "account" pages only some roles may use (the rest get 403).
    target_missing: the request names an account or token that does not exist (so the matrix
    changes nobody's): an allowed caller gets 404 or 422, a refused one still 403.
    """

    kind: str
    clinical: bool = False
    ids: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, object] | None = None
    roles: frozenset[str] | None = None
    pdf: bool = False
    target_missing: bool = False


PUBLIC = Page("public")
NPRS = {"instrument": "nprs", "current": "5", "measured_at": "2026-11-02T10:00"}
CONSENT_FORM = {
    "risks": ["bruising", "post_needling_soreness", "pneumothorax"],
    "signed_by": "Iso Lation",
    "signer_relation": "self",
    "signed_at": "2026-11-01T10:00",
}
DRAWING_FORM = {"visit_at": "2026-11-03T10:00", "mark": "right_temple:5", "complete": "partial"}
NEW_PATIENT_FORM = {
    "given_name": "Form",
    "family_name": "Matrixpage",
    "date_of_birth": "1970-01-01",
    "sex": "female",
}


def _screening_form() -> dict[str, str]:
    from triggerpoint.safety.screening import rulebook

    return {r.id: "no" for r in rulebook().rules}


PAGES: dict[tuple[str, str], Page] = {
    # The patient's link: no login, the token is the credential (tests/portal/test_patient_page.py).
    ("GET", "/r/{token}"): Page("login"),
    ("GET", "/r/{token}/save"): Page("login"),
    ("GET", "/r/{token}/submit"): Page("login"),
    ("POST", "/r/{token}/save"): Page("login"),
    ("POST", "/r/{token}/submit"): Page("login"),
    ("POST", "/patients/{patient_id}/questionnaire-requests"): Page(
        "record", form={"instruments": ["nprs"], "channel": "qr"}
    ),
    ("POST", "/questionnaire-requests/{request_id}/resend"): Page("record", form={}),
    ("POST", "/questionnaire-requests/{request_id}/cancel"): Page("record", form={}),
    ("POST", "/visits/{visit_id}/palpation"): Page(
        "record", clinical=True, form={"site": "right upper trapezius", "finding": "tender"}
    ),
    ("POST", "/visits/{visit_id}/palpation/{finding_id}/delete"): Page(
        "record", clinical=True, form={}
    ),
    ("GET", "/visits/{visit_id}/note"): Page("record", clinical=True),
    ("POST", "/visits/{visit_id}/note"): Page(
        "record", clinical=True, form={"action": "save", "subjective": "Matrix"}
    ),
    ("GET", "/visits/{visit_id}"): Page("record", clinical=True),
    ("GET", "/"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/bodychart/{view}.svg"): Page("public", ids={"view": "anterior"}),
    ("GET", "/atlas"): PUBLIC,
    ("GET", "/atlas/muscles/{muscle_id}"): Page("public", ids={"muscle_id": "upper_trapezius"}),
    ("GET", "/education"): PUBLIC,
    ("GET", "/education/handout.pdf"): Page("public", pdf=True),
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): Page("login"),  # logging in itself: tests/accounts
    ("POST", "/logout"): Page("account", form={}),
    ("GET", "/account/password"): Page("account"),
    ("POST", "/account/password"): Page(
        "account", form={"current_password": "x", "new_password": "y", "confirm_password": "z"}
    ),
    ("GET", "/admin/users"): Page("account", roles=frozenset({"admin"})),
    ("GET", "/admin"): Page("account", roles=frozenset({"admin"})),
    ("GET", "/admin/clinic"): Page("account", roles=frozenset({"admin"})),
    ("GET", "/admin/tokens"): Page("account", roles=frozenset({"admin"})),
    ("GET", "/admin/audit"): Page("account", roles=frozenset({"admin"})),
    ("POST", "/admin/clinic"): Page(
        "account", form={"name": "", "timezone": ""}, roles=frozenset({"admin"})
    ),
    ("POST", "/admin/tokens/{token_id}/revoke"): Page(
        "account",
        ids={"token_id": "2147483647"},
        form={},
        roles=frozenset({"admin"}),
        target_missing=True,
    ),
    ("POST", "/admin/audit/verify"): Page("account", form={}, roles=frozenset({"admin"})),
    ("POST", "/admin/users"): Page(
        "account",
        form={"username": "X", "full_name": "Nobody", "role": "clinician"},  # invalid: 422
        roles=frozenset({"admin"}),
    ),
    ("GET", "/account/tokens"): Page("account"),
    ("POST", "/account/tokens"): Page("account", form={"label": ""}),  # no label: 422
    ("POST", "/account/tokens/{token_id}/revoke"): Page(
        "account", ids={"token_id": "2147483647"}, form={}, target_missing=True
    ),
    **{
        ("POST", f"/admin/users/{{username}}/{action}"): Page(
            "account",
            ids={"username": "nobody.matrix"},
            form={"role": "clinician"},
            roles=frozenset({"admin"}),
            target_missing=True,
        )
        for action in ("deactivate", "reactivate", "reset-password", "role")
    },
    ("GET", "/suggest"): Page("account"),
    ("GET", "/patients"): Page("clinic"),
    ("GET", "/patients/new"): Page("clinic"),
    ("POST", "/patients/new"): Page("clinic", form=NEW_PATIENT_FORM),
    ("GET", "/dashboard"): Page("clinic", clinical=True),
    ("GET", "/patients/{patient_id}"): Page("record"),
    ("GET", "/patients/{patient_id}/draw"): Page("record"),
    ("GET", "/patients/{patient_id}/edit"): Page("record"),
    ("POST", "/patients/{patient_id}/edit"): Page(
        "record", form={**NEW_PATIENT_FORM, "given_name": "Iso", "version": "1"}
    ),
    ("GET", "/patients/{patient_id}/consents/{consent_id}/withdraw"): Page("record"),
    ("POST", "/patients/{patient_id}/consents/{consent_id}/withdraw"): Page(
        "record", form={"version": "1"}
    ),
    ("POST", "/patients/{patient_id}/visits/start"): Page("record", form={}),
    ("GET", "/patients/{patient_id}/diagnoses"): Page("record", clinical=True),
    # Without an episode_id the forms answer 422: the matrix changes no episode's diagnoses.
    ("POST", "/patients/{patient_id}/diagnoses"): Page(
        "record", clinical=True, form={"code": "M79.12"}
    ),
    ("POST", "/patients/{patient_id}/diagnoses/remove"): Page(
        "record", clinical=True, form={"code": "M79.12"}
    ),
    ("POST", "/patients/{patient_id}/episodes"): Page(
        "record", clinical=True, form={"complaint": "Matrix episode"}
    ),
    ("POST", "/patients/{patient_id}/draw"): Page("record", form=DRAWING_FORM),
    ("GET", "/patients/{patient_id}/screening"): Page("record", clinical=True),
    ("POST", "/patients/{patient_id}/screening"): Page("record", clinical=True, form={}),
    ("GET", "/patients/{patient_id}/consent"): Page("record"),
    ("POST", "/patients/{patient_id}/consent"): Page("record", form=CONSENT_FORM),
    ("GET", "/visits/{visit_id}/needling"): Page("record", clinical=True),
    ("POST", "/visits/{visit_id}/needling/{action}"): Page(
        "record", clinical=True, ids={"action": "confirm"}, form={}
    ),
    ("GET", "/patients/{patient_id}/outcomes/record"): Page("record"),
    ("POST", "/patients/{patient_id}/outcomes/record"): Page("record", form=NPRS),
    ("GET", "/patients/{patient_id}/outcomes"): Page("record", clinical=True),
    ("GET", "/patients/{patient_id}/reports/visit-note"): Page(
        "record", clinical=True, query={"visit": "{visit_id}"}
    ),
    ("GET", "/patients/{patient_id}/reports/visit-note.pdf"): Page(
        "record", clinical=True, query={"visit": "{visit_id}"}, pdf=True
    ),
    ("GET", "/patients/{patient_id}/reports/progress"): Page("record", clinical=True),
    ("GET", "/patients/{patient_id}/reports/progress.pdf"): Page("record", clinical=True, pdf=True),
    # The consent form is the front desk's too: risks disclosed, who signed, when.
    ("GET", "/patients/{patient_id}/reports/consent"): Page("record"),
    ("GET", "/patients/{patient_id}/reports/consent.pdf"): Page("record", pdf=True),
    ("GET", "/patients/{patient_id}/consents/research"): Page("record"),
    ("POST", "/patients/{patient_id}/consents/research"): Page(
        "record", form={"signed_by": "Iso Lation", "signed_at": "2026-11-20T09:00", "agreed": "on"}
    ),
    # clinic rules that ask patients before visits: a clinical protocol (complaint, diagnosis)
    ("GET", "/clinic/questionnaire-rules"): Page("clinic", clinical=True),
    ("POST", "/clinic/questionnaire-rules"): Page("clinic", clinical=True, form={}),  # 422
    **{
        ("POST", f"/clinic/questionnaire-rules/{{rule_id}}/{action}"): Page(
            "clinic",
            clinical=True,
            ids={"rule_id": "2147483647"},
            form={"version": "1", "active": "false"},
            target_missing=True,
        )
        for action in ("active", "delete")
    },
    # the research registry
    ("GET", "/research"): Page("clinic", clinical=True),
    ("GET", "/research/ltr"): Page("clinic", clinical=True),
    ("GET", "/research/ltr/forest.{fmt}"): Page("clinic", clinical=True, ids={"fmt": "svg"}),
    ("GET", "/research/painmap"): Page("clinic", clinical=True),
    ("GET", "/research/painmap/{figure}.{fmt}"): Page(
        "clinic", clinical=True, ids={"figure": "heatmap", "fmt": "svg"}
    ),
    ("GET", "/research/studies"): Page("clinic", clinical=True),
    ("GET", "/research/exports"): Page("clinic", clinical=True),
    ("POST", "/research/exports"): Page("clinic", clinical=True, form={}),  # 422: no format
    ("GET", "/research/exports/{job_id}/download"): Page("record", clinical=True),
    ("POST", "/research/studies"): Page("clinic", clinical=True, form={}),  # 422
    ("GET", "/research/studies/{study_id}"): Page("record", clinical=True),
    ("GET", "/research/studies/{study_id}/report"): Page("record", clinical=True),
    ("GET", "/research/studies/{study_id}/examine/{participant_id}"): Page("record", clinical=True),
    ("POST", "/research/studies/{study_id}/examine/{participant_id}"): Page(
        "record", clinical=True, form={}
    ),
    ("POST", "/research/studies/{study_id}/participants"): Page(
        "record", clinical=True, form={"code": "P98"}
    ),
    ("POST", "/research/studies/{study_id}/open"): Page("record", clinical=True, form={}),
    ("POST", "/research/studies/{study_id}/close"): Page("record", clinical=True, form={}),
}


def _patient_routes(app) -> list[tuple[str, str]]:
    return [
        (m, r.path)
        for r in api_routes(app)
        if not any(r.path.startswith(p) for p in NOT_PATIENT_DATA)
        for m in sorted(r.methods)
    ]


def _page_routes(app) -> set[tuple[str, str]]:
    return {(m, r.path) for r in page_routes(app) for m in r.methods if m != "HEAD"}


def test_every_patient_route_is_in_the_matrix(app_client):
    missing = [rt for rt in _patient_routes(app_client.app) if rt not in BODIES]
    assert not missing, f"add these routes to BODIES: {missing}"
    assert set(BODIES) >= CLINICAL


def test_every_page_and_pdf_route_is_in_the_matrix(app_client):
    routes = _page_routes(app_client.app)
    missing = sorted(routes - set(PAGES))
    assert not missing, f"add these page routes to PAGES (and decide who may use them): {missing}"
    stale = sorted(set(PAGES) - routes)
    assert not stale, f"these PAGES entries match no route any more: {stale}"
    assert sum(p.pdf for p in PAGES.values()) >= 4  # the PDFs are in it


@pytest.fixture(scope="module", autouse=True)
def _generous_rate_limits(db_url):
    """The matrix calls each PDF and FHIR route once per persona: lift the per-user limits
    for it, and leave no counts behind for the modules after it (limits: tests/web)."""
    with generous_rate_limits():
        yield


@pytest.fixture
def owned(app_client, alice, dave, tmp_path, monkeypatch, request):
    """One of everything, owned by clinic A, ready for a needling session."""
    from triggerpoint.config import get_settings
    from triggerpoint.research.exports import jobs
    from triggerpoint.safety.screening import rulebook

    hdr = alice.headers
    pid = new_patient(app_client, alice, **PATIENT)
    cid = app_client.post(f"/api/patients/{pid}/consents", json=CONSENT, headers=hdr).json()["id"]
    vid = app_client.post(
        f"/api/patients/{pid}/visits", json={"visit_at": "2026-11-02T10:00:00+00:00"}, headers=hdr
    ).json()["id"]
    app_client.post(
        f"/api/patients/{pid}/screenings",
        json={"answers": {r.id: {"present": False} for r in rulebook().rules}},
        headers=hdr,
    )
    app_client.post(f"/api/visits/{vid}/screening-confirmation", headers=hdr)
    app_client.put(f"/api/visits/{vid}/note", json={"subjective": "Owned"}, headers=hdr)
    fid = app_client.post(
        f"/api/visits/{vid}/palpation",
        json={"site": "right upper trapezius", "finding": "none"},
        headers=hdr,
    ).json()["id"]
    sid = app_client.post("/api/needling-sessions", json={"visit_id": vid}, headers=hdr).json()[
        "id"
    ]
    eid = app_client.post(
        f"/api/patients/{pid}/episodes", json={"complaint": "Neck pain"}, headers=hdr
    ).json()["id"]
    rid = app_client.post(
        f"/api/patients/{pid}/questionnaire-requests", json={"instruments": ["nprs"]}, headers=hdr
    ).json()["id"]
    monkeypatch.setenv("TRIGGERPOINT_EXPORT_DIR", str(tmp_path / "exports"))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)  # no export_dir of this test's left behind
    job = app_client.post("/api/research/exports", json={"format": "odm"}, headers=hdr)
    assert job.status_code == 202, job.text
    assert jobs.execute(job.json()["id"])  # done, so its download answers
    ids = {"alice_id": alice.user_id, "dave_id": dave.user_id, "job_id": job.json()["id"]}
    study = app_client.post("/api/research/studies", json=_fill(STUDY, ids), headers=hdr)
    assert study.status_code == 201, study.text
    study_id = study.json()["id"]
    assert app_client.post(f"/api/research/studies/{study_id}/open", headers=hdr).is_success
    participant = app_client.post(
        f"/api/research/studies/{study_id}/participants", json={"code": "P01"}, headers=hdr
    )
    assert participant.status_code == 201, participant.text
    return {
        **ids,
        "study_id": study_id,
        "participant_id": participant.json()["id"],
        "request_id": rid,
        "patient_id": pid,
        "consent_id": cid,
        "visit_id": vid,
        "session_id": sid,
        "episode_id": eid,
        "finding_id": fid,
        "code": "M79.12",  # the diagnosis POST adds it before the DELETE removes it
    }


def _fill(value, ids):
    """Ids into a body's placeholders ("{visit_id}" -> the owned visit's id)."""
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    return value


def _call(client, method, path, ids, headers):
    body = _fill(BODIES[(method, path)], ids)
    return client.request(method, path.format(**ids), json=body, headers=headers)


@pytest.mark.parametrize("persona", ["carol", "erin"])
def test_other_clinic_gets_404_everywhere(app_client, request, owned, persona):
    person = request.getfixturevalue(persona)
    failures = []
    for method, path in BODIES:
        if "{" not in path:
            continue
        resp = _call(app_client, method, path, owned, person.headers)
        if resp.status_code != 404:
            failures.append((method, path, resp.status_code))
    assert not failures


def test_other_clinic_lists_show_nothing_of_ours(app_client, carol, owned):
    rows = app_client.get("/api/patients", params={"limit": 200}, headers=carol.headers).json()[
        "items"
    ]
    assert owned["patient_id"] not in {r["id"] for r in rows}
    assert all(r["clinic_id"] == carol.clinic_id for r in rows)


def test_unauthenticated_gets_401_everywhere(app_client, owned):
    failures = [(m, p) for m, p in BODIES if _call(app_client, m, p, owned, {}).status_code != 401]
    assert not failures


def test_assistant_gets_403_on_clinical_routes_only(app_client, bob, owned):
    hdr = bob.headers
    failures = []
    for method, path in BODIES:
        code = _call(app_client, method, path, owned, hdr).status_code
        ok = code == 403 if (method, path) in CLINICAL else code not in REFUSED and code < 500
        if not ok:
            failures.append((method, path, code))
    assert not failures, failures


def test_clinician_of_a_reaches_every_route_and_nothing_is_cached(app_client, alice, owned):
    hdr = alice.headers
    failures = []
    for method, path in BODIES:
        resp = _call(app_client, method, path, owned, hdr)
        if resp.status_code in REFUSED or resp.status_code >= 500:
            failures.append((method, path, resp.status_code))
        elif resp.headers.get("cache-control") != "no-store":
            failures.append((method, path, resp.headers.get("cache-control")))
    assert not failures, failures


def test_own_clinic_roles_succeed(app_client, dave, alice, bob, owned):
    for person in (dave, alice, bob):  # admin, clinician, assistant of Clinic A
        hdr = person.headers
        assert (
            app_client.get(f"/api/patients/{owned['patient_id']}", headers=hdr).status_code == 200
        )


# --- the pages matrix ----------------------------------------------------------------------


def _request_page(client, key, ids, headers):
    method, path = key
    page = PAGES[key]
    every = {**ids, **page.ids}
    form = page.form
    if key == ("POST", "/patients/{patient_id}/screening"):
        form = _screening_form()
    return client.request(
        method,
        path.format(**every),
        params={k: _fill(v, every) for k, v in page.query.items()},
        data=form if method == "POST" else None,
        headers=headers,
        follow_redirects=False,
    )


def _allowed(key, resp) -> str | None:
    """None if `resp` is what an allowed caller gets from this route, else what is wrong."""
    method, _ = key
    code = resp.status_code
    refused = REFUSED - {404} if PAGES[key].target_missing else REFUSED
    if method == "GET" and code != 200:
        return f"status {code}"
    if method == "POST" and (code in refused or code >= 500):
        return f"status {code}"
    if PAGES[key].pdf and method == "GET" and resp.headers["content-type"] != "application/pdf":
        return resp.headers["content-type"]
    if resp.headers.get("cache-control") != "no-store":
        return f"cache-control {resp.headers.get('cache-control')}"
    return None


def _logged_in_pages():
    return [k for k, p in PAGES.items() if p.kind not in ("public", "login")]


def test_public_pages_need_no_login_and_the_rest_redirect_to_it(app_client, owned):
    from fastapi.testclient import TestClient

    anonymous = TestClient(app_client.app)
    failures = []
    for key, page in PAGES.items():
        if page.kind == "login":
            continue
        resp = _request_page(anonymous, key, owned, {})
        if page.kind == "public":
            if resp.status_code not in (200, 301):
                failures.append((key, resp.status_code))
        elif resp.status_code != 303 or not resp.headers["location"].startswith("/login?next="):
            failures.append((key, resp.status_code, resp.headers.get("location")))
    assert not failures, failures


def _page_failures(client, person, owned) -> list[tuple[object, object]]:
    """Every logged-in page as `person`: a 403 where their role is refused, else what an
    allowed caller gets (`_allowed`)."""
    failures = []
    for key in _logged_in_pages():
        page = PAGES[key]
        resp = _request_page(client, key, owned, person.headers)
        refused = (page.clinical and not person.principal.can("clinical:read")) or (
            page.roles is not None and person.role not in page.roles
        )
        if refused:
            if resp.status_code != 403:
                failures.append((key, resp.status_code))
        elif problem := _allowed(key, resp):
            failures.append((key, problem))
    return failures


def test_clinician_of_a_may_use_every_page_and_pdf(app_client, alice, owned):
    assert alice.principal.can("clinical:read") and alice.principal.can("clinical:write")
    failures = _page_failures(app_client, alice, owned)
    assert not failures, failures


def test_assistant_of_a_only_on_non_clinical_pages(app_client, bob, owned):
    assert not bob.principal.can("clinical:read") and not bob.principal.can("clinical:write")
    failures = _page_failures(app_client, bob, owned)
    assert not failures, failures


def test_assistant_sees_the_patient_but_nothing_clinical_on_the_page(app_client, alice, bob, owned):
    pid = owned["patient_id"]
    clinician = alice.headers
    drawn = app_client.post(  # a visit with its drawing: the timeline shows it (thumbs)
        f"/api/patients/{pid}/visits",
        json={
            "visit_at": "2026-11-03T10:00:00+00:00",
            "pain_drawing": {"complete": False, "marks": [{"region": "right angle of jaw"}]},
        },
        headers=clinician,
    )
    assert drawn.status_code == 201, drawn.text
    app_client.post(
        f"/api/patients/{pid}/episodes", json={"complaint": "Matrix jaw ache"}, headers=clinician
    )
    seen = app_client.get(f"/patients/{pid}", headers=clinician).text
    assert "Matrix jaw ache" in seen and 'class="thumbs"' in seen
    page = app_client.get(f"/patients/{pid}", headers=bob.headers)
    assert page.status_code == 200
    assert "Iso" in page.text and "Lation" in page.text and 'id="consent-status"' in page.text
    assert "Matrix jaw ache" not in page.text and 'class="thumbs"' not in page.text
    assert 'id="clinical-withheld"' in page.text
    for clinical in ("/screening", '/outcomes"', "/reports/progress", "/needling"):
        assert clinical not in page.text, clinical


@pytest.mark.parametrize("persona", ["carol", "erin"])
def test_other_clinic_gets_404_on_our_pages_and_pdfs(app_client, request, owned, persona):
    hdr = request.getfixturevalue(persona).headers
    failures = []
    for key, page in PAGES.items():
        if page.kind != "record":
            continue
        resp = _request_page(app_client, key, owned, hdr)
        if resp.status_code != 404:
            failures.append((key, resp.status_code))
        elif resp.headers.get("cache-control") != "no-store":
            failures.append((key, resp.headers.get("cache-control")))
    assert not failures, failures


@pytest.mark.parametrize("persona", ["carol", "erin"])
def test_other_clinic_pages_list_nothing_of_ours(app_client, request, owned, persona):
    hdr = request.getfixturevalue(persona).headers
    for key, page in PAGES.items():
        if page.kind != "clinic" or key[0] != "GET":
            continue
        resp = _request_page(app_client, key, owned, hdr)
        assert resp.status_code == 200, key
        assert "Lation" not in resp.text, key
        assert f'/patients/{owned["patient_id"]}"' not in resp.text, key
