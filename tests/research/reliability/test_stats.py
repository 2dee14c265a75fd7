"""Agreement statistics against worked examples from the literature, plus properties.

Worked examples (numbers as published; the source of each is in the test's docstring):

- Sim J, Wright CC. The kappa statistic in reliability studies: use, interpretation, and
  sample size requirements. Phys Ther 2005;85:257-268, doi:10.1093/ptj/85.3.257.
  Table 1: two clinicians judge lateral shift relevant/not relevant in 39 patients,
  a=22, b=2, c=4, d=11: kappa 0.67. Table 3: three-category table, kappa 0.46.
- Fleiss JL. Measuring nominal scale agreement among many raters. Psychol Bull
  1971;76:378-382, doi:10.1037/h0031619. Table 1: 30 patients, 6 psychiatrists, 5
  diagnoses: kappa 0.430 (R irr::kappam.fleiss(diagnoses) gives 0.4302445).
- Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories:
  kappa 0.210 (the example statsmodels' own test suite uses).
- Krippendorff K. Computing Krippendorff's Alpha-Reliability (2011, Annenberg School,
  University of Pennsylvania): 4 observers x 12 units with missing values, nominal
  alpha 0.743.
- Byrt T, Bishop J, Carlin JB. Bias, prevalence and kappa. J Clin Epidemiol
  1993;46:423-429: PABAK = 2 p_o - 1 for two categories, prevalence index |a-d|/n,
  bias index |b-c|/n (the definitions checked on Sim & Wright's Table 1).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

from triggerpoint.errors import InvalidInput
from triggerpoint.research.reliability import stats
from triggerpoint.research.reliability.stats import Agreement, agreement

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def table2(a: int, b: int, c: int, d: int) -> list[list[int | None]]:
    """Units of a 2x2 table: a = both 1, b = rater 1 says 1 and rater 2 says 0, c the
    reverse, d = both 0 (Sim & Wright's layout, 1 = "relevant" / "present")."""
    return [[1, 1]] * a + [[1, 0]] * b + [[0, 1]] * c + [[0, 0]] * d


def from_table(table: list[list[int]], cats: tuple[int, ...]) -> list[list[int | None]]:
    """Units of a two-rater k x k contingency table (rows rater 1, columns rater 2)."""
    units: list[list[int | None]] = []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            units += [[cats[i], cats[j]]] * count
    return units


def from_counts(counts: list[list[int]]) -> list[list[int | None]]:
    """Units from a subjects x categories count table (Fleiss' layout), raters in any order:
    Fleiss' kappa does not depend on which rater gave which rating."""
    units: list[list[int | None]] = []
    for row in counts:
        units.append([c for c, n in enumerate(row, start=1) for _ in range(n)])
    return units


# --------------------------------------------------------------------- worked examples


def test_sim_wright_table_1_cohen_kappa_pabak_and_indices() -> None:
    """Sim & Wright 2005, Table 1 (lateral shift, 2 clinicians, 39 patients): kappa .67.
    PABAK and the indices follow Byrt 1993's definitions on the same table:
    p_o = 33/39, PABAK = 2 p_o - 1 = 27/39, PI = |22 - 11|/39, BI = |2 - 4|/39."""
    r = agreement(table2(22, 2, 4, 11))
    assert r.n == 39 and r.raters == 2 and r.kappa_kind == "cohen"
    assert r.kappa is not None and round(r.kappa, 2) == 0.67
    assert r.kappa == pytest.approx(2 / 3)  # (33/39 - 819/1521) / (1 - 819/1521)
    assert r.percent_agreement == pytest.approx(33 / 39)
    assert r.pabak == pytest.approx(27 / 39)
    assert r.prevalence_index == pytest.approx(11 / 39)
    assert r.bias_index == pytest.approx(2 / 39)
    assert r.note is None


def test_sim_wright_table_3_three_categories() -> None:
    """Sim & Wright 2005, Table 3 (three syndromes, 3 categories, n=102): kappa .46.
    PABAK for k categories is (k p_o - 1)/(k - 1); the 2x2 indices do not apply."""
    table = [[22, 10, 2], [6, 27, 11], [2, 5, 17]]
    r = agreement(from_table(table, (1, 2, 3)), categories=(1, 2, 3))
    assert r.kappa is not None and round(r.kappa, 2) == 0.46
    po = (22 + 27 + 17) / 102
    assert r.n == 102 and r.percent_agreement == pytest.approx(po)
    assert r.pabak == pytest.approx((3 * po - 1) / 2)
    assert r.prevalence_index is None and r.bias_index is None


# Fleiss 1971, Table 1: diagnoses of 30 patients by 6 raters (1 depression, 2 personality
# disorder, 3 schizophrenia, 4 neurosis, 5 other), as transcribed in R's irr and statsmodels.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]  # fmt: skip


def test_fleiss_1971_psychiatric_diagnoses() -> None:
    """Fleiss 1971, Table 1: kappa 0.430 for 6 raters, 30 patients, 5 categories."""
    r = agreement(FLEISS_1971, categories=(1, 2, 3, 4, 5), boot=200)
    assert r.kappa_kind == "fleiss" and r.n == 30 and r.raters == 6
    assert r.kappa is not None and round(r.kappa, 3) == 0.430
    assert r.kappa == pytest.approx(0.4302445, abs=1e-7)


def test_fleiss_wikipedia_worked_example() -> None:
    """Wikipedia "Fleiss' kappa" worked example: 10 subjects x 14 raters, kappa 0.210,
    with P-bar (our percent agreement for 3+ raters) 0.378."""
    counts = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]  # fmt: skip
    r = agreement(from_counts(counts), categories=(1, 2, 3, 4, 5), boot=0)
    assert r.kappa is not None and round(r.kappa, 3) == 0.210
    assert round(r.percent_agreement, 3) == 0.378


