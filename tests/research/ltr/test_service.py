"""The twitch analysis service: consented patients only, per clinic, too few data, audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from tests.research.ltr.conftest import treat
from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import open_session
from triggerpoint.errors import Forbidden, InvalidInput
from triggerpoint.records.models import Consent
from triggerpoint.records.service import RESEARCH, withdraw_consent
from triggerpoint.research.ltr import groups
from triggerpoint.research.ltr.service import (
    MIN_PATIENTS,
    dataset,
    fit_outcome,
    twitch_analysis,
)
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession


def test_only_patients_with_research_consent_in_force_count(alice, treated_a):
    assert 0 < treated_a.consented < treated_a.patients  # most, not all
    with open_session(clinic_id=alice.clinic_id) as s:
        report = twitch_analysis(s, principal=alice.principal, instrument="nprs")
        df = dataset(s, clinic_id=alice.clinic_id, instrument="nprs", outcome="immediate")
        consenting = set(
            s.scalars(
                select(Consent.patient_id).where(
                    Consent.kind == RESEARCH, Consent.status == "active"
                )
            )
        )
    assert report.sample.consented_patients == treated_a.consented
    assert set(df["patient_id"]) == consenting  # every demo patient has a signed session
    imm = next(f for f in report.fits if f.outcome == "immediate")
    assert imm.n_patients == treated_a.consented and imm.fitted


def test_withdrawing_the_consent_takes_the_patient_out(alice, treated_a):
    with open_session(clinic_id=alice.clinic_id) as s:
        before = dataset(s, clinic_id=alice.clinic_id, instrument="nprs", outcome="immediate")
        pid = int(before["patient_id"].iloc[0])
        consent = s.scalars(
            select(Consent).where(
                Consent.patient_id == pid, Consent.kind == RESEARCH, Consent.status == "active"
            )
        ).one()
        withdraw_consent(
            s, principal=alice.principal, consent_id=consent.id, version=consent.version
        )
        after = dataset(s, clinic_id=alice.clinic_id, instrument="nprs", outcome="immediate")
    assert pid not in set(after["patient_id"])
    assert len(after) == len(before) - int((before["patient_id"] == pid).sum())


def test_the_session_row_sums_twitches_and_counts_needles(alice, treated_a):
    with open_session(clinic_id=alice.clinic_id) as s:
        df = dataset(s, clinic_id=alice.clinic_id, instrument="nprs", outcome="immediate")
        sums = {
            pid: (float(tw), float(n))
            for pid, tw, n in s.execute(
                select(NeedlingSession.patient_id, NeedleEntry.twitch_count, NeedleEntry.id)
                .join(NeedleEntry, NeedleEntry.needling_id == NeedlingSession.id)
                .where(NeedlingSession.patient_id == int(df["patient_id"].iloc[0]))
            ).all()
        }
        entries = s.execute(
            select(
                NeedleEntry.needling_id,
                NeedleEntry.twitch_count,
                NeedleEntry.seq,
                NeedleEntry.muscle_id,
            )
            .join(NeedlingSession, NeedleEntry.needling_id == NeedlingSession.id)
            .where(NeedlingSession.patient_id == int(df["patient_id"].iloc[0]))
            .order_by(NeedleEntry.needling_id, NeedleEntry.seq)
        ).all()
    assert sums  # the patient has entries
    by_session: dict[int, list] = {}
    for sid, tw, seq, muscle in entries:
        by_session.setdefault(sid, []).append((tw, seq, muscle))
    rows = df[df["patient_id"] == int(df["patient_id"].iloc[0])]
    expected = sorted(
        (float(sum(t for t, _, _ in e)), float(len(e)), groups.group_of_muscle()[e[0][2]])
        for e in by_session.values()
    )
    got = sorted(zip(rows["twitches"], rows["needles"], rows["group"], strict=True))
    assert got == expected


def test_another_clinic_sees_none_of_it(erin, treated_a):
    with open_session(clinic_id=erin.clinic_id) as s:
        report = twitch_analysis(s, principal=erin.principal, instrument="nprs")
    assert report.sample.consented_patients == 0
    assert all(not f.fitted and f.n_sessions == 0 for f in report.fits)
    assert all("Too few data" in (f.message or "") for f in report.fits)


def test_too_few_patients_is_a_message_not_a_fit():
    df = pd.DataFrame(
        {
            "patient_id": [i % (MIN_PATIENTS - 1) for i in range(40)],
            "twitches": [i % 4 for i in range(40)],
            "needles": [1.0] * 40,
            "group": ["neck"] * 40,
            "change": [-(i % 3) for i in range(40)],
            "baseline": [5.0 + i % 2 for i in range(40)],
        }
    )
    fit = fit_outcome(df, "immediate")
    assert not fit.fitted and fit.twitch is None
    assert f"{MIN_PATIENTS - 1} patients" in (fit.message or "")


def test_constant_covariates_are_dropped_and_named():
    n = 90
    rng = np.random.default_rng(3)
    twitches = rng.poisson(2.5, n).astype(float)
    df = pd.DataFrame(
        {
            "patient_id": np.arange(n) % 15,
            "twitches": twitches,
            "needles": np.ones(n),
            "group": ["head_neck"] * n,
            "change": -0.3 * twitches + rng.normal(0, 0.5, n),
            "baseline": rng.integers(2, 9, n).astype(float),
        }
    )
    fit = fit_outcome(df, "immediate")
    assert fit.fitted and fit.twitch is not None
    assert fit.dropped == ["needles", "muscle group"]
    assert fit.covariates == ["twitches", "baseline"]
    assert fit.twitch.ci_low < -0.3 < fit.twitch.ci_high


def test_an_assistant_may_not_read_it(bob):
    with open_session(clinic_id=bob.clinic_id) as s, pytest.raises(Forbidden):
        twitch_analysis(s, principal=bob.principal, instrument="nprs")


def test_an_unknown_measure_names_the_field(alice):
    with open_session(clinic_id=alice.clinic_id) as s, pytest.raises(InvalidInput) as exc:
        twitch_analysis(s, principal=alice.principal, instrument="odi")
    assert exc.value.field == "outcome"


def test_the_read_is_audited_once(alice, treated_a):
    with open_session(clinic_id=alice.clinic_id) as s:
        twitch_analysis(s, principal=alice.principal, instrument="ppt")
        s.commit()
        events = s.scalars(
            select(AuditEvent).where(
                AuditEvent.entity == "research_ltr", AuditEvent.clinic_id == alice.clinic_id
            )
        ).all()
    assert len(events) == 1
    assert events[0].action == "research-read" and events[0].detail["instrument"] == "ppt"


def test_ppt_is_analysed_per_site(alice, treated_a):
    with open_session(clinic_id=alice.clinic_id) as s:
        report = twitch_analysis(s, principal=alice.principal, instrument="ppt")
    imm = next(f for f in report.fits if f.outcome == "immediate")
    assert (
        report.unit == "kg/cm²"
        and imm.fitted
        and imm.n_patients == report.sample.consented_patients
    )


def test_muscle_groups_cover_the_atlas():
    mapping = groups.group_of_muscle()
    assert set(mapping.values()) <= set(groups.LABELS) - {groups.OTHER}
    assert (
        mapping["upper_trapezius"] == "head_neck"
        and mapping["gastrocnemius"] == "pelvis_lower_limb"
    )


def test_two_clinics_are_analysed_apart(alice, erin, treated_a):
    treat(erin, patients=12, seed=5)
    with open_session(clinic_id=erin.clinic_id) as s:
        b = twitch_analysis(s, principal=erin.principal, instrument="nprs")
    with open_session(clinic_id=alice.clinic_id) as s:
        a = twitch_analysis(s, principal=alice.principal, instrument="nprs")
    assert a.sample.consented_patients == treated_a.consented
    assert 0 < b.sample.consented_patients <= 12
