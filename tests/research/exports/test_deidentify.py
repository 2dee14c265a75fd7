"""Safe Harbor pieces: ages over 89 pooled with the birth year dropped; one study id and one
date offset per patient within an export, new ones in the next export."""

from __future__ import annotations

from datetime import date

from triggerpoint.reports.export import Pseudonyms
from triggerpoint.research.exports.deidentify import Deidentifier, age_fields


def test_ages_over_89_are_pooled_and_their_birth_year_dropped():
    today = date(2026, 12, 1)
    assert age_fields(date(1975, 3, 14), baseline=date(2026, 10, 1), today=today) == (
        51,
        "50-54",
        1975,
    )
    assert age_fields(date(1936, 10, 2), baseline=date(2026, 10, 1), today=today) == (
        89,
        "85-89",
        None,
    )
    assert age_fields(date(1936, 12, 2), baseline=date(2026, 10, 1), today=today) == (
        89,
        "85-89",
        1936,
    )
    assert age_fields(date(1930, 1, 1), baseline=date(2026, 10, 1), today=today) == (
        None,
        "90+",
        None,
    )


def test_one_id_and_offset_per_patient_within_an_export():
    p = Pseudonyms(b"k" * 32, id_hex=16)
    assert p.of(7) == p.of(7) and p.research_id(7) != p.research_id(8)
    assert len(p.research_id(7)) == 17 and p.research_id(7).startswith("R")
    days = {p.shift_days(i) for i in range(2000)}
    assert 0 not in days and min(days) >= -365 and max(days) <= 365
    assert min(days) < -300 and max(days) > 300  # both directions, the whole range


def test_a_new_export_gets_new_ids_and_offsets():
    one, two = Deidentifier(), Deidentifier()
    ids = [(one.admit(i), two.admit(i)) for i in range(50)]
    assert all(a != b for a, b in ids)
    assert sum(one.shift_of(i) != two.shift_of(i) for i in range(50)) > 40


def test_the_csv_export_keeps_its_id_format():
    rid, shift = Pseudonyms().of(3)
    assert rid.startswith("R") and len(rid) == 13 and 1 <= abs(shift.days) <= 365
