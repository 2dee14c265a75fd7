"""Build the body chart geometry: src/triggerpoint/bodychart/data/geometry.json.

Run by developers after changing the region layout (never at runtime):

    .venv/bin/python tools/build_bodychart.py [--debug /tmp/bodychart]

The adult front and back silhouettes are the outer contours of the male line drawings in the
`anatomapa` package (MIT; its outlines derive from gganatogram, CC0). They are made exactly
symmetric (so a left region is the mirror of its right twin), the head is enlarged slightly
(the source figure is 8.3 heads tall; 7.5 is closer to an adult and gives the face regions
room) and the neck is lengthened a little for the same reason.

Regions are authored below as rough shapes in the source drawing's coordinates, on the
viewer's left half only, in priority order: each is clipped to the silhouette and loses
whatever an earlier region already took, so regions never overlap. Gaps left over are given
to the neighbour sharing the longest border. The right half is the mirror image. Hands and
feet are drawn as enlarged insets beside the legs; on the figure itself they are shown in
grey and carry no region.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import anatomapa
import shapely
import yaml
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize, unary_union

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src/triggerpoint/bodychart/data/geometry.json"
CATALOG = ROOT / "src/triggerpoint/bodychart/data/regions.yaml"
ASSETS = Path(anatomapa.__file__).parent / "assets"

WIDTH = 540.0
MID = 270.0  # the source drawing's midline; kept as the chart's midline
HEAD_SPLIT = 122.0  # source y below the chin: above it is head, below it the body
HEAD_SCALE = 1.15
NECK_EXTRA = 6.0
TOP = 50.0  # room above the head for the caption and the L/R markers
HEIGHT = 1030.0

Pt = tuple[float, float]

# --- the silhouette ------------------------------------------------------------------------


def _bezier(p0: Pt, p1: Pt, p2: Pt, p3: Pt, steps: int = 10) -> list[Pt]:
    out = []
    for k in range(1, steps + 1):
        t = k / steps
        a = 1 - t
        out.append(
            (
                a**3 * p0[0] + 3 * a * a * t * p1[0] + 3 * a * t * t * p2[0] + t**3 * p3[0],
                a**3 * p0[1] + 3 * a * a * t * p1[1] + 3 * a * t * t * p2[1] + t**3 * p3[1],
            )
        )
    return out


def parse_path(d: str) -> list[list[Pt]]:
    """Subpaths of an absolute M/L/C/Z path (all anatomapa uses), curves flattened."""
    toks = re.findall(r"[MLCZ]|-?\d+(?:\.\d+)?", d)
    subs: list[list[Pt]] = []
    cur: list[Pt] = []
    cmd, i = "M", 0
    while i < len(toks):
        tok = toks[i]
        if tok in "MLCZ":
            cmd, i = tok, i + 1
            if tok == "Z" and cur:
                subs.append(cur)
                cur = []
            continue
        nums = [float(v) for v in toks[i : i + (6 if cmd == "C" else 2)]]
        i += len(nums)
        if cmd == "M":
            if cur:
                subs.append(cur)
            cur, cmd = [(nums[0], nums[1])], "L"
        elif cmd == "L":
            cur.append((nums[0], nums[1]))
        else:
            cur += _bezier(cur[-1], (nums[0], nums[1]), (nums[2], nums[3]), (nums[4], nums[5]))
    if cur:
        subs.append(cur)
    return subs


def source_outline(view: str) -> Polygon:
    """The outer contour of anatomapa's male figure for this view, made symmetric."""
    text = (ASSETS / f"body_male_{view}.svg").read_text("utf-8")
    match = re.search(r'id="body-outline" d="([^"]+)"', text)
    if match is None:
        raise SystemExit(f"anatomapa {view} drawing has no body-outline path")
    outer = max((Polygon(s).buffer(0) for s in parse_path(match.group(1))), key=lambda p: p.area)
    half = outer.intersection(box(-10, -10, MID, 1000))
    return _one(unary_union([half, mirror(half)]).buffer(0.05).buffer(-0.05))


