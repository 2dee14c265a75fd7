"""The study report: its numbers are `stats.agreement` on the same ratings, its CSV has one
row per muscle, side and criterion, and its PDF is a PDF titled with the study."""

from __future__ import annotations

import csv
import io

import pytest
from pypdf import PdfReader

from tests.conftest import logged_in
from tests.research.reliability.studykit import (
    CRITERIA,
    SITES,
    make_study,
    record_and_submit,
    second_clinician,
)
from triggerpoint.db import open_session
from triggerpoint.research.reliability import service, stats

# Two examiners, eight participants, upper trapezius (right) taut band: 1 present, 0 absent.
ALICE = [1, 1, 0, 1, 0, 0, 1, 1]
OTHER = [1, 0, 0, 1, 0, 1, 1, 1]
SITE = ("upper_trapezius", "right")


def _values(ratings: int, i: int) -> dict[tuple[str, str, str], bool | None]:
    """Taut band on the first site as given; twitch absent everywhere; second site unrated."""
    return {
        (*SITE, "taut_band"): bool(ratings),
        (*SITE, "twitch"): False,
        ("infraspinatus", "left", "taut_band"): None,
    }


@pytest.fixture
def finished(alice):
    other = second_clinician(alice.clinic_id)
    codes = tuple(f"P{i:02d}" for i in range(1, 10))
    study, ids = make_study(alice.principal, [alice.user_id, other.user_id], codes=codes)
    for i, pid in enumerate(ids[:8]):
        record_and_submit(alice.principal, study, pid, _values(ALICE[i], i))
        record_and_submit(other.principal, study, pid, _values(OTHER[i], i))
    record_and_submit(alice.principal, study, ids[8], _values(1, 8))  # only one examiner
    with open_session(clinic_id=alice.clinic_id) as s:
        out = service.report(s, principal=alice.principal, study_id=study)
    return out


def test_report_numbers_equal_stats_agreement(finished):
    assert (finished.participants, finished.complete_participants) == (9, 8)
    row = next(r for r in finished.rows if (r.muscle, r.side, r.criterion) == (*SITE, "taut_band"))
    expected = stats.agreement([[a, b] for a, b in zip(ALICE, OTHER, strict=True)], boot=2000)
    assert row.n == expected.n == 8
    assert row.kappa_kind == "cohen"
    assert row.percent_agreement == pytest.approx(expected.percent_agreement) == 0.75
    assert row.kappa == pytest.approx(expected.kappa)
    assert row.pabak == pytest.approx(expected.pabak) == 0.5
    assert row.prevalence_index == pytest.approx(expected.prevalence_index)
    assert row.bias_index == pytest.approx(expected.bias_index)
    assert row.kappa_ci == pytest.approx(expected.ci["kappa"])
    assert row.pabak_ci == pytest.approx(expected.ci["pabak"])
    # 2x2 table: both present 4, both absent 2, disagreements 1 and 1 (hand count).
    assert row.kappa == pytest.approx((0.75 - (5 * 5 + 3 * 3) / 64) / (1 - (5 * 5 + 3 * 3) / 64))


def test_unrated_and_constant_items_say_why(finished):
    by_key = {(r.muscle, r.side, r.criterion): r for r in finished.rows}
    assert len(by_key) == len(SITES) * len(CRITERIA)
    unrated = by_key[("infraspinatus", "left", "taut_band")]
    assert unrated.n == 0 and unrated.kappa is None and unrated.note
    constant = by_key[(*SITE, "twitch")]
    assert constant.percent_agreement == 1.0 and constant.kappa is None and constant.pabak == 1.0


def test_csv_has_one_row_per_site_and_criterion(finished):
    rows = list(csv.DictReader(io.StringIO(service.report_csv(finished))))
    assert tuple(rows[0].keys()) == service.CSV_COLUMNS
    assert len(rows) == len(SITES) * len(CRITERIA)
    first = next(
        r for r in rows if (r["muscle"], r["criterion"]) == ("upper_trapezius", "taut_band")
    )
    assert first["side"] == "right" and first["n"] == "8" and first["pabak"] == "0.500"
    assert float(first["kappa_low"]) <= float(first["kappa"]) <= float(first["kappa_high"])


def test_pdf_is_a_pdf_with_the_title(app_client, alice, finished):
    r = app_client.get(
        f"/api/research/studies/{finished.study_id}/report.pdf", headers=alice.headers
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    body = r.content
    assert body.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(body))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Trapezius palpation agreement" in text
    assert "PABAK" in text and "Methods" in text
    assert "Trapezius palpation agreement" in (reader.metadata.title or "")


def test_published_figures_sit_beside_each_criterion(finished):
    taut = next(r for r in finished.rows if r.criterion == "taut_band")
    assert any(p.source == "Lucas 2009" and "0.75" in p.value for p in taut.published)
    assert all(p.doi.startswith("10.") for r in finished.rows for p in r.published)
    assert "prevalence" in finished.methods and "bootstrap" in finished.methods


def test_three_examiners_get_fleiss_and_krippendorff(app_client, alice):
    second, third = second_clinician(alice.clinic_id), second_clinician(alice.clinic_id)
    people = [alice, second, third]
    table = [[1, 1, 1], [1, 0, 1], [0, 0, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]]
    study, ids = make_study(
        alice.principal, [p.user_id for p in people], codes=tuple(f"P{i}" for i in range(6))
    )
    for pid, ratings in zip(ids, table, strict=True):
        for person, value in zip(people, ratings, strict=True):
            record_and_submit(person.principal, study, pid, {(*SITE, "taut_band"): bool(value)})
    r = app_client.get(f"/api/research/studies/{study}/report", headers=alice.headers).json()
    row = next(
        x for x in r["rows"] if (x["muscle"], x["side"], x["criterion"]) == (*SITE, "taut_band")
    )
    expected = stats.agreement(table)
    assert row["kappa_kind"] == "fleiss" and row["raters"] == 3 and row["n"] == 6
    assert row["kappa"] == pytest.approx(expected.kappa)
    assert row["alpha"] == pytest.approx(expected.alpha)
    assert row["alpha_ci"] == pytest.approx(list(expected.ci["alpha"]))
    page, _ = logged_in(app_client, alice)
    assert "Krippendorff" in page.get(f"/research/studies/{study}/report").text
