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

from lib.intervals import (Interval, logrank, mean_interval, paired_interval, paired_outcomes,  # noqa: F401
                           paired_test_var, per_seed_outcomes, planned_test_size, rule_p_values, spearman_p,
                           test_sampling_var, RESOLUTION_SHARE)
from lib import power
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
    "greater at every depth": "A above B at every depth: each depth's 95% interval above 0 (an intersection-union "
                              "test, :func:`every`: its p is the largest); not reproduced when some depth is "
                              "significantly below B (Bonferroni over the depths)",
    "less than every other": "A below each other arm: each comparison's 95% interval below 0 (intersection-union test, "
                             ":func:`every`); not reproduced when A is significantly above one (Bonferroni)",
    "rank": "a ranking agrees: Spearman rho above 0 by an exact permutation test (p < 0.05, one-sided); not "
            "reproduced when significantly below 0",
}

MIN_SEEDS = 3
# source weights "learned" when their skill, (accuracy - chance) / (1 - chance), is at least this at
# the lower end of its 95% interval: above chance alone (0.10 against 0.05 on 800 images) is not a
# representation worth transferring.
MIN_SOURCE_SKILL = 0.25
# an arm "is above chance" when the lower end of its accuracy's 95% interval clears chance by this
ABOVE_CHANCE_MARGIN = 0.02


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
    power: dict | None = None  # the power plan's row for this claim (lib.power), when judged under one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def passed(self) -> bool | None:
        """Controls only: whether the control gave its known answer."""
        return None if self.kind != "control" else self.verdict == self.expected


# --------------------------------------------------------------------------- rules

def rule_verdict(rule: str, a: Sequence[float], b: Sequence[float] | float, n_test: int | None = None,
                 margin: float | None = None, offset: float = 0.0,
                 outcomes: tuple[Any, Any] | None = None, alpha: float = 0.05,
                 test_var: float | None = None) -> tuple[str, Interval]:
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
                         outcomes=outcomes, test_var=test_var)
    p_yes, p_no = rule_p_values(rule, iv, margin)
    v = REPRODUCED if p_yes < alpha else NOT_REPRODUCED if p_no < alpha else INCONCLUSIVE
    iv.p_rule = p_yes if v == REPRODUCED else p_no if v == NOT_REPRODUCED else min(p_yes, p_no)
    return v, iv


def every(rule: str, ivs: Sequence[Interval], alpha: float = 0.05) -> tuple[str, float]:
    """One claim made of several comparisons that must all hold ("at every depth", "below every other
    initialisation"): an intersection-union test, reproduced when every comparison's own test rejects
    (its p-value is the largest of theirs); not reproduced when some comparison is significantly the
    other way, Bonferroni over the comparisons (the smallest such p-value times their number).
    Returns ``(verdict, p-value of the test behind it)``, the p-value for Holm."""
    if not len(ivs):
        raise ValueError("no comparisons to combine")
    p_yes, p_no = zip(*(rule_p_values(rule, iv) for iv in ivs))
    p_all, p_against = max(p_yes), min(1.0, min(p_no) * len(ivs))
    if p_all < alpha:
        return REPRODUCED, p_all
    if p_against < alpha:
        return NOT_REPRODUCED, p_against
    return INCONCLUSIVE, min(p_all, p_against)


def time_to_event(a: Sequence[float], a_reached: Sequence[bool], b: Sequence[float], b_reached: Sequence[bool],
                  alpha: float = 0.05) -> tuple[str, dict]:
    """"A reaches the target sooner than B": times (epochs or optimizer steps) of every seed, and
    whether each run reached the target; a run that never did is censored at its last time (never
    scored at its cap). Judged by the log-rank test (:func:`lib.intervals.logrank`, two-sided):
    reproduced when A's runs reach it significantly sooner, not reproduced when later, else
    inconclusive. Returns the verdict and the evidence (counts reaching, medians, p-value). Pairing
    by seed is not used: the log-rank test treats the runs as two independent groups
    (conservative). Early stopping censors a run when it stops improving, which makes censoring
    informative against the stopped arm: the text says how many never reached the target."""
    ev = logrank(a, a_reached, b, b_reached)
    p = ev["p_value"]
    v = INCONCLUSIVE if p >= alpha else REPRODUCED if ev["p_sooner"] < ev["p_later"] else NOT_REPRODUCED
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
    ``{"source_test_acc", "chance", "n_test"}`` (``sources.source_weights_quality``); ``None``
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


