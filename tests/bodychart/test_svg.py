"""Body chart geometry and SVG: every region drawn once, on its view, without overlaps."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest
from shapely.geometry import Point, Polygon, box

from triggerpoint.bodychart.catalog import load_catalog, mirror_region_id
from triggerpoint.bodychart.geometry import load_geometry, path_rings, region_point
from triggerpoint.bodychart.svg import render_legend, render_view

SVG = "{http://www.w3.org/2000/svg}"
VIEWS = ("anterior", "posterior")


def polygons(view: str) -> dict[str, Polygon]:
    out = {}
    for rid, shape in load_geometry()["views"][view]["regions"].items():
        rings = path_rings(shape["d"])
        out[rid] = Polygon(rings[0], rings[1:])
    return out


@pytest.mark.parametrize("view", VIEWS)
def test_every_catalogue_region_is_drawn_on_its_view_only(view: str) -> None:
    catalog = load_catalog()
    expected = {r.id for r in catalog.by_view(view)}
    assert set(load_geometry()["views"][view]["regions"]) == expected


@pytest.mark.parametrize("view", VIEWS)
def test_polygons_are_valid_and_inside_the_view(view: str) -> None:
    data = load_geometry()["views"][view]
    frame = box(0, 0, data["width"], data["height"])
    for rid, poly in polygons(view).items():
        assert poly.is_valid, rid
        assert poly.area > 30, rid
        assert frame.contains(poly), rid
        x0, y0, x1, y1 = data["regions"][rid]["bbox"]
        assert poly.bounds == pytest.approx((x0, y0, x1, y1), abs=0.11), rid


@pytest.mark.parametrize("view", VIEWS)
def test_regions_do_not_overlap(view: str) -> None:
    polys = polygons(view)
    for (a, pa), (b, pb) in itertools.combinations(polys.items(), 2):
        if pa.bounds[0] > pb.bounds[2] or pb.bounds[0] > pa.bounds[2]:
            continue
        assert pa.intersection(pb).area < 0.5, (a, b)


@pytest.mark.parametrize("view", VIEWS)
def test_regions_tile_the_figure(view: str) -> None:
    """The figure's regions plus its grey hands and feet fill the silhouette."""
    data = load_geometry()["views"][view]
    rings = path_rings(data["outline"])
    outline = Polygon(rings[0])
    covered = sum(p.intersection(outline).area for p in polygons(view).values())
    unmapped = sum(Polygon(r).area for r in path_rings(data["unmapped"]))
    assert covered + unmapped == pytest.approx(outline.area, rel=0.01)


@pytest.mark.parametrize("view", VIEWS)
def test_sides_follow_the_patient(view: str) -> None:
    data = load_geometry()["views"][view]
    mid = data["midline_x"]
    regions = data["regions"]
    for rid, shape in regions.items():
        x, y = shape["centroid"]
        if rid.startswith("right_"):
            assert (x < mid) if view == "anterior" else (x > mid), rid
            lx, ly = regions[mirror_region_id(rid)]["centroid"]
            assert lx == pytest.approx(2 * mid - x, abs=0.5), rid
            assert ly == pytest.approx(y, abs=0.5), rid
        elif not rid.startswith("left_"):
            assert x == pytest.approx(mid, abs=0.5), rid


def test_known_landmarks_sit_where_anatomy_puts_them() -> None:
    views = load_geometry()["views"]
    front, back = views["anterior"]["regions"], views["posterior"]["regions"]
    assert front["right_forehead"]["centroid"][1] < front["chin"]["centroid"][1]
    assert front["chin"]["centroid"][1] < front["sternum"]["centroid"][1]
    assert back["right_upper_calf"]["centroid"][1] < back["right_lower_calf"]["centroid"][1]
    # the thumb is lateral: further from the midline than the little finger
    mid = views["anterior"]["midline_x"]
    thumb = abs(front["right_thumb_palmar"]["centroid"][0] - mid)
    assert thumb > abs(front["right_little_finger_palmar"]["centroid"][0] - mid)


