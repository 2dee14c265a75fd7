"""GET /api/research/ltr and the page /research/ltr: who may read them, what they show.

They read the persisted fit: the first read queues it (run at once here, in-process, by the
`immediate` queue) and says it is not computed yet; the next read shows it."""

from __future__ import annotations

from datetime import datetime

from tests.conftest import as_person
from tests.research.ltr.conftest import refit, withdraw_one


def test_the_first_read_queues_the_fit_and_the_next_shows_it(
    app_client, alice, treated_a, immediate
):
    h = as_person(app_client, alice)
    first = app_client.get("/api/research/ltr?outcome=nprs", headers=h).json()
    fr = first["freshness"]
    assert fr["computed_at"] is None and fr["stale"] and fr["refit"] == "queued"
    assert fr["current_data_version"] > 0  # the demo patients' writes bumped it
    assert all(not f["fitted"] and "Not computed yet" in f["message"] for f in first["fits"])
    body = app_client.get("/api/research/ltr?outcome=nprs", headers=h).json()
    fr = body["freshness"]
    assert not fr["stale"] and fr["refit"] is None
    assert (
        fr["data_version"]
        == fr["current_data_version"]
        == first["freshness"]["current_data_version"]
    )
    assert datetime.fromisoformat(fr["computed_at"]) >= datetime.fromisoformat(fr["data_as_of"])
    assert fr["fit_seconds"] > 0
    assert body["sample"]["consented_patients"] == treated_a.consented


def test_the_json_reports_both_outcomes_of_consented_patients(app_client, alice, treated_a):
    refit(alice, "nprs")
    r = app_client.get("/api/research/ltr?outcome=nprs", headers=as_person(app_client, alice))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["instrument"] == "nprs" and body["sample"]["consented_patients"] == treated_a.consented
    )
    fits = {f["outcome"]: f for f in body["fits"]}
    assert set(fits) == {"immediate", "follow_up"}
    imm = fits["immediate"]
    assert imm["fitted"] and imm["n_patients"] == treated_a.consented
    tw = imm["twitch"]
    assert tw["term"] == "twitches" and tw["ci_low"] <= tw["estimate"] <= tw["ci_high"]
    assert "not proof" in body["caveat"] and "confounding by indication" in body["caveat"]
    assert "-2.03" in body["evidence"]


def test_an_assistant_gets_403(app_client, bob):
    r = app_client.get("/api/research/ltr", headers=as_person(app_client, bob))
    assert r.status_code == 403


def test_an_unknown_measure_is_a_422_naming_outcome(app_client, alice):
    r = app_client.get("/api/research/ltr?outcome=odi", headers=as_person(app_client, alice))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "outcome"]


def test_another_clinic_sees_no_patients(app_client, carol, treated_a):
    refit(carol, "nprs")
    r = app_client.get("/api/research/ltr", headers=as_person(app_client, carol))
    assert r.status_code == 200
    assert r.json()["sample"]["consented_patients"] == 0
    assert r.json()["freshness"]["computed_at"] is not None  # a fit, of no patients
    assert all(not f["fitted"] and "Too few data" in f["message"] for f in r.json()["fits"])


def test_the_page_shows_the_table_plot_caveat_and_evidence(app_client, alice, treated_a):
    refit(alice, "ppt")
    r = app_client.get("/research/ltr?outcome=ppt", headers=as_person(app_client, alice))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    html = r.text
    assert f"<strong>{treated_a.consented}</strong> patients with research consent" in html
    assert "<svg" in html and '<title id="ltr-title">' in html and "<desc" in html
    assert "Association, not cause." in html and "confounding by indication" in html
    assert "Fernández-de-las-Peñas et al. 2021" in html
    assert "Twitches (per twitch)" in html and "kg/cm²" in html
    assert 'id="computed-at"' in html and "from the data as of" in html
    assert 'id="stale"' not in html


def test_the_page_says_when_the_fit_is_not_there_yet(app_client, alice, treated_a):
    html = app_client.get("/research/ltr", headers=as_person(app_client, alice)).text
    assert "Not computed yet." in html and 'id="reload"' in html
    assert 'id="consented"' not in html and 'id="forest"' not in html
    assert "Association, not cause." in html  # the caveat is always there


def test_the_page_marks_a_fit_of_older_data_stale(app_client, alice, treated_a):
    refit(alice, "nprs")
    h = as_person(app_client, alice)
    assert 'id="stale"' not in app_client.get("/research/ltr", headers=h).text
    withdraw_one(alice)
    html = app_client.get("/research/ltr", headers=h).text
    assert 'id="stale"' in html and "a refit is queued" in html
    assert f"<strong>{treated_a.consented}</strong> patients" in html  # the previous fit's


def test_the_forest_plot_downloads(app_client, alice, treated_a):
    refit(alice, "nprs")
    h = as_person(app_client, alice)
    png = app_client.get("/research/ltr/forest.png?outcome=nprs", headers=h)
    pdf = app_client.get("/research/ltr/forest.pdf", headers=h)
    svg = app_client.get("/research/ltr/forest.svg", headers=h)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    assert svg.status_code == 200 and svg.text.startswith("<svg")
    assert png.headers["cache-control"] == "no-store"


def test_an_assistant_is_refused_the_page(app_client, bob):
    r = app_client.get("/research/ltr", headers=as_person(app_client, bob))
    assert r.status_code == 403