def converged(arm: str, histories: Sequence[dict] | dict) -> Premise:
    """``arm`` converged: in every seed early stopping ended the run (validation accuracy stopped
    improving for its patience and the best epoch's weights were restored), not the epoch cap, and
    the stuck criterion did not stop it. ``histories``: one training history per seed
    (:func:`lib.train.fit`'s, with ``stopped_early`` / ``best_epoch``), or ``{seed: history}``. A
    run without early stopping says nothing about convergence: the premise fails and says so. A
    claim about where training ends presupposes the compared runs ended, not that the lab's budget
    ran out (STATS.md section 6: a capped run is censored, not converged)."""
    runs = list(histories.values()) if isinstance(histories, dict) else list(histories)
    if not runs:
        return Premise(f"{arm} converged", False, detail="no training history")
    capped, stuck, unknown = [], [], []
    for i, h in enumerate(runs):
        if "stopped_early" not in h:
            unknown.append(i)
        elif (h.get("stopped_stuck") or [0.0])[0]:
            stuck.append(i)
        elif not h["stopped_early"][0]:
            capped.append(i)
    ok = not (capped or stuck or unknown)
    n = len(runs)
    if unknown:
        detail = f"{len(unknown)} of {n} runs trained without early stopping: convergence not measured"
    elif stuck:
        detail = f"{len(stuck)} of {n} runs stopped as stuck (training loss at log(classes)), not converged"
    elif capped:
        detail = f"{len(capped)} of {n} runs still improving at the epoch cap"
    else:
        best = [int(h["best_epoch"][0]) for h in runs if h.get("best_epoch")]
        detail = f"early stopping ended all {n} runs" + (f" (best epochs {min(best)}-{max(best)})" if best else "")
    return Premise(f"{arm} converged", ok, value=n - len(capped) - len(stuck) - len(unknown), threshold=n, detail=detail)


def planned_power(row: dict) -> Premise:
    """The design has the power to decide the claim (:mod:`lib.power`): planned power at its margin
    at least :data:`lib.power.MIN_POWER`, at Holm's first-step level for its family, from the design
    alone; a rule whose smallest attainable p cannot pass that level fails too. A failure makes the
    claim "not testable here (power)" by the plan, whatever its outcome."""
    return Premise("design has the power (plan)", bool(row["testable"]),
                   value=None if row["power"] is None else round(float(row["power"]), 3),
                   threshold=power.MIN_POWER, detail=f"{row['why']}; level {row['level']:.3g} (alpha / {row['family'] or 'its'} "
                                                     f"family's size), seed sd {row['seed_sd']:.3f} ({row['seed_sd_from']})")


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


def resolution(iv: Interval, margin: float, share: float = RESOLUTION_SHARE, decided: bool = False) -> Premise:
    """The design resolves the claim's margin: the half-width the test set's sampling alone gives a
    null effect (at the rule's confidence) is at most ``share`` of the margin. Measured from the
    test set (its size, and for paired outcomes how often the arms disagree), not from the
    effect; an undecided claim that fails it is "not testable here (resolution)", never
    inconclusive by construction. ``decided``: the interval gave a decisive verdict anyway, which
    stands (the design's power does not change a decided test's error rate): held, and said so.
    No test-set term (values that are not accuracies): held, nothing to resolve."""
    name = "design resolves the margin"
    if not iv.se_null_test or not np.isfinite(iv.se_null_test):
        return Premise(name, True, detail="no test-set term")
    half = float(stats.norm.ppf(0.5 + iv.confidence / 2) * iv.se_null_test)
    ok = half <= share * margin
    return Premise(name, ok or decided, value=round(half, 4), threshold=share * margin,
                   detail=f"a null effect's test-set half-width {half:.3f} on {iv.n_test:,} test examples, needs <= "
                          f"{share:.0%} of the margin {margin:g}" + ("" if ok or not decided else
                                                                   "; the interval decided regardless"))


# --------------------------------------------------------------------------- judging