@pytest.mark.parametrize(
    "region_id",
    [
        "right_temple",
        "left_scapula",
        "sternum",
        "sacrum",
        "right_thumb_palmar",
        "left_lesser_toes_plantar",
        "right_axilla",
        "left_lateral_epicondyle",
    ],
)
def test_region_point_lands_inside_its_region(region_id: str) -> None:
    view = (
        "anterior"
        if region_id in {r.id for r in load_catalog().by_view("anterior")}
        else "posterior"
    )
    poly = polygons(view)[region_id]
    for u, v in itertools.product([0, 0.1, 0.5, 0.9, 1], repeat=2):
        x, y = region_point(region_id, u, v)
        assert poly.contains(Point(x, y)), (region_id, u, v)


def test_region_point_runs_medial_to_lateral() -> None:
    mid = load_geometry()["views"]["anterior"]["midline_x"]
    medial = region_point("right_pectoral", 0.05, 0.5)
    lateral = region_point("right_pectoral", 0.95, 0.5)
    assert abs(lateral[0] - mid) > abs(medial[0] - mid)
    # front view, midline region: u = 0 is the patient's right = the viewer's left
    assert region_point("sternum", 0.0, 0.5)[0] < region_point("sternum", 1.0, 0.5)[0]
    assert region_point("sacrum", 0.0, 0.2)[0] > region_point("sacrum", 1.0, 0.2)[0]
    top, bottom = region_point("right_shin", 0.5, 0.0), region_point("right_shin", 0.5, 1.0)
    assert top[1] < bottom[1]


def test_render_view_shades_exactly_the_given_regions() -> None:
    shading = {
        "right_temple": "essential",
        "left_cheek": "spillover",
        "nose": "local",
        "right_palm": "pain",
    }
    root = ET.fromstring(render_view("anterior", shading=shading, marks=[(100, 200, "TP1")]))
    assert root.tag == f"{SVG}svg" and root.get("viewBox")
    paths = [p for p in root.iter(f"{SVG}path") if p.get("data-region")]
    assert len(paths) == len(load_catalog().by_view("anterior"))
    zoned = {p.get("data-region"): p.get("data-zone") for p in paths if p.get("data-zone")}
    assert zoned == shading
    for p in paths:
        zone = p.get("data-zone")
        assert p.get("class") == ("region" + (f" shade-{zone}" if zone else ""))
        assert p.get("tabindex") == "0" and p.get("role") == "button"
        assert p.find(f"{SVG}title").text == p.get("data-name") == p.get("aria-label")
    fills = {p.get("data-region"): p.get("fill") for p in paths}
    assert fills["right_temple"] == "#b3261e"
    assert fills["left_cheek"].startswith("url(#") and fills["nose"].startswith("url(#")
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    assert fills["left_cheek"][5:-1] in ids and fills["nose"][5:-1] in ids
    marks = [g for g in root.iter(f"{SVG}g") if g.get("class") == "tp-mark"]
    assert [m.find(f"{SVG}title").text for m in marks] == ["TP1"]


def test_render_view_states_the_patients_sides() -> None:
    for view, first in (("anterior", "R"), ("posterior", "L")):
        root = ET.fromstring(render_view(view))
        texts = [(float(t.get("x")), t.text) for t in root.iter(f"{SVG}text")]
        letters = sorted((x, s) for x, s in texts if s in {"R", "L"})
        assert [s for _, s in letters] == [first, "R" if first == "L" else "L"]


def test_non_interactive_render_has_no_keyboard_stops() -> None:
    svg = render_view("posterior", shading={"sacrum": "pain"}, interactive=False, height=150)
    root = ET.fromstring(svg)
    assert "tabindex" not in svg and 'role="button"' not in svg
    assert root.get("height") == "150"
    assert [p.get("data-region") for p in root.iter(f"{SVG}path") if p.get("data-zone")] == [
        "sacrum"
    ]


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="zone"):
        render_view("anterior", shading={"right_temple": "severe"})


def test_legend_names_the_three_zones_and_the_mark() -> None:
    root = ET.fromstring(render_legend())
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["essential zone", "spillover zone", "local", "trigger point"]
