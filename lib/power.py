"""The power plan: before any training, what each claim's design (its rule, margin, seeds, test
examples) can decide, at the level Holm's adjustment will ask of it, for a stated seed spread.

The model is the one the verdicts' test assumes (:func:`lib.intervals.paired_interval`): a mean
over ``k`` seeds of a per-seed difference ``d_i = delta + s_i`` (``s_i`` the seeds' noise, sd
``sigma_d``), plus one test-set sampling error shared by all seeds (sd ``sigma_t``). The statistic
``(mean(d) - delta_0) / sqrt(S^2 / k + sigma_t^2)`` is referred to Student's t on ``k - 1`` degrees
of freedom (:func:`lib.intervals.seed_df`); its power is an exact one-dimensional integral over the
seeds' sample variance (``S^2 ~ sigma_d^2 chi2_{k-1} / (k-1)``), no normal approximation.

What the plan assumes, stated in every row:

- the seed spread ``seed_sd`` of one arm's accuracy over seeds: from an earlier finished record of
  the same experiment and arms (:func:`earlier_spread`) when there is one, else the prior
  :data:`PRIOR_SEED_SD` (the middle of the 0.01-0.06 this lab's runs have shown); the two arms'
  seed noises are taken as independent (``sigma_d = sqrt(2) seed_sd``: conservative, since
  arms sharing a seed's data order are positively correlated);
- the test set's term: for two arms on the same examples, a share :data:`PRIOR_DISAGREEMENT` of
  examples on which they disagree (``sigma_t^2 = disagreement / n``, McNemar's paired term); for
  a fixed comparator (chance, a threshold), the binomial ``p (1 - p) / n`` at ``p = 0.5`` (its
  largest);
- the effect at which power is asked: for an ordering rule (``greater``, ``less``, ``above``) the
  smallest effect that matters, the claim's margin when it has one, else :data:`DEFAULT_EFFECT`;
  for ``no_better`` and ``equivalent`` a true gap of 0 (power to show "no better" when the arms
  are the same);
- the level: Holm's first step, ``alpha / m`` for a family of ``m`` claims (Bonferroni's level, so
  the planned power holds whatever the other claims' p-values are).

A claim whose power at the planned seeds is below :data:`MIN_POWER` is "not testable here (power)"
by the plan, before its outcome exists (:func:`lib.claims.judge` reads the active plan). Rules whose
smallest attainable p cannot pass the level (a log-rank over 3 seeds a group, a permutation test
over 4 ranked items) are untestable by the plan whatever the spread (:func:`smallest_p`).
No TensorFlow here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

ALPHA = 0.05
TARGET_POWER = 0.8  # seeds are chosen to reach this
MIN_POWER = 0.5  # below it a claim is not testable here (power), by the plan
PRIOR_SEED_SD = 0.03  # one arm's accuracy over seeds, when no earlier record of the arm says
PRIOR_DISAGREEMENT = 0.25  # share of test examples two arms answer differently (planned_test_size's guess)
DEFAULT_EFFECT = 0.05  # the smallest accuracy difference that matters, for an ordering rule without a margin
NODES = 1024  # quadrature nodes over the seeds' chi-square

# rules decided by a t statistic, and what each tests
T_RULES = ("greater", "less", "above", "no_better", "equivalent", "greater at every depth", "less than every other")


@dataclass
class Design:
    """One claim's design, fixed before data. ``n_test``: test examples (or clusters) the
    comparison is scored on; ``paired``: the comparator is another arm on the same examples
    (``False``: a fixed number such as chance); ``arms``: the arms compared (for the seed spread of
    an earlier record); ``items``: ranked items (``rank``) or seeds per group (``sooner``)."""

    id: str
    rule: str
    n_test: int | None
    seeds: int
    margin: float | None = None
    family: str = ""
    paired: bool = True
    arms: tuple[str, ...] = ()
    effect: float | None = None
    items: int | None = None
    comparisons: int = 1  # an intersection-union claim's comparisons (all must hold)
    disagreement: float | None = None  # share of test examples the arms answer differently (None: the prior)
    note: str = ""


@dataclass
class Planned:
    """A design's row of the plan: the assumptions, the level and the power."""

    id: str
    rule: str
    family: str
    seeds: int
    n_test: int | None
    margin: float | None
    effect: float
    seed_sd: float
    seed_sd_from: str
    level: float
    power: float | None  # None: no power formula (the rule's smallest attainable p decides)
    seeds_for_target: int | None  # the fewest seeds reaching TARGET_POWER (None: none up to MAX_SEEDS)
    testable: bool
    why: str = ""
    paired: bool = True
    items: int | None = None
    disagreement: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


