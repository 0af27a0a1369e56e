"""The statistics behind a verdict, with no verdict vocabulary: intervals of a difference paired by
seed and over test examples, the p-values of the tests the claims' rules decide with, the log-rank
comparison of censored times, and the test-set size a margin needs. :mod:`lib.claims` turns them
into verdicts; references in docs/method.md."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

# a margin claim's design must leave the seeds at least half the margin: the test set's sampling
# alone, for a null effect, may take at most this share of it (STATS.md section 0)
RESOLUTION_SHARE = 0.5


@dataclass
class Interval:
    """``A - B`` (or ``A - threshold``): mean difference, interval, p-value of "no difference"."""

    diff: float
    low: float
    high: float
    confidence: float
    p_value: float  # two-sided t test of "no difference", the interval's own degrees of freedom
    n_seeds: int
    n_test: int | None
    method: str
    se: float = math.inf
    df: float = math.inf
    se_test: float = 0.0  # the test set's part of ``se``
    se_null_test: float = 0.0  # the test set's part for a null effect (the design's resolution)
    p_rule: float | None = None  # p-value of the test the rule decided with (:func:`rule_verdict`)

    def text(self, digits: int = 3) -> str:
        return (f"{self.diff:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}] "
                f"({self.confidence:.0%}, {self.method})")


def _smoothed(p: float, n: int) -> float:
    """Accuracy with one success and one failure added (Agresti-Caffo): never exactly 0 or 1."""
    return (min(max(p, 0.0), 1.0) * n + 1) / (n + 2)


def test_sampling_var(p_a: float, p_b: float | None, n_test: int | None) -> float:
    """Variance that the test set's own sampling adds to a mean accuracy difference (or, with
    ``p_b`` None, to one accuracy), when no per-example outcomes are at hand. Every seed shares the
    same test examples, so this does not shrink with seeds. Without per-example outcomes the
    covariance of the two arms is unknown and left out: conservative, since arms on the same
    examples are positively correlated (:func:`paired_test_var` is the paired term)."""
    if not n_test:
        return 0.0
    v = _smoothed(p_a, n_test) * (1 - _smoothed(p_a, n_test)) / n_test
    if p_b is not None:
        v += _smoothed(p_b, n_test) * (1 - _smoothed(p_b, n_test)) / n_test
    return v


def paired_test_var(ca: Any, cb: Any = None) -> tuple[float, float, int]:
    """The test set's sampling variance of a mean difference, from per-example outcomes both arms
    share: ``ca`` is (seeds, examples) of A's per-example scores (1/0 correct, or one value per
    cluster, e.g. a plate's share of its seven characters read right), ``cb`` B's on the same
    examples (one row is broadcast: a fixed predictor such as "always the majority class"), or
    ``None`` for one arm alone. The per-example differences are averaged over seeds, then
    Agresti-Min's half-count is added to each cell of the paired table (one-arm: Agresti-Caffo's
    one success and one failure), so two arms that never disagree still get a (small) width.
    Returns (variance, variance under a null effect, examples): the second uses the mean square
    of the differences, i.e. what a null effect's interval would be on this test set."""
    ca = np.atleast_2d(np.asarray(ca, dtype=float))
    if cb is None:
        d, pseudo = ca.mean(0), np.array([1.0, 0.0])
        w = np.ones(2)
    else:
        cb = np.atleast_2d(np.asarray(cb, dtype=float))
        if cb.shape[1] != ca.shape[1]:
            raise ValueError(f"per-example outcomes need the same examples on both sides; received {ca.shape[1]} "
                             f"and {cb.shape[1]}")
        d, pseudo, w = ca.mean(0) - cb.mean(0), np.array([1.0, -1.0, 0.0, 0.0]), np.full(4, 0.5)
    n = d.shape[0]
    vals, wts = np.concatenate([d, pseudo]), np.concatenate([np.ones(n), w])
    total = wts.sum()
    mean = float((wts * vals).sum() / total)
    var = float((wts * (vals - mean) ** 2).sum() / total) / total
    null = float((wts * vals ** 2).sum() / total) / total if cb is not None else var
    return var, null, n


