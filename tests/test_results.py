import numpy as np
import pytest

from lib import results as R


def test_judge_claims_on_known_numbers():
    per_arm = {
        "stuck": {"train_acc": [0.5, 0.52, 0.51], "val_acc": [0.45, 0.43, 0.46], "test_acc": [0.5, 0.5, 0.49],
                  "val_correct": [np.r_[np.ones(1350), np.zeros(1650)]] * 3},
        "over": {"train_acc": [0.97, 0.98, 0.99], "val_acc": [0.55, 0.5, 0.52], "test_acc": [0.52, 0.5, 0.51]},
        "good": {"train_acc": [0.95, 0.96, 0.95], "val_acc": [0.9, 0.91, 0.9], "test_acc": [0.90, 0.91, 0.9]},
    }
    # 3,000 validation and test examples: with 3 seeds the interval's t has 2 df (lib.intervals.seed_df)
    y_val = np.r_[np.zeros(1500, int), np.ones(1500, int)]
    j = lambda claim, arm, **kw: R.judge_claim(claim, arm, per_arm, majority=0.5, n_val=3000, n_test=3000, y_val=y_val,
                                               **kw).verdict
    assert j("stuck", "stuck") == R.REPRODUCED and j("stuck", "good") == R.NOT_REPRODUCED
    assert j("learns", "good") == R.REPRODUCED and j("learns", "stuck") == R.NOT_REPRODUCED
    # one seed learned, two stayed at chance: neither "learns" nor "stuck" can be decided
    maj = (y_val == 0).astype(float)
    per_arm["mixed"] = {"train_acc": [0.9, 0.5, 0.5], "val_acc": [0.81, 0.50, 0.50], "test_acc": [0.8, 0.5, 0.5],
                        "val_correct": [np.r_[np.ones(2430), np.zeros(570)], maj, maj]}
    assert j("learns", "mixed") == R.INCONCLUSIVE and j("stuck", "mixed") == R.INCONCLUSIVE
    assert j("overfits", "over") == R.REPRODUCED and j("overfits", "good") == R.NOT_REPRODUCED
    assert j("beats over", "good") == R.REPRODUCED and j("beats good", "over") == R.NOT_TESTABLE  # "over" at chance
    assert j("no_better_than good", "over") == R.REPRODUCED and j("no_better_than over", "good") == R.NOT_REPRODUCED
    # an arm that was not trained, and a failed premise of a named arm: not testable, never "not reproduced"
    assert j("beats missing", "good", skipped={"missing": "source weights did not learn"}) == R.NOT_TESTABLE
    weak = R.C.Premise("source weights learned their task", False, detail="0.10 against chance 0.05")
    c = R.judge_claim("beats over", "good", per_arm, 0.5, n_val=3000, n_test=3000, premises={"over": [weak]})
    assert c.verdict == R.NOT_TESTABLE and c.interval_verdict == R.REPRODUCED and "0.10" in c.reason
    assert c.data == "" and R.judge_claim("beats over", "good", per_arm, 0.5, n_val=3000, n_test=3000,
                                          data="stand-in").data == "stand-in"  # said beside the verdict
    # two seeds are too few
    two = {k: {m: v[:2] for m, v in d.items()} for k, d in per_arm.items()}
    assert R.judge_claim("learns", "good", two, 0.5, n_val=3000, n_test=3000).verdict == R.NOT_TESTABLE
    with pytest.raises(ValueError, match="unknown claim"):
        j("improves", "good")


