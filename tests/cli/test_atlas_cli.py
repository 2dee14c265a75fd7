"""CLI: JSON shapes, human output, and exit code 2 with nearest names on bad input."""

from __future__ import annotations

import json

import pytest


def test_atlas_list_json_shape(cli):
    result = cli("atlas", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    trap = next(r for r in rows if r["id"] == "upper_trapezius")
    assert trap["group"] == "neck"
    assert trap["name"] == "Upper trapezius"
    assert trap["trigger_points"][0]["essential"]
    assert {"id", "name", "location", "region", "essential", "spillover", "local"} <= set(
        trap["trigger_points"][0]
    )


def test_atlas_list_group_filter(cli):
    rows = json.loads(cli("atlas", "list", "--group", "neck", "--json").stdout)
    assert rows and {r["group"] for r in rows} == {"neck"}


def test_atlas_list_unknown_group_exits_2(cli):
    result = cli("atlas", "list", "--group", "nek")
    assert result.exit_code == 2
    assert "--group" in result.stderr and "neck" in result.stderr


def test_regions_find_json(cli):
    result = cli("regions", "find", "right temple", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {
            "id": "right_temple",
            "key": "temple",
            "name": "right temple",
            "side": "right",
            "view": "anterior",
            "group": "head",
            "aliases": ["right temporal region", "right temporal fossa"],
        }
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("regions", "find", "right tempel"),
        ("atlas", "refers-to", "right tempel"),
        ("atlas", "show", "upper trapezuis"),
    ],
)
def test_unknown_names_exit_2_with_nearest(cli, args):
    result = cli(*args)
    assert result.exit_code == 2
    assert "did you mean" in result.stderr
    assert ("right temple" in result.stderr) or ("Upper trapezius" in result.stderr)


def test_refers_to_json_essential_first(cli):
    result = cli("atlas", "refers-to", "right temple", "--json")
    data = json.loads(result.stdout)
    assert [r["id"] for r in data["regions"]] == ["right_temple"]
    zones = [m["zone"] for m in data["matches"]]
    assert zones == sorted(zones, key=lambda z: z != "essential")
    assert any(
        m["muscle_id"] == "upper_trapezius" and m["side"] == "right" for m in data["matches"]
    )


def test_show_json_is_the_full_record(cli):
    data = json.loads(cli("atlas", "show", "Upper Trapezius", "--json").stdout)
    assert data["id"] == "upper_trapezius"
    assert data["needling"]["thorax"] is True
    assert "review_notes" not in data


def test_show_rejects_bad_side(cli):
    result = cli("atlas", "show", "upper trapezius", "--side", "middle")
    assert result.exit_code == 2 and "--side" in result.stderr