def paired_interval(a: Sequence[float], b: Sequence[float] | float, n_test: int | None = None,
                    confidence: float = 0.95, accuracies: bool = True, offset: float = 0.0,
                    outcomes: tuple[Any, Any] | None = None, test_var: float | None = None) -> Interval:
    """``mean(a - b)`` over seeds, paired by seed (``a[i]`` and ``b[i]`` share seed ``i``), with a t
    interval whose variance is the seeds' (``var(a - b) / k``) plus the test set's sampling error.
    That second term comes from ``outcomes`` = (A's, B's) per-example scores when given
    (:func:`paired_test_var`: paired over examples; B's may be ``None`` for a fixed ``b``), else
    from two independent binomials on ``n_test`` examples (:func:`test_sampling_var`,
    conservative) when the values are accuracies. ``b`` may be a fixed number (a threshold such as
    chance). ``offset``: the interval is of ``a - b - offset`` (a claimed gap such as "train above
    validation by more than 0.15"). With one seed and no test-set term the interval is unbounded;
    with no spread over seeds the test-set term keeps it from collapsing to a point. Reference
    distribution: Student's t on k - 1 degrees of freedom for the whole statistic, whatever the
    test-set term is (:func:`seed_df`): exact when the test set adds nothing, conservative at every
    mix of the two terms (docs/method.md), where Welch-Satterthwaite's larger df was not (P(p < 0.0025)
    0.0067 under the null at 3 seeds, seed sd 0.02). One seed with a test-set term: the test set's
    normal term alone, and the method says so (no seed term is estimable). ``test_var``:
    the test-set term measured by the caller for a measure that is not a mean over examples (mAP:
    :func:`lib.detection_map.map50_test_var`, paired over resampled test images); it serves as the
    null effect's term too."""
    a = np.asarray(a, dtype=float)
    fixed = np.ndim(b) == 0
    b_arr = np.full_like(a, float(b)) if fixed else np.asarray(b, dtype=float)
    if len(a) != len(b_arr):
        raise ValueError(f"paired values need one per seed on both sides; received {len(a)} and {len(b_arr)}")
    if len(a) == 0:
        raise ValueError("no values to compare")
    d = a - b_arr
    k = len(d)
    var_seeds = (d.var(ddof=1) / k) if k > 1 else 0.0
    method = "paired t over seeds"
    if test_var is not None:
        var_test = var_null = float(test_var)
        method += " + test images (paired bootstrap)"
    elif outcomes is not None:
        var_test, var_null, n_test = paired_test_var(*outcomes)
        method += " + test examples (paired)" if outcomes[1] is not None else " + test-set sampling"
    elif accuracies and n_test:
        var_test = test_sampling_var(float(a.mean()), None if fixed else float(b_arr.mean()), n_test)
        var_null = var_test
        method += " + test-set sampling" + ("" if fixed else " (unpaired binomials)")
    else:
        var_test = var_null = 0.0
    var = var_seeds + var_test
    diff = float(d.mean()) - offset
    if var <= 0 or (k < 2 and not var_test):
        return Interval(diff, -math.inf, math.inf, confidence, 1.0, k, n_test, method + " (no spread: unbounded)")
    se = math.sqrt(var)
    df = seed_df(k)
    if k < 2:
        method += " (one seed: the test set's term only)"
    q = stats.t.ppf(0.5 + confidence / 2, df)
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Interval(diff, diff - q * se, diff + q * se, confidence, p, k, n_test, method, se=se, df=df,
                    se_test=math.sqrt(var_test), se_null_test=math.sqrt(var_null))


def seed_df(k: int) -> float:
    """Degrees of freedom of a mean over ``k`` seeds on one shared test set: ``k - 1`` whatever the
    test-set term is. The statistic ``d / sqrt(s^2/k + v_test)`` has the tail of ``Z / sqrt(W)`` with
    ``W = lam * chi2_{k-1}/(k-1) + (1 - lam)`` (``lam`` the seeds' share of the variance); the tail
    ``E[Phi(-c sqrt(W))]`` is convex in ``W``, so by Jensen it is largest at ``lam = 1``, i.e.
    Student's t on k - 1 df: a test on that reference holds its level at every seed spread
    (tests/test_power.py simulates it). With one seed there is no seed term: normal (inf)."""
    return float(k - 1) if k > 1 else math.inf


