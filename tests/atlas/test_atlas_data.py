"""The packaged atlas: every file valid, every region real, mirroring exact."""

from __future__ import annotations

import pytest
import yaml

from triggerpoint.atlas.loader import ZONE_KINDS, AtlasError, data_dir, load_atlas, load_muscle_file
from triggerpoint.bodychart.catalog import load_catalog, mirror_region_id

FILES = sorted(data_dir().glob("*.yaml"))


@pytest.fixture(scope="module")
def atlas():
    return load_atlas()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_file_validates_and_names_real_regions(path):
    catalog = load_catalog()
    muscle = load_muscle_file(path, catalog)
    for tp in muscle.trigger_points:
        assert tp.zones.essential, f"{path.name}: {tp.id} has an empty essential zone"
        for side in ("right", "left"):
            for kind in ZONE_KINDS:
                for ref in getattr(tp.zones, kind):
                    assert all(r in catalog.regions for r in catalog.expand_zone(ref, side))


def test_atlas_size_meets_the_issue(atlas):
    assert len(atlas.muscles) >= 110
    groups = {m.group for m in atlas.muscles.values()}
    assert groups == {
        "head",
        "neck",
        "shoulder_girdle",
        "upper_limb",
        "trunk",
        "pelvis",
        "lower_limb",
    }


def test_every_sided_trigger_point_has_an_essential_zone(atlas):
    assert all(tp.essential for tp in atlas.trigger_points)


def test_mirroring_is_consistent(atlas):
    for tp in atlas.trigger_points:
        mirror = atlas.trigger_point(tp.mirror_uid)
        assert mirror.side != tp.side
        for kind in ZONE_KINDS:
            assert sorted(getattr(mirror, kind)) == sorted(
                mirror_region_id(r) for r in getattr(tp, kind)
            )
        assert mirror.position_region == mirror_region_id(tp.position_region)


def test_trigger_point_uids_are_unique(atlas):
    uids = [tp.uid for tp in atlas.trigger_points]
    assert len(uids) == len(set(uids))


def test_thorax_flag_has_a_lung_risk(atlas):
    for m in atlas.muscles.values():
        assert m.needling.thorax == any(r.kind == "lung" for r in m.needling.structures_at_risk), (
            m.id
        )


def test_refers_to_right_temple_lists_trapezius_and_temporalis(atlas):
    names = {tp.muscle_id for tp, _ in atlas.refers_to("right_temple")}
    assert {"upper_trapezius", "temporalis"} <= names


def test_refers_to_orders_essential_first(atlas):
    zones = [zone for _, zone in atlas.refers_to("right_temple")]
    assert zones == sorted(zones, key=lambda z: z != "essential")


# --- malformed files ----------------------------------------------------------------------


def _good() -> dict:
    return yaml.safe_load((data_dir() / "upper_trapezius.yaml").read_text())


def _write(tmp_path, data, name="upper_trapezius.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["trigger_points"][0]["zones"].update(essential=[]),
            "trigger_points.0.zones.essential",
        ),
        (
            lambda d: d["trigger_points"][0]["zones"].update(essential=["templ"]),
            "unknown region key 'templ'",
        ),
        (lambda d: d["needling"].update(depth_mm=[30, 10]), "needling.depth_mm"),
        (lambda d: d["needling"].update(thorax=False), "thorax must be true exactly when"),
        (lambda d: d.update(group="arm"), "group"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["innervation"].update(roots=["C9"]), "innervation.roots"),
        (lambda d: d["trigger_points"][0]["position"].update(at=[1.5, 0.5]), "position.at"),
        (lambda d: d["trigger_points"][0]["zones"].update(spillover=["temple"]), "listed in both"),
        (
            lambda d: d.update(
                sources=[{"citation": "A book on needling, 2019", "supports": ["needling"]}]
            ),
            "referral",
        ),
    ],
)
def test_malformed_file_names_file_and_field(tmp_path, mutate, expected):
    data = _good()
    mutate(data)
    with pytest.raises(AtlasError) as err:
        load_muscle_file(_write(tmp_path, data), load_catalog())
    assert "upper_trapezius.yaml" in str(err.value)
    assert expected in str(err.value)


def test_id_must_match_file_name(tmp_path):
    with pytest.raises(AtlasError, match="must match the file name"):
        load_muscle_file(_write(tmp_path, _good(), name="other.yaml"), load_catalog())


def test_invalid_yaml_is_reported(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n")
    with pytest.raises(AtlasError, match=r"broken\.yaml: not valid YAML"):
        load_muscle_file(path, load_catalog())


def test_docs_atlas_md_is_current():
    from pathlib import Path

    from triggerpoint.atlas.coverage import report

    doc = Path(__file__).resolve().parents[2] / "docs" / "atlas.md"
    assert doc.read_text(encoding="utf-8") == report(), "run `triggerpoint atlas coverage --write`"


def test_every_region_belongs_to_one_zone_of_a_trigger_point(atlas):
    # The inference engine links a trigger point to a region once, by its strongest zone.
    for tp in atlas.trigger_points:
        zones = [*tp.essential, *tp.spillover, *tp.local]
        assert len(zones) == len(set(zones)), tp.uid
