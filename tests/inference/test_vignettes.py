"""The clinical vignettes (tests/inference/vignettes) and the evaluation tool that scores them.

The shipped files must validate (a misspelt region or muscle fails the suite), the held-out
third must be exactly what was frozen, and the evaluation must run and count consistently.
No accuracy target is asserted: the figures are printed at the end of the run instead, because
a target the parameters were tuned to would prove nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from tests.inference.vignette_summary import REPORT_KEY
from triggerpoint.errors import Conflict
from triggerpoint.inference import evaluation as ev

VIGNETTES = Path(__file__).parent / "vignettes"


@pytest.fixture(scope="module")
def shipped() -> list[ev.Vignette]:
    return ev.load_vignettes(VIGNETTES)


# --- the shipped vignettes -------------------------------------------------------------------


def test_both_vignette_files_validate_and_hold_at_least_80(shipped):
    names = {p.name for p in VIGNETTES.glob("*.yaml")}
    assert {"upper.yaml", "lower.yaml"} <= names
    assert len(shipped) >= 80


def test_every_case_report_has_a_doi_or_says_it_is_unchecked(shipped):
    bad = [
        v.id
        for v in shipped
        if v.source.kind in ("case_report", "case_series")
        and v.source.doi is None
        and v.source.doi_checked
    ]
    assert bad == []


def test_few_vignettes_lie_outside_the_atlas(shipped):
    outside = [v.id for v in shipped if "not_in_atlas" in v.tags]
    assert len(outside) <= 6  # at most 3 per file


def test_held_out_vignettes_are_as_frozen(shipped):
    check = ev.check_manifest(shipped, VIGNETTES)
    assert check.changed == [], "held-out vignettes edited after freezing"
    assert check.missing == [], "frozen held-out vignettes removed"
    assert check.unfrozen == [], "run `triggerpoint suggest-eval --freeze` for new vignettes"


def test_evaluation_runs_on_every_vignette_and_counts_add_up(shipped, request):
    report = ev.evaluate(shipped)
    assert [r.id for r in report.rows] == [v.id for v in shipped]
    every = report.splits["all"]
    assert every.n + every.not_in_atlas == len(shipped)
    assert report.splits["tune"].n + report.splits["heldout"].n == every.n
    for acc in [*report.splits.values(), *report.tags.values()]:
        assert acc.hits["top1"] <= acc.hits["top3"] <= acc.hits["top5"] <= acc.n
    for row in report.rows:
        assert row.split == ev.split_of(row.id)
        assert row.rank is None or 1 <= row.rank <= row.ranked
    cal = report.calibration["all"]
    assert cal.pairs == sum(min(ev.CALIBRATION_TOP, r.ranked) for r in report.rows)
    assert sum(b.count for b in cal.bins) == cal.pairs
    assert report.calibration["tune"].pairs + report.calibration["heldout"].pairs == cal.pairs
    request.config.stash[REPORT_KEY] = report.model_dump(mode="json")


# --- the tool, on a tiny vignette directory --------------------------------------------------


def _vignette(vid: str, **over) -> dict:
    v = {
        "id": vid,
        "source": {
            "kind": "manual",
            "citation": "A test source, not a clinical claim.",
            "doi": None,
            "doi_checked": True,
            "locator": None,
        },
        "story": "A made-up drawing used only to test the tool.",
        "drawing": {"pain": ["right temple"], "pain_free": [], "complete": False},
        "answer": {"muscles": ["temporalis"], "side": "right"},
        "tags": ["classic"],
    }
    v.update(over)
    return v


def _ids(split: str, n: int, prefix: str = "head-test") -> list[str]:
    ids = (f"{prefix}-{k:03d}" for k in range(1000))
    return [i for i in ids if ev.split_of(i) == split][:n]


def _write(directory: Path, items: list[dict], name: str = "a.yaml") -> Path:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(yaml.safe_dump({"vignettes": items}), encoding="utf-8")
    return directory


def test_split_depends_on_the_id_alone_and_holds_out_about_a_third():
    ids = [f"neck-x-{k:03d}" for k in range(600)]
    held = [i for i in ids if ev.split_of(i) == "heldout"]
    for i in ids[:50]:
        expect = int(hashlib.sha256(i.encode()).hexdigest(), 16) % 3 == 0
        assert (ev.split_of(i) == "heldout") == expect
    assert 150 < len(held) < 250


def test_freeze_records_held_out_only_then_catches_an_edit(tmp_path):
    held, tune = _ids("heldout", 2), _ids("tune", 1)
    d = _write(tmp_path / "v", [_vignette(held[0]), _vignette(tune[0])])
    vs = ev.load_vignettes(d)
    assert ev.check_manifest(vs, d).unfrozen == [held[0]]
    assert ev.freeze(vs, d) == [held[0]]
    assert set(ev.read_manifest(d)) == {held[0]}
    assert ev.check_manifest(vs, d).ok
    # editing a tune vignette is fine; editing a held-out one is caught and cannot be re-frozen
    _write(d, [_vignette(held[0]), _vignette(tune[0], story="Edited story of the tune case.")])
    assert ev.check_manifest(ev.load_vignettes(d), d).ok
    _write(d, [_vignette(held[0], story="Edited story of the held-out case.")])
    edited = ev.load_vignettes(d)
    assert ev.check_manifest(edited, d).changed == [held[0]]
    with pytest.raises(Conflict, match=held[0]):
        ev.freeze(edited, d)


def test_freeze_appends_new_held_out_vignettes_and_keeps_old_lines(tmp_path):
    held = _ids("heldout", 2)
    d = _write(tmp_path / "v", [_vignette(held[0])])
    ev.freeze(ev.load_vignettes(d), d)
    before = (d / ev.MANIFEST).read_text()
    _write(d, [_vignette(held[0]), _vignette(held[1])])
    assert ev.freeze(ev.load_vignettes(d), d) == [held[1]]
    after = (d / ev.MANIFEST).read_text()
    assert after.startswith(before) and held[1] in after
    assert ev.freeze(ev.load_vignettes(d), d) == []


def test_removing_a_frozen_vignette_is_reported(tmp_path):
    held = _ids("heldout", 1)
    d = _write(tmp_path / "v", [_vignette(held[0])])
    ev.freeze(ev.load_vignettes(d), d)
    _write(d, [_vignette(_ids("tune", 1)[0])])
    assert ev.check_manifest(ev.load_vignettes(d), d).missing == [held[0]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"drawing": {"pain": ["right tempel"]}}, "a.yaml:head-bad-001:drawing.pain.0"),
        ({"answer": {"muscles": ["temporalus"], "side": "right"}}, "answer.muscles.0"),
        ({"answer": {"muscles": [], "side": None}}, "head-bad-001:"),
        ({"tags": ["classic", "famous"]}, "tags.1"),
        ({"colour": "blue"}, "colour"),
        ({"source": {"kind": "blog", "citation": "x" * 20, "doi_checked": True}}, "source.kind"),
        ({"tags": ["palpation"]}, "head-bad-001:"),
        (
            {
                "palpation": [{"site": "right temporalus", "finding": "familiar"}],
                "tags": ["palpation"],
            },
            "a.yaml:head-bad-001:palpation.0.site",
        ),
    ],
)
def test_bad_vignettes_are_refused_naming_file_id_and_field(tmp_path, change, field):
    d = _write(tmp_path / "v", [_vignette("head-bad-001", **change)])
    with pytest.raises(ev.VignetteError) as err:
        ev.load_vignettes(d)
    assert field in err.value.field
    assert "head-bad-001" in str(err.value) or "head-bad-001" in err.value.field


def test_a_duplicate_yaml_key_is_refused(tmp_path):
    d = tmp_path / "v"
    d.mkdir()
    (d / "a.yaml").write_text("vignettes: []\nvignettes: []\n", encoding="utf-8")
    with pytest.raises(ev.VignetteError, match="duplicate key"):
        ev.load_vignettes(d)


def test_duplicate_ids_across_files_are_refused(tmp_path):
    d = _write(tmp_path / "v", [_vignette("head-dup-001")])
    _write(d, [_vignette("head-dup-001")], name="b.yaml")
    with pytest.raises(ev.VignetteError, match="duplicate") as err:
        ev.load_vignettes(d)
    assert err.value.field == "b.yaml:head-dup-001:id"


def test_evaluation_ranks_muscles_and_respects_the_answer_side(tmp_path):
    d = _write(
        tmp_path / "v",
        [
            _vignette("head-right-001"),
            _vignette("head-wrong-001", answer={"muscles": ["temporalis"], "side": "left"}),
            _vignette("head-any-001", answer={"muscles": ["temporalis"], "side": None}),
        ],
    )
    rows = {r.id: r for r in ev.evaluate(ev.load_vignettes(d)).rows}
    right, wrong, anyside = rows["head-right-001"], rows["head-wrong-001"], rows["head-any-001"]
    assert right.rank is not None and right.top[right.rank - 1].muscle_id == "temporalis"
    assert right.top[right.rank - 1].side == "right"
    # a right temple says nothing of the left temporalis: ranked lower or not at all
    assert wrong.rank is None or wrong.rank > right.rank
    assert anyside.rank == right.rank
    ranked = [(m.muscle_id, m.side) for m in right.top]
    assert len(ranked) == len(set(ranked))  # each muscle-side once
    assert [m.p_active for m in right.top] == sorted((m.p_active for m in right.top), reverse=True)


def test_complete_mode_reads_each_drawing_as_a_complete_chart(tmp_path, monkeypatch):
    from triggerpoint.inference import service

    d = _write(tmp_path / "v", [_vignette("head-right-001")])
    seen: list[dict] = []
    real = service.suggest

    def spy(drawing, **kw):
        seen.append(dict(drawing))
        return real(drawing, **kw)

    monkeypatch.setattr(service, "suggest", spy)
    vignettes = ev.load_vignettes(d)
    assert ev.evaluate(vignettes).mode == "as_written"
    report = ev.evaluate(vignettes, mode="complete")
    assert report.mode == "complete"
    assert [s["complete"] for s in seen] == [False, True]
    assert seen[1]["pain"] == ["right temple"] and seen[1]["pain_free"] == []


def test_calibration_uses_fewer_bins_when_sparse():
    sparse = ev._calibration([(0.05, 0), (0.95, 1), (0.5, 1)])
    assert [(b.low, b.high) for b in sparse.bins] == [(0.0, 0.2), (0.4, 0.6), (0.8, 1.0)]
    assert sparse.brier == pytest.approx((0.05**2 + 0.05**2 + 0.5**2) / 3)
    dense = ev._calibration([(k / 200, k % 2) for k in range(200)])
    assert len(dense.bins) == 10 and sum(b.count for b in dense.bins) == 200


def test_cli_prints_tables_and_json(cli, tmp_path):
    held, tune = _ids("heldout", 1), _ids("tune", 1)
    d = _write(tmp_path / "v", [_vignette(held[0]), _vignette(tune[0])])
    out = cli("suggest-eval", str(d), "--split", "all")
    assert out.exit_code == 0, out.output
    assert "top 3" in out.stdout and "Brier" in out.stdout and "not frozen" in out.stdout
    data = json.loads(cli("suggest-eval", str(d), "--split", "heldout", "--json").stdout)
    assert set(data["splits"]) == {"heldout", "all"}
    assert [r["id"] for r in data["rows"]] == held
    assert {"ranking", "palpation_used", "tags", "calibration"} <= set(data)


def test_cli_freeze_writes_the_manifest_and_keeps_json_clean(cli, tmp_path):
    held = _ids("heldout", 1)
    d = _write(tmp_path / "v", [_vignette(held[0])])
    out = cli("suggest-eval", str(d), "--freeze", "--split", "all", "--json")
    assert out.exit_code == 0, out.output
    assert list(ev.read_manifest(d)) == held
    assert json.loads(out.stdout)["splits"]["all"]["n"] == 1
    assert "Froze 1" in out.stderr


def test_cli_refuses_to_refreeze_an_edited_held_out_vignette(cli, tmp_path):
    held = _ids("heldout", 1)
    d = _write(tmp_path / "v", [_vignette(held[0])])
    assert cli("suggest-eval", str(d), "--freeze", "--split", "all").exit_code == 0
    _write(d, [_vignette(held[0], story="A quietly edited held-out story.")])
    out = cli("suggest-eval", str(d), "--freeze", "--split", "all")
    assert out.exit_code == 2 and "--freeze" in out.stderr and held[0] in out.stderr


def test_cli_exits_2_on_bad_params(cli, tmp_path):
    d = _write(tmp_path / "v", [_vignette("head-ok-001")])
    bad = tmp_path / "params.yaml"
    bad.write_text("prior: 2.0\n", encoding="utf-8")
    out = cli("suggest-eval", str(d), "--params", str(bad))
    assert out.exit_code == 2 and "--params" in out.stderr


def test_cli_exits_2_on_a_bad_directory_or_vignette(cli, tmp_path):
    missing = cli("suggest-eval", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "DIR" in missing.stderr
    d = _write(tmp_path / "v", [_vignette("head-bad-001", drawing={"pain": ["rihgt temple"]})])
    bad = cli("suggest-eval", str(d))
    assert bad.exit_code == 2
    assert "head-bad-001:drawing.pain.0" in bad.stderr and "right temple" in bad.stderr
