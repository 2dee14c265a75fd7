"""`triggerpoint research ltr`: the twitch analysis from the command line."""

from __future__ import annotations

import json

from tests.research.ltr.conftest import treat


def test_json_shape(cli, alice):
    treated = treat(alice, patients=30, seed=11)
    result = cli("research", "ltr", "--clinic", str(alice.clinic_id), "--outcome", "nprs", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["instrument"] == "nprs"
    assert body["sample"]["consented_patients"] == treated.consented
    assert [f["outcome"] for f in body["fits"]] == ["immediate", "follow_up"]
    imm = body["fits"][0]
    assert imm["fitted"] and set(imm["twitch"]) == {"term", "estimate", "ci_low", "ci_high", "p"}
    fresh = body["freshness"]  # fitted now, from the current data: never stale
    assert not fresh["stale"] and fresh["refit"] is None and fresh["computed_at"]
    assert fresh["data_version"] == fresh["current_data_version"] > 0


def test_text_output_names_the_coefficient(cli, alice):
    treat(alice, patients=30, seed=11)
    result = cli("research", "ltr", "--clinic", str(alice.clinic_id))
    assert result.exit_code == 0, result.output
    assert "Per twitch" in result.stdout and "not proof" in result.stdout


def test_an_unknown_clinic_exits_2_naming_the_option(cli, db):
    result = cli("research", "ltr", "--clinic", "999999")
    assert result.exit_code == 2
    assert "--clinic" in result.output and "not found" in result.output


def test_an_unknown_measure_exits_2(cli, db):
    result = cli("research", "ltr", "--clinic", "1", "--outcome", "odi")
    assert result.exit_code == 2
    assert "--outcome" in result.output


def test_several_clinics_need_the_option(cli, alice):
    result = cli("research", "ltr")
    assert result.exit_code == 2
    assert "--clinic" in result.output
