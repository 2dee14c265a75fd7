"""`POST /api/suggest` with palpation findings: accepted in the drawing, re-ranking the
candidates, and refused with a 422 naming the field (never a 500) when they cannot be used."""

from __future__ import annotations

import json

import pytest

from tests.conftest import as_person
from tests.ratelimits import generous_rate_limits
from triggerpoint.atlas.loader import load_atlas

NECK = ["right temple", "right angle of jaw"]
UT1 = "upper_trapezius.tp1.right"


@pytest.fixture
def auth(app_client, world) -> dict[str, str]:
    return as_person(app_client, world.clinician_a)


@pytest.fixture(autouse=True)
def _generous_rate_limits(db_url):
    """Other modules (the API fuzzer) spend clinician A's suggestions per minute too."""
    with generous_rate_limits():
        yield


def _post(client, auth, body: dict | str):
    if isinstance(body, str):  # raw JSON text: NaN, lone surrogates
        return client.post(
            "/api/suggest",
            content=body.encode("utf-8", "surrogatepass"),
            headers={"Content-Type": "application/json", **auth},
        )
    return client.post("/api/suggest", json=body, headers=auth)


def _candidate(data: dict, uid: str) -> dict | None:
    return next((c for c in data["candidates"] if c["uid"] == uid), None)


def _one_error(resp) -> dict:
    assert resp.status_code == 422, resp.text
    (item,) = resp.json()["detail"]
    return item


# --- accepted ------------------------------------------------------------------------------


def test_a_familiar_finding_re_ranks_and_is_echoed(app_client, auth) -> None:
    plain = _post(app_client, auth, {"pain": NECK}).json()
    body = {
        "pain": NECK,
        "palpation": [{"site": "right upper trapezius tp1", "finding": "familiar"}],
    }
    resp = _post(app_client, auth, body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    before, after = _candidate(plain, UT1), _candidate(data, UT1)
    assert before is not None and after is not None
    assert after["p_active"] > before["p_active"] and after["palpation"] == "familiar"
    assert data["candidates"][0]["uid"] == UT1
    (echo,) = data["palpation"]
    assert (echo["muscle_id"], echo["side"], echo["trigger_point_id"]) == (
        "upper_trapezius",
        "right",
        "tp1",
    )
    assert echo["finding"] == "familiar" and echo["label"]


def test_the_structured_form_gives_the_same_answer_as_the_site_text(app_client, auth) -> None:
    text = {"site": "Right Levator Scapulae upper", "finding": "none", "twitch": False}
    ids = {
        "muscle_id": "levator_scapulae",
        "side": "right",
        "trigger_point_id": "upper",
        "finding": "none",
        "twitch": False,
    }
    a = _post(app_client, auth, {"pain": NECK, "palpation": [text]}).json()
    b = _post(app_client, auth, {"pain": NECK, "palpation": [ids]}).json()
    assert [(c["uid"], c["p_active"]) for c in a["candidates"]] == [
        (c["uid"], c["p_active"]) for c in b["candidates"]
    ]
    assert a["palpation"] == b["palpation"]


def test_a_muscle_level_finding_is_accepted(app_client, auth) -> None:
    body = {
        "pain": NECK,
        "palpation": [{"muscle_id": "masseter", "side": "right", "finding": "none"}],
    }
    resp = _post(app_client, auth, body)
    assert resp.status_code == 200, resp.text
    (echo,) = resp.json()["palpation"]
    assert echo["trigger_point_id"] is None and echo["muscle_id"] == "masseter"


def test_examine_next_and_muscles_come_with_the_answer(app_client, auth) -> None:
    data = _post(app_client, auth, {"pain": NECK}).json()
    assert 1 <= len(data["examine_next"]) <= 3
    uids = {c["uid"] for c in data["candidates"]}
    for e in data["examine_next"]:
        assert e["uid"] in uids and e["reason"] and e["gain_bits"] >= 0 and e["cost"] > 0
    p = [m["p_active"] for m in data["muscles"]]
    assert p == sorted(p, reverse=True) and p
    ut = next(
        m for m in data["muscles"] if (m["muscle_id"], m["side"]) == ("upper_trapezius", "right")
    )
    assert ut["p_active"] >= max(t["p_active"] for t in ut["trigger_points"]) - 1e-9


def test_two_hundred_findings_are_answered(app_client, auth) -> None:
    """The most a drawing may carry, each a different sided trigger point: never a 500."""
    points = load_atlas().trigger_points[:200]
    assert len(points) == 200
    palpation = [
        {"muscle_id": t.muscle_id, "side": t.side, "trigger_point_id": t.tp_id, "finding": "none"}
        for t in points
    ]
    resp = _post(app_client, auth, {"pain": NECK, "palpation": palpation})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["palpation"]) == 200


