"""Seed 001's sign study without TensorFlow: its arms, its verdicts through the claims contract, the
claims a run owes and the checks before any kernel (``lib.registry.STUDIES`` points here; make's
prerequisite pass imports this in milliseconds). :mod:`lib.studies.signs` re-exports these names."""

from __future__ import annotations

import numpy as np

from lib.checks import BLOCKS, WEIGHT_NAMES, arch_name, arm_problems, hint, one_arch, weights_problem
from lib.arms import POLICIES
from lib.datasets.signs import check_country, check_n_classes
from lib.quotes import METHOD_QUOTES

# ---------------------------------------------------------------------------------------------
# The study's arms on the target country (notebooks/signs.ipynb)

SIGN_ARMS = {
    "zero_shot": "the country-A model applied to country B as it is",
    "scratch": "random weights, every layer trained on B",
    "finetune": "the country-A model (base and head), every layer trained on B",
    "frozen": "the country-A convolutions frozen, the head trained on B (a linear probe)",
    "freeze_first:K": "the country-A model with its first K blocks frozen, the rest trained on B",
    "lp_ft": "linear probe, then every layer fine-tuned (Kumar et al. 2022)",
    "surgical:BLOCK": "only one block of the country-A model (and the head) trained on B (Lee et al. 2023)",
    "compute_matched": "from scratch, trained for as many steps as source training and fine-tuning together",
    # the literature's fine-tuning methods (issue 29; lib/arms.py POLICIES), each from the country-A model
    "discriminative:RATIO": "every layer trained, block k at a share of the rate, geometric from 1/RATIO (Howard & Ruder 2018)",
    "l2sp:ALPHA": "every layer trained, pulled toward the country-A weights by ALPHA/2 ||w - w0||^2 (Li et al. 2018)",
    "bss:ETA": "every layer trained, the smallest singular value of each batch's features shrunk (Chen et al. 2019)",
    "lora:RANK": "the country-A kernels frozen with a trained rank-RANK update, the head trained (Hu et al. 2021)",
}
# the policies whose papers the lab quotes (discriminative, l2sp, bss, lora), judged against the comparator arm
METHOD_ARMS = tuple(m for m in METHOD_QUOTES if m in POLICIES)


def method_claim(arm: str, comparator: str) -> tuple[str, str]:
    """(claim, subject arm) for a method arm: the papers say discriminative rates, L2-SP and BSS
    beat plain fine-tuning; LoRA's paper says it matches it (fine-tuning is no better than LoRA)."""
    return (f"no_better_than {arm}", comparator) if arm.startswith("lora:") else (f"beats {comparator}", arm)


def check_arm(name: str) -> str:
    """Refuse an arm name the study does not know, naming the nearest."""
    from lib.checks import table_arm

    return table_arm(name, SIGN_ARMS, "sign-study arm")


# --------------------------------------------------------------------------- the study's verdicts

def catch_up(rows, sizes: list[int], arms: list[str], comparator: str, n_test: int, margin: float):
    """Per target size, whether each from-scratch arm (``scratch``, ``compute_matched``) is within
    ``margin`` of ``comparator`` on country B's test split (an equivalence test): a table, and
    the sizes at which plain scratch caught up."""
    import pandas as pd

    from lib import claims as C

    out = []
    for k in sizes:
        at = rows[rows["size"] == k]
        per = {a: at[at.arm == a].sort_values("seed").test_acc_B.tolist() for a in arms}
        for scratch_arm in [a for a in ("scratch", "compute_matched") if a in arms]:
            v, iv = C.rule_verdict("no_better", per[comparator], per[scratch_arm], n_test, margin=margin)
            out.append({"size": k, "arm": scratch_arm, "against": comparator, f"{comparator} - {scratch_arm}": iv.text(),
                        "caught up": {C.REPRODUCED: "yes (within the margin)", C.NOT_REPRODUCED: "no"}.get(v, "cannot tell")})
    table = pd.DataFrame(out)
    caught = table[(table.arm == "scratch") & table["caught up"].str.startswith("yes")]["size"].tolist() if len(table) else []
    return table, caught


