"""The transferability study without TensorFlow: Yosinski's arms, the claims (Yosinski et al. 2014, You
et al. 2021) and the controls through the claims contract, the claim ids a run owes and the checks
before any kernel (``lib.registry.STUDIES`` points here). :mod:`lib.studies.transferability` runs the
study and re-exports these names."""

from __future__ import annotations

from lib.checks import folder_problem, hint, one_arch, weights_problem

# the claim ids this study records (lib.registry reads them through claim_ids)
ANB_PLUS, ANB_DROP, LOGME_RANKS = "literature.yosinski.anb_plus", "literature.yosinski.anb_drop", "literature.logme.ranks"
LOGME_RANKS_FROZEN, LOGME_RANKS_PROBE = "literature.logme.ranks_frozen", "literature.logme.ranks_probe"
# LogME's ranking of the cuts read against three accuracies (thuml/LogME #19 asks which one it predicts):
# claim id -> (what is realised, the arm that must run for it, or None for the probe, which always runs)
LOGME_TARGETS = {
    LOGME_RANKS: ("AnB+", "fine-tuning (AnB+, every layer trained)", "You et al.: LogME tracks fine-tuned accuracy"),
    LOGME_RANKS_FROZEN: ("AnB", "frozen transfer (AnB, the copied blocks frozen)",
                         "You et al. score frozen features: LogME should track what they give frozen"),
    LOGME_RANKS_PROBE: ("linear_probe", "a linear probe on the same frozen features (cross-validated on the train split)",
                        "LogME is the evidence of a linear model on the features: it should rank like a linear probe"),
}

# Yosinski et al. 2014 on one backbone: copy the first n blocks, frozen or fine-tuned, against
# the same-task control. Arms (n counts blocks, in the order of ``cut_points``):
#   AnB  - first n blocks from the source weights (task A), frozen; the rest re-initialised, trained on B
#   AnB+ - the same, every layer trained on B
#   BnB  - first n blocks from a network trained on B itself, frozen; the rest re-initialised and
#          trained on B (the same-task control: a drop here is co-adaptation lost, not specificity)
#   B    - trained on B from random weights (n = 0; also the network BnB copies from)

YOSINSKI_ARMS = {
    "AnB": "first n blocks copied from the source and frozen, the rest re-initialised and trained",
    "AnB+": "first n blocks copied from the source, every layer trained",
    "BnB": "first n blocks copied from a network trained on the target itself, frozen (same-task control)",
    "B": "trained on the target from random weights (n = 0)",
}

def arm_problems(arms: list[str]) -> list[str]:
    """What is wrong with a list of Yosinski arms (no TensorFlow: run before any kernel)."""

    problems = []
    for a in arms:
        if a not in YOSINSKI_ARMS:
            problems.append(f"arms: unknown arm {a!r}{hint(a, YOSINSKI_ARMS, 1)} (known: {', '.join(YOSINSKI_ARMS)})")
    if "BnB" in arms and "B" not in arms:
        problems.append("arms: BnB copies from the network B trains; add 'B'")
    if not any(a in arms for a in ("AnB", "AnB+")):
        problems.append("arms: the curve needs AnB or AnB+ (what the source weights give at each depth)")
    return problems


def control_arm(arms: list[str], cuts: list[str]) -> tuple[str, str | None]:
    """The arm the negative control re-runs on shuffled labels: B where it runs, else AnB at the
    deepest cut (a head on frozen features: cheap)."""
    return ("B", None) if "B" in arms else ("AnB", cuts[-1])


def positive_arm(arms: list[str]) -> tuple[str, int]:
    """The arm (and depth n) whose runs on the true labels the positive control reads, named by
    rule before any result: B where it runs, else the copied arm at the shallowest cut (n = 1,
    the most of the network trained on the target)."""
    return ("B", 0) if "B" in arms else ("AnB" if "AnB" in arms else "AnB+", 1)


