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

Intervals are paired: every arm runs with the same seeds, splits and test examples, so the
per-seed differences carry the training noise, and the test set's own sampling error is added on
top (binomial, with a +1/+2 correction so an interval never has zero width). Equivalence claims
("no better than", "caught up") are two one-sided tests at a stated margin. Many verdicts are
adjusted together with Holm's method (:func:`holm`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

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
    p_value: float
    n_seeds: int
    n_test: int | None
    method: str

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
    ``p_b`` None, to one accuracy). Every seed shares the same test examples, so this does not
    shrink with seeds. Without per-example outcomes the covariance of the two arms is unknown and
    left out: conservative, since arms on the same examples are positively correlated."""
    if not n_test:
        return 0.0
    v = _smoothed(p_a, n_test) * (1 - _smoothed(p_a, n_test)) / n_test
    if p_b is not None:
        v += _smoothed(p_b, n_test) * (1 - _smoothed(p_b, n_test)) / n_test
    return v


def paired_interval(a: Sequence[float], b: Sequence[float] | float, n_test: int | None = None,
                    confidence: float = 0.95, accuracies: bool = True, offset: float = 0.0) -> Interval:
    """``mean(a - b)`` over seeds, paired by seed (``a[i]`` and ``b[i]`` share seed ``i``), with a t
    interval whose variance is the seeds' (``var(a - b) / k``) plus the test set's sampling error
    (:func:`test_sampling_var`, when ``n_test`` is given and the values are accuracies). ``b`` may
    be a fixed number (a threshold such as chance). ``offset``: the interval is of ``a - b - offset``
    (a claimed gap such as "train above validation by more than 0.15"). With one seed and no ``n_test`` the interval is
    unbounded; with no spread over seeds the test-set term keeps it from collapsing to a point."""
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
    var_test = test_sampling_var(float(a.mean()), None if fixed else float(b_arr.mean()), n_test) if accuracies else 0.0
    var = var_seeds + var_test
    diff = float(d.mean()) - offset
    method = "paired t over seeds" + (" + test-set sampling" if var_test else "")
    if var <= 0 or (k < 2 and not var_test):
        return Interval(diff, -math.inf, math.inf, confidence, 1.0, k, n_test, method + " (no spread: unbounded)")
    se = math.sqrt(var)
    # Welch-Satterthwaite: the seeds' term has k - 1 degrees of freedom, the binomial term is known
    df = var ** 2 * (k - 1) / var_seeds ** 2 if var_seeds > 0 else math.inf
    q = stats.t.ppf(0.5 + confidence / 2, df)
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Interval(diff, diff - q * se, diff + q * se, confidence, p, k, n_test, method)


def mean_interval(values: Sequence[float], n_test: int | None = None, confidence: float = 0.95) -> Interval:
    """A mean accuracy over seeds with its interval (seeds' spread + test-set sampling)."""
    return paired_interval(values, 0.0, n_test, confidence)


# --------------------------------------------------------------------------- rules

def rule_verdict(rule: str, a: Sequence[float], b: Sequence[float] | float, n_test: int | None = None,
                 margin: float | None = None, offset: float = 0.0) -> tuple[str, Interval]:
    """The verdict one of :data:`RULES` gives on ``a`` against ``b`` (before premises), and the
    interval it read (95% for ``greater`` / ``less`` / ``above``, 90% for the equivalence rules)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
    if rule in ("no_better", "equivalent"):
        if margin is None or margin <= 0:
            raise ValueError(f"rule {rule!r} needs a positive margin, stated in the parameters")
        iv = paired_interval(a, b, n_test, confidence=0.90, offset=offset)
        if rule == "no_better":
            v = REPRODUCED if iv.high < margin else NOT_REPRODUCED if iv.low > margin else INCONCLUSIVE
        else:
            v = (REPRODUCED if -margin < iv.low and iv.high < margin else
                 NOT_REPRODUCED if iv.low > margin or iv.high < -margin else INCONCLUSIVE)
        return v, iv
    iv = paired_interval(a, b, n_test, confidence=0.95, offset=offset)
    lo, hi = (iv.low, iv.high) if rule in ("greater", "above") else (-iv.high, -iv.low)
    v = REPRODUCED if lo > 0 else NOT_REPRODUCED if hi < 0 else INCONCLUSIVE
    return v, iv


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
                 margin: float = ABOVE_CHANCE_MARGIN) -> Premise:
    """``arm`` learned the target: the lower end of its mean accuracy's 95% interval clears chance
    by ``margin`` (:data:`ABOVE_CHANCE_MARGIN` unless a study states its own)."""
    iv = mean_interval(values, n_test)
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


# --------------------------------------------------------------------------- judging

def judge(id: str, source: str, hypothesis: str, *, rule: str, a: Sequence[float] | None = None,
          b: Sequence[float] | float | None = None, n_test: int | None = None, margin: float | None = None,
          measure: str = "test accuracy", split: str = "test", comparator: str = "", direction: str = "",
          premises: Sequence[Premise] = (), kind: str = "claim", expected: str | None = None,
          seed_reported: str = "", verdict: str | None = None, evidence: str = "", offset: float = 0.0) -> Claim:
    """Judge one claim. With ``a`` and ``b`` the verdict comes from ``rule`` (:func:`rule_verdict`);
    a study whose measure is not a difference (a rank correlation, a search's choice) passes its
    own ``verdict`` and ``evidence``. Then the premises gate it: any failed premise gives
    :data:`NOT_TESTABLE`, naming the premise, and the interval's own verdict is kept beside it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; received {kind!r}")
    if kind == "control" and expected not in DECISIVE:
        raise ValueError(f"a control needs the verdict it must give ({' or '.join(DECISIVE)}); received {expected!r}")
    iv = None
    if a is not None:
        own, iv = rule_verdict(rule, a, b if b is not None else 0.0, n_test, margin, offset)
        evidence = evidence or f"{measure}, {comparator or 'B'} as B: A - B {iv.text()}"
    elif verdict in VERDICTS:
        own = verdict
    else:
        raise ValueError("judge needs values (a, b) or a verdict of its own")
    premises = list({p.text(): p for p in premises}.values())  # a premise two arms share is listed once
    failed = [p for p in premises if not p.held]
    if failed:
        final, reason = NOT_TESTABLE, "; ".join(p.text() for p in failed)
    else:
        final, reason = own, RULES.get(rule, rule)
    return Claim(id=id, source=source, hypothesis=hypothesis, direction=direction or RULES.get(rule, rule),
                 measure=measure, split=split, comparator=comparator, rule=rule, verdict=final, reason=reason,
                 kind=kind, margin=margin, expected=expected, interval=asdict(iv) if iv else None,
                 interval_verdict=own, premises=[asdict(p) for p in premises], seed_reported=seed_reported,
                 evidence=evidence)


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


def adjusted_verdicts(claims: Sequence[dict], alpha: float = 0.05) -> list[str]:
    """Each claim's verdict after Holm's adjustment over the decisive verdicts that rest on an
    interval (kind ``claim``): a decisive verdict whose interval no longer excludes "no difference"
    at the family-wise level becomes ``inconclusive``. Equivalence verdicts (``no_better``,
    ``equivalent``) are adjusted through the p-value of their one-sided test at the margin."""
    idx, ps = [], []
    for i, c in enumerate(claims):
        iv = c.get("interval")
        if c.get("kind", "claim") == "claim" and c.get("verdict") in DECISIVE and iv and iv.get("p_value") is not None:
            idx.append(i)
            ps.append(_decisive_p(c))
    keep = holm(ps, alpha)
    out = [c.get("verdict") for c in claims]
    for i, k in zip(idx, keep):
        if not k:
            out[i] = INCONCLUSIVE
    return out


def _decisive_p(c: dict) -> float:
    """p-value of the test behind a decisive verdict: two-sided "no difference" for the ordering
    rules; the one-sided test at the margin for the equivalence rules (the larger of TOST's two)."""
    iv, rule, m = c["interval"], c.get("rule"), c.get("margin")
    if rule not in ("no_better", "equivalent") or not m:
        return float(iv["p_value"])
    conf = iv["confidence"]
    q = stats.norm.ppf(0.5 + conf / 2)
    se = (iv["high"] - iv["low"]) / (2 * q) if np.isfinite(iv["high"]) and np.isfinite(iv["low"]) else math.inf
    if not np.isfinite(se) or se <= 0:
        return 1.0
    d = iv["diff"]
    if c["verdict"] == NOT_REPRODUCED:  # outside the margin: one-sided test of d beyond it
        return float(stats.norm.sf((abs(d) - m) / se))
    p_upper = stats.norm.sf((m - d) / se)
    p_lower = stats.norm.sf((d + m) / se) if rule == "equivalent" else 0.0
    return float(max(p_upper, p_lower))