def controls(shift_rows, shift_arms: list[str], comparator: str, n_test: int, n_classes: int,
             negative: list[float] | None = None) -> list:
    """The study's controls: positive (at shift 0, the source country's own signs, ``comparator``
    must beat scratch: transfer must help) when the shift sweep ran shift 0 with both arms; negative
    (``comparator`` on shuffled target labels at chance) when ``negative`` holds its accuracies."""
    from lib import claims as C

    out = []
    if len(shift_rows) and (shift_rows["shift"] == 0).any() and {"scratch", comparator} <= set(shift_arms):
        zero = shift_rows[shift_rows["shift"] == 0]
        per0 = {a: zero[zero.arm == a].sort_values("seed").test_acc_B.tolist() for a in ("scratch", comparator)}
        cor = ({a: zero[zero.arm == a].sort_values("seed").correct_B.tolist() for a in ("scratch", comparator)}
               if "correct_B" in zero else None)  # both arms answer the same test signs: pair that term
        out.append(C.judge("signs.control.positive", "control", f"at shift 0 (the source country's own signs) {comparator} "
                           "beats scratch: transfer must help", rule="greater", a=per0[comparator], b=per0["scratch"],
                           outcomes=C.paired_outcomes(cor[comparator], cor["scratch"]) if cor else None,
                           n_test=n_test, comparator="scratch", kind="control", expected=C.REPRODUCED))
    if negative:
        out.append(C.negative_control("signs.control.negative", comparator, negative, 1 / n_classes, n_test))
    return out


