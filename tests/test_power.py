"""The judging path on known answers at realistic seed spread: family-wise error of null families
through the path the summary uses (judge -> family -> Holm), and the power plan against simulation."""

import math

import numpy as np
import pytest
from scipy import stats

from lib import claims as C
from lib import intervals as I
from lib import power as W


def _family(rng, rule, k, n, seed_sd, margin, m=20, gap=0.0):
    """``m`` claims of one seed document's family, each two arms on one shared test set of ``n``
    examples: every example has an arm-specific probability of being answered right (the arms'
    systematic differences, shared by all seeds: the test-set term), every seed shifts that
    probability by N(0, seed_sd) (the seeds' term) and draws the outcomes. ``gap``: A's true
    advantage (0 for "greater" under the null, the margin for "no better than" at its null)."""
    logit = rng.normal(0.8, 0.7, (m, 1, n))
    out = []
    for shift in (gap, 0.0):
        q = stats.norm.cdf(logit + 0.8 * rng.normal(size=(m, 1, n)))  # this arm's per-example skill
        q = np.clip(q + shift + rng.normal(0, seed_sd, (m, k, 1)), 0, 1)  # a seed's shift
        out.append((rng.random((m, k, n)) < q).astype(float))
    ca, cb = out
    fam = []
    for i in range(m):
        c = C.judge(f"c{i}", "seed 002", "h", rule=rule, a=ca[i].mean(1), b=cb[i].mean(1), margin=margin,
                    outcomes=(ca[i], cb[i]), quote="q", said_by="asker")
        fam.append(c.as_dict())
    return fam


CELLS = [(rule, k, n, sd) for rule in ("greater", "no_better") for k in (3, 5) for n in (180, 2600)
         for sd in (0.005, 0.02, 0.04)]


@pytest.mark.parametrize("rule,k,n,sd", CELLS)
def test_null_families_keep_their_family_wise_error(rule, k, n, sd):
    W.end()
    rng = np.random.default_rng(hash((rule, k, n, sd)) % 2 ** 32)
    sims, errors = 100, 0
    margin = 0.03 if rule == "no_better" else None
    for _ in range(sims):
        fam = _family(rng, rule, k, n, sd, margin, gap=margin or 0.0)
        errors += any(v == C.REPRODUCED for v in C.adjusted_verdicts(fam))
    assert errors / sims <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / sims)


def test_welch_df_was_anti_conservative_and_k_minus_1_is_not():
    # the audit's case: 3 seeds, test-set term and seed term of similar size, nominal 0.0025
    rng = np.random.default_rng(0)
    sims, k, sd_seed, sd_test = 40_000, 3, 0.02 * math.sqrt(2), 0.011
    d = rng.normal(0, sd_seed, (sims, k)) + rng.normal(0, sd_test, (sims, 1))
    v_seed = d.var(axis=1, ddof=1) / k
    se = np.sqrt(v_seed + sd_test ** 2)
    welch = (v_seed + sd_test ** 2) ** 2 * (k - 1) / v_seed ** 2
    t = np.abs(d.mean(1)) / se
    p_welch = 2 * stats.t.sf(t, welch)
    p_now = 2 * stats.t.sf(t, I.seed_df(k))
    assert np.mean(p_welch < 0.0025) > 0.005  # the old reference: more than twice its level
    assert np.mean(p_now < 0.0025) <= 0.0025 + 3 * math.sqrt(0.0025 / sims)


DESIGNS = [  # (rule, seeds, test examples, margin, seed sd, true effect): the lab's default sizes
    ("no_better", 3, 1770, 0.05, 0.02, 0.0),
    ("no_better", 5, 1200, 0.03, 0.01, 0.0),
    ("greater", 3, 2600, None, 0.02, 0.08),
    ("greater", 5, 180, None, 0.03, 0.15),
    ("equivalent", 5, 2600, 0.05, 0.02, 0.0),
    ("no_better", 10, 2600, 0.03, 0.04, 0.0),
]


@pytest.mark.parametrize("rule,k,n,margin,sd,effect", DESIGNS)
def test_planned_power_is_met_in_simulation(rule, k, n, margin, sd, effect):
    """The plan's model simulated through the claims contract: per-seed differences with the seeds'
    spread, one shared test-set error, the test-set term given as the design's (``test_var``)."""
    W.end()
    d = W.Design("x", rule, n, k, margin=margin, effect=effect)
    sigma_d, sigma_t = W.sigmas(d, sd)
    planned = W.design_power(d, k, sd, 0.05)
    rng = np.random.default_rng(k * 1000 + n)
    sims, hits = 600, 0
    for _ in range(sims):
        diff = effect + rng.normal(0, sigma_t) + rng.normal(0, sigma_d, k)
        v, _ = C.rule_verdict(rule, diff, 0.0, margin=margin, test_var=sigma_t ** 2)
        hits += v == C.REPRODUCED
    assert abs(hits / sims - planned) <= 0.1, (hits / sims, planned)


def test_power_grows_with_seeds_and_test_examples_and_the_plan_says_what_is_not_testable():
    lo = W.design_power(W.Design("x", "no_better", 500, 3, margin=0.03), 3, 0.03, 0.05)
    more_seeds = W.design_power(W.Design("x", "no_better", 500, 10, margin=0.03), 10, 0.03, 0.05)
    more_test = W.design_power(W.Design("x", "no_better", 20000, 3, margin=0.03), 3, 0.03, 0.05)
    assert lo < more_seeds and lo < more_test
    rows = W.plan([W.Design("a", "no_better", 180, 3, margin=0.02, family="seed 003"),
                   W.Design("b", "greater", 5000, 5, margin=0.2, family="seed 003")])
    a, b = rows
    assert a.level == b.level == 0.025  # two claims in the family: Holm's first step
    assert not a.testable and "not testable here (power)" in a.why
    assert b.testable and b.power > 0.8 and b.seeds_for_target == 5
    # a rule whose smallest attainable p cannot pass its level is untestable whatever the spread
    (r,) = W.plan([W.Design("t", "sooner", None, 3, family="seed 001", items=3)], family_sizes={"seed 001": 11})
    assert not r.testable and "smallest attainable p" in r.why
    assert W.smallest_p("rank", 4) == pytest.approx(1 / 24)


