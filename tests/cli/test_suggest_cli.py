"""`triggerpoint suggest --palpated`: palpation findings from the command line.

The value syntax is split here (site, finding, qualifiers); the site goes through the one
resolver every entry layer shares, so these tests check that bad input exits 2 naming
`--palpated` with the nearest names, and that findings reach the engine and its output.
"""

from __future__ import annotations

import json

import pytest

from triggerpoint.cli.suggest import parse_palpated

NECK = "right temple, right angle of jaw"
UT1 = "upper_trapezius.tp1.right"


def _json(cli, *args: str) -> dict:
    res = cli("suggest", "--pain", NECK, "--json", *args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def _candidate(data: dict, uid: str) -> dict:
    return next(c for c in data["candidates"] if c["uid"] == uid)


# --- parsing (no engine needed) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "entry"),
    [
        (
            "right upper trapezius=familiar",
            {"site": "right upper trapezius", "finding": "familiar"},
        ),
        (
            "right levator scapulae upper = None",
            {"site": "right levator scapulae upper", "finding": "none"},
        ),
        (
            "right infraspinatus tp1=tender,twitch,no-referral",
            {
                "site": "right infraspinatus tp1",
                "finding": "tender",
                "twitch": True,
                "referral": False,
            },
        ),
        (
            "left masseter deep=none, no-twitch, referral",
            {"site": "left masseter deep", "finding": "none", "twitch": False, "referral": True},
        ),
    ],
)
def test_a_palpated_value_becomes_one_palpation_entry(value: str, entry: dict) -> None:
    assert parse_palpated(value) == entry


def test_an_unstated_sign_stays_unobserved_rather_than_absent() -> None:
    entry = parse_palpated("right upper trapezius=tender")
    assert "twitch" not in entry and "referral" not in entry


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("right upper trapezius", ["is not a finding", "=<familiar|tender|none>"]),
        ("=familiar", ["is not a finding"]),
        ("right upper trapezius=familar", ['unknown finding "familar"', "nearest: familiar"]),
        ("right upper trapezius=sore", ['unknown finding "sore"', "familiar, tender or none"]),
        ("right upper trapezius=none,twich", ['unknown qualifier "twich"', "nearest: twitch"]),
        ("right upper trapezius=none,twitch,no-twitch", ["both twitch and no-twitch"]),
    ],
)
def test_bad_syntax_exits_2_naming_the_option(cli, value: str, words: list[str]) -> None:
    res = cli("suggest", "--pain", NECK, "--palpated", value)
    assert res.exit_code == 2, res.output
    assert "--palpated" in res.output
    flat = " ".join(res.output.split())
    for w in words:
        assert w in flat, flat


# --- through the engine --------------------------------------------------------------------


def test_an_unknown_muscle_exits_2_with_the_nearest_names(cli) -> None:
    res = cli("suggest", "--pain", NECK, "--palpated", "right uper trapezius=familiar")
    assert res.exit_code == 2, res.output
    flat = " ".join(res.output.split())
    assert "--palpated" in flat and '"right uper trapezius=familiar"' in flat
    assert "right upper trapezius" in flat.lower()


def test_an_unknown_trigger_point_exits_2_listing_the_muscles_points(cli) -> None:
    res = cli("suggest", "--pain", NECK, "--palpated", "right levator scapulae tp9=none")
    assert res.exit_code == 2, res.output
    flat = " ".join(res.output.split())
    assert "--palpated" in flat and "upper" in flat and "lower" in flat


def test_a_site_without_its_side_exits_2(cli) -> None:
    res = cli("suggest", "--pain", NECK, "--palpated", "upper trapezius=familiar")
    assert res.exit_code == 2 and "--palpated" in res.output
    assert "right upper trapezius" in " ".join(res.output.split()).lower()


