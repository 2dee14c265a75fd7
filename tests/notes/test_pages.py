"""The SOAP note form in a browser session: save, template, sign, addendum, the way back
(`next`), and refused input shown beside its field with the clinician's text kept."""

from __future__ import annotations

import html

import pytest

from tests.conftest import logged_in
from tests.notes.conftest import Notes, plain_visit


@pytest.fixture
def browser(app_client, alice):
    return logged_in(app_client, alice)


def _post(browser, visit_id, **fields):
    client, csrf = browser
    return client.post(
        f"/visits/{visit_id}/note", data={"csrf_token": csrf, **fields}, follow_redirects=False
    )


def test_the_page_offers_the_form_with_templates(browser, visit_id):
    client, _ = browser
    page = client.get(f"/visits/{visit_id}/note")
    assert page.status_code == 200
    assert 'id="soap-form"' in page.text and "Dry needling visit (built-in)" in page.text
    assert '<label for="soap-pain_now_nprs">Pain now (NPRS 0-10)</label>' in page.text
    assert "/static/css/notes.css" in page.text


@pytest.mark.parametrize(
    ("next_url", "lands"),
    [
        ("/patients/1?tab=x", "/patients/1?tab=x#soap"),
        ("//evil.example/x", "/visits/{vid}#soap"),
        ("https://evil.example/", "/visits/{vid}#soap"),
        ("/\\evil.example", "/visits/{vid}#soap"),
        ("", "/visits/{vid}#soap"),
    ],
)
def test_saving_returns_to_a_same_site_next_only(browser, visit_id, next_url, lands):
    r = _post(browser, visit_id, subjective="History", next=next_url)
    assert r.status_code == 303
    assert r.headers["location"] == lands.format(vid=visit_id)


def test_template_fills_empty_sections_from_the_form(app_client, alice, browser, visit_id):
    r = _post(browser, visit_id, subjective="Typed", template="neck_and_shoulder", action="save")
    assert r.status_code == 303
    note = Notes(app_client, alice).get(visit_id)
    assert note["subjective"] == "Typed" and note["objective"].startswith("Cervical range")


def test_refused_input_is_shown_beside_the_field_and_nothing_is_saved(
    app_client, alice, browser, visit_id
):
    r = _post(browser, visit_id, subjective="Kept text", pain_now_nprs="11")
    assert r.status_code == 422
    assert 'id="soap-pain_now_nprs-error"' in r.text and "between 0 and 10" in r.text
    assert ">Kept text</textarea>" in r.text and 'aria-invalid="true"' in r.text
    Notes(app_client, alice).get(visit_id, 404)


def test_sign_then_addendum_then_edits_are_refused(app_client, alice, browser, visit_id):
    assert _post(browser, visit_id, subjective="History", action="sign").status_code == 303
    note = Notes(app_client, alice).get(visit_id)
    assert note["status"] == "signed"
    client, _ = browser
    page = client.get(f"/visits/{visit_id}/note")
    assert 'id="soap-form"' not in page.text and "Signed by <strong>Alice</strong>" in page.text
    assert _post(browser, visit_id, action="addendum", text="Later words").status_code == 303
    assert "Later words" in client.get(f"/visits/{visit_id}/note").text
    refused = _post(browser, visit_id, subjective="Changed", version=str(note["version"]))
    assert refused.status_code == 422
    assert "is signed and cannot change" in html.unescape(refused.text)
    assert Notes(app_client, alice).get(visit_id)["subjective"] == "History"
    empty = _post(browser, visit_id, action="addendum", text="")
    assert empty.status_code == 422 and 'id="soap-addendum_text-error"' in empty.text


def test_a_stale_form_is_refused_with_the_typed_text_kept(app_client, alice, browser, visit_id):
    notes = Notes(app_client, alice)
    notes.put(visit_id, {"subjective": "v1"})
    notes.put(visit_id, {"subjective": "v2 by someone else", "version": 1})
    r = _post(browser, visit_id, subjective="my edit", version="1")
    assert r.status_code == 422 and "changed by someone else" in html.unescape(r.text)
    assert ">my edit</textarea>" in r.text
    assert notes.get(visit_id)["subjective"] == "v2 by someone else"


def test_the_form_needs_its_csrf_token_and_a_clinical_role(app_client, browser, bob, visit_id):
    client, _ = browser
    r = client.post(f"/visits/{visit_id}/note", data={"subjective": "x"}, follow_redirects=False)
    assert r.status_code == 403
    assistant, csrf = logged_in(app_client, bob)
    r = assistant.post(
        f"/visits/{visit_id}/note",
        data={"csrf_token": csrf, "subjective": "x"},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_another_clinics_visit_is_not_found(app_client, carol, alice):
    vid = plain_visit(app_client, alice)
    theirs, csrf = logged_in(app_client, carol)
    assert theirs.get(f"/visits/{vid}/note").status_code == 404
    r = theirs.post(f"/visits/{vid}/note", data={"csrf_token": csrf, "subjective": "x"})
    assert r.status_code == 404 and "Soap" not in r.text