MAX_SEEDS = 30


def _chi_nodes(k: int) -> np.ndarray:
    """Quadrature nodes of ``chi2_{k-1} / (k-1)`` (equal-probability midpoints); ``[1]`` for k < 2."""
    if k < 2:
        return np.ones(1)
    q = (np.arange(NODES) + 0.5) / NODES
    return stats.chi2.ppf(q, k - 1) / (k - 1)


def t_power(rule: str, k: int, sigma_d: float, sigma_t: float, level: float, effect: float,
            margin: float | None = None) -> float:
    """Power of ``rule``'s test (as :func:`lib.intervals.rule_p_values` decides it, at ``level``)
    under the two-level model: true difference ``effect``, per-seed difference sd ``sigma_d``,
    shared test-set sd ``sigma_t``, ``k`` seeds, reference t on ``k - 1`` df."""
    if k < 1:
        return 0.0
    x = _chi_nodes(k)
    se = np.sqrt(sigma_d ** 2 * x / k + sigma_t ** 2)  # the estimated standard error, per node
    tau = math.sqrt(sigma_d ** 2 / k + sigma_t ** 2)  # the true sd of the mean difference
    if tau <= 0:
        return 1.0
    df = k - 1 if k > 1 else math.inf
    if rule in ("greater", "less", "above", "greater at every depth", "less than every other"):
        c = stats.t.ppf(1 - level / 2, df)  # two-sided p < level, in the claimed direction
        d = abs(effect)
        return float(np.mean(stats.norm.cdf((d - c * se) / tau)))
    if margin is None or margin <= 0:
        raise ValueError(f"rule {rule!r} needs a positive margin")
    c = stats.t.ppf(1 - level, df)
    upper = stats.norm.cdf((margin - effect - c * se) / tau)  # P(mean + c se < margin)
    if rule == "no_better":
        return float(np.mean(upper))
    if rule == "equivalent":
        lower = stats.norm.cdf((-margin - effect + c * se) / tau)  # P(mean - c se < -margin)
        return float(np.mean(np.clip(upper - lower, 0, 1)))
    raise ValueError(f"no power formula for rule {rule!r}")


def smallest_p(rule: str, items: int | None) -> float | None:
    """The smallest p-value a rule's test can give at its design, where that is bounded away from
    0: ``rank`` (exact permutation test over ``items`` ranked items: 1 / items!) and ``sooner``
    (log-rank with ``items`` runs a group: every run of A reaching the target before any of B).
    ``None`` where the test's p can be as small as the data make it."""
    if rule == "rank" and items:
        return 1 / math.factorial(items) if items <= 12 else 0.0
    if rule == "sooner" and items:
        from lib.intervals import logrank

        a = np.arange(1.0, items + 1)
        got = logrank(a, [True] * items, a + 100.0, [False] * items)
        return 2 * min(got["p_sooner"], got["p_later"])
    return None