# Krippendorff 2011, the 4 observers x 12 units reliability data (None = not coded).
KRIPPENDORFF = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_krippendorff_alpha_nominal_with_missing_ratings() -> None:
    """Krippendorff 2011: nominal alpha 0.743 over all 12 units (missing ratings kept);
    kappa and percent agreement use the 8 units every observer coded."""
    units = [list(u) for u in zip(*KRIPPENDORFF, strict=True)]
    r = agreement(units, categories=(1, 2, 3, 4, 5), boot=500)
    assert r.alpha is not None and round(r.alpha, 3) == 0.743
    assert r.n == 8 and r.raters == 4
    assert r.ci["alpha"] is not None


# ----------------------------------------------- numpy bootstrap == libraries on the point


@pytest.mark.parametrize("raters", [2, 3, 5])
def test_vectorised_kappa_equals_statsmodels_on_the_point_estimate(raters: int) -> None:
    """The bootstrap's numpy kappa, given the all-ones weight row (the sample itself),
    reproduces statsmodels' Cohen/Fleiss kappa to 1e-12."""
    rng = np.random.default_rng(7)
    data = rng.integers(0, 3, size=(60, raters))
    ones = np.ones((1, 60))
    ours = stats._kappa_boot(data.astype(np.int64), 3, ones)[0]
    if raters == 2:
        table = np.zeros((3, 3))
        np.add.at(table, (data[:, 0], data[:, 1]), 1)
        theirs = cohens_kappa(table, return_results=False)
    else:
        theirs = fleiss_kappa(aggregate_raters(data, n_cat=3)[0])
    assert ours == pytest.approx(float(theirs), abs=1e-12)
    r = agreement(data.tolist(), categories=(0, 1, 2), boot=0)
    assert r.kappa == pytest.approx(float(theirs), abs=1e-12)


def test_vectorised_alpha_equals_krippendorff_on_the_point_estimate() -> None:
    """The coincidence-matrix alpha used for resamples equals krippendorff.alpha when the
    weights are the sample itself (every unit once), missing ratings included."""
    units = np.array(
        [[-1 if v is None else v - 1 for v in u] for u in zip(*KRIPPENDORFF, strict=True)],
        dtype=np.int64,
    )

    class Once:
        """Draws the sample itself: each distinct row exactly as often as it occurs."""

        def multinomial(self, n: int, pvals: np.ndarray, size: int) -> np.ndarray:
            return np.tile(np.rint(pvals * n), (size, 1))

    ours = stats._alpha_boot(units, 5, 1, Once())  # type: ignore[arg-type]
    assert ours[0] == pytest.approx(0.743421052631579, abs=1e-12)


# ------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_seeded_and_reproducible() -> None:
    data = table2(30, 6, 4, 60)
    a, b = agreement(data, seed=3), agreement(data, seed=3)
    c = agreement(data, seed=4)
    assert a.ci == b.ci
    assert a.ci["kappa"] != c.ci["kappa"]