def transform_point(x: float, y: float) -> Pt:
    """Source drawing -> chart: bigger head, longer neck, room at the top."""
    if y < HEAD_SPLIT:
        x = MID + (x - MID) * HEAD_SCALE
        y = HEAD_SPLIT + (y - HEAD_SPLIT) * HEAD_SCALE
    else:
        y += NECK_EXTRA
    return x, y + TOP


def to_chart(geom: BaseGeometry) -> BaseGeometry:
    y0, y1 = geom.bounds[1], geom.bounds[3]
    if y0 < HEAD_SPLIT <= y1:  # only edges crossing the split bend; keep the rest sparse
        geom = shapely.segmentize(geom, 2.0)
    return shapely.transform(
        geom,
        lambda xy: [transform_point(x, y) for x, y in xy],
    ).buffer(0)


def mirror(geom: BaseGeometry) -> BaseGeometry:
    return affinity.scale(geom, xfact=-1, yfact=1, origin=(MID, 0))


def _one(geom: BaseGeometry) -> Polygon:
    """The largest polygon of a geometry (used where only one part can be meant)."""
    polys = _polys(geom)
    if not polys:
        raise ValueError("empty geometry")
    return max(polys, key=lambda p: p.area)


def _polys(geom: BaseGeometry) -> list[Polygon]:
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [p for g in getattr(geom, "geoms", []) for p in _polys(g)]


# --- authoring helpers ----------------------------------------------------------------------


def poly(*pts: Pt) -> Polygon:
    return Polygon(pts)


def ellipse(cx: float, cy: float, rx: float, ry: float) -> Polygon:
    return affinity.scale(Point(cx, cy).buffer(1, 32), rx, ry)


def capsule(pts: Sequence[Pt], r: float) -> Polygon:
    return LineString(pts).buffer(r, 24)


def band(line: Sequence[Pt], near: float, far: float) -> Polygon:
    """The strip between offsets `near` and `far` (left of the line's direction is +)."""
    ls = LineString(line)
    a, b = ls.offset_curve(near), ls.offset_curve(far)
    return Polygon([*a.coords, *reversed(b.coords)]).buffer(0)


Spec = tuple[str, BaseGeometry]  # region key -> rough shape (viewer's left half, source coords)

# Keys drawn on the midline: authored on the viewer's left half and mirrored onto the right.
MIDLINE = {"nose", "chin", "sternum", "pubic_region", "vertex", "sacrum", "coccyx"}

BIG = 60.0
MIN_AREA = 40.0  # chart units^2; about 4 x 4 px at 600 px height  # how far a rough shape may overshoot the silhouette


# The elbow band, square to the arm (source coordinates).
ELBOW = poly((-BIG, 305), (200, 330), (200, 368), (-BIG, 345))


