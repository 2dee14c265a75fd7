"""suggest() on the hand-made atlas, parameters, and bad input through Python, HTTP and CLI."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.conftest import as_person, logged_in
from tests.inference.handmade import handmade_atlas
from tests.ratelimits import generous_rate_limits
from triggerpoint.config import get_settings
from triggerpoint.inference.params import ParamsError, load_params, validate_params
from triggerpoint.inference.schemas import DISCLAIMER, EMPTY_MESSAGE
from triggerpoint.inference.service import DrawingError, UnknownDrawingRegion, suggest

ATLAS = handmade_atlas()


def test_single_pattern_ranks_its_trigger_point_first_with_reasons() -> None:
    r = suggest({"pain": ["right temple", "right behind the ear"], "complete": True}, atlas=ATLAS)
    best = r.candidates[0]
    assert best.uid == "alpha.tp1.right" and best.side == "right"
    assert {(e.id, e.zone) for e in best.explains} == {
        ("right_temple", "essential"),
        ("right_behind_the_ear", "essential"),
    }
    assert best.against == []
    assert best.location.startswith("Test location") and best.position_region.id.endswith("neck")
    assert "5-15 mm" in best.needling and "Test nerve" in best.needling
    beta = next(c for c in r.candidates if c.muscle_id == "beta")
    assert {a.id for a in beta.against} == {"right_angle_of_jaw", "right_lower_teeth"}
    assert r.explanations[0].trigger_points[0].uid == "alpha.tp1.right"
    assert r.explanations[0].explained_share == 1.0
    assert r.method == "exact" and r.exact and r.bound == 0.0
    assert r.disclaimer == DISCLAIMER and "palpation" in DISCLAIMER


def test_two_patterns_are_explained_together() -> None:
    pain = ["right_temple", "right_behind_the_ear", "left_lateral_ankle", "left_dorsum_of_foot"]
    r = suggest({"pain": pain, "complete": True}, atlas=ATLAS)
    best = {m.uid for m in r.explanations[0].trigger_points}
    assert best == {"alpha.tp1.right", "zeta.tp1.left"}
    assert r.method == "exact-components" and len(r.components) == 2
    assert {c.uid for c in r.candidates[:2]} == best


def test_partial_drawing_ignores_unmarked_regions() -> None:
    partial = suggest({"pain": ["right temple"]}, atlas=ATLAS)
    complete = suggest({"pain": ["right temple"], "complete": True}, atlas=ATLAS)
    assert partial.drawing.negative_findings == 0
    assert complete.drawing.negative_findings == len(ATLAS.catalog.regions) - 1
    alpha = "alpha.tp1.right"
    p = {c.uid: c.probability for c in partial.candidates}[alpha]
    q = {c.uid: c.probability for c in complete.candidates}[alpha]
    assert q < p  # the unmarked essential region (behind the ear) counts against it
    assert [a.id for a in partial.candidates[0].against] == []


def test_intensity_is_accepted_and_ignored() -> None:
    plain = suggest({"pain": ["right temple"]}, atlas=ATLAS)
    rated = suggest({"pain": ["right temple"], "intensity": {"right temple": 7}}, atlas=ATLAS)
    assert [c.probability for c in plain.candidates] == [c.probability for c in rated.candidates]


def test_names_groups_and_strings_resolve_through_the_catalogue() -> None:
    r = suggest("R temple, rt behind the ear", atlas=ATLAS)
    assert [x.id for x in r.drawing.painful] == ["right_temple", "right_behind_the_ear"]


def test_empty_drawing_gives_message_not_crash() -> None:
    r = suggest({"pain": []}, atlas=ATLAS)
    assert r.candidates == [] and r.explanations == [] and r.message == EMPTY_MESSAGE
    r = suggest({"pain": ["right heel"]}, atlas=ATLAS)  # nothing in this atlas refers there
    assert r.candidates == [] and r.message and [x.id for x in r.unreferred] == ["right_heel"]


def test_unknown_and_contradictory_regions() -> None:
    with pytest.raises(UnknownDrawingRegion) as exc:
        suggest({"pain": ["right temple", "right tempel"]}, atlas=ATLAS)
    assert exc.value.field == "pain.1" and "right temple" in exc.value.suggestions
    with pytest.raises(DrawingError) as exc:
        suggest({"pain": ["right temple"], "pain_free": ["Right Temple"]}, atlas=ATLAS)
    assert exc.value.field == "pain_free"
    with pytest.raises(DrawingError) as exc:
        suggest({"pain": ["right temple"], "oops": 1}, atlas=ATLAS)
    assert exc.value.field == "oops"


def test_params_validation_names_fields(tmp_path) -> None:
    with pytest.raises(ParamsError, match=r"link: Value error, must satisfy essential"):
        validate_params({"link": {"spillover": 0.9}})
    with pytest.raises(ParamsError, match=r"leak: Input should be less than 1"):
        validate_params({"leak": 1.5})
    with pytest.raises(ParamsError, match=r"nonsense: Extra inputs"):
        validate_params({"nonsense": 1})
    f = tmp_path / "p.yaml"
    f.write_text("prior: 0.05\nlink: {spillover: 0.25}\nprior_multiplier: {alpha: 3}\n")
    p = load_params(f)
    assert p.prior == 0.05 and p.link.spillover == 0.25 and p.link.essential == 0.85
    r = suggest({"pain": ["right temple"]}, atlas=ATLAS, params=p)
    assert next(c for c in r.candidates if c.muscle_id == "alpha").prior == pytest.approx(0.15)
    with pytest.raises(ParamsError, match=r"prior_multiplier.nobody"):
        suggest(
            ["right temple"],
            atlas=ATLAS,
            params=validate_params({"prior_multiplier": {"nobody": 2}}),
        )


def test_json_shape_is_serialisable() -> None:
    data = json.loads(suggest(["right temple"], atlas=ATLAS).model_dump_json())
    cand = data["candidates"][0]
    for key in (
        "muscle_id",
        "muscle",
        "side",
        "trigger_point_id",
        "probability",
        "explains",
        "against",
    ):
        assert key in cand
    assert {"candidates", "explanations", "method", "disclaimer", "bound"} <= set(data)


# --- HTTP (real packaged atlas) ------------------------------------------------------------
# /api/suggest and /suggest need a login (any role): a large drawing costs up to the request's
# budget of CPU, which anonymous callers must not spend at will. The atlas stays public.


@pytest.fixture
def auth(app_client, world) -> dict[str, str]:
    return as_person(app_client, world.clinician_a)


@pytest.fixture(autouse=True)
def _generous_rate_limits(request):
    """Other modules (the API fuzzer) spend clinician A's suggestions per minute too."""
    if "app_client" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("db_url")
    with generous_rate_limits():
        yield


