"""The analyses on a hand-made cohort, on both engines: heat-map fractions, the consent rule,
each filter, extent before and after, and the test-retest pairs."""

from __future__ import annotations

import pytest

from tests.research.painmap.conftest import build, day, research_consent, withdraw
from triggerpoint.db import open_session
from triggerpoint.errors import InvalidInput
from triggerpoint.reports.extent import pain_extent
from triggerpoint.research.painmap import service
from triggerpoint.research.painmap.schemas import CohortFilter

NECK, SHOULDER, TEMPLE = "right_lateral_neck", "right_top_of_shoulder", "right_temple"


def fractions(s, person, **filters) -> dict[str, float]:
    heat = service.analyse(s, principal=person.principal, cohort=CohortFilter(**filters))[
        "heat_map"
    ]
    return {r.region_id: r.fraction for r in heat.regions} | {"n": heat.patients}


def test_fractions_count_each_patient_once_per_region(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK, SHOULDER]), (7, [NECK])])  # neck twice: counts once
        build(s, alice, drawings=[(0, [NECK]), (3, [TEMPLE])])
        build(s, alice, drawings=[(0, [])])  # a complete "no pain" drawing: in the denominator
        build(s, alice, drawings=[(0, [SHOULDER])])
        got = fractions(s, alice)
    assert got == {"n": 4, NECK: 2 / 4, SHOULDER: 2 / 4, TEMPLE: 1 / 4}


def test_baseline_view_reads_the_first_drawing_of_each_episode(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK]), (7, [TEMPLE])])
        build(s, alice, drawings=[(2, [SHOULDER]), (1, [NECK])])  # drawn out of order
        got = fractions(s, alice, view="first")
    assert got == {"n": 2, NECK: 1.0}


def test_only_patients_with_research_consent_count_and_withdrawal_takes_them_out(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK])])
        build(s, alice, drawings=[(0, [TEMPLE])], consent=False)
        leaving = build(s, alice, drawings=[(0, [SHOULDER])])
        assert fractions(s, alice) == {"n": 2, NECK: 0.5, SHOULDER: 0.5}
        withdraw(s, alice, leaving.consent_id)
        out = service.analyse(s, principal=alice.principal, cohort=CohortFilter())
    assert {r.region_id for r in out["heat_map"].regions} == {NECK}
    assert out["heat_map"].patients == 1 and out["consented_patients"] == 1


def test_a_dry_needling_consent_is_not_a_research_consent(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK])], consent=False, needled=[(0, "upper_trapezius")])
        assert fractions(s, alice) == {"n": 0}


def test_complaint_and_icd10_filters(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK])], complaint="Right-sided NECK pain", codes=["M54.2"])
        build(s, alice, drawings=[(0, [TEMPLE])], complaint="Headache, temples", codes=["G44.209"])
        build(
            s, alice, drawings=[(0, [SHOULDER])], complaint="Shoulder 100% sore", codes=["M79.12"]
        )
        assert fractions(s, alice, complaint="neck") == {"n": 1, NECK: 1.0}
        assert fractions(s, alice, icd10="g44") == {"n": 1, TEMPLE: 1.0}
        assert fractions(s, alice, icd10="M79.1") == {"n": 1, SHOULDER: 1.0}
        assert fractions(s, alice, icd10="M79.2") == {"n": 0}
        assert fractions(s, alice, complaint="100%") == {"n": 1, SHOULDER: 1.0}  # % is literal
        assert fractions(s, alice, complaint="0_") == {"n": 0}  # so is _


def test_date_range_includes_both_end_days(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK]), (10, [TEMPLE]), (20, [SHOULDER])])
        got = fractions(s, alice, date_from=day(10), date_to=day(20))
        assert got == {"n": 1, TEMPLE: 1.0, SHOULDER: 1.0}
        assert fractions(s, alice, date_to=day(0)) == {"n": 1, NECK: 1.0}


def test_muscle_filter_keeps_patients_needled_in_that_muscle(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK])], needled=[(0, "upper_trapezius")])
        build(s, alice, drawings=[(0, [TEMPLE])], needled=[(0, "temporalis")])
        build(s, alice, drawings=[(0, [SHOULDER])])
        assert fractions(s, alice, muscle="Upper trapezius") == {"n": 1, NECK: 1.0}
        assert fractions(s, alice, muscle="temporalis") == {"n": 1, TEMPLE: 1.0}
        with pytest.raises(InvalidInput) as caught:
            fractions(s, alice, muscle="trapezoid muscle of doom")
    assert caught.value.field == "muscle"


def test_extent_before_and_after_needling(alice):
    big = [NECK, SHOULDER, "right_upper_posterior_neck", "right_posterior_shoulder"]
    with open_session(clinic_id=alice.clinic_id) as s:
        # before = day 0, after = day 14 (last drawing after the first signed session, day 0)
        build(
            s,
            alice,
            drawings=[(0, big), (7, big[:2]), (14, [NECK])],
            needled=[(0, "upper_trapezius")],
        )
        # never needled: no "after"
        build(s, alice, drawings=[(0, big), (7, [NECK])])
        # needled after its only drawing: no pair
        build(s, alice, drawings=[(0, big)], needled=[(3, "upper_trapezius")])
        out = service.analyse(s, principal=alice.principal, cohort=CohortFilter())
    assert out["values"]["extent"] == [(pain_extent(big), pain_extent([NECK]))]
    e = out["extent"]
    assert e.pairs == 1
    assert e.change.median == pytest.approx(pain_extent([NECK]) - pain_extent(big), abs=0.1)