def anterior_specs() -> list[Spec]:
    """Front view, viewer's left half = the patient's RIGHT side (source coordinates)."""
    L = -BIG
    return [
        # face (the source face: eyes y 67-78, nose to y 101, mouth y 108, chin y 116)
        ("nose", poly((265, 65), (270, 65), (270, 103), (257, 103), (259, 92), (263, 78))),
        ("eye", poly((239, 66), (265, 66), (262, 78), (251, 80.5), (239, 78))),
        ("eyebrow", poly((239, 66), (241, 59), (252, 56), (266, 59), (266, 65), (252, 63.5))),
        ("ear", poly((L, 66), (231.5, 66), (232.5, 101), (L, 101))),
        ("temple", poly((L, 16), (238, 22), (241, 50), (240, 80), (L, 80))),
        ("forehead", poly((L, -20), (270, -20), (270, 66), (L, 66))),
        ("tmj", poly((231, 80), (242, 80), (243, 95), (232, 96))),
        ("upper_teeth", poly((246, 103), (270, 103), (270, 110), (247, 110))),
        ("lower_teeth", poly((247, 110), (270, 110), (270, 116.5), (250, 116.5))),
        ("chin", poly((254, 116.5), (270, 116.5), (270, 126), (259, 125))),
        (
            "cheek",
            poly((230, 75), (240, 78), (251, 81), (263, 78), (257, 103), (246, 103), (232, 97)),
        ),
        ("angle_of_jaw", poly((L, 96), (237, 96), (241, 106), (239, 116), (L, 116))),
        ("jaw", poly((236, 96), (246, 103), (250, 116.5), (254, 116.5), (259, 125), (238, 122))),
        # neck
        ("throat", poly((254, 116.5), (270, 126), (270, 149), (255, 150), (250, 124))),
        (
            "supraclavicular",
            poly((L, 150), (200, 149), (236, 139), (255, 150), (255, 160), (230, 161), (L, 170)),
        ),
        ("lateral_neck", poly((L, 96), (260, 118), (257, 152), (L, 152))),
        # chest and shoulder
        ("sternum", poly((258, 151), (270, 150), (270, 264), (263, 255))),
        ("nipple", ellipse(229, 226, 7, 6)),
        ("lateral_shoulder", poly((L, 160), (166, 166), (163, 215), (157, 270), (L, 270))),
        ("anterior_shoulder", poly((165, 162), (200, 160), (200, 205), (193, 270), (157, 270))),
        ("infraclavicular", poly((195, 158), (258, 156), (258, 186), (198, 190))),
        ("axilla", poly((190, 236), (200, 238), (209, 250), (210, 300), (196, 300), (180, 286))),
        ("pectoral", poly((195, 186), (258, 186), (260, 258), (215, 262), (196, 248))),
        ("lateral_chest_wall", poly((178, 262), (214, 262), (214, 335), (178, 335))),
        ("upper_abdomen", poly((213, 258), (270, 260), (270, 335), (213, 335))),
        # abdomen and pelvis (navel y 362, inguinal fold ~ y 430-495)
        ("pubic_region", poly((252, 462), (270, 462), (270, 492), (258, 492))),
        ("groin", poly((L, 415), (200, 415), (262, 462), (262, 492), (248, 494), (L, 440))),
        ("flank", poly((L, 335), (214, 335), (214, 418), (L, 418))),
        ("lower_abdomen", poly((213, 335), (270, 335), (270, 462), (213, 462))),
        # arm: axis runs from the shoulder (170, 250) through the elbow (147, 340) to the
        # wrist (88, 430); the palm faces forward so the lateral side is the outer edge.
        ("antecubital_fossa", ELBOW),
        ("lateral_arm", poly((L, 250), (151, 258), (140, 330), (L, 330))),
        ("medial_arm", poly((171, 258), (200, 258), (200, 340), (161, 340))),
        ("anterior_arm", poly((L, 240), (210, 240), (210, 340), (L, 340))),
        ("radial_volar_forearm", poly((L, 340), (140, 352), (86, 432), (L, 432))),
        ("ulnar_volar_forearm", poly((140, 345), (220, 350), (220, 460), (86, 432))),
        # thigh, knee, leg, ankle (knee y 676-732, ankle y 878-915)
        ("lateral_knee", poly((L, 676), (203, 676), (202, 732), (L, 732))),
        ("medial_knee", poly((233, 676), (300, 676), (300, 732), (235, 732))),
        ("anterior_knee", poly((L, 676), (300, 676), (300, 732), (L, 732))),
        ("lateral_thigh", poly((L, 420), (197, 450), (201, 676), (L, 676))),
        ("medial_thigh", poly((250, 470), (300, 470), (300, 676), (234, 676))),
        ("upper_anterior_thigh", poly((L, 440), (300, 440), (300, 590), (L, 590))),
        ("lower_anterior_thigh", poly((L, 590), (300, 590), (300, 676), (L, 676))),
        ("lateral_ankle", poly((L, 872), (221, 872), (221, 915), (L, 915))),
        ("medial_ankle", poly((236, 872), (300, 872), (300, 915), (236, 915))),
        ("anterior_ankle", poly((L, 872), (300, 872), (300, 915), (L, 915))),
        ("lateral_leg", poly((L, 732), (205, 732), (216, 872), (L, 872))),
        ("medial_leg", poly((236, 732), (300, 732), (300, 872), (238, 872))),
        ("shin", poly((L, 732), (300, 732), (300, 872), (L, 872))),
    ]