def judge(id: str, source: str, hypothesis: str, *, rule: str, a: Sequence[float] | None = None,
          b: Sequence[float] | float | None = None, n_test: int | None = None, margin: float | None = None,
          measure: str = "test accuracy", split: str = "test", comparator: str = "", direction: str = "",
          premises: Sequence[Premise] = (), kind: str = "claim", expected: str | None = None,
          seed_reported: str = "", verdict: str | None = None, evidence: str = "", offset: float = 0.0,
          outcomes: tuple[Any, Any] | None = None, p_value: float | None = None, quote: str = "",
          said_by: str = "", data: str = "", test_var: float | None = None,
          power_design: dict | None = None) -> Claim:
    """Judge one claim. With ``a`` and ``b`` the verdict comes from ``rule`` (:func:`rule_verdict`;
    ``outcomes``: the arms' per-example scores for the paired test-set term; ``test_var``: that term
    measured by the study, e.g. mAP's image bootstrap); a study whose measure
    is not a difference (a rank correlation, a time to event) passes its own ``verdict``, ``evidence``
    and the ``p_value`` of the test behind it. A margin rule adds the premise that the design
    resolves its margin (:func:`resolution`). Then the premises gate it: any failed premise gives
    :data:`NOT_TESTABLE`, naming the premise, and the interval's own verdict is kept beside it.
    ``quote`` / ``said_by``: the source's sentence the claim tests and who wrote it; ``data``:
    "stand-in" when judged on the lab's generated data. Under a report's power plan
    (:func:`lib.power.begin`) a claim gets the premise that its design has the power to decide it
    (:func:`planned_power`), computed from the design alone (rule, margin, seeds, test examples);
    a study passing its own verdict gives that design as ``power_design`` (``margin``, ``n_test``,
    ``seeds``, ``paired``, ``items``). The plan's row is kept in the claim (``power``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; received {kind!r}")
    if kind == "control" and expected not in DECISIVE:
        raise ValueError(f"a control needs the verdict it must give ({' or '.join(DECISIVE)}); received {expected!r}")
    iv, planned = None, None
    premises = list(premises)
    if a is not None:
        own, iv = rule_verdict(rule, a, b if b is not None else 0.0, n_test, margin, offset, outcomes=outcomes,
                               test_var=test_var)
        p_value = iv.p_rule
        evidence = evidence or f"{measure}, {comparator or 'B'} as B: A - B {iv.text()}"
        if margin is not None and kind == "claim":
            premises.append(resolution(iv, margin, decided=own in DECISIVE))
        if kind == "claim":
            planned = power.plan_claim(id, source, rule, margin=margin, n_test=iv.n_test, seeds=iv.n_seeds,
                                       paired=np.ndim(b) != 0 if b is not None else False)
    elif verdict in VERDICTS:
        own = verdict
        if kind == "claim" and power_design:
            planned = power.plan_claim(id, source, rule, **power_design)
    else:
        raise ValueError("judge needs values (a, b) or a verdict of its own")
    if planned is not None:
        premises.append(planned_power(planned))
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
                 evidence=evidence, p_value=p_value, quote=quote, said_by=said_by, data=data, power=planned)


def judge_time_to_event(id: str, source: str, hypothesis: str, *, a: Sequence[float], a_reached: Sequence[bool],
                        b: Sequence[float], b_reached: Sequence[bool], a_name: str = "A", b_name: str = "B",
                        unit: str = "optimizer steps", **kw) -> Claim:
    """Judge "A reaches the target sooner than B" as time to event (:func:`time_to_event`): censored
    runs stay censored, and the evidence says how many runs never reached the target."""
    own, ev = time_to_event(a, a_reached, b, b_reached)
    kw.setdefault("measure", f"{unit} to the target")
    kw.setdefault("comparator", b_name)
    kw.setdefault("power_design", {"margin": None, "n_test": None, "seeds": len(a), "items": min(len(a), len(b))})
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


def family_of(c: dict) -> str:
    """The Holm family a claim belongs to, fixed before data: its source document ("seed 000" ..
    "seed 003", or "literature"); controls and prerequisites are in no family (``""``)."""
    if c.get("kind", "claim") != "claim":
        return ""
    return str(c.get("source") or "")


def holm_adjust(claims: Sequence[dict], alpha: float = 0.05, method: str = "holm") -> list[tuple[str, float | None]]:
    """Each claim's verdict and adjusted p-value after a family-wise adjustment within its family
    (:func:`family_of`: one per seed document, one for the literature), made of **every claim the
    run plan names**, judged or not: a claim that ended not testable, or is still open, enters with
    p = 1, so no outcome can move a claim in or out of its family (STATS.md section 4; dropping
    undecided claims let a 20-claim family shrink to 2 and the FWER reach 0.42 in simulation).
    Holm by default (statsmodels' ``multipletests``; ``method="fdr_bh"`` for Benjamini-Hochberg). A
    decisive verdict whose adjusted p-value is not below ``alpha`` becomes inconclusive; a decisive
    verdict with no p-value cannot stand a family and becomes inconclusive too."""
    from statsmodels.stats.multitest import multipletests

    out: list[tuple[str, float | None]] = [(c.get("verdict"), None) for c in claims]
    families: dict[str, list[tuple[int, float]]] = {}
    for i, c in enumerate(claims):
        fam = family_of(c)
        if not fam:
            continue
        p = claim_p_value(c) if c.get("verdict") in JUDGED else 1.0
        if p is None:
            if c.get("verdict") in DECISIVE:
                out[i] = (INCONCLUSIVE, None)
            p = 1.0
        families.setdefault(fam, []).append((i, min(max(float(p), 0.0), 1.0)))
    for members in families.values():
        idx, ps = zip(*members)
        reject, adj, _, _ = multipletests(list(ps), alpha=alpha, method=method)
        for i, r, pa in zip(idx, reject, adj):
            v = out[i][0]
            out[i] = (v if (v not in DECISIVE or r) else INCONCLUSIVE, float(pa))
    return out


def adjusted_verdicts(claims: Sequence[dict], alpha: float = 0.05) -> list[str]:
    """Each claim's verdict after Holm's adjustment within its family (:func:`holm_adjust`)."""
    return [v for v, _ in holm_adjust(claims, alpha)]