def test_retest_pairs_need_the_window_no_needling_and_complete_drawings(alice):
    with open_session(clinic_id=alice.clinic_id) as s:
        # days 0 -> 3: a pair (J = 1/3, D = 1/2); 3 -> 20: beyond 7 days
        build(s, alice, drawings=[(0, [NECK, TEMPLE]), (3, [NECK, SHOULDER]), (20, [NECK])])
        # needled on day 1 between the drawings: no pair
        build(s, alice, drawings=[(0, [NECK]), (2, [NECK])], needled=[(1, "upper_trapezius")])
        # the second drawing is partial: no pair
        build(s, alice, drawings=[(0, [NECK]), (2, [NECK], False)])
        # both "no pain": a pair scored 1
        build(s, alice, drawings=[(0, []), (5, [])])
        out = service.analyse(s, principal=alice.principal, cohort=CohortFilter())
        wide = service.analyse(s, principal=alice.principal, cohort=CohortFilter(window_days=30))
    a = out["agreement"]
    assert (a.pairs, a.both_empty) == (2, 1)
    assert sorted(out["values"]["jaccard"]) == pytest.approx([1 / 3, 1.0])
    assert sorted(out["values"]["dice"]) == pytest.approx([0.5, 1.0])
    assert wide["agreement"].pairs == 3  # 3 -> 20 joins (J = 1/2)
    assert sorted(wide["values"]["jaccard"]) == pytest.approx([1 / 3, 0.5, 1.0])


def test_another_clinic_sees_nothing_of_a(alice, erin):
    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK]), (2, [NECK])])
        s.commit()
    with open_session(clinic_id=erin.clinic_id) as s:
        out = service.analyse(s, principal=erin.principal, cohort=CohortFilter())
    assert out["consented_patients"] == 0
    assert out["heat_map"].patients == 0 and out["heat_map"].regions == []
    assert out["agreement"].pairs == 0


def test_the_read_is_audited_once(alice):
    from sqlalchemy import select

    from triggerpoint.audit.models import AuditEvent

    with open_session(clinic_id=alice.clinic_id) as s:
        build(s, alice, drawings=[(0, [NECK])])
        s.commit()
        service.analyse(s, principal=alice.principal, cohort=CohortFilter(complaint="neck"))
        s.commit()
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.entity == service.AUDIT_ENTITY)
        ).all()
    assert len(events) == 1
    assert events[0].action == "research-read" and events[0].detail["filter"]["complaint"] == "neck"


def test_research_consent_helper_records_the_research_kind(alice):
    from triggerpoint.records.models import Consent

    with open_session(clinic_id=alice.clinic_id) as s:
        b = build(s, alice, drawings=[(0, [NECK])], consent=False)
        cid = research_consent(s, alice, b.patient_id)
        assert s.get(Consent, cid).kind == "research"


FILTERS = [
    {},
    {"view": "first"},
    {"complaint": "neck"},
    {"icd10": "M79"},
    {"muscle": "upper_trapezius"},
    {"date_from": day(2), "date_to": day(12)},
    {"window_days": 30},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
def test_sql_agrees_with_the_naive_python_reference(alice, filters):
    """The aggregate SQL and a row-by-row Python reading of the same rows give one answer."""
    from triggerpoint.research.painmap.reference import naive

    regions = [NECK, SHOULDER, TEMPLE, "right_upper_posterior_neck", "left_temple"]
    with open_session(clinic_id=alice.clinic_id) as s:
        for i in range(6):
            marks = [regions[(i + k) % 5] for k in range(1 + i % 3)]
            build(
                s,
                alice,
                drawings=[
                    (0, marks),
                    (2 + i, marks[:1]),
                    (9, marks),
                    (14, [] if i == 2 else marks[1:] or marks),
                ],
                complaint="Neck pain" if i % 2 else "Shoulder",
                codes=["M79.12"] if i % 3 else ["M54.2"],
                needled=[(4, "upper_trapezius")] if i % 2 else [(10, "temporalis")],
                consent=i != 5,
            )
        cohort = CohortFilter(**filters)
        sql = service.analyse(s, principal=alice.principal, cohort=cohort)
        ref = naive(
            s, clinic_id=alice.clinic_id, cohort=cohort, muscle=service.muscle_id(cohort.muscle)
        )
    heat = sql["heat_map"]
    assert {r.region_id: r.patients for r in heat.regions} == ref["heat"]
    assert (heat.patients, heat.drawings) == (ref["patients"], ref["drawings"])
    flat = [x for pair in sorted(sql["values"]["extent"]) for x in pair]
    assert flat == pytest.approx([x for pair in ref["extent"] for x in pair], abs=0.051)
    assert sql["agreement"].pairs == len(ref["retest"])
    assert sorted(sql["values"]["jaccard"]) == pytest.approx(
        sorted(service.jaccard(*p) for p in ref["retest"])
    )
    assert heat.patients > 0 or filters.get("icd10")