def sigmas(design: Design, seed_sd: float) -> tuple[float, float]:
    """``(sigma_d, sigma_t)`` for a design at one arm's seed spread ``seed_sd``: the test set's term
    from the design's measured ``disagreement`` (an earlier record's null test-set term) or the prior."""
    n = design.n_test or 0
    if design.paired:
        sigma_d = math.sqrt(2) * seed_sd
        dis = design.disagreement if design.disagreement is not None else PRIOR_DISAGREEMENT
        sigma_t = math.sqrt(dis / n) if n else 0.0
    else:
        sigma_d = seed_sd
        sigma_t = math.sqrt(0.25 / n) if n else 0.0
    return sigma_d, sigma_t


def design_power(design: Design, seeds: int, seed_sd: float, level: float) -> float:
    """The power of one design at ``seeds`` seeds (for an intersection-union claim: every
    comparison must pass, taken as independent: the product)."""
    if design.rule not in T_RULES:
        return float("nan")  # no formula: plan() reports the rule's smallest attainable p instead
    effect = design.effect if design.effect is not None else (
        0.0 if design.rule in ("no_better", "equivalent") else (design.margin or DEFAULT_EFFECT))
    sd, st = sigmas(design, seed_sd)
    one = t_power(design.rule, seeds, sd, st, level, effect, design.margin)
    return one ** max(1, design.comparisons)


def plan(designs: list[Design], spreads: dict[str, tuple[float, str]] | None = None, alpha: float = ALPHA,
         family_sizes: dict[str, int] | None = None) -> list[Planned]:
    """The plan of every design: its level (``alpha`` over its family's size, the family being the
    designs sharing ``family`` unless ``family_sizes`` says more, e.g. a seed document's claims in
    other reports), its seed spread (``spreads``: design id -> (sd, where it comes from), else the
    prior), its power at its seeds, the seeds that would reach :data:`TARGET_POWER`, and whether it
    is testable (power >= :data:`MIN_POWER`, and a smallest attainable p below the level)."""
    spreads = spreads or {}
    sizes: dict[str, int] = {}
    for d in designs:
        sizes[d.family] = sizes.get(d.family, 0) + 1
    sizes.update({k: max(v, sizes.get(k, 0)) for k, v in (family_sizes or {}).items()})
    out = []
    for d in designs:
        level = alpha / max(1, sizes.get(d.family, 1))
        sd, where = spreads.get(d.id, (PRIOR_SEED_SD, f"prior {PRIOR_SEED_SD:g}"))
        floor = smallest_p(d.rule, d.items)
        effect = d.effect if d.effect is not None else (
            0.0 if d.rule in ("no_better", "equivalent") else (d.margin or DEFAULT_EFFECT))
        if floor is not None:
            ok = floor < level
            out.append(Planned(d.id, d.rule, d.family, d.seeds, d.n_test, d.margin, effect, sd, where, level,
                               None, None, ok,
                               why=f"smallest attainable p {floor:.3g} {'<' if ok else '>='} level {level:.3g}"
                                   + ("" if ok else ": cannot pass its Holm threshold; needs more seeds or items")))
            continue
        if d.rule not in T_RULES:
            out.append(Planned(d.id, d.rule, d.family, d.seeds, d.n_test, d.margin, effect, sd, where, level,
                               None, None, True, why=f"no power formula for rule {d.rule!r}: not planned"))
            continue
        pw = design_power(d, d.seeds, sd, level)
        need = next((k for k in range(max(2, d.seeds), MAX_SEEDS + 1) if design_power(d, k, sd, level) >= TARGET_POWER),
                    None) if pw < TARGET_POWER else d.seeds
        ok = pw >= MIN_POWER
        why = (f"power {pw:.2f} at {d.seeds} seeds" + ("" if ok else f" < {MIN_POWER}: not testable here (power)")
               + ("" if need is None or need == d.seeds else f"; {need} seeds would reach {TARGET_POWER}")
               + (f"; no seed count up to {MAX_SEEDS} reaches {TARGET_POWER} (the test set's term or the level "
                  "needs a larger design)" if need is None else ""))
        out.append(Planned(d.id, d.rule, d.family, d.seeds, d.n_test, d.margin, effect, sd, where, level, pw, need,
                           ok, why=why))
    for r, d in zip(out, designs):
        r.paired, r.items, r.disagreement = d.paired, d.items, d.disagreement
    return out