# --- refused: a 422 naming the field, with the nearest names -------------------------------


def test_an_unknown_site_is_a_422_with_the_nearest_names(app_client, auth) -> None:
    body = {
        "pain": NECK,
        "palpation": [
            {"site": "right upper trapezius", "finding": "familiar"},
            {"site": "right uper trapezius", "finding": "none"},
        ],
    }
    item = _one_error(_post(app_client, auth, body))
    assert item["loc"] == ["body", "palpation", 1, "site"]
    assert item["type"] == "unknown_site"
    assert "right upper trapezius" in item["suggestions"]


def test_an_unknown_trigger_point_lists_the_muscles_points(app_client, auth) -> None:
    body = {"palpation": [{"site": "right levator scapulae tp7", "finding": "none"}]}
    item = _one_error(_post(app_client, auth, body))
    assert item["loc"] == ["body", "palpation", 0, "site"]
    assert item["suggestions"] == [
        "right levator scapulae upper",
        "right levator scapulae lower",
    ]
    body = {
        "palpation": [
            {"muscle_id": "levator_scapulae", "side": "right", "trigger_point_id": "tp7",
             "finding": "none"}
        ]
    }  # fmt: skip
    item = _one_error(_post(app_client, auth, body))
    assert item["loc"] == ["body", "palpation", 0, "trigger_point_id"]
    assert set(item["suggestions"]) == {"upper", "lower"}


def test_an_unknown_muscle_id_or_side_names_that_field(app_client, auth) -> None:
    body = {"palpation": [{"muscle_id": "levator_scapula", "side": "right", "finding": "none"}]}
    resp = _post(app_client, auth, body)
    if resp.status_code == 200:  # a synonym ("levator scapula") is a name for the muscle
        assert resp.json()["palpation"][0]["muscle_id"] == "levator_scapulae"
    body = {"palpation": [{"muscle_id": "levatr", "side": "right", "finding": "none"}]}
    item = _one_error(_post(app_client, auth, body))
    assert item["loc"] == ["body", "palpation", 0, "muscle_id"]
    body = {"palpation": [{"muscle_id": "masseter", "side": "middle", "finding": "none"}]}
    item = _one_error(_post(app_client, auth, body))
    assert item["loc"] == ["body", "palpation", 0, "side"]
    assert set(item["suggestions"]) == {"right", "left"}


