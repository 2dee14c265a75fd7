"""Compressibility (can pressure stop bleeding at the needle site?) and the lumbar pleural recess.

The charting code blocks deep needling of a patient with a bleeding risk where pressure cannot
stop bleeding; these tests pin the data it relies on.
"""

from __future__ import annotations

import pytest
import yaml

from triggerpoint.atlas.loader import AtlasError, data_dir, load_atlas, load_muscle_file
from triggerpoint.atlas.schema import Muscle
from triggerpoint.bodychart.catalog import load_catalog


@pytest.fixture(scope="module")
def atlas():
    return load_atlas()


def _all_tps_compressible(m: Muscle) -> set[bool]:
    return {m.compressible_at(tp.id) for tp in m.trigger_points}


def test_every_muscle_declares_compressibility_with_reason_and_source(atlas):
    for m in atlas.muscles.values():
        assert isinstance(m.needling.compressible, bool), m.id
        assert len(m.needling.compressible_reason) >= 10, m.id
        assert any("compressibility" in s.supports for s in m.sources), m.id
        for tp in m.trigger_points:
            assert tp.compressible in (None, True, False), (m.id, tp.id)


@pytest.mark.parametrize(
    "muscle_id",
    [
        "iliopsoas",
        "piriformis",
        "gemelli",
        "obturator_internus",
        "obturator_externus",
        "quadratus_femoris",
        "levator_ani",
        "coccygeus",
        "thoracolumbar_multifidi",
        "cervical_multifidi",
        "semispinalis_cervicis",
        "diaphragm",
        "longus_colli",
        "lateral_pterygoid",
        "medial_pterygoid",
        "tibialis_posterior",
        "popliteus",
    ],
)
def test_deep_muscles_are_not_compressible(atlas, muscle_id):
    m = atlas.muscles[muscle_id]
    assert m.needling.compressible is False
    assert _all_tps_compressible(m) == {False}


def test_deep_quadratus_lumborum_points_are_not_compressible(atlas):
    ql = atlas.muscles["quadratus_lumborum"]
    for tp_id in ("deep_upper", "deep_lower"):
        assert ql.compressible_at(tp_id) is False
        # an explicit override, so the deep points stay protected if the muscle value changes
        assert next(tp for tp in ql.trigger_points if tp.id == tp_id).compressible is False


@pytest.mark.parametrize("muscle_id", ["deltoid", "upper_trapezius", "gastrocnemius"])
def test_superficial_muscles_are_compressible(atlas, muscle_id):
    m = atlas.muscles[muscle_id]
    assert m.needling.compressible is True
    assert _all_tps_compressible(m) == {True}


@pytest.mark.parametrize("muscle_id", ["quadratus_lumborum", "iliocostalis_lumborum"])
def test_lumbar_muscles_carry_the_pleural_recess_but_not_thorax(atlas, muscle_id):
    m = atlas.muscles[muscle_id]
    assert m.pleural_recess is True
    assert m.needling.thorax is False
    assert not any(r.kind == "lung" for r in m.needling.structures_at_risk)


def test_pleural_recess_is_off_for_an_unrelated_muscle(atlas):
    assert atlas.muscles["deltoid"].pleural_recess is False


def test_compressible_at_honours_the_trigger_point_override(atlas):
    masseter = atlas.muscles["masseter"]
    assert masseter.needling.compressible is True
    assert masseter.compressible_at("superficial_mid") is True
    assert masseter.compressible_at("deep") is False

    pec_minor = atlas.muscles["pectoralis_minor"]
    assert pec_minor.needling.compressible is False
    assert pec_minor.compressible_at("upper") is False
    assert pec_minor.compressible_at("lower") is True


def test_compressible_at_falls_back_to_the_muscle_and_rejects_unknown_ids():
    data = _good()
    data["trigger_points"][0]["compressible"] = False
    m = Muscle.model_validate(data)
    assert m.needling.compressible is True
    assert m.compressible_at(data["trigger_points"][0]["id"]) is False
    assert m.compressible_at(data["trigger_points"][1]["id"]) is True
    with pytest.raises(KeyError):
        m.compressible_at("no_such_tp")


def test_docs_show_compressibility_next_to_depth_and_list_the_pleural_recess(atlas):
    from triggerpoint.atlas.coverage import report

    text = report(atlas)
    rows = {line.split(" | ")[1]: line for line in text.splitlines() if line.count(" | ") >= 6}
    for m in atlas.muscles.values():
        lo, hi = m.needling.depth_mm
        assert f"| {lo}-{hi} | {'yes' if m.needling.compressible else '**no**'} |" in rows[m.name]
    recess_section = text.split("## Pleural recess below the twelfth rib", 1)[1]
    for m in atlas.muscles.values():
        if m.pleural_recess:
            assert m.name in recess_section.split("\n## ", 1)[0]


# --- malformed files ----------------------------------------------------------------------


def _good() -> dict:
    return yaml.safe_load((data_dir() / "upper_trapezius.yaml").read_text())


def _load(tmp_path, data):
    path = tmp_path / "upper_trapezius.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_muscle_file(path, load_catalog())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["needling"].pop("compressible"), "needling.compressible: Field required"),
        (
            lambda d: d["needling"].pop("compressible_reason"),
            "needling.compressible_reason: Field required",
        ),
        (lambda d: d["needling"].update(compressible_reason="deep"), "compressible_reason"),
        (lambda d: d["needling"].update(compressible="maybe"), "needling.compressible"),
        (
            lambda d: d["trigger_points"][0].update(compressible="sometimes"),
            "trigger_points.0.compressible",
        ),
        (
            lambda d: d.update(
                sources=[s for s in d["sources"] if "compressibility" not in s["supports"]]
            ),
            "at least one source must support compressibility",
        ),
        (
            lambda d: d["needling"]["structures_at_risk"].append(
                {"kind": "pleura", "structure": "Misspelt kind"}
            ),
            "needling.structures_at_risk",
        ),
    ],
)
def test_malformed_compressibility_names_file_and_field(tmp_path, mutate, expected):
    data = _good()
    mutate(data)
    with pytest.raises(AtlasError) as err:
        _load(tmp_path, data)
    assert "upper_trapezius.yaml" in str(err.value)
    assert expected in str(err.value)


def test_pleural_recess_is_a_valid_risk_kind_independent_of_thorax(tmp_path):
    data = _good()
    data["needling"]["structures_at_risk"].append(
        {"kind": "pleural_recess", "structure": "Pleural recess below the 12th rib"}
    )
    muscle = _load(tmp_path, data)
    assert muscle.pleural_recess is True
    assert muscle.needling.thorax is True  # upper trapezius keeps its own lung risk
