"""The questionnaire-rules API and page, on both engines: the shapes, 422 naming the field,
409 for a taken name or a stale version, 404 for another clinic's rule, 403 for assistants,
and the page's forms behind CSRF with `Cache-Control: no-store`."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from tests.conftest import logged_in
from tests.portal.test_rules import texts

from triggerpoint.portal.router import RULES_PATH

__all__ = ["texts"]  # the fixture, imported for this module

API = "/api/clinic/questionnaire-rules"
BODY = {
    "name": "Neck: NPRS and NDI",
    "instruments": ["nprs", "ndi"],
    "pain_drawing": True,
    "keywords": ["neck"],
    "icd10_prefixes": ["M54.2"],
    "days_before": 2,
}
OUT = {
    "id", "name", "instruments", "pain_drawing", "keywords", "icd10_prefixes", "days_before",
    "expires_in_days", "channel", "active", "created_at", "created_by", "version",
}  # fmt: skip


@pytest.fixture(scope="module")
def pages(app_client) -> TestClient:
    """The app (web/app.py wires the rules page in)."""
    return app_client


def _create(client: TestClient, person, **fields) -> dict:
    r = client.post(API, json={**BODY, **fields}, headers=person.headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_list_patch_delete(app_client, alice, texts):
    made = _create(app_client, alice)
    assert set(made) == OUT
    assert (made["channel"], made["active"], made["version"]) == ("email", True, 1)
    listed = app_client.get(API, headers=alice.headers)
    assert listed.status_code == 200 and [r["id"] for r in listed.json()] == [made["id"]]

    patched = app_client.patch(
        f"{API}/{made['id']}", json={"version": 1, "active": False}, headers=alice.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False and patched.json()["version"] == 2
    stale = app_client.patch(
        f"{API}/{made['id']}", json={"version": 1, "days_before": 3}, headers=alice.headers
    )
    assert stale.status_code == 409

    gone = app_client.delete(f"{API}/{made['id']}", headers=alice.headers)
    assert gone.status_code == 204 and gone.content == b""
    assert app_client.get(API, headers=alice.headers).json() == []
    again = app_client.delete(f"{API}/{made['id']}", headers=alice.headers)
    assert again.status_code == 404


def test_a_taken_name_is_409(app_client, alice, texts):
    _create(app_client, alice)
    r = app_client.post(API, json=BODY, headers=alice.headers)
    assert r.status_code == 409


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({**BODY, "instruments": ["nprs", "ppt"]}, ["body", "instruments", "1"]),
        ({**BODY, "instruments": ["nope"]}, ["body", "instruments", 0]),
        ({**BODY, "keywords": [], "icd10_prefixes": []}, ["body", "keywords"]),
        ({**BODY, "icd10_prefixes": ["Q99"]}, ["body", "icd10_prefixes", "0"]),
        ({**BODY, "days_before": 15}, ["body", "days_before"]),
        ({**BODY, "days_before": 0}, ["body", "days_before"]),
        ({**BODY, "days_before": 10**30}, ["body", "days_before"]),
        ({**BODY, "expires_in_days": 0}, ["body", "expires_in_days"]),
        ({**BODY, "channel": "none"}, ["body", "channel"]),
        ({**BODY, "name": ""}, ["body", "name"]),
        ({**BODY, "created_by": 1}, ["body", "created_by"]),
    ],
)
def test_bad_rules_are_422_naming_the_field(app_client, alice, texts, body, loc):
    r = app_client.post(API, json=body, headers=alice.headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"name": "x", "keywords": ["\\ud800"], "instruments": ["nprs"]}', "keywords"),
        (
            '{"name": "x", "keywords": ["neck"], "instruments": ["nprs"], "days_before": NaN}',
            "days_before",
        ),
        ('{"name": "x\\u0000", "keywords": ["neck"], "instruments": ["nprs"]}', "name"),
    ],
)
def test_hostile_json_is_422(app_client, alice, raw, field):
    r = app_client.post(
        API, content=raw, headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"][0]["loc"]


def test_patch_null_name_is_422(app_client, alice, texts):
    made = _create(app_client, alice)
    r = app_client.patch(
        f"{API}/{made['id']}", json={"version": 1, "name": None}, headers=alice.headers
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]


def test_another_clinics_rule_is_404(app_client, alice, carol, erin, texts):
    made = _create(app_client, alice)
    for person in (carol, erin):
        patch = app_client.patch(
            f"{API}/{made['id']}", json={"version": 1, "active": False}, headers=person.headers
        )
        delete = app_client.delete(f"{API}/{made['id']}", headers=person.headers)
        assert (patch.status_code, delete.status_code) == (404, 404)
        assert app_client.get(API, headers=person.headers).json() == []
    assert app_client.get(API, headers=alice.headers).json()[0]["active"] is True


def test_assistant_is_403(app_client, alice, bob, texts):
    made = _create(app_client, alice)
    assert app_client.get(API, headers=bob.headers).status_code == 403
    assert app_client.post(API, json=BODY, headers=bob.headers).status_code == 403
    r = app_client.patch(f"{API}/{made['id']}", json={"version": 1}, headers=bob.headers)
    assert r.status_code == 403
    assert app_client.delete(f"{API}/{made['id']}", headers=bob.headers).status_code == 403


# --- the page -------------------------------------------------------------------------------


FORM = {
    "name": "Neck before visits",
    "instruments": ["nprs", "ndi"],
    "keywords": "neck, cervical",
    "icd10_prefixes": "M54.2",
    "days_before": "2",
    "expires_in_days": "5",
    "channel": "email",
}


def test_page_lists_and_creates(pages, alice, texts):
    client, csrf = logged_in(pages, alice)
    empty = client.get(RULES_PATH)
    assert empty.status_code == 200 and empty.headers["cache-control"] == "no-store"
    assert "No rules yet." in empty.text and 'action="/clinic/questionnaire-rules"' in empty.text
    assert "the answers support clinical judgement" in empty.text

    made = client.post(RULES_PATH, data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == RULES_PATH
    [rule] = client.get(API, headers={"X-CSRF-Token": csrf}).json()
    assert rule["keywords"] == ["neck", "cervical"] and rule["icd10_prefixes"] == ["M54.2"]
    assert rule["expires_in_days"] == 5
    page = client.get(RULES_PATH).text
    assert f'id="rule-{rule["id"]}"' in page and "Neck before visits" in page

    off = client.post(
        f"{RULES_PATH}/{rule['id']}/active",
        data={"csrf_token": csrf, "version": "1", "active": "false"},
        follow_redirects=False,
    )
    assert off.status_code == 303
    assert re.search(rf'id="rule-{rule["id"]}">.*?inactive', client.get(RULES_PATH).text, re.S)
    deleted = client.post(
        f"{RULES_PATH}/{rule['id']}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303 and "No rules yet." in client.get(RULES_PATH).text


def test_page_form_errors_name_the_field_and_keep_the_input(pages, alice, texts):
    client, csrf = logged_in(pages, alice)
    r = client.post(RULES_PATH, data={**FORM, "icd10_prefixes": "Q99", "csrf_token": csrf})
    assert r.status_code == 422 and r.headers["cache-control"] == "no-store"
    assert (
        "ICD-10-CM codes must start a code" in r.text
        and "(Q99 starts none)" in r.text
        and 'value="neck, cervical"' in r.text
    )
    r = client.post(RULES_PATH, data={**FORM, "days_before": "30", "csrf_token": csrf})
    assert r.status_code == 422 and "Days before the visit" in r.text
    assert client.get(API, headers={"X-CSRF-Token": csrf}).json() == []


def test_page_needs_csrf_and_refuses_assistants(pages, alice, bob, texts):
    client, _ = logged_in(pages, alice)
    r = client.post(RULES_PATH, data=FORM, follow_redirects=False)
    assert r.status_code == 403
    assistant, csrf = logged_in(pages, bob)
    assert assistant.get(RULES_PATH).status_code == 403
    r = assistant.post(RULES_PATH, data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 403
