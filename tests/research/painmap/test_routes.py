"""The JSON API, the page and the figure files: permissions, 422s naming the field, no-store,
isolation, and that the downloads are a PNG and a PDF."""

from __future__ import annotations

import pytest

from tests.conftest import logged_in
from tests.research.painmap.conftest import build
from triggerpoint.db import open_session

NECK, TEMPLE = "right_lateral_neck", "right_temple"
API = "/api/research/painmap"


@pytest.fixture
def cohort(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(
            s,
            alice,
            drawings=[(0, [NECK, TEMPLE]), (3, [NECK]), (14, [NECK])],
            needled=[(5, "upper_trapezius")],
        )
        build(s, alice, drawings=[(0, [NECK])])
        build(s, alice, drawings=[(0, [TEMPLE])], consent=False)
        s.commit()


def test_api_answers_the_cohort(app_client, alice, cohort):
    r = app_client.get(API, headers=alice.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["consented_patients"] == 2
    heat = body["heat_map"]
    assert heat["patients"] == 2 and heat["view"] == "all"
    assert {x["region_id"]: x["fraction"] for x in heat["regions"]} == {NECK: 1.0, TEMPLE: 0.5}
    assert body["extent"]["pairs"] == 1
    assert body["agreement"]["pairs"] == 1  # days 0 -> 3; 3 -> 14 is beyond 7 days
    assert body["agreement"]["jaccard"]["median"] == pytest.approx(0.5)


def test_api_filters_by_query(app_client, alice, cohort):
    r = app_client.get(
        API, params={"muscle": "upper_trapezius", "view": "first"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["heat_map"]["patients"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "2026-05-01", "date_to": "2026-04-01"}, "date_to"),
        ({"date_from": "0201-01-01"}, "date_from"),
        ({"date_to": "9999-12-31"}, "date_to"),
        ({"icd10": "M79%"}, "icd10"),
        ({"window_days": "0"}, "window_days"),
        ({"window_days": "nan"}, "window_days"),
        ({"complaint": "x" * 201}, "complaint"),
        ({"complaint": "neck\x00"}, "complaint"),
        ({"view": "sideways"}, "view"),
        ({"muscle": "no such muscle"}, "muscle"),
    ],
)
def test_bad_filters_are_422_naming_the_field(app_client, alice, params, field):
    r = app_client.get(API, params=params, headers=alice.headers)
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["detail"]] == [["query", field]]
    page, _ = logged_in(app_client, alice)
    p = page.get("/research/painmap", params=params)
    assert p.status_code == 422
    assert f'id="{field}-error"' in p.text
    assert p.headers["cache-control"] == "no-store"


def test_assistant_is_refused(app_client, bob):
    assert app_client.get(API, headers=bob.headers).status_code == 403
    page, _ = logged_in(app_client, bob)
    assert page.get("/research/painmap").status_code == 403
    assert page.get("/research/painmap/heatmap.png").status_code == 403


def test_another_clinic_sees_none_of_a(app_client, carol, erin, cohort):
    for person in (carol, erin):
        body = app_client.get(API, headers=person.headers).json()
        assert body["consented_patients"] == 0
        assert body["heat_map"]["patients"] == 0 and body["heat_map"]["regions"] == []
        assert body["extent"]["pairs"] == 0 and body["agreement"]["pairs"] == 0


def test_page_renders_the_cohort(app_client, alice, cohort):
    page, _ = logged_in(app_client, alice)
    r = page.get("/research/painmap", params={"complaint": "neck"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    html = r.text
    assert 'id="cohort-n">2<' in html
    assert "patients with research consent" in html
    assert f'data-region="{NECK}" data-patients="2"' in html  # the heat map's region
    assert "right lateral neck: 2 of 2 patients (100%)" in html  # its hover title
    assert f'<tr data-region="{NECK}">' in html  # and the table alternative
    assert "painmap/heatmap.png?complaint=neck" in html
    assert "Jaccard" in html and "Dice" in html


def test_empty_clinic_page_still_renders(app_client, erin):
    page, _ = logged_in(app_client, erin)
    r = page.get("/research/painmap")
    assert r.status_code == 200
    assert 'id="no-regions"' in r.text and "no pairs of drawings" in r.text


@pytest.mark.parametrize("figure", ["heatmap", "extent", "agreement"])
def test_figures_download_as_png_and_pdf(app_client, alice, cohort, figure):
    page, _ = logged_in(app_client, alice)
    png = page.get(f"/research/painmap/{figure}.png")
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.headers["cache-control"] == "no-store"
    pdf = page.get(f"/research/painmap/{figure}.pdf", params={"view": "first"})
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content[:5] == b"%PDF-"
    svg = page.get(f"/research/painmap/{figure}.svg")
    assert svg.text.startswith("<svg") and "<title>" not in svg.text.split(">", 2)[1]


def test_png_is_a_decodable_image_of_the_chart(app_client, alice, cohort):
    import io

    from PIL import Image

    page, _ = logged_in(app_client, alice)
    img = Image.open(io.BytesIO(page.get("/research/painmap/heatmap.png").content))
    assert img.width >= 2000 and img.height > img.width  # two 540-unit views at scale 2
    assert len(img.convert("L").getcolors(256) or []) > 10  # not blank


def test_figure_with_a_bad_filter_is_422(app_client, alice):
    page, _ = logged_in(app_client, alice)
    r = page.get(
        "/research/painmap/heatmap.png", params={"date_from": "2026-05-01", "date_to": "2026-01-01"}
    )
    assert r.status_code == 422
    r = page.get("/research/painmap/heatmap.gif")
    assert r.status_code in (404, 422)


def test_page_form_with_empty_fields_means_any(app_client, alice, cohort):
    """The GET form sends every field; an empty one is no filter (not a 422)."""
    page, _ = logged_in(app_client, alice)
    empty = dict.fromkeys(
        ("complaint", "icd10", "date_from", "date_to", "muscle", "window_days"), ""
    )
    r = page.get("/research/painmap", params={**empty, "view": "first"})
    assert r.status_code == 200, r.text
    assert 'id="cohort-n">2<' in r.text
    assert "painmap/heatmap.png?view=first" in r.text


def test_page_error_is_a_sentence_naming_the_field(app_client, alice):
    page, _ = logged_in(app_client, alice)
    r = page.get("/research/painmap", params={"date_from": "2026-05-01", "date_to": "2026-04-01"})
    assert r.status_code == 422
    assert "Drawings to must not be before the start day (Drawings from)" in r.text
    r = page.get("/research/painmap", params={"muscle": "trapezoid of doom"})
    assert r.status_code == 422
    assert "Muscle treated: unknown muscle" in r.text or "Muscle treated unknown muscle" in r.text