def posterior_specs() -> list[Spec]:
    """Back view, viewer's left half = the patient's LEFT side (source coordinates)."""
    L = -BIG
    return [
        # head (hairline y 96-112)
        ("vertex", poly((200, -20), (270, -20), (270, 32), (200, 32))),
        ("behind_the_ear", poly((L, 78), (240, 84), (242, 112), (L, 112))),
        ("parietal", poly((L, 32), (247, 32), (243, 82), (L, 82))),
        ("occiput", poly((240, 32), (270, 32), (270, 101), (241, 101))),
        ("suboccipital", poly((238, 100), (270, 100), (270, 116), (240, 116))),
        # neck
        ("upper_posterior_neck", poly((240, 116), (270, 116), (270, 136), (238, 136))),
        ("lower_posterior_neck", poly((238, 136), (270, 136), (270, 156), (245, 156))),
        ("angle_of_neck", poly((L, 112), (240, 112), (245, 156), (214, 166), (L, 140))),
        # shoulder and scapula (spine of scapula from (246, 190) to the acromion (176, 176))
        ("top_of_shoulder", poly((L, 140), (214, 166), (190, 178), (160, 188), (L, 188))),
        ("suprascapular", poly((214, 166), (248, 156), (248, 192), (186, 180))),
        ("upper_thoracic_paraspinal", poly((256, 156), (270, 156), (270, 220), (256, 220))),
        ("mid_thoracic_paraspinal", poly((256, 220), (270, 220), (270, 282), (256, 282))),
        ("lower_thoracic_paraspinal", poly((254, 282), (270, 282), (270, 335), (254, 335))),
        ("inferior_angle_of_scapula", poly((219, 245), (243, 245), (241, 268), (230, 274))),
        ("medial_scapular_border", poly((246, 156), (256, 156), (256, 282), (242, 282))),
        ("scapula", poly((186, 180), (248, 190), (244, 246), (219, 246), (196, 218))),
        ("posterior_shoulder", poly((L, 188), (188, 179), (198, 222), (186, 260), (L, 260))),
        ("posterolateral_chest_wall", poly((182, 215), (256, 215), (256, 335), (182, 335))),
        # low back and pelvis (iliac crest ~ y 372-390, gluteal fold y 482-490)
        ("lumbar_paraspinal", poly((252, 335), (270, 335), (270, 384), (252, 384))),
        ("iliac_crest", poly((L, 368), (222, 360), (253, 370), (253, 384), (222, 376), (L, 386))),
        ("low_back", poly((L, 335), (253, 335), (253, 372), (L, 372))),
        ("sacrum", poly((258, 384), (270, 384), (270, 446), (263, 432))),
        ("coccyx", poly((263, 432), (270, 446), (270, 462), (266, 462))),
        ("sacroiliac_joint", poly((242, 384), (258, 384), (262, 428), (246, 428))),
        ("greater_trochanter", poly((L, 440), (196, 446), (197, 500), (L, 505))),
        ("upper_buttock", poly((L, 384), (262, 384), (265, 438), (L, 438))),
        ("gluteal_fold", poly((L, 476), (270, 476), (270, 500), (L, 500))),
        ("lower_buttock", poly((L, 420), (270, 420), (270, 476), (L, 476))),
        # arm (the back of the hand faces backwards: lateral is the outer edge)
        (
            "lateral_epicondyle",
            ELBOW.intersection(poly((L, 280), (134, 280), (127, 400), (L, 400))),
        ),
        (
            "medial_epicondyle",
            ELBOW.intersection(poly((160, 280), (250, 280), (250, 400), (153, 400))),
        ),
        ("olecranon", ELBOW),
        ("posterior_arm", poly((L, 240), (210, 240), (210, 340), (L, 330))),
        ("radial_dorsal_forearm", poly((L, 340), (140, 352), (86, 432), (L, 432))),
        ("ulnar_dorsal_forearm", poly((140, 345), (220, 350), (220, 460), (86, 432))),
        # thigh, knee, leg, ankle
        ("posterior_thigh", poly((L, 490), (300, 490), (300, 686), (L, 686))),
        ("back_of_knee", poly((L, 686), (300, 686), (300, 736), (L, 736))),
        ("upper_calf", poly((L, 736), (300, 736), (300, 800), (L, 800))),
        ("lower_calf", poly((L, 800), (300, 800), (300, 872), (L, 872))),
        ("achilles_tendon", poly((L, 872), (300, 872), (300, 918), (L, 918))),
    ]