def test_bootstrap_of_100_units_is_fast_and_sane() -> None:
    """2,000 resamples of 100 units (the brief's case), 2 and 4 raters. Wall time is for
    bench/, not asserted here; the interval must bracket the estimate and narrow with n."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, size=100)
    noisy = [[int(t), int(t if rng.random() < 0.85 else 1 - t)] for t in truth]
    start = time.perf_counter()
    r = agreement(noisy, boot=2000)
    elapsed = time.perf_counter() - start
    assert r.ci["kappa"] is not None and r.kappa is not None
    lo, hi = r.ci["kappa"]
    assert lo < r.kappa < hi and 0.1 < hi - lo < 0.5
    print(f"agreement(100 units, 2 raters, boot=2000): {elapsed * 1000:.0f} ms")
    bigger = agreement(noisy * 4, boot=2000)
    assert bigger.ci["kappa"] is not None
    assert bigger.ci["kappa"][1] - bigger.ci["kappa"][0] < hi - lo


def test_level_changes_the_width() -> None:
    data = table2(20, 5, 5, 20)
    r90, r99 = agreement(data, level=0.90), agreement(data, level=0.99)
    assert r90.ci["percent_agreement"] is not None and r99.ci["percent_agreement"] is not None
    w90 = r90.ci["percent_agreement"][1] - r90.ci["percent_agreement"][0]
    w99 = r99.ci["percent_agreement"][1] - r99.ci["percent_agreement"][0]
    assert w99 > w90


def test_boot_zero_gives_no_intervals() -> None:
    r = agreement(table2(5, 1, 1, 5), boot=0)
    assert r.ci == dict.fromkeys(stats.CI_KEYS) and r.kappa is not None


# --------------------------------------------------------------------- undefined cases


def test_all_the_same_kappa_and_alpha_undefined_with_a_note() -> None:
    r = agreement([[0, 0]] * 12)
    assert r.kappa is None and r.alpha is None
    assert r.percent_agreement == 1.0 and r.pabak == 1.0
    assert r.ci["kappa"] is None and r.ci["alpha"] is None
    assert r.note and "undefined" in r.note and "all 12 units were rated 0" in r.note


def test_no_units_one_rater_no_complete_unit() -> None:
    empty = agreement([])
    assert empty.n == 0 and empty.raters == 0 and empty.kappa is None and empty.note
    one = agreement([[1], [0], [1]])
    assert one.raters == 1 and one.kappa is None and one.pabak is None
    assert one.note and "only one examiner" in one.note
    gaps = agreement([[0, None], [None, 1]])
    assert gaps.n == 0 and gaps.alpha is None and gaps.note
    for r in (empty, one, gaps):
        assert all(v is None for v in r.ci.values())
        assert not any(isinstance(v, float) and math.isnan(v) for v in vars(r).values())


def test_missing_ratings_kappa_on_complete_units_alpha_on_all() -> None:
    data: list[list[int | None]] = [*table2(10, 2, 2, 10), [1, None], [None, 0], [None, None]]
    r = agreement(data, boot=100)
    assert r.n == 24
    assert r.kappa == agreement(table2(10, 2, 2, 10), boot=0).kappa
    assert r.alpha is not None


def test_resamples_without_variation_are_named_in_the_note() -> None:
    """A rare disagreement: many resamples have every rating equal; they are left out of
    the kappa interval and the note says how many."""
    r = agreement(table2(0, 1, 0, 9), boot=500)
    assert r.kappa is not None
    assert r.note and "resamples had no variation" in r.note


# -------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("ratings", "words"),
    [
        ([[0, 1], [1]], "unit 1 has 1 ratings"),
        ([[0, 2]], "not one of the categories"),
        ([[0, float("nan")]], "NaN"),
        ([[0, 1.0]], "1.0"),
        ([[0, "1"]], "not a category code"),
        ("01", "must be a list"),
        ([3], "unit 0 must be a list"),
        ([[0] * (stats.MAX_RATERS + 1)], "raters"),
    ],
)
def test_bad_ratings_name_the_field(ratings: object, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        agreement(ratings)  # type: ignore[arg-type]
    assert err.value.field == "ratings" and words in err.value.message


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"categories": (0,)}, "categories"),
        ({"categories": (0, 0)}, "categories"),
        ({"categories": (0, 1.5)}, "categories"),
        ({"categories": "01"}, "categories"),
        ({"boot": -1}, "boot"),
        ({"boot": 10**9}, "boot"),
        ({"level": float("nan")}, "level"),
        ({"level": 1.0}, "level"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_options_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        agreement([[0, 1]], **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_too_many_units_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        agreement([[0, 0]] * (stats.MAX_UNITS + 1), boot=0)
    assert err.value.field == "ratings"


# ------------------------------------------------------------------------ properties

binary_units = st.lists(
    st.lists(st.sampled_from([0, 1]), min_size=2, max_size=2), min_size=10, max_size=60
)


@FAST
@given(
    st.lists(st.sampled_from([0, 1, 2]), min_size=2, max_size=40),
    st.integers(min_value=2, max_value=5),
)
def test_perfect_agreement_gives_kappa_and_pabak_one(labels: list[int], raters: int) -> None:
    units = [[v] * raters for v in labels]
    r = agreement(units, categories=(0, 1, 2), boot=50)
    assert r.pabak == pytest.approx(1.0) and r.percent_agreement == 1.0
    if len(set(labels)) > 1:
        assert r.kappa == pytest.approx(1.0) and r.alpha == pytest.approx(1.0)
    else:
        assert r.kappa is None and r.note


@FAST
@given(binary_units)
def test_swapping_the_labels_changes_nothing(units: list[list[int]]) -> None:
    swapped = [[1 - v for v in u] for u in units]
    a, b = agreement(units, boot=0), agreement(swapped, boot=0)  # type: ignore[arg-type]
    for name in ("percent_agreement", "kappa", "pabak", "alpha", "prevalence_index"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None and y is None) or x == pytest.approx(y, abs=1e-12), name
    assert a.bias_index == pytest.approx(b.bias_index)


@FAST
@given(binary_units)
def test_swapping_the_raters_changes_nothing(units: list[list[int]]) -> None:
    a = agreement(units, boot=0)  # type: ignore[arg-type]
    b = agreement([u[::-1] for u in units], boot=0)  # type: ignore[arg-type]
    assert a.kappa == b.kappa or a.kappa == pytest.approx(b.kappa)
    assert a.prevalence_index == b.prevalence_index and a.bias_index == b.bias_index


@FAST
@given(binary_units, st.integers(min_value=0, max_value=2**31))
def test_interval_contains_the_point_estimate(units: list[list[int]], seed: int) -> None:
    """Percentile bootstrap intervals bracket the estimate for these sizes (10-60 units)."""
    r = agreement(units, boot=400, seed=seed)  # type: ignore[arg-type]
    for name in stats.CI_KEYS:
        point, ci = getattr(r, name), r.ci[name]
        if point is None:
            assert ci is None
        elif ci is not None:
            assert ci[0] - 1e-12 <= point <= ci[1] + 1e-12, (name, point, ci)


@FAST
@given(binary_units)
def test_fleiss_with_two_raters_is_scotts_pi_never_above_cohen(units: list[list[int]]) -> None:
    """The documented 2-rater relation: Fleiss' kappa for two raters is Scott's pi (chance
    from the pooled marginals), and pi <= Cohen's kappa, equal when the raters' marginal
    rates are equal (no bias). That is why two raters get Cohen's kappa here."""
    data = np.array(units)
    cohen = agreement(units, boot=0).kappa  # type: ignore[arg-type]
    if cohen is None:
        return
    fleiss = float(fleiss_kappa(aggregate_raters(data, n_cat=2)[0]))
    assert fleiss <= cohen + 1e-12
    if data[:, 0].sum() == data[:, 1].sum():
        assert fleiss == pytest.approx(cohen, abs=1e-12)


@FAST
@given(binary_units)
def test_figures_stay_in_their_ranges(units: list[list[int]]) -> None:
    r = agreement(units, boot=100)  # type: ignore[arg-type]
    assert isinstance(r, Agreement)
    assert 0.0 <= r.percent_agreement <= 1.0
    assert r.pabak is not None and -1.0 <= r.pabak <= 1.0
    assert r.prevalence_index is not None and 0.0 <= r.prevalence_index <= 1.0
    assert r.bias_index is not None and 0.0 <= r.bias_index <= 1.0
    if r.kappa is not None:
        assert -1.0 <= r.kappa <= 1.0


def test_three_raters_percent_is_mean_pairwise_agreement() -> None:
    rng = np.random.default_rng(5)
    data = rng.integers(0, 2, size=(40, 3)).tolist()
    r = agreement(data, boot=0)
    assert r.percent_agreement == pytest.approx(stats.pairwise_percent(data))