def claims(per: dict, n_cuts: int, arms: list[str], *, majority: float, n_test: int, n_seeds: int, source, ranks: dict,
           n_estimates: int, correct: dict | None = None, data: str = "stand-in") -> list:
    """Yosinski's and You et al.'s findings as claims, from ``per[(arm, n)]`` (test accuracy per
    seed; B at n = 0). A finding whose arms did not run at this scale is not testable, with that
    premise named (e.g. AnB+ at the ``paper`` profile only). ``ranks``: LogME's Spearman rho over
    the ``n_estimates`` cuts against each accuracy of :data:`LOGME_TARGETS` that was measured,
    ``{"AnB+" | "AnB" | "linear_probe": (rho, interval or None)}`` (:func:`lib.studies.transferability.rank_panel`;
    the interval: over seeds and test images, shown beside the permutation test's verdict).
    ``correct``: :func:`outcomes` (per test image, per seed), which pairs the test-set term over
    the images the compared arms share (without it: two independent binomials); ``data``:
    "stand-in" (the built-in target) or "user" (``image_dir``)."""

    from lib import claims as C

    base = [C.enough_seeds(n_seeds), *([source] if source else [])]

    def pair(x, y):
        return C.paired_outcomes((correct or {}).get(x), (correct or {}).get(y))

    def ran(*need):
        missing = [a for a in need if a not in arms]
        return C.Premise(f"arms {' and '.join(need)} run", not missing, detail="" if not missing else
                         f"{', '.join(missing)} not in this experiment's arms (a cost choice; the paper profile runs them)")

    out = []
    p1 = None
    if all(a in arms for a in ("AnB+", "B")):
        ivs = [C.rule_verdict("greater", per[("AnB+", n)], per[("B", 0)], n_test, outcomes=pair(("AnB+", n), ("B", 0)))[1]
               for n in range(1, n_cuts + 1)]
        v1, p1 = C.every("greater", ivs)  # at every depth: an intersection-union test
        prem = [*base, ran("AnB+", "B"), C.above_chance("B", per[("B", 0)], majority, n_test)]
        evidence = "; ".join(f"n={n} {iv.text()}" for n, iv in enumerate(ivs, 1))
    else:
        v1, prem, evidence = C.INCONCLUSIVE, [*base, ran("AnB+", "B")], "not run at this scale"
    out.append(C.judge(ANB_PLUS, "literature",
                       "copied-then-fine-tuned (AnB+) beats training from scratch (B) at every depth",
                       rule="greater at every depth", verdict=v1, comparator="B", premises=prem, evidence=evidence,
                       seed_reported="Yosinski et al.: AnB+ above B by 1-2 points", data=data, p_value=p1,
                       power_design=None if p1 is None else {"margin": None, "n_test": n_test, "seeds": len(per[("B", 0)]),
                                                             "comparisons": n_cuts}))
    if "AnB" in arms:
        out.append(C.judge(ANB_DROP, "literature",
                           "frozen transfer (AnB) drops with depth (n=1 above n=all)", rule="greater",
                           a=per[("AnB", 1)], b=per[("AnB", n_cuts)], n_test=n_test, comparator=f"AnB n={n_cuts}",
                           outcomes=pair(("AnB", 1), ("AnB", n_cuts)), data=data,
                           premises=[*base, C.above_chance("AnB n=1", per[("AnB", 1)], majority, n_test),
                                     C.Premise("at least 2 depths", n_cuts >= 2, value=n_cuts, threshold=2)],
                           seed_reported="Yosinski et al.: AnB falls as n grows"))
    else:
        out.append(C.judge(ANB_DROP, "literature",
                           "frozen transfer (AnB) drops with depth (n=1 above n=all)", rule="greater",
                           verdict=C.INCONCLUSIVE, premises=[*base, ran("AnB")], evidence="not run at this scale",
                           seed_reported="Yosinski et al.: AnB falls as n grows"))
    for cid, (target, what, reported) in LOGME_TARGETS.items():
        out.append(logme_rank_claim(cid, target, what, reported, ranks, n_estimates, arms, base, data))
    return out