def mean_interval(values: Sequence[float], n_test: int | None = None, confidence: float = 0.95,
                  outcomes: Any = None) -> Interval:
    """A mean accuracy over seeds with its interval (seeds' spread + test-set sampling; from the
    per-example or per-cluster ``outcomes``, (seeds, examples), when given)."""
    return paired_interval(values, 0.0, n_test, confidence, outcomes=None if outcomes is None else (outcomes, None))


def per_seed_outcomes(per_seed: Sequence[Any] | None) -> np.ndarray | None:
    """One arm's per-example (or per-cluster) outcomes, one array per seed, as a (seeds, examples)
    array for :func:`paired_interval`; ``None`` when missing or not one flat array of one length
    per seed (the interval then falls back to the unpaired test-set term)."""
    if per_seed is None or not len(per_seed) or any(np.ndim(x) != 1 for x in per_seed):
        return None
    if len({len(x) for x in per_seed}) != 1:
        return None
    return np.stack([np.asarray(x, dtype=float) for x in per_seed])


def paired_outcomes(a: Sequence[Any] | None, b: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """``(A's, B's)`` outcomes on the same examples (:func:`per_seed_outcomes` of each), or ``None``
    when either is missing or they are not the same examples and seeds (nothing to pair)."""
    ca, cb = per_seed_outcomes(a), per_seed_outcomes(b)
    return (ca, cb) if ca is not None and cb is not None and ca.shape == cb.shape else None


# --------------------------------------------------------------------------- tests

def rule_p_values(rule: str, iv: Interval, margin: float | None = None) -> tuple[float, float]:
    """The p-values of the two tests a rule decides with: (for "reproduced", for "not reproduced"),
    from the interval's t distribution. Each is below 0.05 exactly when the rule's interval gives
    that verdict, so Holm's adjustment works on the very tests the verdicts used: the ordering rules'
    95% interval is one two-sided t test (``greater`` / ``above``: A above B; ``less``: below);
    ``no_better`` is the one-sided test of ``d < margin`` (and of ``d > margin`` against it);
    ``equivalent`` is TOST (the larger of its two one-sided p-values, as statsmodels'
    ``ttost_paired``) against the smaller of the two tests of lying outside the margin."""
    if not np.isfinite(iv.se):
        return 1.0, 1.0
    df = iv.df

    class t:  # Student's t on the interval's df, unfrozen (freezing costs more than the test)
        cdf = staticmethod(lambda x: stats.t.cdf(x, df))
        sf = staticmethod(lambda x: stats.t.sf(x, df))

    d, se = iv.diff, iv.se
    if rule in ("no_better", "equivalent"):
        upper_in = float(t.cdf((d - margin) / se))  # H0: d >= margin
        upper_out = float(t.sf((d - margin) / se))  # H0: d <= margin
        if rule == "no_better":
            return upper_in, upper_out
        lower_in = float(t.sf((d + margin) / se))  # H0: d <= -margin
        lower_out = float(t.cdf((d + margin) / se))  # H0: d >= -margin
        return max(upper_in, lower_in), min(upper_out, lower_out)
    two_sided = float(2 * t.sf(abs(d) / se))
    for_a = (d > 0) if rule in ("greater", "above") else (d < 0)
    return (two_sided, 1.0) if for_a else (1.0, two_sided)


def logrank(a: Sequence[float], a_reached: Sequence[bool], b: Sequence[float], b_reached: Sequence[bool]) -> dict:
    """The log-rank comparison of two groups' times to a target (``scipy.stats.logrank``), runs that
    never reached it right-censored at their last time: how many reached it and their medians,
    ``p_sooner`` / ``p_later`` (one-sided, A before / after B) and the two-sided ``p_value``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ra, rb = np.asarray(a_reached, dtype=bool), np.asarray(b_reached, dtype=bool)
    if len(a) != len(ra) or len(b) != len(rb) or not len(a) or not len(b):
        raise ValueError("time to event needs a time and a reached flag for every run of both arms")
    ev = {"a_reached": int(ra.sum()), "b_reached": int(rb.sum()), "n_a": len(a), "n_b": len(b),
          "a_median": float(np.median(a[ra])) if ra.any() else None,
          "b_median": float(np.median(b[rb])) if rb.any() else None}
    if not ra.any() and not rb.any():
        return {**ev, "p_sooner": 1.0, "p_later": 1.0, "p_value": 1.0}
    x = stats.CensoredData(uncensored=a[ra], right=a[~ra])
    y = stats.CensoredData(uncensored=b[rb], right=b[~rb])
    # scipy's one-sided alternatives are about the hazard ("greater": the first group's events come
    # sooner); tests/test_claims.py pins the direction on a case whose answer is known
    p_sooner = float(stats.logrank(x, y, alternative="greater").pvalue)
    p_later = float(stats.logrank(x, y, alternative="less").pvalue)
    return {**ev, "p_sooner": p_sooner, "p_later": p_later, "p_value": min(1.0, 2 * min(p_sooner, p_later))}


def planned_test_size(margin: float, disagreement: float = 0.25, confidence: float = 0.90,
                      share: float = RESOLUTION_SHARE) -> int:
    """Test examples a margin claim needs before any data (STATS.md section 0): with two arms
    disagreeing on ``disagreement`` of the examples (a planning guess; :func:`lib.claims.resolution`
    then checks the measured one), the null half-width ``z * sqrt(disagreement / n)`` is at most
    ``share * margin``."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    return int(math.ceil(disagreement * (z / (share * margin)) ** 2))


def spearman_p(rho: float, n: int) -> tuple[float, float]:
    """One-sided p-values of Spearman's ``rho`` over ``n`` ranked items without ties: (rho above 0,
    rho below 0). Exact for n <= 8 (every permutation of the ranks, as ``scipy.stats.permutation_test``
    would enumerate), else the t approximation ``scipy.stats.spearmanr`` uses. A ranking of 3 items
    can never be significant (p >= 1/6): random rankings of 3-5 items reach rho >= 0.8 7-17% of the
    time, which is why a fixed rho threshold is not a test."""
    if n < 3 or not np.isfinite(rho):
        return 1.0, 1.0
    if n <= 8:
        base = np.arange(n, dtype=float)
        d2 = np.array([np.sum((base - np.array(perm)) ** 2) for perm in itertools.permutations(range(n))])
        null = 1 - 6 * d2 / (n * (n ** 2 - 1))
        eps = 1e-9
        return float(np.mean(null >= rho - eps)), float(np.mean(null <= rho + eps))
    t = rho * math.sqrt((n - 2) / max(1e-12, 1 - rho ** 2))
    return float(stats.t.sf(t, n - 2)), float(stats.t.cdf(t, n - 2))


def spearman_interval(estimate: Sequence[float], correct: Sequence[Any], confidence: float = 0.95,
                      n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman's rho between ``estimate`` (one score per item, e.g. LogME per cut, computed before
    training: fixed) and the realised accuracy of each item, with a bootstrap interval over what makes
    the realised accuracy noisy: training seeds and test examples, resampled together for every item
    (each item was scored with the same seeds on the same examples, so the resampling is paired).
    ``correct``: per item, a (seeds, examples) array of per-example outcomes. Returns
    ``(rho, low, high)``, the percentile interval at ``confidence``; a resample whose accuracies tie
    everywhere has no rank correlation and is left out. The verdict rests on :func:`spearman_p`; this
    says how far the ranking itself would move with other seeds and another test set."""
    est = np.asarray(estimate, dtype=float)
    c = np.stack([np.asarray(x, dtype=float) for x in correct])  # (items, seeds, examples)
    if c.ndim != 3 or len(est) != len(c):
        raise ValueError(f"need one (seeds, examples) array per item; received {c.shape} for {len(est)} items")
    k, s, n = c.shape

    def rho_rows(acc: np.ndarray) -> np.ndarray:  # acc: (draws, items) -> Spearman rho per draw
        r = stats.rankdata(acc, axis=1)
        e = stats.rankdata(est)
        r = r - r.mean(axis=1, keepdims=True)
        e = e - e.mean()
        denom = np.sqrt((r ** 2).sum(axis=1) * (e ** 2).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, (r @ e) / denom, np.nan)

    rho = float(rho_rows(c.mean(axis=(1, 2))[None])[0])
    rng = np.random.default_rng(seed)
    ws = rng.multinomial(s, np.full(s, 1 / s), size=n_boot) / s  # seed weights per draw
    wn = rng.multinomial(n, np.full(n, 1 / n), size=n_boot) / n  # example weights per draw
    acc = np.einsum("ksn,bs,bn->bk", c, ws, wn)
    draws = rho_rows(acc)
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return rho, float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return rho, float(low), float(high)
