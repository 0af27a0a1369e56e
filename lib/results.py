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


def judge_claim(claim: str, arm: str, per_arm: dict[str, dict[str, Sequence[float]]], majority: float, *,
                n_val: int, n_test: int, margin: float = 0.02, premises: dict[str, list] | None = None,
                source: str = "seed 002", seed_reported: str = "", skipped: dict[str, str] | None = None,
                y_val: Sequence[int] | None = None, data: str = "") -> C.Claim:
    """Judge one seed-document claim about ``arm`` through the claims contract.

    ``per_arm`` maps arm -> {"train_acc": [...], "val_acc": [...], "test_acc": [...]} (one value
    per seed, seeds in the same order for every arm). ``claim`` is one of :data:`CLAIMS`.
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

