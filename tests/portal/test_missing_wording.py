"""A request's wording that went missing after the request was made (a clinic's licensed
file removed, a language's catalogue gone) never gives a 500: the patient's page says which
questionnaire is not available, lets the rest be answered and saved, and refuses to send
clearly (409, answers kept); with nothing left to show it is a friendly 503. At creation a
missing wording is a 422 naming `instruments`. Both engines."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.personas import new_patient

from triggerpoint.config import get_settings
from triggerpoint.db import open_session
from triggerpoint.outcomes.models import Measurement
from triggerpoint.portal import i18n, patient_pages
from triggerpoint.portal.models import QuestionnaireRequest

TEXTS = Path(__file__).parent / "texts"  # placeholder NDI wording (not the licensed text)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clinic's wording directory the test may empty (a copy of the placeholder NDI)."""
    folder = tmp_path / "texts"
    shutil.copytree(TEXTS, folder)
    monkeypatch.setenv("TRIGGERPOINT_INSTRUMENT_TEXTS_DIR", str(folder))
    get_settings.cache_clear()
    monkeypatch.setattr(patient_pages, "_rate", lambda: "10000/minute")
    monkeypatch.setattr(patient_pages, "_miss_rate", lambda: "10000/minute")
    yield folder
    get_settings.cache_clear()


@pytest.fixture
def anon(app_client: TestClient) -> TestClient:
    return TestClient(app_client.app)


def _request(app_client: TestClient, person, pid: int, **body: object) -> str:
    body = {"instruments": ["nprs", "ndi"], "pain_drawing": True, **body}
    r = app_client.post(
        f"/api/patients/{pid}/questionnaire-requests", json=body, headers=person.headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["url"]).rsplit("/r/", 1)[1]


def _remove_ndi(folder: Path) -> None:
    for f in folder.glob("ndi.*.yaml"):
        f.unlink()


def test_the_page_names_what_is_missing_and_shows_the_rest(app_client, anon, alice, texts):
    pid = new_patient(app_client, alice, given_name="Rosa")
    token = _request(app_client, alice, pid)
    _remove_ndi(texts)
    r = anon.get(f"/r/{token}")
    assert r.status_code == 200, r.text
    notice = r.text.split('id="unavailable"', 1)[1].split("</div>", 1)[0]
    assert "Neck Disability Index" in notice and "cannot be shown" in notice
    assert 'name="nprs.current"' in r.text and "ndi.items" not in r.text
    assert 'name="region"' in r.text  # the pain drawing is still asked
    assert 'id="send"' not in r.text and 'id="save"' in r.text  # cannot be sent: saved

    es = anon.get(f"/r/{token}?lang=es").text
    assert "Ahora mismo no podemos mostrar este cuestionario" in es


def test_sending_keeps_the_answers_and_refuses_clearly(app_client, anon, alice, texts):
    pid = new_patient(app_client, alice)
    token = _request(app_client, alice, pid)
    _remove_ndi(texts)
    form = {"lang": "en", "nprs.current": "4", "region": ["right_temple"]}
    r = anon.post(f"/r/{token}/submit", data=form)
    assert r.status_code == 409, r.text
    assert 'id="not-sent"' in r.text and "cannot be sent while a questionnaire is missing" in r.text
    with open_session(clinic_id=alice.clinic_id) as s:
        row = s.scalars(
            select(QuestionnaireRequest).where(QuestionnaireRequest.patient_id == pid)
        ).one()
        assert row.status == "open" and row.draft is not None
        assert row.draft["values"] == {"nprs.current": "4"}
        assert s.scalars(select(Measurement).where(Measurement.patient_id == pid)).all() == []
    again = anon.get(f"/r/{token}")  # the draft is shown again
    assert 'value="4" checked' in again.text
    saved = anon.post(f"/r/{token}/save", data=form, follow_redirects=False)
    assert saved.status_code == 303


def test_wording_back_and_the_request_is_whole_again(app_client, anon, alice, texts):
    pid = new_patient(app_client, alice)
    token = _request(app_client, alice, pid)
    kept = {f.name: f.read_bytes() for f in texts.glob("ndi.*.yaml")}
    _remove_ndi(texts)
    assert 'id="unavailable"' in anon.get(f"/r/{token}").text
    for name, data in kept.items():
        (texts / name).write_bytes(data)
    page = anon.get(f"/r/{token}").text
    assert 'id="unavailable"' not in page and 'id="send"' in page


def test_nothing_left_to_show_is_a_friendly_503(app_client, anon, alice, texts):
    pid = new_patient(app_client, alice, given_name="Rosa")
    token = _request(app_client, alice, pid, instruments=["ndi"], pain_drawing=False)
    _remove_ndi(texts)
    r = anon.get(f"/r/{token}")
    assert r.status_code == 503
    assert "These questions cannot be shown at the moment" in r.text and "Rosa" not in r.text
    sent = anon.post(f"/r/{token}/submit", data={"lang": "en"})
    assert sent.status_code == 503


def test_a_missing_language_catalogue_falls_back_to_english(
    app_client, anon, alice, texts, monkeypatch
):
    pid = new_patient(app_client, alice, given_name="Rosa")
    token = _request(app_client, alice, pid, language="es")
    monkeypatch.setattr(i18n, "languages", lambda: ("en",))  # the Spanish pack removed
    r = anon.get(f"/r/{token}")
    assert r.status_code == 200, r.text
    assert '<html lang="en">' in r.text and "Hello Rosa" in r.text
    assert "Item 1 (test wording)" in r.text


def test_at_creation_a_missing_wording_is_422_naming_instruments(app_client, alice, texts):
    pid = new_patient(app_client, alice)
    _remove_ndi(texts)
    r = app_client.post(
        f"/api/patients/{pid}/questionnaire-requests",
        json={"instruments": ["nprs", "ndi"]},
        headers=alice.headers,
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"][:2] == ["body", "instruments"] and "ndi" in detail["msg"]


PATIENT_TEMPLATES = ROOT / "src/triggerpoint/portal/templates/portal/patient"
PAGE_SOURCES = [
    ROOT / "src/triggerpoint/portal/patient_pages.py",
    *sorted(PATIENT_TEMPLATES.glob("*.html")),
]


def test_every_patient_page_string_is_in_every_catalogue():
    """The page's sentences (these included) are in each `messages.po`, translated."""
    wanted: set[str] = set()
    for path in PAGE_SOURCES:
        method = "python" if path.suffix == ".py" else "jinja2"
        options = {"extensions": "jinja2.ext.i18n", "trimmed": "true"} if method == "jinja2" else {}
        with path.open("rb") as fh:
            for _line, msg, _c, _ctx in extract(
                method,
                fh,
                keywords={
                    "_": None,
                    "gettext": None,
                    "ngettext": (1, 2),
                    "pgettext": ((1, "c"), 2),
                },
                options=options,
            ):
                wanted.add(msg if isinstance(msg, str) else msg[0])
    assert any(w.startswith("This questionnaire cannot be shown") for w in wanted)
    for lang in i18n.languages():
        with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        have = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
        missing = sorted(w for w in wanted - have if not re.fullmatch(r"\W*", w))
        assert not missing, f"{lang}: missing {missing}"
