"""Agreement between examiners: percent agreement, Cohen's or Fleiss' kappa, PABAK with the
prevalence and bias indices, and Krippendorff's alpha, each with a bootstrap interval.

Pure functions over a units x raters table of category codes; no database. A unit is one
participant-site (a muscle and side of one participant) judged on one criterion.

Why these figures, side by side:

- Percent agreement is what a reader understands, but part of it happens by chance.
- Kappa removes the agreement the raters' own marginal rates would produce by chance
  (Cohen 1960 for two raters; Fleiss 1971 for three or more, with pooled marginals).
  It depends on prevalence and on bias (Byrt, Bishop & Carlin 1993, J Clin Epidemiol
  46:423, doi:10.1016/0895-4356(93)90018-V; Sim & Wright 2005, Phys Ther 85:257,
  doi:10.1093/ptj/85.3.257): a rare finding gives a low kappa even at high agreement.
- PABAK, (k * p_o - 1) / (k - 1) for k categories, fixes chance agreement at 1/k, so it is
  kappa with prevalence and bias taken out; the prevalence index |a - d| / n and the bias
  index |b - c| / n (two raters, two categories) say how far they pulled kappa from it.
- Krippendorff's alpha (nominal) uses every rating, so units an examiner missed still count
  (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability", and Hayes &
  Krippendorff 2007, Commun Methods Meas 1:77, doi:10.1080/19312450709336664).

Point estimates come from the kept libraries (statsmodels.stats.inter_rater, krippendorff).
The intervals are percentile bootstraps that resample units with replacement (Efron &
Tibshirani 1993): the unit, not the single rating, is what was sampled. The resampling is
seeded, so a report gives the same interval every time it is drawn, and vectorised: units
with the same ratings are grouped, every resample is a multinomial row of counts over the
groups (which is what drawing n units with replacement amounts to), and each statistic is a
matrix product over per-group summaries, so 2,000 resamples cost a few array operations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import krippendorff
import numpy as np
import numpy.typing as npt
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

from triggerpoint.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_UNITS = 200_000  # participant-sites; far beyond any reliability study, small enough to run
MAX_RATERS = 100
MAX_CATEGORIES = 50
MAX_BOOT = 20_000
CI_KEYS = ("percent_agreement", "kappa", "pabak", "alpha")
_CELLS_PER_CHUNK = 4_000_000  # resamples x units held in memory at once


@dataclass(frozen=True)
class Agreement:
    """Agreement figures for one criterion at one site (or pooled sites).

    `n` counts units rated by every rater (kappa, PABAK and percent agreement use only
    these); `alpha` uses every unit with two or more ratings. `percent_agreement` is 0.0
    when `n` is 0 (see `note`). A figure that cannot be computed is None and `note` says
    why, in plain words."""

    n: int
    raters: int
    categories: tuple[int, ...]
    percent_agreement: float
    kappa: float | None
    kappa_kind: str
    alpha: float | None
    pabak: float | None
    prevalence_index: float | None
    bias_index: float | None
    ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    note: str | None = None


def agreement(
    ratings: Sequence[Sequence[int | None]],
    *,
    categories: Sequence[int] = (0, 1),
    boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Agreement:
    """All agreement figures for `ratings[i][j]` (unit i, rater j; None = not rated).

    Bad input raises InvalidInput naming the field; undefined figures are None with a note.
    `boot=0` skips the intervals."""
    cats = _check_categories(categories)
    _check_options(boot=boot, level=level, seed=seed)
    codes = _encode(ratings, cats)
    k = len(cats)
    raters = codes.shape[1]
    kind = "cohen" if raters <= 2 else "fleiss"
    notes: list[str] = []
    complete = codes[(codes >= 0).all(axis=1)] if raters else codes[:0]
    n = int(complete.shape[0])

    if raters < 2 or n == 0:
        notes.append(_empty_note(raters))
        alpha, alpha_note = _alpha_point(codes, k) if raters >= 2 else (None, None)
        if alpha_note:
            notes.append(alpha_note)
        empty: dict[str, tuple[float, float] | None] = dict.fromkeys(CI_KEYS)
        if alpha is not None and boot:
            empty["alpha"] = _interval(_alpha_boot(codes, k, boot, _rng(seed, 1)), level)
        return Agreement(
            n=n,
            raters=raters,
            categories=cats,
            percent_agreement=0.0,
            kappa=None,
            kappa_kind=kind,
            alpha=alpha,
            pabak=None,
            prevalence_index=None,
            bias_index=None,
            ci=empty,
            note=" ".join(notes),
        )

    po = float(_unit_agreement(complete, k).mean())
    pabak = (k * po - 1.0) / (k - 1.0)
    kappa = _kappa_point(complete, k)
    if kappa is None:
        notes.append(_no_variation_note(complete, cats))
    prevalence, bias = _indices(complete) if raters == 2 and k == 2 else (None, None)
    alpha, alpha_note = _alpha_point(codes, k)
    if alpha_note:
        notes.append(alpha_note)

    ci: dict[str, tuple[float, float] | None] = dict.fromkeys(CI_KEYS)
    if boot:
        patterns, freq = _patterns(complete)
        weights = _weights(freq, boot, _rng(seed, 0))
        po_b = weights @ _unit_agreement(patterns, k) / n
        ci["percent_agreement"] = _interval(po_b, level)
        ci["pabak"] = _interval((k * po_b - 1.0) / (k - 1.0), level)
        if kappa is not None:
            kappa_b = _kappa_boot(patterns, k, weights)
            dropped = int(np.count_nonzero(~np.isfinite(kappa_b)))
            ci["kappa"] = _interval(kappa_b, level)
            if dropped:
                notes.append(
                    f"{dropped} of {boot} resamples had no variation (kappa undefined) and "
                    "were left out of the kappa interval."
                )
        if alpha is not None:
            ci["alpha"] = _interval(_alpha_boot(codes, k, boot, _rng(seed, 1)), level)

    return Agreement(
        n=n,
        raters=raters,
        categories=cats,
        percent_agreement=po,
        kappa=kappa,
        kappa_kind=kind,
        alpha=alpha,
        pabak=pabak,
        prevalence_index=prevalence,
        bias_index=bias,
        ci=ci,
        note=" ".join(notes) or None,
    )


# ----------------------------------------------------------------------------- validation


def _check_categories(categories: object) -> tuple[int, ...]:
    """Distinct whole-number codes, at least two (agreement on one category means nothing)."""
    if isinstance(categories, str | bytes) or not isinstance(categories, Sequence):
        raise InvalidInput("categories", "must be a list of whole-number category codes")
    cats = tuple(categories)
    if not 2 <= len(cats) <= MAX_CATEGORIES:
        raise InvalidInput("categories", f"must name between 2 and {MAX_CATEGORIES} categories")
    for c in cats:
        if isinstance(c, bool) or not isinstance(c, int | np.integer):
            raise InvalidInput("categories", f"{c!r} is not a whole-number category code")
    if len(set(cats)) != len(cats):
        raise InvalidInput("categories", "must not repeat a category")
    return tuple(int(c) for c in cats)


def _check_options(*, boot: object, level: object, seed: object) -> None:
    if isinstance(boot, bool) or not isinstance(boot, int) or not 0 <= boot <= MAX_BOOT:
        raise InvalidInput("boot", f"must be a whole number from 0 to {MAX_BOOT}")
    if (
        isinstance(level, bool)
        or not isinstance(level, int | float)
        or not math.isfinite(level)
        or not 0.5 <= level < 1.0
    ):
        raise InvalidInput("level", "must be a confidence level from 0.5 up to (not including) 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InvalidInput("seed", "must be a non-negative whole number")


def _encode(ratings: object, cats: tuple[int, ...]) -> IntArray:
    """Ratings as category indices 0..k-1, -1 for missing; refuses ragged rows, NaN, strays."""
    if isinstance(ratings, str | bytes) or not isinstance(ratings, Sequence | np.ndarray):
        raise InvalidInput(
            "ratings", "must be a list of units, each a list of one rating per rater"
        )
    rows = list(ratings)
    if len(rows) > MAX_UNITS:
        raise InvalidInput("ratings", f"has {len(rows)} units; at most {MAX_UNITS} are allowed")
    index = {c: i for i, c in enumerate(cats)}
    width: int | None = None
    out: list[list[int]] = []
    for i, row in enumerate(rows):
        if isinstance(row, str | bytes) or not isinstance(row, Sequence | np.ndarray):
            raise InvalidInput("ratings", f"unit {i} must be a list of one rating per rater")
        values = list(row)
        if width is None:
            width = len(values)
            if width > MAX_RATERS:
                raise InvalidInput("ratings", f"has {width} raters; at most {MAX_RATERS}")
        elif len(values) != width:
            raise InvalidInput(
                "ratings",
                f"unit {i} has {len(values)} ratings but unit 0 has {width}: every unit needs "
                "one entry per rater (None where a rater did not rate it)",
            )
        out.append([_code(v, index, i, j, cats) for j, v in enumerate(values)])
    return np.array(out, dtype=np.int64).reshape(len(out), width or 0)


def _code(value: object, index: dict[int, int], i: int, j: int, cats: tuple[int, ...]) -> int:
    if value is None:
        return -1
    if isinstance(value, float | np.floating):
        what = "NaN" if math.isnan(value) else f"{value!r}"
        raise InvalidInput("ratings", f"unit {i}, rater {j} is {what}; use a category code or None")
    if not isinstance(value, int | np.integer):
        raise InvalidInput("ratings", f"unit {i}, rater {j} is not a category code: {value!r}")
    code = index.get(int(value))
    if code is None:
        raise InvalidInput(
            "ratings", f"unit {i}, rater {j} is {int(value)}, not one of the categories {cats}"
        )
    return code


# ---------------------------------------------------------------------------- point values


def _unit_agreement(complete: IntArray, k: int) -> FloatArray:
    """Per unit, the share of rater pairs that agree (Fleiss' P_i; 0 or 1 for two raters).
    Its mean is percent agreement: for complete data it equals the mean over rater pairs of
    each pair's agreement."""
    m = complete.shape[1]
    counts = _category_counts(complete, k)
    return ((counts * (counts - 1)).sum(axis=1) / (m * (m - 1))).astype(np.float64)


def _category_counts(codes: IntArray, k: int) -> IntArray:
    """Per unit, how many raters chose each category (missing ratings ignored)."""
    onehot = codes[:, :, None] == np.arange(k)[None, None, :]
    return onehot.sum(axis=1).astype(np.int64)


def _kappa_point(complete: IntArray, k: int) -> float | None:
    """Cohen's kappa (2 raters) or Fleiss' kappa (3+) from statsmodels; None when chance
    agreement is 1 (every rating in one category), where kappa is 0/0."""
    counts = _category_counts(complete, k)
    m = complete.shape[1]
    if m == 2:
        table = np.zeros((k, k), dtype=np.float64)
        np.add.at(table, (complete[:, 0], complete[:, 1]), 1.0)
        n = table.sum()
        pe = float((table.sum(axis=1) * table.sum(axis=0)).sum() / n**2)
        if pe >= 1.0 - 1e-12:
            return None
        return float(cohens_kappa(table, return_results=False))
    pj = counts.sum(axis=0) / counts.sum()
    if float((pj**2).sum()) >= 1.0 - 1e-12:
        return None
    table_f, _ = aggregate_raters(complete, n_cat=k)
    return float(fleiss_kappa(table_f, method="fleiss"))


def _indices(complete: IntArray) -> tuple[float, float]:
    """Byrt, Bishop & Carlin's prevalence index |a - d| / n and bias index |b - c| / n, with
    a = both raters chose the second category, d = both the first, b and c the two kinds
    of disagreement. Both are unchanged when the two category labels are swapped."""
    x, y = complete[:, 0], complete[:, 1]
    n = len(x)
    a = int(np.count_nonzero((x == 1) & (y == 1)))
    d = int(np.count_nonzero((x == 0) & (y == 0)))
    b = int(np.count_nonzero((x == 1) & (y == 0)))
    c = int(np.count_nonzero((x == 0) & (y == 1)))
    return abs(a - d) / n, abs(b - c) / n


def _alpha_point(codes: IntArray, k: int) -> tuple[float | None, str | None]:
    """Krippendorff's alpha (nominal) over every unit with two or more ratings, from the
    krippendorff package; None with a note when fewer than two ratings can be paired or
    all paired ratings fall in one category (expected disagreement is 0)."""
    counts = _category_counts(codes, k)
    pairable = counts[counts.sum(axis=1) >= 2]
    if int(pairable.sum()) < 2:
        return None, "Krippendorff's alpha needs at least one unit rated by two examiners."
    if int(np.count_nonzero(pairable.sum(axis=0))) < 2:
        return None, (
            "Krippendorff's alpha is undefined: every paired rating is in one category, so "
            "no disagreement could be expected by chance."
        )
    data = np.where(codes >= 0, codes, np.nan).astype(np.float64).T
    value = krippendorff.alpha(
        reliability_data=data, level_of_measurement="nominal", value_domain=list(range(k))
    )
    return float(value), None


def _empty_note(raters: int) -> str:
    why = {0: "there are no ratings", 1: "only one examiner is in these ratings"}.get(
        raters, "no unit was rated by every examiner"
    )
    return (
        f"Agreement needs two or more examiners who rated the same units, and {why}; "
        "kappa, PABAK and percent agreement are not given."
    )


def _no_variation_note(complete: IntArray, cats: tuple[int, ...]) -> str:
    """Kappa is 0/0 only when every rating falls in one category."""
    (only,) = {cats[int(c)] for c in np.unique(complete)}
    return (
        f"Kappa is undefined: all {len(complete)} units were rated {only} by every examiner, "
        "so chance alone predicts all the agreement there is. Percent agreement and PABAK "
        "still apply."
    )


# ------------------------------------------------------------------------------- bootstrap


def _rng(seed: int, stream: int) -> np.random.Generator:
    """One independent, reproducible stream per resampled set of units."""
    return np.random.default_rng([seed, stream])


def _patterns(rows: IntArray) -> tuple[IntArray, IntArray]:
    """The distinct rows and how many units have each. Every statistic here sums per-unit
    terms, so units with the same ratings are interchangeable: resampling n units with
    replacement is a multinomial draw over the distinct rows, at a cost that grows with the
    number of distinct rows (4 for two examiners and present/absent), not with n."""
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    return unique.astype(np.int64), counts.astype(np.int64)


def _weights(freq: IntArray, boot: int, rng: np.random.Generator) -> FloatArray:
    """A boot x len(freq) matrix: row r says how many units of each distinct row were drawn
    in resample r (n draws with replacement, n = freq.sum())."""
    n = int(freq.sum())
    pvals = freq / n
    weights = np.zeros((boot, len(freq)), dtype=np.float64)
    step = max(1, _CELLS_PER_CHUNK // max(len(freq), 1))
    for start in range(0, boot, step):
        rows = min(step, boot - start)
        weights[start : start + rows] = rng.multinomial(n, pvals, size=rows)
    return weights


def _kappa_boot(complete: IntArray, k: int, weights: FloatArray) -> FloatArray:
    """Kappa for every resample at once; NaN where a resample has no variation. Computes the
    same formulas as statsmodels (checked against it on the point estimate in the tests)."""
    m = complete.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        if m == 2:
            cell = complete[:, 0] * k + complete[:, 1]
            onehot = (cell[:, None] == np.arange(k * k)[None, :]).astype(np.float64)
            tables = (weights @ onehot).reshape(-1, k, k)
            n = tables.sum(axis=(1, 2))
            po = np.trace(tables, axis1=1, axis2=2) / n
            pe = (tables.sum(axis=2) * tables.sum(axis=1)).sum(axis=1) / n**2
        else:
            counts = _category_counts(complete, k).astype(np.float64)
            unit = _unit_agreement(complete, k)
            n = weights.sum(axis=1)
            po = weights @ unit / n
            pj = (weights @ counts) / (n * m)[:, None]
            pe = (pj**2).sum(axis=1)
        kappa = (po - pe) / (1.0 - pe)
    kappa[pe >= 1.0 - 1e-12] = np.nan
    return np.asarray(kappa, dtype=np.float64)


def _alpha_boot(codes: IntArray, k: int, boot: int, rng: np.random.Generator) -> FloatArray:
    """Nominal alpha for every resample of the pairable units, from their coincidence
    matrices: alpha = 1 - (n.. - 1) (n.. - sum_c o_cc) / (n..^2 - sum_c n_c^2)."""
    per_unit = _category_counts(codes, k)
    patterns, freq = _patterns(per_unit[per_unit.sum(axis=1) >= 2])
    counts = patterns.astype(np.float64)
    mu = counts.sum(axis=1)
    diag = counts * (counts - 1.0) / (mu - 1.0)[:, None]  # o_cc contributions per unit
    weights = _weights(freq, boot, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = weights @ mu
        agree = (weights @ diag).sum(axis=1)
        nc = weights @ counts
        expected = total**2 - (nc**2).sum(axis=1)
        alpha = 1.0 - (total - 1.0) * (total - agree) / expected
    alpha[~(expected > 0)] = np.nan
    return np.asarray(alpha, dtype=np.float64)


def _interval(values: FloatArray, level: float) -> tuple[float, float] | None:
    """Percentile interval of the finite resampled values; None if fewer than two."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return float(lo), float(hi)


def pairwise_percent(complete: Sequence[Sequence[int]]) -> float:
    """Mean over rater pairs of each pair's share of equal ratings (complete units only):
    the definition `Agreement.percent_agreement` uses for three or more raters."""
    table = np.asarray(complete)
    pairs = list(combinations(range(table.shape[1]), 2))
    return float(np.mean([np.mean(table[:, a] == table[:, b]) for a, b in pairs]))
