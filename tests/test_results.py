import numpy as np
import pytest

from lib import results as R


def test_epochs_to_reach():
    assert R.epochs_to_reach([0.1, 0.5, 0.8, 0.9], 0.8) == 3
    assert R.epochs_to_reach([0.1, 0.2], 0.8) is None
    e, censored = R.epochs_to_reach_all([[0.9], [0.1, 0.2]], 0.8)
    assert e.tolist() == [1, 3] and censored


def _curves(reach_epoch, n_seeds, epochs=20, rng=None, final=0.9):
    """Rising curves that cross 0.8 at about ``reach_epoch``, with seed jitter."""
    rng = rng or np.random.default_rng(0)
    out = []
    for _ in range(n_seeds):
        r = reach_epoch + rng.integers(-1, 2)
        out.append([min(final, 0.8 * e / r) for e in range(1, epochs + 1)])
    return out


def test_known_speedup_is_found():
    rng = np.random.default_rng(1)
    c = R.compare("arm", "ctrl", _curves(3, 5, rng=rng), _curves(12, 5, rng=rng),
                  [0.90, 0.91, 0.90, 0.92, 0.91], [0.90, 0.91, 0.92, 0.90, 0.91], target=0.8)
    assert c.epochs_verdict == R.HELPED and c.speedup > 3
    assert c.test_verdict == R.UNCLEAR


def test_known_harm_on_accuracy_and_speed():
    rng = np.random.default_rng(2)
    c = R.compare("arm", "ctrl", _curves(15, 4, rng=rng), _curves(4, 4, rng=rng),
                  [0.70, 0.71, 0.69, 0.70], [0.80, 0.81, 0.79, 0.80], target=0.8)
    assert c.epochs_verdict == R.HURT and c.test_verdict == R.HURT and c.speedup < 1


def test_identical_groups_are_not_distinguishable():
    iv = R.welch_interval([0.8, 0.82, 0.81], [0.8, 0.82, 0.81])
    assert iv.low < 0 < iv.high and R.verdict(iv) == R.UNCLEAR


def test_noise_hides_small_difference():
    iv = R.welch_interval([0.80, 0.90, 0.70], [0.78, 0.88, 0.69])
    assert R.verdict(iv) == R.UNCLEAR


def test_degenerate_intervals():
    iv = R.welch_interval([1.0, 1.0], [0.5, 0.5])
    assert iv.low == iv.high == pytest.approx(0.5) and R.verdict(iv) == R.HELPED
    one = R.welch_interval([1.0], [0.5, 0.6])
    assert np.isinf(one.low) and R.verdict(one) == R.UNCLEAR


def test_compare_arms_pairs_seeds_in_order():
    hist = {"a": {"10": {"val_accuracy": [0.9]}, "2": {"val_accuracy": [0.1, 0.9]}},
            "c": {"2": {"val_accuracy": [0.1, 0.1, 0.9]}, "10": {"val_accuracy": [0.1, 0.9]}}}
    (c,) = R.compare_arms(hist, {"a": [0.5, 0.6], "c": [0.4, 0.5]}, ["a"], ["c"], target=0.8)
    assert c.epochs_arm == [2, 1] and c.epochs_control == [3, 2]  # seed 2 first, then seed 10
    assert c.speedup == pytest.approx(2.5 / 1.5)


def test_judge_claims_on_known_numbers():
    per_arm = {
        "stuck": {"train_acc": [0.5, 0.52, 0.51], "val_acc": [0.45, 0.43, 0.46], "test_acc": [0.5, 0.5, 0.49]},
        "over": {"train_acc": [0.97, 0.98, 0.99], "val_acc": [0.55, 0.5, 0.52], "test_acc": [0.52, 0.5, 0.51]},
        "good": {"train_acc": [0.95, 0.96, 0.95], "val_acc": [0.9, 0.91, 0.9], "test_acc": [0.90, 0.91, 0.9]},
    }
    j = lambda claim, arm, **kw: R.judge_claim(claim, arm, per_arm, majority=0.5, n_val=300, n_test=300, **kw).verdict
    assert j("stuck", "stuck") == R.REPRODUCED and j("stuck", "good") == R.NOT_REPRODUCED
    assert j("learns", "good") == R.REPRODUCED and j("learns", "stuck") == R.NOT_REPRODUCED
    # one seed learned, two stayed at chance: neither "learns" nor "stuck" can be decided
    per_arm["mixed"] = {"train_acc": [0.9, 0.5, 0.5], "val_acc": [0.81, 0.50, 0.50], "test_acc": [0.8, 0.5, 0.5]}
    assert j("learns", "mixed") == R.INCONCLUSIVE and j("stuck", "mixed") == R.INCONCLUSIVE
    assert j("overfits", "over") == R.REPRODUCED and j("overfits", "good") == R.NOT_REPRODUCED
    assert j("beats over", "good") == R.REPRODUCED and j("beats good", "over") == R.NOT_TESTABLE  # "over" at chance
    assert j("no_better_than good", "over") == R.REPRODUCED and j("no_better_than over", "good") == R.NOT_REPRODUCED
    # an arm that was not trained, and a failed premise of a named arm: not testable, never "not reproduced"
    assert j("beats missing", "good", skipped={"missing": "source weights did not learn"}) == R.NOT_TESTABLE
    weak = R.C.Premise("source weights learned their task", False, detail="0.10 against chance 0.05")
    c = R.judge_claim("beats over", "good", per_arm, 0.5, n_val=300, n_test=300, premises={"over": [weak]})
    assert c.verdict == R.NOT_TESTABLE and c.interval_verdict == R.REPRODUCED and "0.10" in c.reason
    # two seeds are too few
    two = {k: {m: v[:2] for m, v in d.items()} for k, d in per_arm.items()}
    assert R.judge_claim("learns", "good", two, 0.5, n_val=300, n_test=300).verdict == R.NOT_TESTABLE
    with pytest.raises(ValueError, match="unknown claim"):
        j("improves", "good")


def test_stuck_at_chance_one_rule():
    assert R.stuck_at_chance(0.52, 0.5) and R.stuck_at_chance(0.5 + R.STUCK_MARGIN, 0.5)
    assert not R.stuck_at_chance(0.60, 0.5)
    # accuracy above chance but the loss is that of a uniform guess over 2 classes: stuck
    assert R.stuck_at_chance(0.60, 0.5, val_loss=np.log(2) * 1.01, n_classes=2)
    assert not R.stuck_at_chance(0.60, 0.5, val_loss=0.4, n_classes=2)


def test_claim_verdict_one_rule_for_every_label_set():
    above = R.welch_interval([0.80, 0.82, 0.81], [0.60, 0.62, 0.61])
    below = R.welch_interval([0.60, 0.62, 0.61], [0.80, 0.82, 0.81])
    spans = R.welch_interval([0.70, 0.80, 0.60], [0.71, 0.61, 0.79])
    assert [R.claim_verdict(iv) for iv in (above, below, spans)] == [R.REPRODUCED, R.NOT_REPRODUCED, R.INCONCLUSIVE]
    labels = ("supported", "refuted", "open")
    assert [R.claim_verdict(iv, labels) for iv in (above, below, spans)] == list(labels)
    # one seed a side: the interval is unbounded, nothing can be concluded
    assert R.claim_verdict(R.welch_interval([0.9], [0.1])) == R.INCONCLUSIVE
