"""Seed 002's claim rules (an arm learns, is stuck at chance, over-fits, beats or is no better
than another), judged through the claims contract (:mod:`lib.claims`), and the one definition of
"stuck at chance" that ``lib.train.StopWhenStuck`` and the pitfall checks share."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lib import claims as C
from lib.checks import (CLAIMS, LEARNS_MARGIN, OVERFIT_GAP, STUCK_LOSS_FRACTION, STUCK_MARGIN,  # noqa: F401
                        claim_id, stuck_at_chance)  # the claim language lives with the checks (no judging there)

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE = C.REPRODUCED, C.NOT_REPRODUCED, C.INCONCLUSIVE, C.NOT_TESTABLE


def independence_baseline(correct: Sequence[float], y: Sequence[int]) -> tuple[float, float] | None:
    """What a model whose predictions carry nothing about the labels scores on these examples, and
    that score's variance: the accuracy of the same predictions matched to the labels at random (the
    permutation null of "predictions independent of the labels", with the model's own rate per
    predicted class and the split's rate per label). A model stuck on any one class, or flipping
    coins, is at this baseline; the variance is 0 for a constant predictor (any class) and about
    ``p (1 - p) / n`` for a coin. Binary labels only (the predictions follow from the outcomes:
    right means the label, wrong the other class); ``None`` otherwise."""
    y = np.asarray(y)
    c = np.asarray(correct, dtype=float)
    if len(np.unique(y)) != 2 or len(c) != len(y):
        return None
    lo = y.min()
    pred_pos = np.where(c > 0.5, y != lo, y == lo)  # predicted the higher label
    n, k, draws = len(y), int((y != lo).sum()), int(pred_pos.sum())
    base = (draws * k + (n - draws) * (n - k)) / n ** 2
    var_n11 = draws * k * (n - k) * (n - draws) / (n ** 2 * (n - 1)) if n > 1 else 0.0  # hypergeometric
    return float(base), float(4 * var_n11 / n ** 2)


def judge_claim(claim: str, arm: str, per_arm: dict[str, dict[str, Sequence[float]]], majority: float, *,
                n_val: int, n_test: int, margin: float = 0.02, premises: dict[str, list] | None = None,
                source: str = "seed 002", seed_reported: str = "", skipped: dict[str, str] | None = None,
                y_val: Sequence[int] | None = None, data: str = "", y_test: Sequence[int] | None = None) -> C.Claim:
    """Judge one seed-document claim about ``arm`` through the claims contract.

    ``per_arm`` maps arm -> {"train_acc": [...], "val_acc": [...], "test_acc": [...]} (one value
    per seed, seeds in the same order for every arm). ``claim`` is one of :data:`CLAIMS`.
    ``y_test`` given: "learns", "stuck" and "overfits" are judged on the **test** split, which chose
    nothing (validation chose each arm's rate and its best epoch: judging on it again would use it
    twice), and "stuck" means predictions independent of the labels (:func:`independence_baseline`:
    the same verdict for a model stuck on any class). Without ``y_test`` they are read on validation
    as before (stuck: paired with the majority-class predictor).
    ``premises`` maps an arm to its own premises (e.g. its source weights learned); the claim
    takes those of every arm it names, plus enough seeds, plus "above chance" for the arm a
    ``beats`` claim says is better. ``skipped`` maps an arm that was not trained to why (a premise
    known to fail before training): its claims are not testable here. ``data``: "stand-in" (the
    lab's generated data) or "user" (files a user gave), shown beside the verdict.
    """
    kind, _, other = claim.partition(" ")
    if kind not in {k.split(" ")[0] for k in CLAIMS}:
        raise ValueError(f"unknown claim {claim!r}; known: {', '.join(CLAIMS)}")
    names = [arm] + ([other] if other else [])
    prem = [p for a in names for p in (premises or {}).get(a, [])]
    cid = claim_id(claim, arm, source)
    hyp = f"{arm} {claim.replace('_', ' ')}"
    common = dict(source=source, hypothesis=hyp, seed_reported=seed_reported, comparator=other, data=data)
    missing = [a for a in names if a not in per_arm]
    if missing:
        why = "; ".join(f"{a}: {(skipped or {}).get(a, 'not run')}" for a in missing)
        failed = [*prem, C.Premise("every arm trained", False, detail=why)]
        return C.judge(cid, rule=kind, verdict=INCONCLUSIVE, evidence=f"not trained ({why})", premises=failed, **common)
    a = {k: np.asarray(v, dtype=float) for k, v in per_arm[arm].items() if k not in ("test_correct", "val_correct")}
    prem = [C.enough_seeds(len(a["val_acc"])), *prem]
    if y_test is not None and kind in ("learns", "stuck", "overfits"):
        return _judge_on_test(kind, cid, arm, a, per_arm[arm].get("test_correct"), y_test, n_test, prem, common)
    if kind == "learns":
        return C.judge(cid, rule="above", a=a["val_acc"], b=majority + LEARNS_MARGIN, n_test=n_val, premises=prem,
                       measure="validation accuracy", split="validation",
                       **{**common, "comparator": f"majority rate {majority:.3f} + {LEARNS_MARGIN}"})
    if kind == "stuck":
        stopped = int(np.sum(a.get("stopped_stuck", [0])))
        prem.append(C.Premise("trained its whole budget (not stopped by the criterion judged)", stopped == 0,
                              value=stopped, threshold=0, detail=f"{stopped} of {len(a['val_acc'])} seeds stopped as stuck"))
        outcomes = None
        vc = C.per_seed_outcomes(per_arm[arm].get("val_correct"))
        if y_val is not None and vc is not None:
            y = np.asarray(y_val)
            outcomes = (vc, (y == np.bincount(y).argmax()).astype(float)[None])  # the majority-class predictor
        return C.judge(cid, rule="no_better", a=a["val_acc"], b=majority, margin=STUCK_MARGIN, n_test=n_val,
                       premises=prem, measure="validation accuracy", split="validation", outcomes=outcomes,
                       **{**common, "comparator": f"majority rate {majority:.3f}"})
    if kind == "overfits":
        return C.judge(cid, rule="greater", a=a["train_acc"], b=a["val_acc"], offset=OVERFIT_GAP, n_test=n_val,
                       premises=prem, measure=f"train minus validation accuracy, minus {OVERFIT_GAP}",
                       split="train and validation", **{**common, "comparator": f"its validation accuracy + {OVERFIT_GAP}"})
    b = per_arm[other]["test_acc"]
    outcomes = C.paired_outcomes(per_arm[arm].get("test_correct"), per_arm[other].get("test_correct"))
    if kind == "beats":
        return C.judge(cid, rule="greater", a=a["test_acc"], b=b, n_test=n_test, outcomes=outcomes,
                       premises=[*prem, C.above_chance(arm, a["test_acc"], majority, n_test)], **common)
    return C.judge(cid, rule="no_better", a=a["test_acc"], b=b, n_test=n_test, margin=margin, premises=prem,
                   outcomes=outcomes, **common)



def _judge_on_test(kind: str, cid: str, arm: str, a: dict, correct, y_test, n_test: int, prem: list,
                   common: dict) -> C.Claim:
    """"learns", "stuck" and "overfits" on the test split (:func:`judge_claim` with ``y_test``)."""
    y = np.asarray(y_test)
    majority = float(np.bincount(y - y.min()).max() / len(y))
    per_seed = C.per_seed_outcomes(correct)
    if kind == "learns":
        return C.judge(cid, rule="above", a=a["test_acc"], b=majority + LEARNS_MARGIN, n_test=n_test, premises=prem,
                       outcomes=None if per_seed is None else (per_seed, None), measure="test accuracy", split="test",
                       **{**common, "comparator": f"test majority rate {majority:.3f} + {LEARNS_MARGIN}"})
    if kind == "overfits":
        return C.judge(cid, rule="greater", a=a["train_acc"], b=a["test_acc"], offset=OVERFIT_GAP, n_test=n_test,
                       premises=prem, measure=f"train minus test accuracy, minus {OVERFIT_GAP}",
                       split="train and test", **{**common, "comparator": f"its test accuracy + {OVERFIT_GAP}"})
    stopped = int(np.sum(a.get("stopped_stuck", [0])))
    prem.append(C.Premise("trained its whole budget (not stopped by the criterion judged)", stopped == 0,
                          value=stopped, threshold=0, detail=f"{stopped} of {len(a['test_acc'])} seeds stopped as stuck"))
    base = [independence_baseline(c, y) for c in per_seed] if per_seed is not None else None
    if base is None or any(b is None for b in base):
        # no per-example outcomes, or more than two classes: against the majority rate, binomial term
        return C.judge(cid, rule="no_better", a=a["test_acc"], b=majority, margin=STUCK_MARGIN, n_test=n_test,
                       premises=prem, measure="test accuracy", split="test",
                       **{**common, "comparator": f"test majority rate {majority:.3f}"})
    b = [x for x, _ in base]
    var = max(float(np.mean([v for _, v in base])), 1 / n_test ** 2)  # one example's worth at least
    return C.judge(cid, rule="no_better", a=a["test_acc"], b=b, margin=STUCK_MARGIN, n_test=n_test, premises=prem,
                   test_var=var, measure="test accuracy", split="test",
                   **{**common, "comparator": "label-independent predictions at the arm's own class rates "
                                            f"(mean {np.mean(b):.3f})"})