def test_stuck_rule_pairs_with_the_majority_predictor_and_needs_the_whole_budget():
    y_val = np.r_[np.zeros(108, int), np.ones(108, int)]  # 216 validation images, majority rate 0.5
    majority = (y_val == 0).astype(float)
    per_arm = {"const": {"train_acc": [0.5] * 3, "val_acc": [0.5] * 3, "test_acc": [0.5] * 3,
                         "val_correct": [majority] * 3}}
    # exactly at the majority rate, a constant predictor: no sampling error against the same set's majority
    c = R.judge_claim("stuck", "const", per_arm, 0.5, n_val=216, n_test=270, y_val=y_val)
    assert c.verdict == R.REPRODUCED
    # without its per-example outcomes the binomial term cannot resolve the 0.05 margin on 216 images: said so
    bare = {"const": {k: v for k, v in per_arm["const"].items() if k != "val_correct"}}
    c = R.judge_claim("stuck", "const", bare, 0.5, n_val=216, n_test=270)
    assert c.verdict == R.NOT_TESTABLE and "design resolves the margin" in c.reason
    # stopped by the stuck criterion itself: the claim cannot lean on a run cut short by what it judges
    per_arm["const"]["stopped_stuck"] = [1, 0, 1]
    c = R.judge_claim("stuck", "const", per_arm, 0.5, n_val=216, n_test=270, y_val=y_val)
    assert c.verdict == R.NOT_TESTABLE and "whole budget" in c.reason and c.interval_verdict == R.REPRODUCED


def test_stuck_at_chance_one_rule():
    assert R.stuck_at_chance(0.52, 0.5) and R.stuck_at_chance(0.5 + R.STUCK_MARGIN, 0.5)
    assert not R.stuck_at_chance(0.60, 0.5)
    # accuracy above chance but the loss is that of a uniform guess over 2 classes: stuck
    assert R.stuck_at_chance(0.60, 0.5, val_loss=np.log(2) * 1.01, n_classes=2)
    assert not R.stuck_at_chance(0.60, 0.5, val_loss=0.4, n_classes=2)


def test_stuck_is_the_same_for_a_model_stuck_on_any_class_and_read_on_test():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(600, int), np.ones(400, int)]  # 1,000 test images, majority rate 0.6
    rows = lambda correct: {"train_acc": [0.6] * 3, "val_acc": [0.6] * 3, "test_acc": [c.mean() for c in correct],
                            "test_correct": correct}
    on0, on1 = (y == 0).astype(float), (y == 1).astype(float)  # always class 0 (0.6), always class 1 (0.4)
    coin = [(rng.random(1000) < 0.5).astype(float) for _ in range(3)]
    learned = [np.where(rng.random(1000) < 0.9, 1.0, 0.0) for _ in range(3)]
    per_arm = {"on0": rows([on0] * 3), "on1": rows([on1] * 3), "coin": rows(coin), "good": rows(learned)}
    j = lambda arm: R.judge_claim("stuck", arm, per_arm, 0.6, n_val=200, n_test=1000, y_test=y)
    got = {a: j(a) for a in per_arm}
    assert got["on0"].verdict == got["on1"].verdict == R.REPRODUCED  # the class it is stuck on does not matter
    assert got["on0"].split == "test" and got["good"].verdict == R.NOT_REPRODUCED
    assert got["coin"].interval_verdict in (R.REPRODUCED, R.INCONCLUSIVE)  # a coin is never "not stuck"
    # the baseline: the same predictions matched to the labels at random
    base, var = R.independence_baseline(on1, y)
    assert base == 0.4 and var == 0.0
    yb = np.r_[np.zeros(500, int), np.ones(500, int)]
    pred = np.tile([0, 1], 500)  # half of each class predicted 1, whatever the label: a coin's counts
    base, var = R.independence_baseline((pred == yb).astype(float), yb)
    assert base == 0.5 and var == pytest.approx(0.25 / 999, rel=1e-6)


def test_learns_and_overfits_are_read_on_test_when_given():
    y = np.r_[np.zeros(1500, int), np.ones(1500, int)]
    per_arm = {"good": {"train_acc": [0.99] * 3, "val_acc": [0.9] * 3, "test_acc": [0.80, 0.81, 0.80]}}
    c = R.judge_claim("learns", "good", per_arm, 0.5, n_val=300, n_test=3000, y_test=y)
    assert c.split == "test" and c.verdict == R.REPRODUCED and "test majority" in c.comparator
    c = R.judge_claim("overfits", "good", per_arm, 0.5, n_val=300, n_test=3000, y_test=y)
    assert c.split == "train and test" and c.verdict == R.REPRODUCED  # 0.99 - 0.80 > 0.15, on test
