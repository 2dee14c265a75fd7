"""Every HTML page the app serves, with the way to reach each: for tests that visit them all.

`PAGES` names each page once (a slug for test ids and screenshots, the path with its
placeholders, who may see it). `served_site` starts a real server on a fresh SQLite file with
a clinician and an admin of one clinic, and fills it with one patient who has been through the
whole loop (screening, consent, a signed needling session, an open one, outcome measures),
all through the JSON API, so the pages show what a clinician would see.

Pages being built now are listed too. `existing` keeps the ones whose route the app has today,
`missing` the others, so a test covers what exists and prints what does not yet, and
`unlisted_routes` names any HTML page of the app that nobody has added here.

To add a page: one `BrowserPage` in `PAGES`; if it needs a record nobody seeds yet, add it
to `_seed_records` and name it in the path (`{visit_id}`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import httpx
from playwright.sync_api import Page

from tests.e2e.conftest import _free_port, _wait_until_up
from triggerpoint.accounts.service import create_api_token, create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import upgrade
from triggerpoint.safety.screening import rulebook

Role = Literal["clinician", "admin", "anonymous"]
PASSWORD = "bedside needles 4 tests"
SYSTEM = Actor.system("e2e pages")


@dataclass(frozen=True)
class BrowserPage:
    """One page: `path` (with `{patient_id}`-style placeholders for seeded records, and
    `?query`), who opens it, the status it answers (error pages answer 4xx), and what to
    do once it has loaded (`prepare`: show form errors, live results)."""

    name: str
    path: str
    role: Role = "clinician"
    status: int = 200
    prepare: Callable[[Page], None] | None = None  # bring the page to a state worth checking
    shows_errors: bool = False  # after `prepare`, the page shows field errors

    @property
    def route(self) -> str:
        """The path without its query, placeholders blanked, to compare with the app's."""
        return _blank(self.path.split("?", 1)[0])

    def url(self, base: str, ids: Mapping[str, int | str]) -> str:
        return base + self.path.format(**ids)


