"""The patient's page over HTTP (no login): it shows what `PatientView` holds and nothing
else of the record, refuses unknown (404) and used / cancelled / expired (410) links with a
friendly page in the patient's language, puts each validation error beside its question,
keeps a saved draft, is rate-limited per address, refuses cross-site writes and is never
cached. Both engines (the `db_url` fixture)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select, update
from tests.personas import Person, new_patient

from triggerpoint.config import Settings, get_settings
from triggerpoint.db import open_session
from triggerpoint.outcomes.models import Measurement
from triggerpoint.portal import i18n, patient_pages
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.records.models import PainDrawing

TEXTS = Path(__file__).parent / "texts"  # placeholder NDI wording (not the licensed text)
SECRET_NOTE = "Subjective-secret-7f3a: patient worried about her divorce"
SECRET_COMPLAINT = "Complaint-secret-91bc right neck pain after the car crash"
SECRET_CODE = "M54.2"
FAMILY = "Zubizarreta"
NDI_FORM = {f"ndi.items.{i}": str(i % 6) for i in range(10)}


@pytest.fixture(autouse=True)
def setup(monkeypatch) -> Iterator[None]:
    """The tests' NDI wording (as a clinic's licensed catalogue) and a roomy rate limit."""
    if "instrument_texts_dir" in Settings.model_fields:
        monkeypatch.setenv("TRIGGERPOINT_INSTRUMENT_TEXTS_DIR", str(TEXTS))
        get_settings.cache_clear()
    else:  # until the setting exists: the same directory, first, as i18n reads it
        monkeypatch.setattr(i18n, "_text_dirs", lambda: [TEXTS, i18n.TEXTS_DIR])
    monkeypatch.setattr(patient_pages, "_rate", lambda: "10000/minute")
    monkeypatch.setattr(patient_pages, "_miss_rate", lambda: "10000/minute")
    yield
    get_settings.cache_clear()


@pytest.fixture
def anon(app_client: TestClient) -> TestClient:
    """A browser with no cookie and no token: what the patient has."""
    return TestClient(app_client.app)


def _seeded(app_client: TestClient, person: Person, **request) -> tuple[int, str]:
    """A patient with a record worth hiding (another visit's note, a diagnosis), and a link."""
    h = person.headers
    pid = new_patient(app_client, person, given_name="Rosa", family_name=FAMILY)
    r = app_client.post(
        f"/api/patients/{pid}/episodes",
        json={"complaint": SECRET_COMPLAINT, "diagnoses": [{"code": SECRET_CODE}]},
        headers=h,
    )
    assert r.status_code == 201, r.text
    when = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    r = app_client.post(f"/api/patients/{pid}/visits", json={"visit_at": when}, headers=h)
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    r = app_client.put(f"/api/visits/{vid}/note", json={"subjective": SECRET_NOTE}, headers=h)
    assert r.status_code in (200, 201), r.text
    body = {"instruments": ["nprs", "ndi"], "pain_drawing": True, "channel": "none", **request}
    r = app_client.post(f"/api/patients/{pid}/questionnaire-requests", json=body, headers=h)
    assert r.status_code == 201, r.text
    token = r.json()["url"].rsplit("/r/", 1)[1]
    return pid, token


def _texts(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_page_shows_the_clinic_first_name_and_questions_and_nothing_else(app_client, anon, alice):
    pid, token = _seeded(app_client, alice)
    r = anon.get(f"/r/{token}")
    assert r.status_code == 200, r.text
    html = r.text
    assert "Rosa" in html and "Item 1 (test wording)" in html and "Item 10 (test wording)" in html
    assert "How strong is it right now" in html  # our NPRS wording
    with open_session(clinic_id=alice.clinic_id) as s:
        from triggerpoint.accounts.models import Clinic

        clinic = s.get(Clinic, alice.clinic_id)
        assert clinic is not None and escape(clinic.name) in html
    for secret in (
        FAMILY,
        SECRET_NOTE,
        SECRET_COMPLAINT,
        SECRET_CODE,
        "1980",
        alice.principal.username,
    ):
        assert secret not in html, f"{secret!r} leaked into the patient's page"
    assert f"/patients/{pid}" not in html and "/api/" not in html
    # The page calls no JSON endpoint: its scripts and styles are static files only.
    assert set(re.findall(r'(?:src|href)="(/[^"]*)"', html)) <= {
        "/static/css/portal.css",
        "/static/js/portal.js",
        "/static/img/favicon.svg",
        f"/r/{token}?lang=en",
        f"/r/{token}?lang=es",
    }
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"  # the token is in the URL
    assert r.headers["x-robots-tag"] == "noindex, nofollow"
    assert 'lang="en"' in html


def test_spanish_from_the_request_and_the_switch(app_client, anon, alice):
    _, token = _seeded(app_client, alice, language="es")
    es = anon.get(f"/r/{token}").text
    assert '<html lang="es">' in es and "Hola, Rosa" in es and "Pregunta 1 (texto de prueba)" in es
    assert "¿Dónde sientes dolor?" in es and "sien (tu lado derecho)" in es
    assert "tu lado derecho está a la izquierda del dibujo" in es  # the front view faces you
    en = anon.get(f"/r/{token}?lang=en").text
    assert "Hello Rosa" in en and "your right temple" in en and "Item 1 (test wording)" in en
    assert 'href="/r/' + token + '?lang=es"' in en and 'aria-current="true">English' in en


def test_accept_language_is_not_above_the_request_language(app_client, anon, alice):
    _, token = _seeded(app_client, alice)  # the request's language: en (the default)
    html = anon.get(f"/r/{token}", headers={"Accept-Language": "es-ES,es;q=0.9"}).text
    assert "Hello Rosa" in html
    # An unknown link has no language of its own: the browser's is used.
    refused = anon.get("/r/" + "x" * 43, headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert refused.status_code == 404 and "No hemos encontrado esta página" in refused.text


def test_unknown_and_malformed_tokens_get_a_friendly_404(anon, alice):
    for path in ("/r/" + "A" * 43, "/r/short", "/r/" + "a" * 101, "/r/bad%20token!"):
        r = anon.get(path)
        assert r.status_code == 404, path
        assert "We could not find this page" in r.text and r.headers["cache-control"] == "no-store"
        r = anon.post(path + "/submit", data={"nprs.current": "3"})
        assert r.status_code in (404, 405), path


def _submit_form(**extra: str) -> dict[str, object]:
    return {"lang": "en", "nprs.current": "6", **NDI_FORM, "region": ["right_temple"], **extra}


def test_submit_stores_patient_reported_and_the_link_then_refuses(app_client, anon, alice):
    pid, token = _seeded(app_client, alice, language="es")
    r = anon.post(f"/r/{token}/submit", data=_submit_form(lang="es"))
    assert r.status_code == 200, r.text
    assert "Gracias, Rosa" in r.text
    with open_session(clinic_id=alice.clinic_id) as s:
        ms = s.scalars(select(Measurement).where(Measurement.patient_id == pid)).all()
        assert {(m.instrument, m.source) for m in ms} == {("nprs", "patient"), ("ndi", "patient")}
        nprs = next(m for m in ms if m.instrument == "nprs")
        assert nprs.data == {"current": 6}
        ndi = next(m for m in ms if m.instrument == "ndi")
        assert ndi.data["items"] == [i % 6 for i in range(10)]
        drawing = s.scalars(select(PainDrawing).where(PainDrawing.patient_id == pid)).one()
        assert drawing.source == "patient"
    again = anon.get(f"/r/{token}")
    assert again.status_code == 410 and "Este enlace ya se ha usado" in again.text
    assert FAMILY not in again.text and "Rosa" not in again.text
    twice = anon.post(f"/r/{token}/submit", data=_submit_form())
    assert twice.status_code == 410


def test_cancelled_and_expired_links_get_410_in_the_patients_language(app_client, anon, alice):
    _, token = _seeded(app_client, alice, language="es")
    _, other = _seeded(app_client, alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        rows = s.scalars(select(QuestionnaireRequest).order_by(QuestionnaireRequest.id)).all()
        first, second = rows[-2], rows[-1]
        s.execute(
            update(QuestionnaireRequest)
            .where(QuestionnaireRequest.id == first.id)
            .values(status="cancelled")
        )
        s.execute(
            update(QuestionnaireRequest)
            .where(QuestionnaireRequest.id == second.id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        s.commit()
    r = anon.get(f"/r/{token}")
    assert r.status_code == 410 and "Este enlace se ha cancelado" in r.text
    r = anon.get(f"/r/{other}")
    assert r.status_code == 410 and "This link has expired" in r.text
    assert anon.post(f"/r/{other}/save", data={"nprs.current": "2"}).status_code == 410


def test_errors_sit_beside_their_question_and_answers_are_kept(app_client, anon, alice):
    pid, token = _seeded(app_client, alice)
    form = {k: v for k, v in _submit_form().items() if k not in ("nprs.current", "region")}
    for i in (0, 1, 2):  # three blanks: NDI allows two
        form.pop(f"ndi.items.{i}")
    form["ndi.items.5"] = "9"  # not an answer shown
    r = anon.post(f"/r/{token}/submit", data=form)
    assert r.status_code == 422
    html = r.text
    assert 'role="alert"' in html and "Please check these answers" in html
    # each message is inside its own question's fieldset, which names it
    for anchor, words in (
        ("q-nprs-current", "Please choose an answer."),
        ("q-ndi-items-0", "at most 2 of these questions"),
        ("q-ndi-items-5", "Please choose one of the answers shown."),
        ("q-drawing", "Tick where it hurts"),
    ):
        m = re.search(rf'<fieldset id="{anchor}"[^>]*aria-describedby="([^"]*)"', html)
        assert m, anchor
        error_id = next(i for i in m.group(1).split() if i.endswith("-error"))
        assert re.search(rf'id="{error_id}">[^<]*{re.escape(words)}', html), anchor
        assert f'href="#{anchor}"' in html
    assert "(and 2 more questions)" in html  # items 0-2 blank: one line in the summary
    assert re.search(r'name="ndi.items.3" value="3" checked', html)  # kept
    with open_session(clinic_id=alice.clinic_id) as s:
        assert not s.scalars(select(Measurement).where(Measurement.patient_id == pid)).all()
    assert anon.get(f"/r/{token}").status_code == 200  # still open


def test_both_pain_and_no_pain_is_refused(app_client, anon, alice):
    _, token = _seeded(app_client, alice)
    r = anon.post(f"/r/{token}/submit", data=_submit_form(no_pain="yes"))
    assert r.status_code == 422 and "please choose one" in r.text


def test_no_pain_anywhere_is_a_complete_drawing(app_client, anon, alice):
    pid, token = _seeded(app_client, alice)
    form = {k: v for k, v in _submit_form(no_pain="yes").items() if k != "region"}
    assert anon.post(f"/r/{token}/submit", data=form).status_code == 200
    with open_session(clinic_id=alice.clinic_id) as s:
        drawing = s.scalars(select(PainDrawing).where(PainDrawing.patient_id == pid)).one()
        assert drawing.complete and not drawing.marks


def test_a_saved_draft_is_shown_again(app_client, anon, alice):
    _, token = _seeded(app_client, alice)
    r = anon.post(
        f"/r/{token}/save",
        data={"lang": "es", "nprs.current": "7", "ndi.items.4": "2", "region": "left_heel"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/r/{token}?lang=es&saved=1"
    page = anon.get(r.headers["location"]).text
    assert "Guardado." in page
    assert re.search(r'name="nprs.current" value="7" checked', page)
    assert re.search(r'name="ndi.items.4" value="2" checked', page)
    assert re.search(r'value="left_heel" checked', page)
    again = anon.get(f"/r/{token}").text  # reopened later: still there
    assert re.search(r'name="nprs.current" value="7" checked', again)


def test_cross_site_writes_are_refused(app_client, anon, alice):
    _, token = _seeded(app_client, alice)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = anon.post(f"/r/{token}/submit", data=_submit_form(), headers=headers)
        assert r.status_code == 403 and "did not come from this site" in r.text
    ok = anon.post(
        f"/r/{token}/save",
        data={"nprs.current": "1"},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert ok.status_code == 303


def test_rate_limited_per_address(app_client, anon, alice, monkeypatch):
    _, token = _seeded(app_client, alice)
    monkeypatch.setattr(patient_pages, "_rate", lambda: "3/minute")
    codes = [anon.get("/r/" + "z" * 43).status_code for _ in range(3)]
    assert codes == [404, 404, 404]
    r = anon.get(f"/r/{token}")  # a good link too: the address is over its limit
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "Too many tries" in r.text and "Rosa" not in r.text


def test_unknown_links_are_limited_harder(app_client, anon, alice, monkeypatch):
    _, token = _seeded(app_client, alice)
    monkeypatch.setattr(patient_pages, "_miss_rate", lambda: "2/minute")
    assert anon.get(f"/r/{token}").status_code == 200  # hits are not misses
    assert [anon.get(f"/r/{'m' * 43}").status_code for _ in range(2)] == [404, 404]
    r = anon.get(f"/r/{token}")  # two misses: this address is refused for the minute
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_every_patient_facing_string_is_translated():
    """Each msgid of the page has a Spanish msgstr, and each Spanish catalogue entry keeps
    the msgid's placeholders."""
    from babel.messages.pofile import read_po

    with (i18n.LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    entries = [m for m in catalog if m.id]
    assert len(entries) > 50
    for m in entries:
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(strings) and not m.fuzzy, f"untranslated or fuzzy: {m.id!r}"
        wanted = set(re.findall(r"%\(\w+\)s", ids[-1]))
        for text in strings:
            assert set(re.findall(r"%\(\w+\)s", text)) == wanted, m.id
    en = set(i18n.region_words("en").names)
    assert en == set(i18n.region_words("es").names)  # every region named in both
    from triggerpoint.bodychart.catalog import load_catalog

    assert {r.key for r in load_catalog().regions.values()} <= en


def test_negotiation_order():
    assert i18n.negotiate(asked="es", request_language="en") == "es"
    assert i18n.negotiate(asked="xx", request_language="es") == "es"
    assert i18n.negotiate(preferred="es-MX") == "es"
    assert i18n.negotiate(accept_language="fr;q=1, es;q=0.5, en;q=0.4") == "es"
    assert i18n.negotiate(accept_language="fr, de") == "en"
    assert i18n.languages()[0] == "en" and "es" in i18n.languages()


def test_each_open_and_the_submission_are_audited_as_the_link(app_client, anon, alice):
    from triggerpoint.audit.models import AuditEvent

    _, token = _seeded(app_client, alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        rid = s.scalars(
            select(QuestionnaireRequest.id).order_by(QuestionnaireRequest.id.desc())
        ).first()
    for _ in range(2):
        assert anon.get(f"/r/{token}").status_code == 200
    refused = anon.post(f"/r/{token}/submit", data={"lang": "en"})  # invalid: nothing stored
    assert refused.status_code == 422 and refused.headers["cache-control"] == "no-store"
    assert anon.post(f"/r/{token}/submit", data=_submit_form()).status_code == 200
    with open_session(clinic_id=None) as s:
        events = s.execute(
            select(AuditEvent.action, AuditEvent.actor).where(
                AuditEvent.entity == "questionnaire_request", AuditEvent.entity_id == str(rid)
            )
        ).all()
    by_link = [a for a, actor in events if actor == f"patient-link:{rid}"]
    assert by_link.count("open") == 2 and by_link.count("submit") == 1
    gone = anon.get(f"/r/{token}")
    assert gone.status_code == 410 and gone.headers["cache-control"] == "no-store"


def test_a_sent_forms_address_opened_again_leads_back_to_the_page(anon):
    token = "q" * 43
    r = anon.get(f"/r/{token}/submit?lang=es", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/r/{token}?lang=es"
    assert anon.get(f"/r/{token}/save", follow_redirects=False).headers["location"] == f"/r/{token}"