# The arm below the shoulder cap, cut off from the trunk along the armpit (source coordinates).
ARM_ZONE = poly(
    (-BIG, 255), (197, 255), (192, 293), (189, 330), (170, 420), (120, 470), (-BIG, 470)
)
ARM_KEYS = {
    "antecubital_fossa",
    "lateral_arm",
    "medial_arm",
    "anterior_arm",
    "radial_volar_forearm",
    "ulnar_volar_forearm",
    "olecranon",
    "lateral_epicondyle",
    "medial_epicondyle",
    "posterior_arm",
    "radial_dorsal_forearm",
    "ulnar_dorsal_forearm",
}


# Parts of the figure drawn grey and left without a region: the hand and foot are charted
# on the enlarged insets instead (source coordinates, viewer's left half).
def figure_extremities(view: str) -> BaseGeometry:
    hand = poly((-BIG, 432), (86, 432), (120, 455), (120, 600), (-BIG, 600))
    foot = box(-BIG, 915 if view == "anterior" else 918, 300, 1000)
    return unary_union([hand, foot])


# --- hand and foot insets ----------------------------------------------------------------
# Local frame: viewer's-left inset, proximal end at the top, the thumb and the little toe
# pointing away from the figure (towards -x), the big toe towards the figure (+x). Units are
# chart units; insets are about twice the figure's scale.


def smooth(geom: BaseGeometry, convex: float, concave: float) -> BaseGeometry:
    """Round convex corners to radius `convex` and fill concave ones to radius `concave`."""
    opened = geom.buffer(-convex, 16).buffer(convex, 16)
    return opened.buffer(concave, 16).buffer(-concave, 16)


def hand_parts() -> dict[str, BaseGeometry]:
    fingers = {
        "index_finger": capsule([(-20, 94), (-26, 163)], 7.6),
        "middle_finger": capsule([(-4, 98), (-5.5, 176)], 7.9),
        "ring_finger": capsule([(12, 96), (16, 168)], 7.3),
        "little_finger": capsule([(27, 90), (34.5, 145)], 6.3),
    }
    thumb = capsule([(-24, 40), (-45, 76), (-57, 108)], 9.6)
    wrist = poly((-20, -12), (20, -12), (22, 20), (-22, 20))
    palm = poly((-23, 18), (23, 18), (30, 50), (32, 90), (10, 98), (-28, 97), (-30, 60))
    core = smooth(unary_union([wrist, palm.buffer(4, 16)]), 5, 9)
    outline = smooth(unary_union([core, thumb, *fingers.values()]), 0.5, 3)
    return {"outline": outline, "thumb": thumb, **fingers}


def hand_specs(view: str) -> list[Spec]:
    parts = hand_parts()
    surface = "palmar" if view == "anterior" else "dorsal"
    digits = [
        (f"{name}_{surface}", parts[name] - box(-40, -10, 40, 96))
        for name in ("index_finger", "middle_finger", "ring_finger", "little_finger")
    ]
    thumb_tip = parts["thumb"].intersection(poly((-90, 130), (-34, 130), (-31, 82), (-90, 55)))
    wrist = box(-60, -20, 60, 17)
    if view == "anterior":
        return [
            ("volar_wrist", wrist),
            (f"thumb_{surface}", thumb_tip),
            *digits,
            ("thenar_eminence", poly((-80, 18), (-7, 18), (-4, 58), (-14, 88), (-80, 70))),
            ("hypothenar_eminence", poly((12, 18), (60, 18), (60, 96), (14, 92))),
            ("palm", box(-80, 18, 60, 110)),
        ]
    return [
        ("dorsal_wrist", wrist),
        (f"thumb_{surface}", thumb_tip),
        *digits,
        ("web_of_thumb", poly((-80, 52), (-28, 58), (-19, 96), (-31, 104), (-80, 80))),
        ("back_of_hand", box(-80, 18, 60, 110)),
    ]