# --------------------------------------------------------------------------- the plan a report runs under

_ACTIVE: dict[str, dict] = {}


def activate(rows: list[Planned] | list[dict] | None) -> None:
    """Make ``rows`` the plan :func:`lib.claims.judge` consults (``None``: no plan)."""
    _ACTIVE.clear()
    for r in rows or []:
        r = r.as_dict() if isinstance(r, Planned) else r
        _ACTIVE[r["id"]] = r


def planned(claim_id: str) -> dict | None:
    """The active plan's row for ``claim_id``, or ``None``."""
    return _ACTIVE.get(claim_id)


def earlier_record(outputs: str | Path, notebook: str, experiment: str) -> dict:
    """The newest finished record of ``notebook/experiment`` under ``outputs`` (``{}``: none)."""
    best = None
    for path in Path(outputs, notebook).glob(f"{experiment}.*.json"):
        if path.name.endswith((".partial.json", ".failed.json")):
            continue
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if rec.get("status") == "ok" and (best is None or (rec.get("started_unix") or 0) > (best.get("started_unix") or 0)):
            best = rec
    return best or {}


def earlier_disagreements(outputs: str | Path, notebook: str, experiment: str) -> dict[str, float]:
    """Per claim id, the share of test examples its two arms answered differently in the newest
    finished record (from the null test-set term its interval kept: ``se_null_test^2 * n``)."""
    out = {}
    for c in earlier_record(outputs, notebook, experiment).get("claims") or []:
        iv = c.get("interval") if isinstance(c, dict) else None
        if iv and iv.get("n_test") and iv.get("se_null_test") and "paired" in (iv.get("method") or ""):
            out[c["id"]] = float(min(1.0, max(iv["se_null_test"] ** 2 * iv["n_test"], 0.01)))
    return out


def earlier_spread(outputs: str | Path, notebook: str, experiment: str) -> dict[str, float]:
    """Per arm, the sd over seeds of its test accuracy in the newest finished record of
    ``notebook/experiment`` under ``outputs`` (the seed spread a plan may take instead of the prior)."""
    best = earlier_record(outputs, notebook, experiment)
    out = {}
    for arm, by_seed in ((best or {}).get("test_acc") or {}).items():
        vals = [float(v) for v in (by_seed or {}).values() if v is not None]
        if len(vals) >= 3:
            out[arm] = float(np.std(vals, ddof=1))
    return out


def spreads_for(designs: list[Design], per_arm: dict[str, float], where: str) -> dict[str, tuple[float, str]]:
    """Each design's seed spread from ``per_arm`` (the larger of its arms'), when every arm has one."""
    out = {}
    for d in designs:
        got = [per_arm[a] for a in d.arms if a in per_arm]
        if d.arms and len(got) == len(d.arms):
            out[d.id] = (max(max(got), 0.005), where)  # never below 0.005: three seeds can agree by chance
    return out


def table(rows: list[Planned]):
    """The plan as a DataFrame, one row per claim, narrow enough for a page: the family, its level
    and the effect asked are said once above it (:func:`lib.report.power_plan`)."""
    import pandas as pd

    def seed_sd(r: Planned) -> str:
        return f"{r.seed_sd:.3f}" + (" (prior)" if r.seed_sd_from.startswith("prior") else " (earlier run)")

    def disagreement(r: Planned) -> str:
        if not r.paired or r.rule not in T_RULES or not r.n_test:
            return ""
        return f"{r.disagreement:.2f}" if r.disagreement is not None else f"{PRIOR_DISAGREEMENT:g} (prior)"

    def verdict(r: Planned) -> str:
        if r.power is None:
            return "yes" if r.testable else "no: " + r.why.split(":")[0]
        return "yes" if r.testable else "no (power)"

    return pd.DataFrame([{"claim": r.id, "rule": r.rule, "seeds": r.seeds, "test examples": r.n_test,
                          "margin": r.margin, "disagreement": disagreement(r), "seed sd": seed_sd(r),
                          "power": None if r.power is None else round(r.power, 2),
                          f"seeds for {TARGET_POWER}": r.seeds_for_target, "testable": verdict(r)} for r in rows]
                        ).astype({"test examples": "Int64", f"seeds for {TARGET_POWER}": "Int64"})



