"""GET /api/research/ltr and the page /research/ltr: who may read them, what they show."""

from __future__ import annotations

from tests.conftest import as_person


def test_the_json_reports_both_outcomes_of_consented_patients(app_client, alice, treated_a):
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
    r = app_client.get("/api/research/ltr", headers=as_person(app_client, carol))
    assert r.status_code == 200
    assert r.json()["sample"]["consented_patients"] == 0
    assert all(not f["fitted"] for f in r.json()["fits"])


def test_the_page_shows_the_table_plot_caveat_and_evidence(app_client, alice, treated_a):
    r = app_client.get("/research/ltr?outcome=ppt", headers=as_person(app_client, alice))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    html = r.text
    assert f"<strong>{treated_a.consented}</strong> patients with research consent" in html
    assert "<svg" in html and '<title id="ltr-title">' in html and "<desc" in html
    assert "Association, not cause." in html and "confounding by indication" in html
    assert "Fernández-de-las-Peñas et al. 2021" in html
    assert "Twitches (per twitch)" in html and "kg/cm²" in html


def test_the_forest_plot_downloads(app_client, alice, treated_a):
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
