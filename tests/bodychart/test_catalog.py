"""Region catalogue: every landmark the issue names resolves, sides are the patient's."""

from __future__ import annotations

import pytest

from triggerpoint.bodychart.catalog import (
    UnknownRegionError,
    load_catalog,
    mirror_region_id,
    parse_catalog,
)

MIDLINE = {"vertex", "sternum", "sacrum", "coccyx", "pubic region"}
LANDMARKS = {
    "head": "forehead, temple, eyebrow, eye, cheek, upper teeth, lower teeth, jaw, angle of jaw, "
    "temporomandibular joint, ear, behind the ear, occiput, suboccipital region, vertex",
    "neck": "throat, lateral neck, upper posterior neck, lower posterior neck, angle of neck",
    "back": "top of shoulder, suprascapular region, medial scapular border, scapula, inferior angle of "
    "scapula, upper thoracic paraspinal, mid thoracic paraspinal, lower thoracic paraspinal, lumbar "
    "paraspinal, low back, iliac crest, sacroiliac joint, sacrum, coccyx, upper buttock, lower buttock, "
    "gluteal fold, greater trochanter",
    "chest": "infraclavicular region, pectoral region, sternum, nipple, lateral chest wall, axilla, "
    "upper abdomen, lower abdomen, groin, pubic region",
    "upper limb": "anterior shoulder, lateral shoulder, posterior shoulder, anterior arm, posterior arm, "
    "lateral arm, medial arm, antecubital fossa, lateral epicondyle, medial epicondyle, olecranon, "
    "radial dorsal forearm, ulnar dorsal forearm, radial volar forearm, ulnar volar forearm, dorsal "
    "wrist, volar wrist, thenar eminence, hypothenar eminence, palm, back of hand, web of thumb, thumb, "
    "index finger, middle finger, ring finger, little finger",
    "lower limb": "upper anterior thigh, lower anterior thigh, medial thigh, lateral thigh, posterior "
    "thigh, anterior knee, medial knee, lateral knee, back of knee, shin, lateral leg, medial leg, upper "
    "calf, lower calf, anterior ankle, lateral ankle, medial ankle, achilles tendon, heel, sole, ball of "
    "foot, dorsum of foot, big toe, lesser toes",
}
ALL = [name.strip() for group in LANDMARKS.values() for name in group.split(",")]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_landmark_count_matches_issue():
    assert len(ALL) == 15 + 5 + 18 + 10 + 27 + 24


@pytest.mark.parametrize("landmark", sorted(set(ALL) - MIDLINE))
@pytest.mark.parametrize("side", ["right", "left"])
def test_paired_landmark_resolves_to_that_side_only(catalog, landmark, side):
    regions = catalog.resolve(f"{side} {landmark}")
    assert regions, landmark
    assert {r.side for r in regions} == {side}


@pytest.mark.parametrize("landmark", sorted(MIDLINE))
def test_midline_landmark_resolves_to_one_midline_region(catalog, landmark):
    (region,) = catalog.resolve(landmark)
    assert region.side == "midline"


@pytest.mark.parametrize(
    "name",
    ["RIGHT TEMPLE", "right  temple", "Right Temple", "right_temple", "r temple", "temple (right)"],
)
def test_resolution_is_case_and_spelling_tolerant(catalog, name):
    assert [r.id for r in catalog.resolve(name)] == ["right_temple"]


def test_alias_lateral_malleolus_is_lateral_ankle(catalog):
    assert [r.id for r in catalog.resolve("left lateral malleolus")] == ["left_lateral_ankle"]


def test_unsided_name_means_both_sides(catalog):
    assert {r.id for r in catalog.resolve("temple")} == {"right_temple", "left_temple"}


def test_region_name_outranks_group_name(catalog):
    # "low back" is a region and a parent group; the region wins.
    assert [r.id for r in catalog.resolve("right low back")] == ["right_low_back"]


def test_group_name_resolves_to_its_members(catalog):
    ids = {r.id for r in catalog.resolve("right shoulder")}
    assert ids == {
        "right_top_of_shoulder",
        "right_anterior_shoulder",
        "right_lateral_shoulder",
        "right_posterior_shoulder",
    }


def test_unknown_name_lists_nearest(catalog):
    with pytest.raises(UnknownRegionError) as err:
        catalog.resolve("right tempel")
    assert "right temple" in err.value.suggestions
    assert "right temple" in str(err.value)


def test_resolve_many_keeps_order_and_dedupes(catalog):
    ids = [r.id for r in catalog.resolve_many("right temple, right angle of jaw; right temple")]
    assert ids == ["right_temple", "right_angle_of_jaw"]


def test_every_region_has_a_group_view_and_mirror(catalog):
    for region in catalog.regions.values():
        assert region.group in catalog.groups
        assert region.view in ("anterior", "posterior")
        mirror = catalog.regions[mirror_region_id(region.id)]
        assert (mirror.key, mirror.view, mirror.group) == (region.key, region.view, region.group)
        assert mirror_region_id(mirror.id) == region.id


def test_zone_expansion(catalog):
    assert catalog.expand_zone("temple", "left") == ["left_temple"]
    assert catalog.expand_zone("contra:temple", "left") == ["right_temple"]
    assert catalog.expand_zone("both:temple", "right") == ["right_temple", "left_temple"]
    assert catalog.expand_zone("sacrum", "right") == ["sacrum"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {
                "groups": {"head": "head"},
                "regions": [{"key": "x", "name": "x", "view": "side", "group": "head"}],
            },
            "view",
        ),
        (
            {
                "groups": {"head": "head"},
                "regions": [{"key": "x", "name": "x", "view": "anterior", "group": "arm"}],
            },
            "unknown group",
        ),
        (
            {
                "groups": {"head": "head"},
                "regions": [{"key": "x", "name": "x", "view": "anterior", "group": "head"}],
                "composites": [{"key": "c", "name": "c", "members": ["x", "nope"]}],
            },
            "unknown members",
        ),
    ],
)
def test_malformed_catalogue_is_rejected_with_the_field(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_catalog(raw)