def foot_parts() -> dict[str, BaseGeometry]:
    big = capsule([(19, 124), (21, 160)], 11)
    lesser = [
        capsule([(3, 128), (2, 158)], 6.9),
        capsule([(-10, 126), (-12.5, 152)], 6.4),
        capsule([(-21.5, 122), (-25, 145)], 5.9),
        capsule([(-30.5, 116), (-35, 136)], 5.3),
    ]
    body = poly(
        (-21, 24), (21, 24), (23, 66), (31, 110), (30, 126), (-33, 120), (-31, 98), (-24, 60)
    )
    heel = ellipse(0, 26, 21.5, 25)
    core = smooth(unary_union([body, heel]), 6, 14)
    outline = smooth(unary_union([core, big, *lesser]), 0.5, 2.5)
    return {"outline": outline, "big_toe": big, "lesser_toes": unary_union(lesser)}


def foot_specs(view: str) -> list[Spec]:
    parts = foot_parts()
    base = poly((-60, 114), (-30, 119), (0, 129), (10, 129.5), (60, 124), (60, 200), (-60, 200))
    if view == "anterior":
        return [
            ("big_toe_dorsal", parts["big_toe"].intersection(base) - box(-60, 0, 11, 200)),
            ("lesser_toes_dorsal", parts["lesser_toes"].buffer(1.5).intersection(base)),
            ("dorsum_of_foot", box(-60, -20, 60, 200)),
        ]
    return [
        ("big_toe_plantar", parts["big_toe"].intersection(base) - box(-60, 0, 11, 200)),
        ("lesser_toes_plantar", parts["lesser_toes"].buffer(1.5).intersection(base)),
        ("heel", box(-60, -20, 60, 50)),
        ("ball_of_foot", poly((-60, 92), (60, 100), (60, 200), (-60, 200))),
        ("sole", box(-60, -20, 60, 200)),
    ]


# Where each viewer's-left inset sits on the chart (local origin; scale).
HAND_AT, FOOT_AT = (100.0, 640.0), (92.0, 840.0)


def place(geom: BaseGeometry, at: Pt) -> BaseGeometry:
    return affinity.translate(geom, at[0], at[1])


# --- cutting ----------------------------------------------------------------------------------


def carve(
    specs: Iterable[Spec], area: BaseGeometry, convert: Callable[[BaseGeometry], BaseGeometry]
) -> dict[str, BaseGeometry]:
    """Clip each rough shape to `area`, earlier shapes winning; then fill the gaps."""
    taken: BaseGeometry = Polygon()
    out: dict[str, BaseGeometry] = {}
    for key, rough in specs:
        if key in out:
            raise ValueError(f"region {key} authored twice")
        shape = convert(rough).intersection(area).difference(taken)
        out[key] = shape
        taken = taken.union(shape)
    fill_gaps(out, area.difference(taken))
    small = {k: round(g.area, 1) for k, g in out.items() if g.area < MIN_AREA}
    if small:
        raise ValueError(f"regions too small to click: {small}")
    return out


def fill_gaps(regions: dict[str, BaseGeometry], leftover: BaseGeometry) -> None:
    """Give stray pieces (gaps, split-off fragments) to the neighbour they share most with."""
    pieces = [p for p in _polys(leftover) if p.area > 1e-6]
    for key, geom in list(regions.items()):
        parts = sorted(_polys(geom), key=lambda p: -p.area)
        regions[key] = parts[0] if parts else Polygon()
        pieces += parts[1:]
    for _ in range(4):
        rest = []
        for piece in pieces:
            edge = piece.buffer(0.3)
            touching = sorted(
                (k for k in regions if regions[k].intersects(edge)),
                key=lambda k: -regions[k].intersection(edge).area,
            )
            for key in touching:
                merged = unary_union([regions[key], piece])
                if len(_polys(merged)) == 1:  # shares a border, not just a corner
                    regions[key] = _one(merged)
                    break
            else:
                rest.append(piece)
        pieces = rest
    if any(p.area > 0.5 for p in pieces):
        raise ValueError(f"unassigned pieces: {[round(p.area, 1) for p in pieces]}")


def node(regions: dict[str, BaseGeometry]) -> dict[str, Polygon]:
    """Rebuild the regions from one noded set of borders so neighbours share every vertex.

    Without this a border point that one region got from an intersection is missing from its
    neighbour, and rounding to the 0.1 grid would open slivers of overlap between them.
    """
    lines = unary_union([g.boundary for g in regions.values()])
    faces: dict[str, list[Polygon]] = {k: [] for k in regions}
    for face in polygonize(lines):
        near = [k for k, g in regions.items() if g.intersects(face)]
        if near:
            faces[max(near, key=lambda k: regions[k].intersection(face).area)].append(face)
    return {k: _one(unary_union(f)) for k, f in faces.items()}