def test_judge_gates_on_the_plan_never_on_the_outcome():
    W.begin({"seed 002": 10}, seed_sd=0.03, seed_sd_from="prior")
    try:
        strong = C.judge("s", "seed 002", "h", rule="no_better", a=[0.80, 0.80, 0.80], b=[0.80, 0.80, 0.80],
                         margin=0.02, n_test=200, quote="q", said_by="asker")
        weak = C.judge("w", "seed 002", "h", rule="no_better", a=[0.70, 0.90, 0.80], b=[0.80, 0.60, 0.95],
                       margin=0.02, n_test=200, quote="q", said_by="asker")
        # same design, different outcomes: the same plan row and the same gate
        assert strong.power["power"] == weak.power["power"] < W.MIN_POWER
        assert strong.verdict == weak.verdict == C.NOT_TESTABLE and "power" in strong.reason
        # three seeds cannot reach Holm's first step (t on 2 df); ten seeds on 20,000 examples can
        few = C.judge("f", "seed 002", "h", rule="greater", a=[0.95, 0.95, 0.96], b=[0.5, 0.51, 0.5], n_test=20000,
                      quote="q", said_by="asker")
        assert not few.power["testable"] and few.interval_verdict == C.REPRODUCED and few.verdict == C.NOT_TESTABLE
        W.begin({"seed 002": 10}, seed_sd=0.005, seed_sd_from="an earlier record")
        big = C.judge("b", "seed 002", "h", rule="greater", a=[0.95, 0.95, 0.96, 0.95, 0.95] * 2,
                      b=[0.5, 0.51, 0.5, 0.5, 0.49] * 2, n_test=20000, quote="q", said_by="asker")
        assert big.power["testable"] and big.verdict == C.REPRODUCED
        assert [r["id"] for r in W.context()["rows"]] == ["b"]  # begin() opened a new plan
    finally:
        W.end()
    assert C.judge("s", "seed 002", "h", rule="greater", a=[0.9] * 3, b=[0.5] * 3, n_test=200, quote="q").power is None


def test_declared_designs_name_the_claims_their_study_owes():
    from lib import params as P
    from lib import registry

    checked = 0
    for notebook in registry.STUDIES:
        declared = registry.designs(notebook)
        if declared is None:
            continue
        for f in sorted((P.REPO_ROOT / "params" / notebook).glob("*.yaml")):
            p = P.validate(P.load_overlays([f]), P.read_parameters(P.NOTEBOOK_DIR / f"{notebook}.ipynb").specs,
                           notebook=notebook)
            designs = declared(p)
            assert {d.id for d in designs} <= set(registry.claims(notebook)(p)), f
            assert all(d.seeds == p["n_seeds"] and d.rule in (*W.T_RULES, "sooner", "rank") for d in designs)
            checked += len(designs)
    assert checked >= 10


def test_split_sizes_match_the_split():
    from lib import checks, data

    for n in (1350, 896, 8000, 37):
        y = np.arange(n) % 2
        task = data.split_task("x", np.zeros((n, 1)), y, ["a", "b"])
        assert checks.split_sizes(n) == task.sizes()


def _study_designs():
    """The distinct designs the lab's studies declare for ``make all`` (rule, test examples, seeds,
    margin, paired), from their parameter files."""
    from lib import params as P
    from lib import registry

    out = {}
    for notebook in registry.STUDIES:
        declared = registry.designs(notebook)
        for f in sorted((P.REPO_ROOT / "params" / notebook).glob("*.yaml")) if declared else []:
            if registry.extended(f"{notebook}/{f.stem}"):
                continue
            p = P.validate(P.load_overlays([f]), P.read_parameters(P.NOTEBOOK_DIR / f"{notebook}.ipynb").specs,
                           notebook=notebook)
            for d in declared(p):
                if d.rule in W.T_RULES:
                    out[(d.rule, d.n_test, d.seeds, d.margin, d.paired)] = f"{notebook}/{f.stem}"
    return sorted(out.items(), key=str)


@pytest.mark.parametrize("sd", [0.01, 0.04])
def test_each_studys_planned_power_is_met_in_simulation(sd):
    """Every design a study declares, simulated under the plan's model through the claims contract
    at the unadjusted level (where the powers are not all 0): within 0.1 of the plan."""
    W.end()
    rng = np.random.default_rng(int(sd * 1000))
    designs = _study_designs()
    assert len(designs) >= 6
    for (rule, n, k, margin, paired), where in designs:
        d = W.Design("x", rule, n, k, margin=margin, paired=paired)
        sigma_d, sigma_t = W.sigmas(d, sd)
        effect = 0.0 if rule in ("no_better", "equivalent") else (margin or W.DEFAULT_EFFECT)
        planned = W.design_power(d, k, sd, 0.05)
        sims, hits = 300, 0
        for _ in range(sims):
            diff = effect + rng.normal(0, sigma_t) + rng.normal(0, sigma_d, k)
            v, _ = C.rule_verdict(rule, diff, 0.0, margin=margin, test_var=sigma_t ** 2)
            hits += v == C.REPRODUCED
        assert abs(hits / sims - planned) <= 0.1, (where, rule, n, k, margin, hits / sims, planned)