def claims(rows, src_rows, *, arms: list[str], comparator: str, sizes: list[int], n_classes: int, batch_size: int,
           n_seeds: int, target_accuracy: float, margin: float, n_val: int, n_test: int, source_inits: list[str],
           source_premise, src_n_val: int, src_n_test: int, data: str = "stand-in") -> list:
    """Seed 001's claims on the classifier study (``data``: "stand-in" for the built-in signs, "user"
    for a user's ``sign_dir``), judged through the claims contract: scratch
    beats each transfer arm at the smallest target size; scratch converges in fewer optimizer
    steps than ``comparator``; scratch gives better results than ``comparator`` at the largest
    target size (the answer's "better results, but it is much costly", the cost measured beside
    it); freezing gives no speed-up (not testable: this project's frozen arm trains on cached
    features, a different system); pre-trained initialisation does not help the
    first country (against the country-A model from scratch)."""
    import pandas as pd

    from lib import claims as C, results

    k0 = min(sizes)
    at = rows[rows["size"] == k0]
    cols = ["test_acc", "val_acc"] + (["test_correct"] if "correct_B" in at else [])
    per_arm = {a: at[at.arm == a].sort_values("seed").rename(columns={"test_acc_B": "test_acc", "correct_B": "test_correct"})
               [cols].assign(train_acc=np.nan).to_dict(orient="list") for a in arms}
    said = "from scratch converged fastest; every transfer arm stayed at a higher loss"
    # the asker's words: transfer "doesn't have any advantage at all" (an equivalence claim at the margin)
    out = [results.judge_claim("no_better_than scratch", other, per_arm, 1 / n_classes, n_val=n_val, n_test=n_test,
                               margin=margin, source="seed 001", seed_reported=said, data=data)
           for other in [a for a in NO_ADVANTAGE_ARMS if a in arms] if "scratch" in arms]
    for m in [a for a in arms if a.partition(":")[0] in METHOD_ARMS] if comparator in arms else []:
        # the papers' claims at the fewest target examples (where they say the methods help most)
        claim, subject = method_claim(m, comparator)
        out.append(results.judge_claim(claim, subject, per_arm, 1 / n_classes,
                                       n_val=n_val, n_test=n_test, margin=margin, source="literature",
                                       seed_reported=f"at {k0} examples per class, against {comparator}", data=data))
    if "scratch" in arms and comparator in arms:
        spe = -(-k0 * n_classes // batch_size)  # optimizer steps per epoch at k0 per class
        times = {a: g.sort_values("seed") for a, g in at.groupby("arm") if a in ("scratch", comparator)}
        steps = {a: [(e if pd.notna(e) else n) * spe for e, n in zip(g.epochs_to_target, g.epochs)]
                 for a, g in times.items()}
        reached = {a: g.epochs_to_target.notna().tolist() for a, g in times.items()}
        out.append(C.judge_time_to_event(
            f"seed001.scratch.faster.{comparator}", "seed 001",
            f"with {k0} examples per class, scratch reaches validation {target_accuracy} in fewer optimizer steps than "
            f"{comparator}", a=steps["scratch"], a_reached=reached["scratch"], b=steps[comparator],
            b_reached=reached[comparator], a_name="scratch", b_name=comparator, split="validation",
            premises=[C.enough_seeds(n_seeds),
                      C.above_chance("scratch", per_arm["scratch"]["test_acc"], 1 / n_classes, n_test)],
            seed_reported=said, data=data))
    if "scratch" in arms and comparator in arms:
        # the answer: "learning from scratch leads to better results, but it is much costly": read where its
        # results would show, at the most target examples per class, with the cost measured beside it
        k1 = max(sizes)
        big = rows[rows["size"] == k1]
        cols = ["test_acc", "val_acc"] + (["test_correct"] if "correct_B" in big else [])
        per_big = {a: big[big.arm == a].sort_values("seed").rename(columns={"test_acc_B": "test_acc",
                                                                           "correct_B": "test_correct"})
                   [cols].assign(train_acc=np.nan).to_dict(orient="list") for a in ("scratch", comparator)}
        w = big.groupby("arm").wall_s.mean()
        out.append(results.judge_claim(
            f"beats {comparator}", "scratch", per_big, 1 / n_classes, n_val=n_val, n_test=n_test, source="seed 001",
            seed_reported=f"better results than transfer, at a higher cost (measured here at {k1}/class: scratch "
                          f"{w.get('scratch', float('nan')):.1f} s, {comparator} {w.get(comparator, float('nan')):.1f} s "
                          "of training per run)", data=data))
    if {"frozen", "finetune"} <= set(arms):
        w = rows[rows["size"] == max(sizes)].groupby("arm").wall_s.mean()
        same = C.Premise("the frozen arm runs its base every step, as the seed's did", False,
                         detail="this project's frozen arm trains its head on features computed once, a different system")
        out.append(C.judge("seed001.freezing.no_speedup", "seed 001", "freezing the convolutions gives no speed-up",
                           rule="", verdict=C.INCONCLUSIVE, premises=[same], measure="wall time per run",
                           evidence=f"measured at {max(sizes)}/class: fine-tune {w['finetune']:.1f} s, frozen "
                                    f"{w['frozen']:.1f} s per run", seed_reported="freezing gave no speed-up", data=data))
    if len(source_inits) > 1 and "scratch" in source_inits:
        pre = [i for i in source_inits if i != "scratch"][0]
        src_cols = ["test_acc", "val_acc"] + (["test_correct"] if "correct_A" in src_rows else [])
        per_src = {i: src_rows[src_rows.init == i].sort_values("seed")
                   .rename(columns={"test_acc_A": "test_acc", "correct_A": "test_correct"})
                   [src_cols].assign(train_acc=np.nan).to_dict(orient="list") for i in source_inits}
        out.append(results.judge_claim("no_better_than scratch", pre, per_src, 1 / n_classes, n_val=src_n_val,
                                       n_test=src_n_test, margin=margin,
                                       premises={pre: [source_premise] if source_premise else []}, source="seed 001",
                                       seed_reported="COCO-pretrained and sign-pretrained starts never beat Belgium from scratch",
                                       data=data))
    return out


# --------------------------------------------------------------------------- checks before any kernel

NO_ADVANTAGE_ARMS = ("finetune", "frozen", "freeze_first:2")  # the asker's "no advantage at all", arm by arm


def claim_ids(p: dict) -> list[str]:
    """The claims a run with merged parameters ``p`` judges (:func:`claims`): the arms and source
    initialisations it runs decide which."""
    from lib.checks import claim_id

    arms, inits = p["arms"], p["source_inits"]
    out = [claim_id("no_better_than scratch", a, "seed 001") for a in NO_ADVANTAGE_ARMS if a in arms] if "scratch" in arms else []
    c = p["comparator_arm"]
    out += [claim_id(*method_claim(m, c), "literature") for m in arms if m.partition(":")[0] in METHOD_ARMS] if c in arms else []
    if "scratch" in arms and p["comparator_arm"] in arms:
        out.append(f"seed001.scratch.faster.{p['comparator_arm']}")
        out.append(claim_id(f"beats {p['comparator_arm']}", "scratch", "seed 001"))
    if {"frozen", "finetune"} <= set(arms):
        out.append("seed001.freezing.no_speedup")
    if len(inits) > 1 and "scratch" in inits:
        out.append(claim_id("no_better_than scratch", [i for i in inits if i != "scratch"][0], "seed 001"))
    return out


def designs(p: dict) -> list:
    """Each claim's design from the parameters alone (:class:`lib.power.Design`), at the fewest target
    examples per class where the claims are read: ``n_classes * test_per_class`` built-in test
    images per country (a user's signs are counted when read: planned as they are judged)."""
    from lib.checks import claim_id
    from lib.power import Design

    if p.get("sign_dir"):
        return []
    n, k, arms, c = int(p["n_classes"]) * int(p["test_per_class"]), int(p["n_seeds"]), p["arms"], p["comparator_arm"]
    out = []
    if "scratch" in arms:
        out += [Design(claim_id("no_better_than scratch", a, "seed 001"), "no_better", n, k, margin=p["margin"],
                       family="seed 001", arms=(a, "scratch")) for a in NO_ADVANTAGE_ARMS if a in arms]
    if c in arms:
        for m in [a for a in arms if a.partition(":")[0] in METHOD_ARMS]:
            claim, subject = method_claim(m, c)
            kind, _, other = claim.partition(" ")
            out.append(Design(claim_id(claim, subject, "literature"), "no_better" if kind == "no_better_than" else "greater",
                              n, k, margin=p["margin"] if kind == "no_better_than" else None, family="literature",
                              arms=(subject, other)))
    if "scratch" in arms and c in arms:
        out.append(Design(f"seed001.scratch.faster.{c}", "sooner", None, k, family="seed 001", items=k,
                          arms=("scratch", c)))
        out.append(Design(claim_id(f"beats {c}", "scratch", "seed 001"), "greater", n, k, family="seed 001",
                          arms=("scratch", c)))
    inits = p["source_inits"]
    if len(inits) > 1 and "scratch" in inits:
        pre = [i for i in inits if i != "scratch"][0]
        out.append(Design(claim_id("no_better_than scratch", pre, "seed 001"), "no_better", n, k, margin=p["margin"],
                          family="seed 001"))
    return out


def check(p: dict) -> None:
    """The study's rules, checked on merged parameters before any kernel (``check`` in ``lib.registry.STUDIES``): every
    problem in one ``ValueError``."""
    problems = []
    try:
        blocks = BLOCKS[arch_name(p["arch"])]
    except ValueError:
        blocks = None  # _one_arch names the architecture
    for key in ("arms", "shift_arms"):
        for arm in p[key]:
            try:
                kind, _, arg = check_arm(arm).partition(":")
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
                continue
            if blocks and kind == "freeze_first" and not 0 < int(arg) <= len(blocks):
                problems.append(f"{key}: arm {arm!r}: {p['arch']} has {len(blocks)} blocks ({', '.join(blocks)}); "
                                f"freeze between 1 and {len(blocks)}")
            if blocks and kind in METHOD_ARMS:  # the method's argument, as the arm language checks it
                problems += [f"{key}: {q}" for q in arm_problems(f"{arch_name(p['arch'])}:{arm}", p["image_size"])]
            if blocks and kind == "surgical" and arg not in blocks:
                problems.append(f"{key}: arm {arm!r}: {p['arch']} has no block {arg!r}{hint(arg, blocks)} "
                                f"(blocks: {', '.join(blocks)})")
    if p["comparator_arm"] not in p["arms"]:
        problems.append(f"comparator_arm {p['comparator_arm']!r} is not one of the arms{hint(p['comparator_arm'], p['arms'])}")
    elif p["comparator_arm"].partition(":")[0] in ("scratch", "compute_matched", "zero_shot"):
        problems.append(f"comparator_arm {p['comparator_arm']!r} must be an arm that trains from the source model")
    unknown = [i for i in p["source_inits"] if i not in ("scratch", *WEIGHT_NAMES) and not str(i).endswith(".h5")]
    problems += [f"source_inits: unknown initialisation {i!r}{hint(i, ('scratch', *WEIGHT_NAMES))}" for i in unknown]
    if blocks:
        problems += [f"source_inits: {q}" for i in p["source_inits"] if i != "scratch" and i not in unknown
                     for q in [weights_problem(i, {arch_name(p["arch"])})] if q]
    if p["transfer_from"] not in p["source_inits"]:
        problems.append(f"transfer_from {p['transfer_from']!r} must be one of source_inits {p['source_inits']}")
    if not p["target_sizes"] or any(k < 1 for k in p["target_sizes"]):
        problems.append(f"target_sizes must be positive numbers of examples per class; received {p['target_sizes']}")
    if "lp_ft" in p["arms"] and p["head_epochs"] >= p["target_epochs"]:
        problems.append(f"lp_ft needs head_epochs ({p['head_epochs']}) below target_epochs ({p['target_epochs']})")
    if not p["sign_dir"]:
        for check, value in ((check_country, p["source_country"]), (check_country, p["target_country"]),
                             (check_n_classes, p["n_classes"])):
            try:
                check(value)
            except ValueError as exc:
                problems.append(str(exc))
    one_arch("signs", p, problems)