def build_view(view: str, catalog: dict[str, dict[str, Any]]) -> dict[str, Any]:
    outline = to_chart(source_outline(view))
    half = outline.intersection(box(-10, -10, MID, HEIGHT))
    extremities = to_chart(figure_extremities(view)).intersection(half)
    specs = anterior_specs() if view == "anterior" else posterior_specs()
    body = half.difference(extremities)
    arm = to_chart(ARM_ZONE).intersection(body)
    left = carve([s for s in specs if s[0] in ARM_KEYS], arm, to_chart)
    left.update(carve([s for s in specs if s[0] not in ARM_KEYS], body.difference(arm), to_chart))
    insets = []
    for label, parts, specs_, at in (
        ("hand", hand_parts(), hand_specs(view), HAND_AT),
        ("foot", foot_parts(), foot_specs(view), FOOT_AT),
    ):
        shape = place(parts["outline"], at)
        carved = carve(specs_, shape, lambda g, at=at: place(g, at))
        if set(carved) & set(left):
            raise ValueError(f"inset regions also on the figure: {set(carved) & set(left)}")
        left.update(carved)
        insets.append((label, shape))
    left = node(left)
    # viewer's left is the patient's right on the front view, the patient's left on the back
    near, far = ("right", "left") if view == "anterior" else ("left", "right")
    regions: dict[str, Polygon] = {}
    for key, geom in left.items():
        if key in MIDLINE:
            whole = unary_union([geom, mirror(geom)]).buffer(0.02).buffer(-0.02)
            regions[key] = _one(whole)
        else:
            regions[f"{near}_{key}"] = _one(geom)
            regions[f"{far}_{key}"] = _one(mirror(geom))
    regions = node(regions)
    expected = {rid for rid, r in catalog.items() if r["view"] == view}
    if set(regions) != expected:
        raise ValueError(
            f"{view}: missing {sorted(expected - set(regions))}, "
            f"unexpected {sorted(set(regions) - expected)}"
        )
    inset_out = []
    for label, shape in insets:
        for side, geom in ((near, shape), (far, mirror(shape))):
            surface = _inset_surface(label, view)
            inset_out.append(
                {
                    "label": f"{side} {label} ({surface})",
                    "box": _rounded_bounds(geom, pad=8),
                    "d": path_d(geom),
                }
            )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "midline_x": MID,
        "outline": path_d(outline),
        "unmapped": path_d(unary_union([extremities, mirror(extremities)])),
        "insets": inset_out,
        "regions": {rid: region_json(regions[rid]) for rid in sorted(regions)},
    }


def _inset_surface(label: str, view: str) -> str:
    if label == "hand":
        return "palm" if view == "anterior" else "back"
    return "top" if view == "anterior" else "sole"


# --- output ----------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    text = f"{round(v, 1):.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _snap_ring(coords: Iterable[Pt]) -> list[Pt]:
    """Round to the 0.1 grid, then drop repeated and exactly collinear points.

    Rounding vertex by vertex (rather than GEOS precision reduction, which re-nodes each
    polygon on its own) keeps a border shared by two regions identical in both.
    """
    pts: list[tuple[int, int]] = []
    for x, y in coords:
        p = (round(x * 10), round(y * 10))
        if not pts or p != pts[-1]:
            pts.append(p)
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts.pop()
    changed = True
    while changed and len(pts) > 3:
        changed = False
        keep = []
        n = len(pts)
        for k in range(n):
            a, b, c = pts[k - 1], pts[k], pts[(k + 1) % n]
            if (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]) == 0:
                changed = True
                continue
            keep.append(b)
        if changed:
            pts = keep
    return [(x / 10, y / 10) for x, y in pts]


