"""The twitch analysis recovers the effect the simulation built in (issue 17, "Done when").

A small seeded bulk registry (400 patients, 2,000 signed sessions, through
`demo.registry.generate`) is analysed end to end: SQL aggregation over the consented patients,
then the mixed model. The model's own per-twitch effect comes from `model_truth` (matched
sessions replayed with k and k+1 twitches; see its docstring for what the model does): no
immediate effect at all, and a lasting one at the next visit. The fitted 95% CIs must contain
those values, and the follow-up CI must exclude zero (the design has the power to see it).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.research.ltr.model_truth import registry_truth
from triggerpoint.accounts.service import Principal
from triggerpoint.db import open_session
from triggerpoint.demo.registry import generate
from triggerpoint.research.ltr.service import dataset, fit_outcome, twitch_analysis


@pytest.fixture(scope="module")
def truth():
    return registry_truth(n=3000, seed=1)


def test_the_model_builds_in_no_immediate_effect_and_a_lasting_one(truth):
    assert truth.immediate == pytest.approx(0.0, abs=1e-9)
    # About -0.14 NPRS points per twitch, largest at the first visit (most pain to lose).
    assert -0.2 < truth.follow_up < -0.08
    assert truth.by_visit[0] < truth.by_visit[-1] < 0


def test_the_fit_recovers_the_simulated_twitch_effect(fresh_db, truth):
    result = generate(fresh_db, sessions=2000, seed=7)
    researcher = Principal(0, result.clinic_id, "researcher", "clinician")
    with open_session(clinic_id=result.clinic_id, engine=fresh_db) as s:
        report = twitch_analysis(s, principal=researcher, instrument="nprs")
        s.rollback()
    fits = {f.outcome: f for f in report.fits}
    imm, fu = fits["immediate"], fits["follow_up"]
    assert imm.fitted and fu.fitted and imm.converged and fu.converged
    assert imm.twitch is not None and fu.twitch is not None
    assert imm.twitch.ci_low <= truth.immediate <= imm.twitch.ci_high
    assert fu.twitch.ci_low <= truth.follow_up <= fu.twitch.ci_high
    assert fu.twitch.ci_high < 0  # the lasting effect is detected, not merely not excluded
    # Only research-consented patients count: most, not all, of the registry's 400.
    assert report.sample.consented_patients == imm.n_patients
    assert 300 < imm.n_patients < 400
    assert imm.n_sessions == 5 * imm.n_patients and fu.n_sessions == 4 * fu.n_patients
    assert {"twitches", "baseline", "needles", "muscle group"} <= set(fu.covariates)


def test_scrambled_twitch_counts_lose_the_effect(fresh_db, truth):
    """The negative control: the same data with twitch counts shuffled between sessions
    carry no twitch effect, and the fit no longer finds the simulated one, so the recovery
    above comes from the recorded twitches, not from the pipeline."""
    result = generate(fresh_db, sessions=2000, seed=7)
    with open_session(clinic_id=result.clinic_id, engine=fresh_db) as s:
        df = dataset(s, clinic_id=result.clinic_id, instrument="nprs", outcome="follow_up")
    rng = np.random.default_rng(0)
    df["twitches"] = rng.permutation(df["twitches"].to_numpy())
    fit = fit_outcome(df, "follow_up")
    assert fit.twitch is not None
    assert not fit.twitch.ci_low <= truth.follow_up <= fit.twitch.ci_high
    assert abs(fit.twitch.estimate) < abs(fit.twitch.estimate - truth.follow_up)