def logme_rank_claim(cid: str, target: str, what: str, reported: str, ranks: dict, n_estimates: int, arms: list[str],
                     base: list, data: str):
    """"LogME ranks the cuts as ``target`` does": reproduced when Spearman's rho over the cuts is
    significantly above 0 by the exact permutation test (:func:`lib.intervals.spearman_p`), not
    reproduced when significantly below; premises: the arm ran, at least 3 cuts (3 cannot reach
    p < 0.05: a perfect ranking of 3 is 1 in 6 by chance, so the verdict is then inconclusive)."""
    from lib import claims as C

    hyp = f"LogME, before training, ranks the cuts as {what} does (a positive rank correlation)"
    ran = target == "linear_probe" or target in arms
    prem = [*base, C.Premise(f"arm {target} runs", ran, detail="" if ran else
                             f"{target} not in this experiment's arms (a cost choice)"),
            C.Premise("at least 3 cuts", n_estimates >= 3, value=n_estimates, threshold=3)]
    if not ran or target not in ranks:
        return C.judge(cid, "literature", hyp, rule="rank", verdict=C.INCONCLUSIVE, premises=prem,
                       evidence="not run at this scale", data=data, seed_reported=reported)
    rho, interval = ranks[target]
    p_pos, p_neg = C.spearman_p(rho, n_estimates)
    verdict = C.REPRODUCED if p_pos < 0.05 else C.NOT_REPRODUCED if p_neg < 0.05 else C.INCONCLUSIVE
    name = "the linear probe's cross-validated accuracy" if target == "linear_probe" else f"{target} test accuracy"
    return C.judge(cid, "literature", hyp, rule="rank", verdict=verdict, p_value=min(p_pos, p_neg), premises=prem,
                   power_design={"margin": None, "n_test": None, "seeds": n_estimates, "items": n_estimates},
                   evidence=f"Spearman rho {rho:+.2f} over {n_estimates} cuts against {name}"
                            + (f" (95% bootstrap interval over seeds and test images [{interval[0]:+.2f}, "
                               f"{interval[1]:+.2f}])" if interval else "")
                            + f"; exact permutation p {p_pos:.3g} (rho > 0), {p_neg:.3g} (rho < 0)",
                   data=data, seed_reported=reported)


def control_name(arm: str, n_cuts: int) -> str:
    return "B (from scratch)" if arm == "B" else f"AnB n={n_cuts} (a new head on the frozen base)"


def controls(per: dict, arms: list[str], n_cuts: int, negative, majority: float, n_test: int) -> list:
    """The positive control (:func:`positive_arm` on the true labels beats the majority rate) and,
    when it ran, the negative one."""
    from lib import claims as C

    arm, n = positive_arm(arms)
    name = "B (from scratch)" if arm == "B" else f"{arm} n={n}"
    out = [C.positive_control("literature.control.positive", f"{name} on the true labels", per[(arm, n)], majority,
                              n_test)]
    if negative:
        who = control_name("B" if "B" in arms else "AnB", n_cuts)  # control_arm's choice
        out.append(C.negative_control("literature.control.negative", who, negative, majority, n_test))
    return out


def claim_ids(p: dict) -> list[str]:
    """The claims every run judges (not testable, naming why, where its arms did not run)."""
    return [ANB_PLUS, ANB_DROP, *LOGME_TARGETS]


def check(p: dict) -> None:
    """The study's rules, checked on merged parameters before any kernel (``check`` in ``lib.registry.STUDIES``): every
    problem in one ``ValueError``."""
    none = ("weights: must name task A's weights (source, imagenet or a file); 'none' has nothing to transfer"
            if p["weights"] in ("none", "") else None)
    one_arch("transferability", p, [none, weights_problem(p["weights"], set()),
                                     folder_problem("image_dir", p["image_dir"], split=True), *arm_problems(p["arms"])])