def snap(geom: BaseGeometry) -> BaseGeometry:
    """Geometry on the 0.1 grid the JSON stores, kept valid."""
    polys = []
    for p in _polys(geom):
        shell = _snap_ring(p.exterior.coords)
        holes = [h for h in (_snap_ring(r.coords) for r in p.interiors) if len(h) >= 3]
        if len(shell) >= 3:
            polys.append(Polygon(shell, holes))
    out = unary_union(polys) if len(polys) > 1 else (polys[0] if polys else Polygon())
    return out if out.is_valid else shapely.make_valid(out)


def path_d(geom: BaseGeometry) -> str:
    """Compact SVG path data, one closed subpath per ring, coordinates to 0.1."""
    geom = snap(geom)
    parts = []
    for p in _polys(geom):
        for ring in [p.exterior, *p.interiors]:
            pts = list(ring.coords)[:-1]
            parts.append(
                "M" + " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in pts) + "Z"  # implicit L
            )
    return "".join(parts)


def _rounded_bounds(geom: BaseGeometry, pad: float = 0.0) -> list[float]:
    x0, y0, x1, y1 = geom.bounds
    return [round(x0 - pad, 1), round(y0 - pad, 1), round(x1 + pad, 1), round(y1 + pad, 1)]


def region_json(geom: Polygon) -> dict[str, Any]:
    rounded = _one(snap(geom))
    label = rounded.representative_point() if not rounded.contains(rounded.centroid) else None
    c = rounded.centroid
    out: dict[str, Any] = {
        "d": path_d(rounded),
        "bbox": _rounded_bounds(rounded),
        "centroid": [round(c.x, 1), round(c.y, 1)],
    }
    if label is not None:  # a concave region: where a label or marker can safely go
        out["inside"] = [round(label.x, 1), round(label.y, 1)]
    return out


def load_catalog_views() -> dict[str, dict[str, Any]]:
    raw = yaml.safe_load(CATALOG.read_text("utf-8"))
    out: dict[str, dict[str, Any]] = {}
    for entry in raw["regions"]:
        if entry.get("midline"):
            out[entry["key"]] = {"view": entry["view"]}
        else:
            for side in ("right", "left"):
                out[f"{side}_{entry['key']}"] = {"view": entry["view"]}
    return out


def debug_png(view: str, data: dict[str, Any], path: Path) -> None:
    """A labelled rendering for checking the layout by eye."""
    import cairosvg

    items = []
    for i, r in enumerate(data["regions"].values()):
        red, green, blue = colorsys.hls_to_rgb((i * 0.137) % 1, 0.8, 0.6)
        fill = f"#{int(red * 255):02x}{int(green * 255):02x}{int(blue * 255):02x}"
        items.append(f'<path d="{r["d"]}" fill="{fill}" stroke="#555" stroke-width="0.3"/>')
    for rid, r in data["regions"].items():
        x, y = r.get("inside", r["centroid"])
        short = rid.replace("right_", "R.").replace("left_", "L.")
        items.append(f'<text x="{x}" y="{y}" font-size="4" text-anchor="middle">{short}</text>')
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH * 3}" height="{HEIGHT * 3}"><rect width="100%" height="100%" fill="#fff"/>'
        f'<path d="{data["unmapped"]}" fill="#ccc"/>'
        + "".join(items)
        + f'<path d="{data["outline"]}" fill="none" stroke="#000" stroke-width="0.6"/></svg>'
    )
    cairosvg.svg2png(bytestring=svg.encode(), write_to=str(path / f"{view}.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--debug", type=Path, help="also write labelled PNGs to this folder")
    args = parser.parse_args()
    catalog = load_catalog_views()
    views = {v: build_view(v, catalog) for v in ("anterior", "posterior")}
    doc = {
        "source": (
            "Silhouettes: outer contours of the anatomapa package's male figures (MIT), "
            "derived from gganatogram (CC0). Regions: triggerpoint (tools/build_bodychart.py)."
        ),
        "conventions": (
            "Units are SVG user units, origin top left, y down. Front view: the patient's right "
            "is on the viewer's left; back view: the patient's right is on the viewer's right."
        ),
        "views": views,
    }
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n", "utf-8")
    n = {v: len(d["regions"]) for v, d in views.items()}
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KiB): {n}")
    if args.debug:
        args.debug.mkdir(parents=True, exist_ok=True)
        for v, d in views.items():
            debug_png(v, d, args.debug)


if __name__ == "__main__":
    main()