def test_the_same_site_twice_exits_2(cli) -> None:
    res = cli(
        "suggest", "--pain", NECK,
        "--palpated", "right upper trapezius tp1=familiar",
        "--palpated", "right upper trapezius tp1=none",
    )  # fmt: skip
    assert res.exit_code == 2 and "--palpated" in res.output


def test_json_keeps_the_old_shape_and_adds_the_new_fields(cli) -> None:
    data = _json(cli, "--top", "5")
    assert {"candidates", "explanations", "method", "disclaimer", "bound"} <= set(data)
    assert {"examine_next", "muscles", "palpation"} <= set(data)
    for c in data["candidates"]:
        assert {"probability", "p_active", "p_latent", "palpation", "state"} <= set(c)
        assert c["p_active"] == pytest.approx(c["probability"])
        assert 0 <= c["p_latent"] <= 1 - c["p_active"] + 1e-9
    assert data["palpation"] == []


def test_familiar_pressure_raises_the_point_and_none_lowers_it(cli) -> None:
    plain = _candidate(_json(cli), UT1)["p_active"]
    familiar = _json(cli, "--palpated", "right upper trapezius tp1=familiar")
    none = _json(cli, "--palpated", "right upper trapezius tp1=none")
    assert _candidate(familiar, UT1)["p_active"] > plain
    assert _candidate(familiar, UT1)["palpation"] == "familiar"
    assert UT1 not in [c["uid"] for c in none["candidates"]] or (
        _candidate(none, UT1)["p_active"] < plain
    )
    (echo,) = familiar["palpation"]
    assert echo["muscle_id"] == "upper_trapezius" and echo["side"] == "right"
    assert echo["trigger_point_id"] == "tp1" and echo["finding"] == "familiar"
    assert echo["twitch"] is None and echo["referral"] is None
    assert echo["label"].startswith("right upper trapezius")


def test_tender_without_the_familiar_pain_makes_the_point_look_latent(cli) -> None:
    data = _json(cli, "--palpated", "right upper trapezius tp1=tender")
    c = _candidate(data, UT1) if UT1 in [c["uid"] for c in data["candidates"]] else None
    if c is None:  # it fell out of the top 10: the muscle list still carries it
        point = next(
            t
            for m in data["muscles"]
            if m["muscle_id"] == "upper_trapezius" and m["side"] == "right"
            for t in m["trigger_points"]
            if t["uid"] == UT1
        )
        assert point["p_latent"] > point["p_active"]
        return
    assert c["palpation"] == "tender" and c["p_latent"] > c["p_active"]
    assert "latent" in c["state"].lower()


def test_qualifiers_reach_the_echo(cli) -> None:
    data = _json(cli, "--palpated", "right upper trapezius tp1=familiar,twitch,no-referral")
    (echo,) = data["palpation"]
    assert echo["twitch"] is True and echo["referral"] is False


def test_human_output_shows_findings_examine_next_and_muscles(cli) -> None:
    res = cli(
        "suggest", "--pain", NECK, "--top", "5",
        "--palpated", "right upper trapezius tp1=familiar,twitch",
        "--palpated", "right masseter=none",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "Palpated: right upper trapezius" in out and "= familiar, twitch" in out
    assert "right masseter = none" in out
    assert "P(active)" in out and "P(latent)" in out
    assert "Examine next" in out and "gain (bits)" in out
    assert "Muscles" in out and "Upper trapezius (right)" in out
    assert "palpated:" in out  # on the candidate's row (the narrow table may wrap it)


def test_examine_next_lists_at_most_three_unpalpated_points(cli) -> None:
    data = _json(cli, "--palpated", "right upper trapezius tp1=familiar")
    assert 1 <= len(data["examine_next"]) <= 3
    for e in data["examine_next"]:
        assert e["uid"] != UT1 and e["gain_bits"] >= 0 and e["reason"]
    gains = [e["gain_bits"] / e["cost"] for e in data["examine_next"]]
    assert gains == sorted(gains, reverse=True)