# --------------------------------------------------------------------------- the context a report judges in

_CONTEXT: dict[str, Any] = {}


def begin(family_sizes: dict[str, int], seed_sd: float = PRIOR_SEED_SD, seed_sd_from: str = "",
          alpha: float = ALPHA, experiment: str = "", spreads: dict[str, tuple[float, str]] | None = None,
          disagreements: dict[str, float] | None = None) -> dict:
    """Open the plan a report judges its claims under (:func:`lib.report.begin` calls it before any
    data): the size of each Holm family the run plan names (every claim of a seed document over all
    its reports, judged or not), the seed spread the plan assumes and where it comes from. From then
    on :func:`plan_claim` gives each claim's planned power from its design alone, and
    :func:`lib.claims.judge` gates on it. Returns the context (the record keeps it)."""
    _CONTEXT.clear()
    _CONTEXT.update({"family_sizes": dict(family_sizes), "seed_sd": float(seed_sd),
                     "seed_sd_from": seed_sd_from or f"prior {PRIOR_SEED_SD:g}", "alpha": alpha,
                     "experiment": experiment, "spreads": dict(spreads or {}),
                     "disagreements": dict(disagreements or {}), "rows": []})
    return _CONTEXT


def end() -> None:
    """No plan: :func:`plan_claim` returns ``None`` (claims judged outside a report)."""
    _CONTEXT.clear()


def context() -> dict:
    return _CONTEXT


def plan_claim(id: str, family: str, rule: str, *, margin: float | None, n_test: int | None, seeds: int,
               paired: bool = True, items: int | None = None, comparisons: int = 1) -> dict | None:
    """The plan's row for one claim from its design alone (rule, margin, seeds, test examples; never
    its values), under the active context (:func:`begin`); ``None`` without one."""
    if not _CONTEXT:
        return None
    sizes = _CONTEXT["family_sizes"]
    d = Design(id, rule, n_test, seeds, margin=margin, family=family, paired=paired, items=items, comparisons=comparisons,
               disagreement=_CONTEXT.get("disagreements", {}).get(id))
    spread = _CONTEXT["spreads"].get(id, (_CONTEXT["seed_sd"], _CONTEXT["seed_sd_from"]))
    (row,) = plan([d], {id: spread}, _CONTEXT["alpha"],
                  {family: max(1, sizes.get(family, 1))})
    out = row.as_dict()
    _CONTEXT["rows"] = [r for r in _CONTEXT["rows"] if r["id"] != id] + [out]
    return out


def earlier_designs(outputs: str | Path, notebook: str, experiment: str, seeds: int) -> list[Design]:
    """The designs of the claims the newest finished record of ``notebook/experiment`` judged under
    a plan (their ``power`` rows: rule, margin, test examples, family), at ``seeds`` seeds: the
    parameters fix a design, so a rerun's claims have the same ones before any of its data."""
    best = earlier_record(outputs, notebook, experiment)
    out = []
    for c in best.get("claims") or []:
        row = c.get("power") if isinstance(c, dict) else None
        if row:
            out.append(Design(row["id"], row["rule"], row.get("n_test"), seeds, margin=row.get("margin"),
                              family=row.get("family", ""), paired=row.get("paired", True), items=row.get("items"),
                              disagreement=row.get("disagreement")))
    return out