def test_api_suggest_ranks(app_client, auth) -> None:
    resp = app_client.post(
        "/api/suggest", json={"pain": ["right temple", "right angle of jaw"]}, headers=auth
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()
    probs = [c["probability"] for c in data["candidates"]]
    assert probs == sorted(probs, reverse=True) and len(probs) <= 10
    assert "upper_trapezius" in [c["muscle_id"] for c in data["candidates"][:2]]
    assert data["exact"] and data["approximation"] is None
    assert 0 < data["cost"] <= data["budget"] == get_settings().suggest_max_terms


def test_api_suggest_needs_a_login(app_client) -> None:
    resp = app_client.post("/api/suggest", json={"pain": ["right temple"]})
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    assert "candidates" not in resp.text
    bad = {"Authorization": "Bearer tp_not-a-token"}
    assert app_client.post("/api/suggest", json={}, headers=bad).status_code == 401


def test_any_role_may_suggest(app_client, world) -> None:
    for person in (world.assistant_a, world.admin_b):
        resp = app_client.post("/api/suggest", json={}, headers=as_person(app_client, person))
        assert resp.status_code == 200, resp.text


def test_api_suggest_from_the_page_session_needs_its_csrf_token(app_client, world) -> None:
    client, csrf = logged_in(app_client, world.clinician_a)
    body = {"pain": ["right temple"]}
    assert client.post("/api/suggest", json=body).status_code == 403
    resp = client.post("/api/suggest", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 200 and resp.json()["candidates"]


def hardest_drawing(n: int = 80) -> list[str]:
    """The n regions the most trigger points refer to: the most coupled drawing there is."""
    from triggerpoint.atlas.loader import load_atlas
    from triggerpoint.inference.network import network_for
    from triggerpoint.inference.params import default_params

    net = network_for(load_atlas(), default_params())
    referrers = (net.link > 0).sum(axis=0)
    return [net.regions[i] for i in np.argsort(-referrers, kind="stable")[:n]]


def test_eighty_region_drawing_is_answered_within_the_budget_and_says_so(app_client, auth) -> None:
    """Unbudgeted, this drawing took about 10 s of CPU (truncated enumeration at K = 3)."""
    started = time.perf_counter()
    resp = app_client.post(
        "/api/suggest", json={"pain": hardest_drawing(), "complete": True}, headers=auth
    )
    took = time.perf_counter() - started
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert len(data["drawing"]["painful"]) == 80
    assert data["exact"] is False and data["method"].startswith("truncated-k")
    assert data["approximation"].startswith("Bounded approximation")
    assert "per request" in data["approximation"] and "interval" in data["approximation"]
    assert data["cost"] <= data["budget"] == get_settings().suggest_max_terms
    assert sum(c["cost"] for c in data["components"]) == data["cost"]
    assert took < 5.0, f"{took:.1f} s"  # about 0.6 s; generous for a loaded 2-core machine
    for c in data["candidates"]:
        lo, hi = c["probability_interval"]
        assert lo <= c["probability"] <= hi


def test_the_budget_is_a_setting(app_client, auth, monkeypatch) -> None:
    drawing = {"pain": hardest_drawing(40), "complete": True}
    assert suggest(drawing).exact  # within the default budget
    monkeypatch.setenv("TRIGGERPOINT_SUGGEST_MAX_TERMS", "100000")
    get_settings.cache_clear()
    try:
        data = app_client.post("/api/suggest", json=drawing, headers=auth).json()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert data["budget"] == 100_000 and data["cost"] <= 100_000
    assert data["exact"] is False and "100,000 per request" in data["approximation"]


def test_api_unknown_region_is_422_with_suggestions(app_client, auth) -> None:
    resp = app_client.post(
        "/api/suggest", json={"pain": ["right temple", "right tempel"]}, headers=auth
    )
    assert resp.status_code == 422
    item = resp.json()["detail"][0]
    assert item["loc"] == ["body", "pain", 1] and item["type"] == "unknown_region"
    assert "right temple" in item["suggestions"]


def test_api_contradictory_is_422(app_client, auth) -> None:
    resp = app_client.post(
        "/api/suggest",
        json={"pain": ["right temple"], "pain_free": ["right_temple"]},
        headers=auth,
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "pain_free"]


def test_api_malformed_json_is_422(app_client, auth) -> None:
    resp = app_client.post(
        "/api/suggest",
        content=b'{"pain": ["right temple"',
        headers={"Content-Type": "application/json", **auth},
    )
    assert resp.status_code == 422
    resp = app_client.post(
        "/api/suggest", json={"pain": "right temple", "complete": "maybe"}, headers=auth
    )
    assert resp.status_code == 422
    assert {tuple(e["loc"]) for e in resp.json()["detail"]} >= {("body", "complete")}


def test_api_empty_drawing(app_client, auth) -> None:
    resp = app_client.post("/api/suggest", json={}, headers=auth)
    assert resp.status_code == 200
    assert resp.json()["candidates"] == [] and resp.json()["message"] == EMPTY_MESSAGE


def test_suggest_page_needs_a_login_and_carries_the_disclaimer(app_client, world) -> None:
    from fastapi.testclient import TestClient

    resp = TestClient(app_client.app).get("/suggest", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login?next=/suggest"
    client, csrf = logged_in(app_client, world.clinician_a)
    resp = client.get("/suggest")
    assert resp.status_code == 200
    html = resp.text
    assert "does not replace" in html.lower() or "do not replace" in html.lower()
    assert "palpation" in html and "/static/js/suggest.js" in html
    assert 'class="region' in html and "data-region=" in html
    assert f'data-csrf="{csrf}"' in html  # the page's script sends it with each request
    assert client.get("/static/js/suggest.js").status_code == 200


def test_atlas_stays_public(client) -> None:
    assert client.get("/atlas").status_code == 200
    assert client.get("/api/atlas/refers-to", params={"region": "right temple"}).is_success


# --- CLI -----------------------------------------------------------------------------------


def test_cli_json_and_table(cli) -> None:
    res = cli("suggest", "--pain", "right temple, right angle of jaw", "--top", "5", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert len(data["candidates"]) == 5
    probs = [c["probability"] for c in data["candidates"]]
    assert probs == sorted(probs, reverse=True)
    res = cli("suggest", "--pain", "right temple", "--complete", "--top", "3")
    assert res.exit_code == 0 and "Likely trigger points" in res.output
    assert "complete" in res.output


def test_cli_bad_input_exits_2(cli, tmp_path) -> None:
    res = cli("suggest", "--pain", "right tempel")
    assert res.exit_code == 2 and "right temple" in res.output and "--pain" in res.output
    res = cli("suggest", "--pain", "right temple", "--pain-free", "right temple")
    assert res.exit_code == 2 and "--pain-free" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("link: {essential: 0.1}\n")
    res = cli("suggest", "--pain", "right temple", "--params", str(bad))
    assert res.exit_code == 2 and "link" in res.output


def test_cli_empty_drawing(cli) -> None:
    res = cli("suggest", "--json")
    assert res.exit_code == 0 and json.loads(res.output)["message"] == EMPTY_MESSAGE