def _blank(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _submit_empty(page: Page) -> None:
    """Send the form as it stands, so the page shows its field errors."""
    page.locator("main button[type=submit]").first.click()
    page.wait_for_load_state("networkidle")


def _draw_neck_pain(page: Page) -> None:
    """Paint the classic upper trapezius referral, wait for the live candidates."""
    for region in ("right_temple", "right_angle_of_jaw", "right_upper_posterior_neck"):
        page.click(f'svg.bodychart [data-region="{region}"]')
    page.wait_for_selector("#candidates li")
    page.wait_for_load_state("networkidle")


def _needle_too_deep(page: Page) -> None:
    """Chart a needle deeper than its length: refused, with the error beside the depth."""
    page.fill("#needle_length_mm", "30")  # first: a muscle typed first fills in its default
    page.fill("#muscle", "Upper trapezius")
    page.fill("#depth_mm", "45")
    page.click("#save-entry")
    page.wait_for_selector("#depth_mm-error")


PAGES: tuple[BrowserPage, ...] = (
    BrowserPage("login", "/login", role="anonymous"),
    # The patient's link pages: no login, the token is the credential (tests/portal, e2e).
    BrowserPage("patient-link-unknown", "/r/{unknown_token}", role="anonymous", status=404),
    BrowserPage("patient-link-save-get", "/r/{unknown_token}/save", role="anonymous", status=404),
    BrowserPage(
        "patient-link-submit-get", "/r/{unknown_token}/submit", role="anonymous", status=404
    ),
    BrowserPage("home", "/"),
    BrowserPage("patients", "/patients"),
    BrowserPage("patient-new", "/patients/new"),
    BrowserPage("patient-new-errors", "/patients/new", prepare=_submit_empty, shows_errors=True),
    BrowserPage("patient", "/patients/{patient_id}"),
    BrowserPage("patient-edit", "/patients/{patient_id}/edit"),
    BrowserPage("draw", "/patients/{patient_id}/draw"),
    BrowserPage("screening", "/patients/{patient_id}/screening"),
    BrowserPage(
        "screening-errors",
        "/patients/{patient_id}/screening",
        prepare=_submit_empty,
        shows_errors=True,
    ),
    BrowserPage("consent", "/patients/{patient_id}/consent"),
    BrowserPage("consent-withdraw", "/patients/{patient_id}/consents/{consent_id}/withdraw"),
    BrowserPage("diagnoses", "/patients/{patient_id}/diagnoses"),
    BrowserPage("visit", "/visits/{open_visit_id}"),
    BrowserPage("visit-signed", "/visits/{signed_visit_id}"),
    BrowserPage("soap-note", "/visits/{open_visit_id}/note"),
    BrowserPage("needling-open", "/visits/{open_visit_id}/needling"),
    BrowserPage("needling-signed", "/visits/{signed_visit_id}/needling"),
    BrowserPage(
        "needling-refused",
        "/visits/{open_visit_id}/needling",
        prepare=_needle_too_deep,
        shows_errors=True,
    ),
    BrowserPage("outcomes", "/patients/{patient_id}/outcomes"),
    BrowserPage("record-nprs", "/patients/{patient_id}/outcomes/record?instrument=nprs"),
    BrowserPage("record-ndi", "/patients/{patient_id}/outcomes/record?instrument=ndi"),
    BrowserPage("visit-note", "/patients/{patient_id}/reports/visit-note?visit={signed_visit_id}"),
    BrowserPage("progress-report", "/patients/{patient_id}/reports/progress"),
    BrowserPage("consent-report", "/patients/{patient_id}/reports/consent"),
    BrowserPage("suggest", "/suggest"),
    BrowserPage("suggest-results", "/suggest", prepare=_draw_neck_pain),
    BrowserPage("atlas", "/atlas"),
    BrowserPage("atlas-muscle", "/atlas/muscles/{muscle_id}"),
    BrowserPage("education", "/education"),
    BrowserPage("dashboard", "/dashboard"),
    BrowserPage("password", "/account/password"),
    BrowserPage("tokens", "/account/tokens"),
    BrowserPage("users", "/admin/users", role="admin"),
    BrowserPage("tokens-admin", "/account/tokens", role="admin"),
    BrowserPage("admin", "/admin", role="admin"),
    BrowserPage("admin-clinic", "/admin/clinic", role="admin"),
    BrowserPage("admin-tokens", "/admin/tokens", role="admin"),
    BrowserPage("admin-audit", "/admin/audit", role="admin"),
    BrowserPage("consent-research", "/patients/{patient_id}/consents/research"),
    BrowserPage("questionnaire-rules", "/clinic/questionnaire-rules"),
    BrowserPage("research", "/research"),
    BrowserPage("research-painmap", "/research/painmap"),
    BrowserPage("research-ltr", "/research/ltr"),
    BrowserPage("research-exports", "/research/exports"),
    BrowserPage("studies", "/research/studies"),
    BrowserPage("study", "/research/studies/{study_id}"),
    BrowserPage("study-examine", "/research/studies/{study_id}/examine/{participant_id}"),
    BrowserPage("study-report", "/research/studies/{study_id}/report"),
    BrowserPage("error-404", "/patients/{absent_patient_id}", status=404),
    BrowserPage("error-bad-id", "/patients/{malformed_id}", status=404),
    BrowserPage("error-403", "/admin/users", status=403),
)


# Served, but not ours to fix: reported by the listing test instead of checked.
NOT_CHECKED = {
    "/api/docs": "Swagger UI's own markup (axe: colour-contrast and nested-interactive, serious)",
}


def html_routes() -> set[str]:
    """The app's GET routes that answer HTML (placeholders blanked), read from a fresh app."""
    from fastapi.responses import HTMLResponse

    from tests.routes import page_routes
    from triggerpoint.web.app import create_app

    return {
        _blank(r.path)
        for r in page_routes(create_app())
        if "GET" in (r.methods or ()) and r.response_class is HTMLResponse
    }


def existing(pages: tuple[BrowserPage, ...] = PAGES) -> list[BrowserPage]:
    routes = html_routes()
    return [p for p in pages if p.route in routes]


def missing(pages: tuple[BrowserPage, ...] = PAGES) -> list[BrowserPage]:
    routes = html_routes()
    return [p for p in pages if p.route not in routes]


def unlisted_routes(pages: tuple[BrowserPage, ...] = PAGES) -> list[str]:
    """HTML pages of the app that no `BrowserPage` reaches: add them to `PAGES`."""
    return sorted(html_routes() - {p.route for p in pages})


# --- a served, seeded site -----------------------------------------------------------------


@dataclass
class SeededSite:
    url: str
    logins: dict[str, tuple[str, str]]  # role -> (username, password)
    ids: dict[str, int | str] = field(default_factory=dict)


def _accounts(db_url: str) -> str:
    """A clinic with a clinician and an admin; returns an API token of the clinician."""
    engine = make_engine(db_url)
    upgrade(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        clinic = create_clinic(s, name="Accessibility clinic", actor=SYSTEM)
        users = {}
        for username, role, full in (
            ("dr.pages", "clinician", "Dr Pages"),
            ("admin.pages", "admin", "Admin Pages"),
        ):
            user, _ = create_user(
                s,
                clinic_id=clinic.id,
                username=username,
                full_name=full,
                role=role,
                actor=SYSTEM,
                password=PASSWORD,
            )
            user.must_change_password = False
            users[role] = user
        s.flush()
        token = create_api_token(s, user_id=users["clinician"].id, label="e2e pages", actor=SYSTEM)
        s.commit()
    engine.dispose()
    return token


class _Api:
    def __init__(self, base: str, token: str, db_url: str = "") -> None:
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        self.db_url = db_url

    def post(self, path: str, body: object = None, expect: int = 201) -> dict:
        r = self.http.post(path, json=body, timeout=30)
        assert r.status_code == expect, f"seeding {path}: {r.status_code} {r.text[:500]}"
        return r.json()


NECK = ["right temple", "right angle of jaw", "right upper posterior neck"]
ENTRY = {
    "muscle": "upper trapezius",
    "side": "right",
    "trigger_point_id": "tp1",
    "needle_diameter_mm": 0.25,
    "needle_length_mm": 40,
    "technique": "pistoning",
    "depth_mm": 12,
    "twitch_count": 2,
    "familiar_pain": True,
    "duration_s": 30,
}


def _seed_study(api: _Api) -> dict[str, int | str]:
    """A reliability study examined by the clinician and the admin, open, one participant."""
    me = api.http.get("/api/me").json()["user_id"]
    examiners = [me, *_other_user_ids(api, me)]
    study = api.post(
        "/api/research/studies",
        {
            "title": "Upper trapezius agreement",
            "sites": [{"muscle": "upper_trapezius", "side": "right"}],
            "criteria": ["taut_band", "tender_spot", "twitch"],
            "examiners": examiners,
        },
    )
    api.post(f"/api/research/studies/{study['id']}/open", None, 200)
    participant = api.post(f"/api/research/studies/{study['id']}/participants", {"code": "P01"})
    return {"study_id": study["id"], "participant_id": participant["id"]}


def _other_user_ids(api: _Api, me: int) -> list[int]:
    """The clinic's other users (the admin), read from the database the server uses."""
    from sqlalchemy import select

    from triggerpoint.accounts.models import User

    engine = make_engine(api.db_url)
    try:
        with open_session(clinic_id=None, engine=engine) as s:
            return [u for u in s.scalars(select(User.id).where(User.id != me))]
    finally:
        engine.dispose()


def _seed_records(api: _Api) -> dict[str, int | str]:
    """One patient through the loop: screened, consented, a signed visit (two needles,
    NPRS before and after, PPT), a second visit with an open session and a planned target."""
    now = datetime.now(UTC).replace(microsecond=0)
    at = [(now - timedelta(days=d)).isoformat() for d in (14, 7)]
    pid = api.post(
        "/api/patients",
        {
            "given_name": "Ines",
            "family_name": "Accessible",
            "date_of_birth": "1972-05-09",
            "sex": "female",
            "height_cm": 168,
            "weight_kg": 64,
        },
    )["id"]
    api.post(f"/api/patients/{pid}/episodes", {"complaint": "Right-sided neck pain"})
    no = {r.id: {"present": False} for r in rulebook().rules}
    api.post(f"/api/patients/{pid}/screenings", {"answers": no})
    consent = api.post(
        f"/api/patients/{pid}/consents",
        {
            "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax", "bleeding"],
            "signed_by": "Ines Accessible",
            "signed_at": (now - timedelta(days=15)).isoformat(),
        },
    )
    visits = []
    for when in at:
        drawing = {"complete": True, "marks": [{"region": r, "intensity": 6} for r in NECK]}
        vid = api.post(f"/api/patients/{pid}/visits", {"visit_at": when, "pain_drawing": drawing})
        visits.append(vid["id"])
        api.post(f"/api/visits/{vid['id']}/screening-confirmation", None, 200)
        for timing, score in (("pre", 6), ("post", 3)):
            api.post(
                f"/api/patients/{pid}/measurements",
                {
                    "instrument": "nprs",
                    "data": {"current": score},
                    "timing": timing,
                    "visit_id": vid["id"],
                    "measured_at": when,
                },
            )
        api.post(
            f"/api/patients/{pid}/measurements",
            {
                "instrument": "ppt",
                "data": {"trials": [2.9, 3.1, 3.0]},
                "context": "upper_trapezius.tp1.right",
                "timing": "pre",
                "visit_id": vid["id"],
                "measured_at": when,
            },
        )
    signed_vid, open_vid = visits
    sid = api.post("/api/needling-sessions", {"visit_id": signed_vid})["id"]
    api.post(f"/api/needling-sessions/{sid}/entries", ENTRY)
    api.post(f"/api/needling-sessions/{sid}/entries", {**ENTRY, "depth_mm": 14})
    counted = api.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 2}, 200)
    api.post(f"/api/needling-sessions/{sid}/sign", {"version": counted["version"]}, 200)
    open_sid = api.post("/api/needling-sessions", {"visit_id": open_vid})["id"]
    api.post(
        f"/api/needling-sessions/{open_sid}/targets",
        {"muscle": "upper_trapezius", "side": "right", "trigger_point_id": "tp1"},
    )
    study = _seed_study(api)
    return {
        **study,
        "unknown_token": "x" * 43,
        "patient_id": pid,
        "consent_id": consent["id"],
        "signed_visit_id": signed_vid,
        "open_visit_id": open_vid,
        "signed_session_id": sid,
        "open_session_id": open_sid,
        "muscle_id": "upper_trapezius",
        "absent_patient_id": 999_999_999,
        "malformed_id": "abc",
    }


@contextmanager
def served_site(folder: Path) -> Iterator[SeededSite]:
    """A server process on its own SQLite file in `folder`, seeded; stopped on exit."""
    db_url = f"sqlite:///{folder}/pages.sqlite3"
    token = _accounts(db_url)
    port = _free_port()
    limits = {f"TRIGGERPOINT_RATE_LIMIT_{g}": "100000/minute" for g in ("PDF", "FHIR", "SUGGEST")}
    env = os.environ | limits | {"TRIGGERPOINT_DATABASE_URL": db_url}
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "triggerpoint.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc)
        api = _Api(base, token, db_url)
        try:
            ids = _seed_records(api)
        finally:
            api.http.close()
        logins = {"clinician": ("dr.pages", PASSWORD), "admin": ("admin.pages", PASSWORD)}
        yield SeededSite(base, logins, ids)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        print(f"server log: {folder / 'server.log'}")
