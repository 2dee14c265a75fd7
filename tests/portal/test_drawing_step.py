"""The pain drawing step as the server renders it (the browser half is in
tests/e2e/test_patient_portal.py): the chart first, then one closed `<details>` per body part
whose summary counts the regions ticked in it (a resumed draft included), and a front/back
switch that only the script shows. Both engines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.personas import new_patient

from triggerpoint.config import get_settings
from triggerpoint.portal import patient_pages

TEXTS = Path(__file__).parent / "texts"


@pytest.fixture(autouse=True)
def setup(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("TRIGGERPOINT_INSTRUMENT_TEXTS_DIR", str(TEXTS))
    get_settings.cache_clear()
    monkeypatch.setattr(patient_pages, "_rate", lambda: "10000/minute")
    monkeypatch.setattr(patient_pages, "_miss_rate", lambda: "10000/minute")
    yield
    get_settings.cache_clear()


def _token(app_client: TestClient, person, **body: object) -> str:
    pid = new_patient(app_client, person)
    r = app_client.post(
        f"/api/patients/{pid}/questionnaire-requests",
        json={"instruments": ["nprs"], "pain_drawing": True, **body},
        headers=person.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["url"]).rsplit("/r/", 1)[1]


def _groups(html: str) -> list[tuple[str, str]]:
    """(the <details> tag, its summary's text) of each body part's list."""
    found = re.findall(r'(<details class="region-group"[^>]*>)\s*<summary>(.*?)</summary>', html)
    return [(tag, " ".join(re.sub(r"<[^>]+>", " ", text).split())) for tag, text in found]


def test_lists_are_closed_and_count_what_is_ticked(app_client, alice):
    anon = TestClient(app_client.app)
    token = _token(app_client, alice, language="es")
    html = anon.get(f"/r/{token}").text
    groups = _groups(html)
    assert len(groups) >= 10
    assert all(" open" not in tag for tag, _ in groups)  # closed by default
    assert not any(re.search(r"\(\d+\)$", text) for _, text in groups)  # none counted yet
    chart = html.index("data-patient-chart")
    assert chart < html.index('class="region-group"')  # the chart comes first
    saved = anon.post(
        f"/r/{token}/save",
        data={"lang": "es", "region": ["right_temple", "left_temple", "right_anterior_knee"]},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    html = anon.get(f"/r/{token}").text
    groups = {re.sub(r" \(\d+\)$", "", text): text for _, text in _groups(html)}
    assert groups["Cabeza y cara"] == "Cabeza y cara (2)"
    assert groups["Rodilla"] == "Rodilla (1)"
    assert groups["Cuello"] == "Cuello"
    again = anon.get(f"/r/{token}").text
    assert all(" open" not in tag for tag, _ in _groups(again))  # still short when resumed
    assert again.count('name="region" value="right_temple" checked') == 1


def test_the_view_switch_is_the_scripts_and_both_views_are_there(app_client, alice):
    anon = TestClient(app_client.app)
    html = anon.get(f"/r/{_token(app_client, alice)}").text
    switch = re.search(r'<div class="view-switch"[^>]*>', html)
    assert switch is not None and " hidden" in switch.group(0)  # no script: both pictures
    assert 'aria-label="Picture shown"' in switch.group(0)
    assert 'data-show-view="anterior" aria-pressed="true">Front' in html
    assert 'data-show-view="posterior" aria-pressed="false">Back' in html
    assert '<figure class="chart" data-view="anterior">' in html
    assert '<figure class="chart" data-view="posterior">' in html
    assert 'aria-labelledby="lists-intro"' in html and 'id="lists-intro"' in html
