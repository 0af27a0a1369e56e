import numpy as np
import pytest

from lib import results as R


def test_judge_claims_on_known_numbers():
    per_arm = {
        "stuck": {"train_acc": [0.5, 0.52, 0.51], "val_acc": [0.45, 0.43, 0.46], "test_acc": [0.5, 0.5, 0.49],
                  "val_correct": [np.r_[np.ones(135), np.zeros(165)]] * 3},
        "over": {"train_acc": [0.97, 0.98, 0.99], "val_acc": [0.55, 0.5, 0.52], "test_acc": [0.52, 0.5, 0.51]},
        "good": {"train_acc": [0.95, 0.96, 0.95], "val_acc": [0.9, 0.91, 0.9], "test_acc": [0.90, 0.91, 0.9]},
    }
    y_val = np.r_[np.zeros(150, int), np.ones(150, int)]
    j = lambda claim, arm, **kw: R.judge_claim(claim, arm, per_arm, majority=0.5, n_val=300, n_test=300, y_val=y_val,
                                               **kw).verdict
    assert j("stuck", "stuck") == R.REPRODUCED and j("stuck", "good") == R.NOT_REPRODUCED
    assert j("learns", "good") == R.REPRODUCED and j("learns", "stuck") == R.NOT_REPRODUCED
    # one seed learned, two stayed at chance: neither "learns" nor "stuck" can be decided
    maj = (y_val == 0).astype(float)
    per_arm["mixed"] = {"train_acc": [0.9, 0.5, 0.5], "val_acc": [0.81, 0.50, 0.50], "test_acc": [0.8, 0.5, 0.5],
                        "val_correct": [np.r_[np.ones(243), np.zeros(57)], maj, maj]}
    assert j("learns", "mixed") == R.INCONCLUSIVE and j("stuck", "mixed") == R.INCONCLUSIVE
    assert j("overfits", "over") == R.REPRODUCED and j("overfits", "good") == R.NOT_REPRODUCED
    assert j("beats over", "good") == R.REPRODUCED and j("beats good", "over") == R.NOT_TESTABLE  # "over" at chance
    assert j("no_better_than good", "over") == R.REPRODUCED and j("no_better_than over", "good") == R.NOT_REPRODUCED
    # an arm that was not trained, and a failed premise of a named arm: not testable, never "not reproduced"
    assert j("beats missing", "good", skipped={"missing": "source weights did not learn"}) == R.NOT_TESTABLE
    weak = R.C.Premise("source weights learned their task", False, detail="0.10 against chance 0.05")
    c = R.judge_claim("beats over", "good", per_arm, 0.5, n_val=300, n_test=300, premises={"over": [weak]})
    assert c.verdict == R.NOT_TESTABLE and c.interval_verdict == R.REPRODUCED and "0.10" in c.reason
    assert c.data == "" and R.judge_claim("beats over", "good", per_arm, 0.5, n_val=300, n_test=300,
                                          data="stand-in").data == "stand-in"  # said beside the verdict
    # two seeds are too few
    two = {k: {m: v[:2] for m, v in d.items()} for k, d in per_arm.items()}
    assert R.judge_claim("learns", "good", two, 0.5, n_val=300, n_test=300).verdict == R.NOT_TESTABLE
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
