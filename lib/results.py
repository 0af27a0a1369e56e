"""The seed-003 answer's two measures of 'did transfer help', with their uncertainty.

1. Speed: epochs an arm needs to reach a target validation accuracy, against the control.
2. End point: final test accuracy, arm minus control.

Each comes with a Welch 95% confidence interval over seeds and a verdict: ``helped``, ``hurt``
or ``not distinguishable at this noise``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

HELPED, HURT, UNCLEAR = "helped", "hurt", "not distinguishable at this noise"


def epochs_to_reach(curve: Sequence[float], target: float) -> int | None:
    """First epoch (1-based) at which ``curve`` reaches ``target``; ``None`` if it never does."""
    for i, value in enumerate(curve, start=1):
        if value >= target:
            return i
    return None


def epochs_to_reach_all(curves: Sequence[Sequence[float]], target: float) -> tuple[np.ndarray, bool]:
    """Epochs to target for each seed's curve. A curve that never gets there counts as its length
    + 1 (a lower bound), and the second value says whether any was censored that way."""
    out, censored = [], False
    for curve in curves:
        e = epochs_to_reach(curve, target)
        if e is None:
            e, censored = len(curve) + 1, True
        out.append(e)
    return np.asarray(out, dtype=float), censored


@dataclass
class Interval:
    """``a - b``: difference of means with a Welch confidence interval."""

    diff: float
    low: float
    high: float
    n_a: int
    n_b: int
    confidence: float = 0.95


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of ``a`` minus mean of ``b`` with a Welch t confidence interval (unequal variances).

    With no spread at all in either group the interval collapses to the difference itself;
    with fewer than two values in a group it is unbounded (nothing can be concluded)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Interval(diff, -np.inf, np.inf, len(a), len(b), confidence)
    if a.std() == 0 and b.std() == 0:
        return Interval(diff, diff, diff, len(a), len(b), confidence)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    return Interval(diff, float(ci.low), float(ci.high), len(a), len(b), confidence)


def verdict(interval: Interval, higher_is_better: bool = True) -> str:
    """``helped`` when the whole interval lies on the good side of zero, ``hurt`` when it lies on
    the bad side, otherwise ``not distinguishable at this noise``."""
    lo, hi = (interval.low, interval.high) if higher_is_better else (-interval.high, -interval.low)
    if lo > 0:
        return HELPED
    if hi < 0:
        return HURT
    return UNCLEAR


@dataclass
class Comparison:
    """One transfer arm judged against the control on both measures."""

    arm: str
    control: str
    target_val_accuracy: float
    epochs_arm: list[float]
    epochs_control: list[float]
    censored: bool
    speedup: float
    epochs_interval: Interval
    epochs_verdict: str
    test_arm: list[float]
    test_control: list[float]
    test_interval: Interval
    test_verdict: str

    def as_dict(self) -> dict:
        return asdict(self)


def compare(arm: str, control: str, val_curves_arm: Sequence[Sequence[float]],
            val_curves_control: Sequence[Sequence[float]], test_arm: Sequence[float],
            test_control: Sequence[float], target: float, confidence: float = 0.95) -> Comparison:
    """Judge ``arm`` against ``control``: epochs to ``target`` validation accuracy (fewer is
    better; speed-up = control's mean epochs / arm's) and final test accuracy (higher is better)."""
    e_arm, c1 = epochs_to_reach_all(val_curves_arm, target)
    e_ctl, c2 = epochs_to_reach_all(val_curves_control, target)
    e_int = welch_interval(e_arm, e_ctl, confidence)
    t_int = welch_interval(test_arm, test_control, confidence)
    return Comparison(
        arm=arm, control=control, target_val_accuracy=float(target),
        epochs_arm=e_arm.tolist(), epochs_control=e_ctl.tolist(), censored=c1 or c2,
        speedup=float(e_ctl.mean() / e_arm.mean()),
        epochs_interval=e_int, epochs_verdict=verdict(e_int, higher_is_better=False),
        test_arm=[float(v) for v in test_arm], test_control=[float(v) for v in test_control],
        test_interval=t_int, test_verdict=verdict(t_int, higher_is_better=True),
    )


def compare_arms(history: dict, test_acc: dict[str, Sequence[float]], arms: Sequence[str],
                 controls: Sequence[str], target: float, metric: str = "val_accuracy") -> list[Comparison]:
    """:func:`compare` for every (arm, control) pair, from a record's ``history``
    (``{arm: {seed: {metric: [...]}}}``) and final test accuracies per arm, both in seed order."""
    def curves(arm: str) -> list[list[float]]:
        by_seed = history[arm]
        return [by_seed[s][metric] for s in sorted(by_seed, key=int)]

    return [compare(arm, ctrl, curves(arm), curves(ctrl), test_acc[arm], test_acc[ctrl], target)
            for ctrl in controls for arm in arms]


# "Stuck at chance": validation accuracy within this margin of the majority-class rate, or
# validation loss within this fraction of log(n_classes) (the loss of a uniform guess).
STUCK_MARGIN = 0.05
STUCK_LOSS_FRACTION = 0.02


def stuck_at_chance(val_acc: float, majority: float, val_loss: float | None = None, n_classes: int = 2) -> bool:
    """Whether an arm learned nothing: validation accuracy no more than :data:`STUCK_MARGIN`
    above the majority rate, or (when ``val_loss`` is given) validation loss within
    :data:`STUCK_LOSS_FRACTION` of ``log(n_classes)``."""
    if val_acc <= majority + STUCK_MARGIN:
        return True
    chance_loss = float(np.log(n_classes))
    return val_loss is not None and abs(val_loss - chance_loss) < STUCK_LOSS_FRACTION * chance_loss


from lib import claims as C  # noqa: E402

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE = C.REPRODUCED, C.NOT_REPRODUCED, C.INCONCLUSIVE, C.NOT_TESTABLE
LEARNS_MARGIN = 0.10
OVERFIT_GAP = 0.15
CLAIMS = {
    "learns": f"validation accuracy above the majority rate + {LEARNS_MARGIN} (95% interval over seeds and "
              "validation examples wholly above it)",
    "stuck": f"validation accuracy no better than the majority rate + {STUCK_MARGIN} (one-sided 90% interval)",
    "overfits": f"train accuracy above validation accuracy by more than {OVERFIT_GAP} (95% interval of the gap "
                f"minus {OVERFIT_GAP}, paired by seed, wholly above 0)",
    "beats OTHER": "test accuracy above OTHER's (paired 95% interval of the difference above 0)",
    "no_better_than OTHER": "test accuracy not above OTHER's by more than the margin (one-sided 90% interval "
                            "of the difference below +margin)",
}


def judge_claim(claim: str, arm: str, per_arm: dict[str, dict[str, Sequence[float]]], majority: float, *,
                n_val: int, n_test: int, margin: float = 0.02, premises: dict[str, list] | None = None,
                source: str = "seed 002", seed_reported: str = "", skipped: dict[str, str] | None = None) -> C.Claim:
    """Judge one seed-document claim about ``arm`` through the claims contract.

    ``per_arm`` maps arm -> {"train_acc": [...], "val_acc": [...], "test_acc": [...]} (one value
    per seed, seeds in the same order for every arm). ``claim`` is one of :data:`CLAIMS`.
    ``premises`` maps an arm to its own premises (e.g. its source weights learned); the claim
    takes those of every arm it names, plus enough seeds, plus "above chance" for the arm a
    ``beats`` claim says is better. ``skipped`` maps an arm that was not trained to why (a premise
    known to fail before training): its claims are not testable here.
    """
    kind, _, other = claim.partition(" ")
    if kind not in {k.split(" ")[0] for k in CLAIMS}:
        raise ValueError(f"unknown claim {claim!r}; known: {', '.join(CLAIMS)}")
    names = [arm] + ([other] if other else [])
    prem = [p for a in names for p in (premises or {}).get(a, [])]
    cid = f"{source.replace(' ', '')}.{arm}.{kind}" + (f".{other}" if other else "")
    hyp = f"{arm} {claim.replace('_', ' ')}"
    common = dict(source=source, hypothesis=hyp, seed_reported=seed_reported, comparator=other)
    missing = [a for a in names if a not in per_arm]
    if missing:
        why = "; ".join(f"{a}: {(skipped or {}).get(a, 'not run')}" for a in missing)
        failed = [*prem, C.Premise("every arm trained", False, detail=why)]
        return C.judge(cid, rule=kind, verdict=INCONCLUSIVE, evidence=f"not trained ({why})", premises=failed, **common)
    a = {k: np.asarray(v, dtype=float) for k, v in per_arm[arm].items()}
    prem = [C.enough_seeds(len(a["val_acc"])), *prem]
    if kind == "learns":
        return C.judge(cid, rule="above", a=a["val_acc"], b=majority + LEARNS_MARGIN, n_test=n_val, premises=prem,
                       measure="validation accuracy", split="validation",
                       **{**common, "comparator": f"majority rate {majority:.3f} + {LEARNS_MARGIN}"})
    if kind == "stuck":
        return C.judge(cid, rule="no_better", a=a["val_acc"], b=majority, margin=STUCK_MARGIN, n_test=n_val,
                       premises=prem, measure="validation accuracy", split="validation",
                       **{**common, "comparator": f"majority rate {majority:.3f}"})
    if kind == "overfits":
        return C.judge(cid, rule="greater", a=a["train_acc"], b=a["val_acc"], offset=OVERFIT_GAP, n_test=n_val,
                       premises=prem, measure=f"train minus validation accuracy, minus {OVERFIT_GAP}",
                       split="train and validation", **{**common, "comparator": f"its validation accuracy + {OVERFIT_GAP}"})
    b = per_arm[other]["test_acc"]
    if kind == "beats":
        return C.judge(cid, rule="greater", a=a["test_acc"], b=b, n_test=n_test,
                       premises=[*prem, C.above_chance(arm, a["test_acc"], majority, n_test)], **common)
    return C.judge(cid, rule="no_better", a=a["test_acc"], b=b, n_test=n_test, margin=margin, premises=prem, **common)


def claim_verdict(interval, labels: tuple[str, str, str] = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)) -> str:
    """The verdict on "the first group beats the second" from an interval of their difference
    (:class:`Interval` or :class:`lib.claims.Interval`): ``labels[0]`` when the whole interval lies
    above zero, ``labels[1]`` below, ``labels[2]`` when it holds zero."""
    return labels[0] if interval.low > 0 else labels[1] if interval.high < 0 else labels[2]
