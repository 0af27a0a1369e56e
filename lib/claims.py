"""The claims contract: how a run turns measurements into a verdict a reader can trust.

Every study records each claim it judges through :func:`judge` (and ``Record.add_claim``), and
the summary reads only these records. A claim carries:

- who said it (``source``: "seed 000".."seed 003", "literature", "prerequisite" or "control"),
  the hypothesis in that source's own words and its ``direction`` (what would make it true);
- the measure, the split it is measured on and the comparator, named in the parameters before
  the run (never picked on test);
- the evidence: a paired interval of the difference with its method, seeds and test examples;
- every premise with its measured value, threshold and whether it held;
- one verdict of :data:`VERDICTS`.

The vocabulary (also in the README and the summary):

- ``reproduced``: the premises hold and the evidence says what the source said;
- ``not reproduced``: the premises hold and the evidence says the opposite;
- ``inconclusive``: the premises hold but the interval cannot decide (too wide, or inside the
  equivalence margin on one side only);
- ``not testable here``: a premise failed (weights that learned nothing, arms at chance, too few
  seeds, too small a training budget, a failed control); the failed premise is named, and the
  interval's own answer is kept beside it but never counted;
- ``open``: no finished run provides the claim.

Intervals are paired twice: every arm runs with the same seeds, splits and test examples, so the
per-seed differences carry the training noise, and the test set's own sampling error is added from
the per-example differences both arms share (McNemar-style, with Agresti-Min's half-count in each
cell so an interval never has zero width; examples that are not independent, such as the seven
characters of a plate, are passed as one value per cluster). Without per-example outcomes the
test-set term falls back to two independent binomial terms (conservative) and says so.
Equivalence claims ("no better than", "caught up") are two one-sided tests at a stated margin,
and a margin claim is testable only when the design can resolve its margin (:func:`resolution`).
Times to a target (epochs or steps) are censored when a run never reaches it and are compared as
time to event (log-rank, :func:`time_to_event`), never by scoring the cap. Every judged claim
carries the p-value of the test it used, and the summary adjusts all of them together with Holm's
method (:func:`adjusted_verdicts`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from lib.quotes import quote_for

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_TESTABLE, OPEN = "not testable here", "open"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE, OPEN)
DECISIVE = (REPRODUCED, NOT_REPRODUCED)
VOCABULARY = {
    REPRODUCED: "the premises hold and the evidence says what the source said",
    NOT_REPRODUCED: "the premises hold and the evidence says the opposite",
    INCONCLUSIVE: "the premises hold but the interval cannot decide at this noise",
    NOT_TESTABLE: "a premise failed (named): the run cannot test the claim, whatever its numbers",
    OPEN: "no finished run provides this claim",
}
KINDS = ("claim", "control", "prerequisite")

# the rules a claim's interval is judged by (``rule`` of :func:`judge`)
RULES = {
    "greater": "A above B: the whole 95% interval of A - B above 0",
    "less": "A below B: the whole 95% interval of A - B below 0",
    "no_better": "A no better than B: the 90% interval's upper end below +margin (one-sided test); "
                 "not reproduced when its lower end is above +margin",
    "equivalent": "A within +-margin of B: the 90% interval inside [-margin, +margin] (two one-sided tests); "
                  "not reproduced when it lies wholly outside",
    "above": "A above a fixed threshold: the whole 95% interval of A - threshold above 0",
}
# rules judged by a study's own test (``judge(verdict=, p_value=)``), listed for the reader
OWN_RULES = {
    "sooner": "A reaches the target sooner than B: log-rank test on times to the target, runs that never reach it "
              "censored (p < 0.05, two-sided)",
    "rank": "a ranking agrees: Spearman rho above 0 by a permutation test (p < 0.05, one-sided)",
}

MIN_SEEDS = 3
# source weights "learned" when their skill, (accuracy - chance) / (1 - chance), is at least this at
# the lower end of its 95% interval: above chance alone (0.10 against 0.05 on 800 images) is not a
# representation worth transferring.
MIN_SOURCE_SKILL = 0.25
# an arm "is above chance" when the lower end of its accuracy's 95% interval clears chance by this
ABOVE_CHANCE_MARGIN = 0.02


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


@dataclass
class Premise:
    """One condition a claim presupposes, as measured."""

    name: str
    held: bool
    value: float | None = None
    threshold: float | None = None
    detail: str = ""
    record: str | None = None  # the run record the premise was measured in, when it is another run's

    def text(self) -> str:
        return f"{self.name}: {'held' if self.held else 'FAILED'}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Claim:
    """One judged claim, as the summary reads it (``asdict`` is what the record stores)."""

    id: str
    source: str
    hypothesis: str
    direction: str
    measure: str
    split: str
    comparator: str
    rule: str
    verdict: str
    reason: str
    kind: str = "claim"
    margin: float | None = None
    expected: str | None = None  # controls: the verdict the control must give
    interval: dict | None = None
    interval_verdict: str | None = None  # what the interval alone says (kept when a premise failed)
    premises: list[dict] = field(default_factory=list)
    seed_reported: str = ""
    evidence: str = ""
    p_value: float | None = None  # of the test the verdict rests on (Holm adjusts these together)
    quote: str = ""  # the sentence of the source the claim tests, verbatim
    said_by: str = ""  # who said it: "asker", "answer", "blog", "literature", "lab"
    data: str = ""  # "stand-in" (the lab's generated data), "user" (files a user gave) or "" (not data-bound)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def passed(self) -> bool | None:
        """Controls only: whether the control gave its known answer."""
        return None if self.kind != "control" else self.verdict == self.expected


# --------------------------------------------------------------------------- intervals

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
                    outcomes: tuple[Any, Any] | None = None) -> Interval:
    """``mean(a - b)`` over seeds, paired by seed (``a[i]`` and ``b[i]`` share seed ``i``), with a t
    interval whose variance is the seeds' (``var(a - b) / k``) plus the test set's sampling error.
    That second term comes from ``outcomes`` = (A's, B's) per-example scores when given
    (:func:`paired_test_var`: paired over examples; B's may be ``None`` for a fixed ``b``), else
    from two independent binomials on ``n_test`` examples (:func:`test_sampling_var`,
    conservative) when the values are accuracies. ``b`` may be a fixed number (a threshold such as
    chance). ``offset``: the interval is of ``a - b - offset`` (a claimed gap such as "train above
    validation by more than 0.15"). With one seed and no test-set term the interval is unbounded;
    with no spread over seeds the test-set term keeps it from collapsing to a point. Degrees of
    freedom: Welch-Satterthwaite, the seeds' term with k - 1, the test-set term as known."""
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
    if outcomes is not None:
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
    df = var ** 2 * (k - 1) / var_seeds ** 2 if var_seeds > 0 else math.inf
    q = stats.t.ppf(0.5 + confidence / 2, df)
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Interval(diff, diff - q * se, diff + q * se, confidence, p, k, n_test, method, se=se, df=df,
                    se_test=math.sqrt(var_test), se_null_test=math.sqrt(var_null))


def mean_interval(values: Sequence[float], n_test: int | None = None, confidence: float = 0.95,
                  outcomes: Any = None) -> Interval:
    """A mean accuracy over seeds with its interval (seeds' spread + test-set sampling; from the
    per-example or per-cluster ``outcomes``, (seeds, examples), when given)."""
    return paired_interval(values, 0.0, n_test, confidence, outcomes=None if outcomes is None else (outcomes, None))


# --------------------------------------------------------------------------- rules

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
    t = stats.t(iv.df)
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


def rule_verdict(rule: str, a: Sequence[float], b: Sequence[float] | float, n_test: int | None = None,
                 margin: float | None = None, offset: float = 0.0,
                 outcomes: tuple[Any, Any] | None = None, alpha: float = 0.05) -> tuple[str, Interval]:
    """The verdict one of :data:`RULES` gives on ``a`` against ``b`` (before premises), and the
    interval it read (95% for ``greater`` / ``less`` / ``above``, 90% for the equivalence rules);
    ``iv.p_rule`` is the p-value of the test behind the verdict (:func:`rule_p_values`: the
    smaller of the two when inconclusive)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
    equivalence = rule in ("no_better", "equivalent")
    if equivalence and (margin is None or margin <= 0):
        raise ValueError(f"rule {rule!r} needs a positive margin, stated in the parameters")
    iv = paired_interval(a, b, n_test, confidence=1 - 2 * alpha if equivalence else 1 - alpha, offset=offset,
                         outcomes=outcomes)
    p_yes, p_no = rule_p_values(rule, iv, margin)
    v = REPRODUCED if p_yes < alpha else NOT_REPRODUCED if p_no < alpha else INCONCLUSIVE
    iv.p_rule = p_yes if v == REPRODUCED else p_no if v == NOT_REPRODUCED else min(p_yes, p_no)
    return v, iv


def time_to_event(a: Sequence[float], a_reached: Sequence[bool], b: Sequence[float], b_reached: Sequence[bool],
                  alpha: float = 0.05) -> tuple[str, dict]:
    """"A reaches the target sooner than B": times (epochs or optimizer steps) of every seed, and
    whether each run reached the target; a run that never did is censored at its last time (never
    scored at its cap). Judged by the log-rank test (``scipy.stats.logrank``, two-sided):
    reproduced when A's runs reach it significantly sooner, not reproduced when later, else
    inconclusive. Returns the verdict and the evidence (counts reaching, medians, p-value). Pairing
    by seed is not used: the log-rank test treats the runs as two independent groups
    (conservative). Early stopping censors a run when it stops improving, which makes censoring
    informative against the stopped arm: the text says how many never reached the target."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ra, rb = np.asarray(a_reached, dtype=bool), np.asarray(b_reached, dtype=bool)
    if len(a) != len(ra) or len(b) != len(rb) or not len(a) or not len(b):
        raise ValueError("time_to_event needs a time and a reached flag for every run of both arms")
    ev = {"a_reached": int(ra.sum()), "b_reached": int(rb.sum()), "n_a": len(a), "n_b": len(b),
          "a_median": float(np.median(a[ra])) if ra.any() else None,
          "b_median": float(np.median(b[rb])) if rb.any() else None}
    if not ra.any() and not rb.any():
        ev["p_value"], ev["p_rule"] = 1.0, 1.0
        return INCONCLUSIVE, ev
    x = stats.CensoredData(uncensored=a[ra], right=a[~ra])
    y = stats.CensoredData(uncensored=b[rb], right=b[~rb])
    # scipy's one-sided alternatives are about the hazard ("greater": the first group's events come
    # sooner); tests/test_claims.py pins the direction on a case whose answer is known
    p_sooner = float(stats.logrank(x, y, alternative="greater").pvalue)
    p_later = float(stats.logrank(x, y, alternative="less").pvalue)
    p = min(1.0, 2 * min(p_sooner, p_later))
    v = INCONCLUSIVE if p >= alpha else REPRODUCED if p_sooner < p_later else NOT_REPRODUCED
    ev["p_value"] = ev["p_rule"] = p
    return v, ev


def event_text(ev: dict, a: str = "A", b: str = "B", unit: str = "steps") -> str:
    """A time-to-event comparison in words: how many runs reached the target, their medians, p."""
    def one(name, k, n, med):
        return f"{name} reached it in {k} of {n} seeds" + (f" (median {med:,.0f} {unit})" if med is not None else
                                                           " (never)")
    return (f"{one(a, ev['a_reached'], ev['n_a'], ev['a_median'])}; {one(b, ev['b_reached'], ev['n_b'], ev['b_median'])}"
            f"; log-rank p = {ev['p_value']:.3g} (runs that never reached it censored, not scored at the cap)")


# --------------------------------------------------------------------------- premises

def source_learned(quality: dict | None, name: str = "source weights learned their task") -> Premise:
    """The transferred weights learned their own task: skill ``(acc - chance) / (1 - chance)`` at
    the lower end of the accuracy's 95% interval at least :data:`MIN_SOURCE_SKILL`. ``quality`` is
    ``{"source_test_acc", "chance", "n_test"}`` (``backbones.source_weights_quality``); ``None``
    (no record names the weights) fails: nothing says they learned anything."""
    if not quality or quality.get("source_test_acc") is None:
        return Premise(name, False, detail="no source record names these weights")
    acc, chance = float(quality["source_test_acc"]), float(quality["chance"])
    n = quality.get("n_test")
    lo = acc - 1.96 * math.sqrt(test_sampling_var(acc, None, n)) if n else acc
    skill = (lo - chance) / (1 - chance)
    return Premise(name, skill >= MIN_SOURCE_SKILL, value=acc, threshold=chance + MIN_SOURCE_SKILL * (1 - chance),
                   record=quality.get("record"),
                   detail=f"source test accuracy {acc:.3f}" + (f" (95% lower end {lo:.3f}, {n} images)" if n else "")
                          + f" against chance {chance:.3f}; needs skill >= {MIN_SOURCE_SKILL:.2f}, "
                            f"i.e. accuracy >= {chance + MIN_SOURCE_SKILL * (1 - chance):.3f}")


def above_chance(arm: str, values: Sequence[float], chance: float, n_test: int | None = None,
                 margin: float = ABOVE_CHANCE_MARGIN, outcomes: Any = None) -> Premise:
    """``arm`` learned the target: the lower end of its mean accuracy's 95% interval clears chance
    by ``margin`` (:data:`ABOVE_CHANCE_MARGIN` unless a study states its own); ``outcomes``: its
    per-example (or per-cluster) scores, (seeds, examples)."""
    iv = mean_interval(values, n_test, outcomes=outcomes)
    ok = bool(np.isfinite(iv.low)) and iv.low > chance + margin
    return Premise(f"{arm} above chance", ok, value=iv.diff, threshold=chance + margin,
                   detail=f"{iv.diff:.3f}, 95% lower end {iv.low:.3f}, needs > chance {chance:.3f} + {margin:g}")


def enough_seeds(n: int, minimum: int = MIN_SEEDS) -> Premise:
    return Premise("enough seeds", n >= minimum, value=n, threshold=minimum, detail=f"{n} seeds, at least {minimum}")


def budget(steps: float | None, seed_steps: float | None, min_fraction: float = 0.5) -> Premise:
    """The training budget in optimizer steps against the seed's own: a claim about what training
    reaches is testable only with at least ``min_fraction`` of the seed's steps. Unknown seed budget:
    recorded, held."""
    if not seed_steps or steps is None:
        return Premise("training budget", True, value=steps, detail=f"{steps} optimizer steps (the seed's not known)")
    return Premise("training budget", steps >= min_fraction * seed_steps, value=steps, threshold=min_fraction * seed_steps,
                   detail=f"{steps:,.0f} optimizer steps against the seed's {seed_steps:,.0f} (needs {min_fraction:.0%})")


def controls_passed(controls: Iterable[Claim | dict]) -> Premise:
    """The study's controls gave their known answers."""
    rows = [c.as_dict() if isinstance(c, Claim) else c for c in controls]
    failed = [c["id"] for c in rows if c["verdict"] != c.get("expected")]
    return Premise("controls passed", not failed, value=len(rows) - len(failed), threshold=len(rows),
                   detail=f"{len(rows) - len(failed)} of {len(rows)}" + (f"; failed: {', '.join(failed)}" if failed else ""))


# a margin claim's design must leave the seeds at least half the margin: the test set's sampling
# alone, for a null effect, may take at most this share of it (STATS.md section 0)
RESOLUTION_SHARE = 0.5


def resolution(iv: Interval, margin: float, share: float = RESOLUTION_SHARE) -> Premise:
    """The design resolves the claim's margin: the half-width the test set's sampling alone gives a
    null effect (at the rule's confidence) is at most ``share`` of the margin. Measured from the
    test set (its size, and for paired outcomes how often the arms disagree), not from the
    effect; a claim that fails it is "not testable here (resolution)", never inconclusive by
    construction. No test-set term (values that are not accuracies): held, nothing to resolve."""
    if not iv.se_null_test or not np.isfinite(iv.se_null_test):
        return Premise("design resolves the margin", True, detail="no test-set term")
    half = float(stats.norm.ppf(0.5 + iv.confidence / 2) * iv.se_null_test)
    return Premise("design resolves the margin", half <= share * margin, value=round(half, 4),
                   threshold=share * margin,
                   detail=f"a null effect's test-set half-width {half:.3f} on {iv.n_test:,} test examples, needs <= "
                          f"{share:.0%} of the margin {margin:g}")


def planned_test_size(margin: float, disagreement: float = 0.25, confidence: float = 0.90,
                      share: float = RESOLUTION_SHARE) -> int:
    """Test examples a margin claim needs before any data (STATS.md section 0): with two arms
    disagreeing on ``disagreement`` of the examples (a planning guess; :func:`resolution` then
    checks the measured one), the null half-width ``z * sqrt(disagreement / n)`` is at most
    ``share * margin``."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    return int(math.ceil(disagreement * (z / (share * margin)) ** 2))


# --------------------------------------------------------------------------- judging

def judge(id: str, source: str, hypothesis: str, *, rule: str, a: Sequence[float] | None = None,
          b: Sequence[float] | float | None = None, n_test: int | None = None, margin: float | None = None,
          measure: str = "test accuracy", split: str = "test", comparator: str = "", direction: str = "",
          premises: Sequence[Premise] = (), kind: str = "claim", expected: str | None = None,
          seed_reported: str = "", verdict: str | None = None, evidence: str = "", offset: float = 0.0,
          outcomes: tuple[Any, Any] | None = None, p_value: float | None = None, quote: str = "",
          said_by: str = "", data: str = "") -> Claim:
    """Judge one claim. With ``a`` and ``b`` the verdict comes from ``rule`` (:func:`rule_verdict`;
    ``outcomes``: the arms' per-example scores for the paired test-set term); a study whose measure
    is not a difference (a rank correlation, a time to event) passes its own ``verdict``, ``evidence``
    and the ``p_value`` of the test behind it. A margin rule adds the premise that the design
    resolves its margin (:func:`resolution`). Then the premises gate it: any failed premise gives
    :data:`NOT_TESTABLE`, naming the premise, and the interval's own verdict is kept beside it.
    ``quote`` / ``said_by``: the source's sentence the claim tests and who wrote it; ``data``:
    "stand-in" when judged on the lab's generated data."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; received {kind!r}")
    if kind == "control" and expected not in DECISIVE:
        raise ValueError(f"a control needs the verdict it must give ({' or '.join(DECISIVE)}); received {expected!r}")
    iv = None
    premises = list(premises)
    if a is not None:
        own, iv = rule_verdict(rule, a, b if b is not None else 0.0, n_test, margin, offset, outcomes=outcomes)
        p_value = iv.p_rule
        evidence = evidence or f"{measure}, {comparator or 'B'} as B: A - B {iv.text()}"
        if margin is not None and kind == "claim":
            res = resolution(iv, margin)
            if not res.held and own in DECISIVE:  # power is the design's concern; a decided test stays valid
                res = Premise(res.name, True, res.value, res.threshold, res.detail + "; the interval decided regardless")
            premises.append(res)
    elif verdict in VERDICTS:
        own = verdict
    else:
        raise ValueError("judge needs values (a, b) or a verdict of its own")
    premises = list({p.text(): p for p in premises}.values())  # a premise two arms share is listed once
    failed = [p for p in premises if not p.held]
    if failed:
        final, reason = NOT_TESTABLE, "; ".join(p.text() for p in failed)
    else:
        final, reason = own, RULES.get(rule, OWN_RULES.get(rule, rule))
    if kind == "claim" and not quote:
        quote, who = quote_for(id)
        said_by = said_by or who
    return Claim(id=id, source=source, hypothesis=hypothesis, direction=direction or RULES.get(rule, OWN_RULES.get(rule, rule)),
                 measure=measure, split=split, comparator=comparator, rule=rule, verdict=final, reason=reason,
                 kind=kind, margin=margin, expected=expected, interval=asdict(iv) if iv else None,
                 interval_verdict=own, premises=[asdict(p) for p in premises], seed_reported=seed_reported,
                 evidence=evidence, p_value=p_value, quote=quote, said_by=said_by, data=data)


def judge_time_to_event(id: str, source: str, hypothesis: str, *, a: Sequence[float], a_reached: Sequence[bool],
                        b: Sequence[float], b_reached: Sequence[bool], a_name: str = "A", b_name: str = "B",
                        unit: str = "optimizer steps", **kw) -> Claim:
    """Judge "A reaches the target sooner than B" as time to event (:func:`time_to_event`): censored
    runs stay censored, and the evidence says how many runs never reached the target."""
    own, ev = time_to_event(a, a_reached, b, b_reached)
    kw.setdefault("measure", f"{unit} to the target")
    kw.setdefault("comparator", b_name)
    return judge(id, source, hypothesis, rule="sooner", verdict=own, p_value=ev["p_value"],
                 evidence=kw.pop("evidence", "") + event_text(ev, a_name, b_name, unit.split(" ")[-1]),
                 direction=f"{a_name} reaches the target sooner than {b_name} (log-rank test, censored runs kept "
                           "censored)", **kw)


def not_trained(arms: Iterable[str], premises: dict[str, Sequence[Premise]], common: Sequence[Premise] = (),
                force: bool = False) -> dict[str, str]:
    """The arms not to train, each with why: a premise known before training (one of ``common``, or
    the arm's own in ``premises``) failed, so the arm's claims are not testable whatever it would
    score. ``force`` (a study's ``run_untestable``) trains every arm anyway."""
    if force:
        return {}
    out = {}
    for arm in arms:
        failed = [p for p in [*common, *premises.get(arm, [])] if p is not None and not p.held]
        if failed:
            out[arm] = "; ".join(p.text() for p in failed)
    return out


# A negative control's arm, trained on shuffled labels, must not "learn": beat chance by this much
# (the margin by which the seed-002 rules say an arm learns). Wide enough for a few hundred test
# examples to decide it; an arm that does beat chance by this on shuffled labels has a leak.
NEGATIVE_CONTROL_MARGIN = 0.10


def negative_control(id: str, who: str, values: Sequence[float], chance: float, n_test: int | None) -> Claim:
    """The negative control every study runs: ``who`` trained on shuffled training labels does not
    beat ``chance`` by more than :data:`NEGATIVE_CONTROL_MARGIN` on the untouched test split (one-
    sided 90% interval below the margin). Expected: reproduced."""
    return judge(id, "control", f"with shuffled training labels, {who} does not beat chance (by more than "
                                f"{NEGATIVE_CONTROL_MARGIN:g})", rule="no_better", a=values, b=chance,
                 margin=NEGATIVE_CONTROL_MARGIN, n_test=n_test, comparator=f"chance {chance:.3f}", kind="control",
                 expected=REPRODUCED)


def positive_control(id: str, who: str, values: Sequence[float], chance: float, n_test: int | None) -> Claim:
    """The positive control beside the negative one: ``who``, the same pipeline on the true
    labels, beats ``chance`` on the test split (95% interval above it), so a study that can find
    no effect is told from one that cannot learn at all. Expected: reproduced."""
    return judge(id, "control", f"{who} beats chance", rule="greater", a=values, b=chance, n_test=n_test,
                 comparator=f"chance {chance:.3f}", kind="control", expected=REPRODUCED)


def gate_by_controls(claims: Sequence[Claim]) -> list[Claim]:
    """A failed control makes every claim of the same run (not the controls) not testable."""
    controls = [c for c in claims if c.kind == "control"]
    if not controls:
        return list(claims)
    gate = controls_passed(controls)
    if gate.held:
        return list(claims)
    out = []
    for c in claims:
        if c.kind == "claim" and c.verdict != NOT_TESTABLE:
            c = Claim(**{**c.as_dict(), "verdict": NOT_TESTABLE, "reason": gate.text(),
                         "premises": [*c.premises, asdict(gate)]})
        out.append(c)
    return out


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down adjustment (statsmodels' ``multipletests(method="holm")``): which of the
    hypotheses are still rejected at family-wise level ``alpha``."""
    if not len(p_values):
        return []
    from statsmodels.stats.multitest import multipletests

    return [bool(r) for r in multipletests(list(p_values), alpha=alpha, method="holm")[0]]


JUDGED = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)


def claim_p_value(c: dict) -> float | None:
    """The p-value of the test a judged claim's verdict rests on: its own ``p_value``; for records
    written before claims carried one, the rule's test recomputed from the stored interval."""
    if c.get("p_value") is not None:
        return float(c["p_value"])
    iv = c.get("interval")
    if not iv or c.get("rule") not in RULES:
        return None
    fields = {k: iv[k] for k in ("diff", "low", "high", "confidence", "p_value", "n_seeds", "n_test", "method")}
    q_iv = Interval(**fields)
    if np.isfinite(iv.get("se", math.inf)):
        q_iv.se, q_iv.df = iv["se"], iv.get("df", math.inf)
    elif np.isfinite(iv["high"]) and np.isfinite(iv["low"]):  # older records: normal approximation
        q_iv.se = (iv["high"] - iv["low"]) / (2 * stats.norm.ppf(0.5 + iv["confidence"] / 2))
    p_yes, p_no = rule_p_values(c["rule"], q_iv, c.get("margin"))
    return p_yes if c.get("interval_verdict", c.get("verdict")) == REPRODUCED else (
        p_no if c.get("interval_verdict", c.get("verdict")) == NOT_REPRODUCED else min(p_yes, p_no))


def holm_adjust(claims: Sequence[dict], alpha: float = 0.05, method: str = "holm") -> list[tuple[str, float | None]]:
    """Each claim's verdict and adjusted p-value after a family-wise adjustment over **every judged
    claim** of the family (kind ``claim``, verdict reproduced, not reproduced or inconclusive; the
    not testable and open ones were not tested): Holm by default (statsmodels' ``multipletests``;
    ``method="fdr_bh"`` for Benjamini-Hochberg). A decisive verdict whose adjusted p-value is not
    below ``alpha`` becomes inconclusive. Adjusting only the decisive verdicts, as this lab once
    did, inflates the family-wise error (0.57 over 20 null claims in simulation)."""
    from statsmodels.stats.multitest import multipletests

    out: list[tuple[str, float | None]] = [(c.get("verdict"), None) for c in claims]
    idx, ps = [], []
    for i, c in enumerate(claims):
        if c.get("kind", "claim") == "claim" and c.get("verdict") in JUDGED:
            p = claim_p_value(c)
            if p is not None:
                idx.append(i)
                ps.append(min(max(p, 0.0), 1.0))
            elif c.get("verdict") in DECISIVE:  # a decisive verdict without a test cannot stand a family
                out[i] = (INCONCLUSIVE, None)
    if not ps:
        return out
    reject, adj, _, _ = multipletests(ps, alpha=alpha, method=method)
    for i, r, pa in zip(idx, reject, adj):
        v = claims[i].get("verdict")
        out[i] = (v if (v not in DECISIVE or r) else INCONCLUSIVE, float(pa))
    return out


def adjusted_verdicts(claims: Sequence[dict], alpha: float = 0.05) -> list[str]:
    """Each claim's verdict after Holm's adjustment over every judged claim (:func:`holm_adjust`)."""
    return [v for v, _ in holm_adjust(claims, alpha)]