def test_the_same_site_twice_is_refused(app_client, auth) -> None:
    one = {"site": "right upper trapezius tp1", "finding": "familiar"}
    two = {"muscle_id": "upper_trapezius", "side": "right", "trigger_point_id": "tp1",
           "finding": "none"}  # fmt: skip
    item = _one_error(_post(app_client, auth, {"palpation": [one, two]}))
    assert item["loc"][:3] == ["body", "palpation", 1]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        # an unknown value of `finding`
        (
            {"palpation": [{"site": "right masseter", "finding": "sore"}]},
            ["palpation", 0, "finding"],
        ),
        ({"palpation": [{"site": "right masseter", "finding": None}]}, ["palpation", 0, "finding"]),
        ({"palpation": [{"site": "right masseter"}]}, ["palpation", 0, "finding"]),
        # unknown keys
        (
            {"palpation": [{"site": "right masseter", "finding": "none", "pressure": 4}]},
            ["palpation", 0, "pressure"],
        ),
        # neither a site nor a muscle-side, or both
        ({"palpation": [{"finding": "none"}]}, ["palpation", 0]),
        (
            {"palpation": [{"site": "right masseter", "muscle_id": "masseter", "finding": "none"}]},
            ["palpation", 0],
        ),
        # wrong types and sizes
        ({"palpation": "right masseter=none"}, ["palpation"]),
        (
            {"palpation": [{"site": "right masseter", "finding": "none", "twitch": "maybe"}]},
            ["palpation", 0, "twitch"],
        ),
        ({"palpation": [{"site": "x" * 10_000, "finding": "none"}]}, ["palpation", 0, "site"]),
        ({"palpation": [{"site": "", "finding": "none"}]}, ["palpation", 0, "site"]),
        (
            {"palpation": [{"site": "right masseter", "finding": "none"}] * 201},
            ["palpation"],
        ),
    ],
)
def test_bad_findings_are_422_naming_the_field(app_client, auth, body: dict, loc: list) -> None:
    resp = _post(app_client, auth, {"pain": NECK, **body})
    assert resp.status_code == 422, resp.text
    locs = [e["loc"] for e in resp.json()["detail"]]
    assert ["body", *loc] in locs, locs


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"palpation": [{"site": "right masseter", "finding": "none", "twitch": NaN}]}', "twitch"),
        ('{"palpation": [{"site": "right masseter", "finding": NaN}]}', "finding"),
        (
            '{"palpation": [{"site": "right masseter", "finding": "none", "referral": Infinity}]}',
            "referral",
        ),
        (r'{"palpation": [{"site": "right \ud800 masseter", "finding": "none"}]}', "site"),
        (
            r'{"palpation": [{"muscle_id": "\udfff", "side": "right", "finding": "none"}]}',
            "muscle_id",
        ),
        ('{"palpation": [{"site": "right masseter\\u0000", "finding": "none"}]}', "site"),
    ],
)
def test_hostile_json_is_422_never_500(app_client, auth, raw: str, field: str) -> None:
    """The raw value is checked before the model reads it: the 422 names `palpation` and says
    where inside it ("at 0.twitch")."""
    resp = _post(app_client, auth, raw)
    assert resp.status_code == 422, resp.text
    named = [
        e
        for e in resp.json()["detail"]
        if e["loc"][:2] == ["body", "palpation"] and (field in e["loc"] or field in e["msg"])
    ]
    assert named, resp.json()["detail"]


def test_deeply_nested_palpation_is_422(app_client, auth) -> None:
    raw = '{"palpation": ' + "[" * 200 + "]" * 200 + "}"
    resp = _post(app_client, auth, raw)
    assert resp.status_code == 422, resp.text
    assert json.loads(resp.text)["detail"]


@pytest.mark.parametrize(
    "site",
    [
        "   ",
        "right",
        "right tp1",
        "left left",
        "right upper trapezius tp0",
        "right upper trapezius tp99999999999999999999999",
        "right upper trapezius tp-1",
        "right upper trapezius upper trapezius",
        "right trapèze supérieur",
        "right " + "a" * 194,
        "ｒｉｇｈｔ upper trapezius",
        "right upper\ttrapezius\n",
        "right %s {0} ${x} <script>",
    ],
)
def test_odd_site_text_is_a_422_or_an_answer_never_a_500(app_client, auth, site: str) -> None:
    resp = _post(app_client, auth, {"pain": NECK, "palpation": [{"site": site, "finding": "none"}]})
    assert resp.status_code in (200, 422), resp.text
    if resp.status_code == 422:
        (item,) = resp.json()["detail"]
        assert item["loc"][:3] == ["body", "palpation", 0], item
        assert isinstance(item.get("suggestions", []), list)
