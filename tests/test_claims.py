"""The claims contract's verdict rules on synthetic inputs whose answer is known."""

import math

import numpy as np
import pytest

from lib import claims as C


def test_zero_spread_groups_do_not_collapse_to_a_point():
    # [0.52]x3 vs [0.50]x3 on 200 test examples: a 0.02 difference is well inside the test set's noise
    iv = C.paired_interval([0.52] * 3, [0.50] * 3, n_test=200)
    assert iv.high - iv.low > 0.05
    assert iv.low < 0 < iv.high
    v, _ = C.rule_verdict("greater", [0.52] * 3, [0.50] * 3, n_test=200)
    assert v == C.INCONCLUSIVE
    # on 100,000 test examples the same difference is real
    assert C.rule_verdict("greater", [0.52] * 3, [0.50] * 3, n_test=100_000)[0] == C.REPRODUCED


def test_pairing_removes_the_shared_seed_effect():
    base = np.array([0.60, 0.70, 0.80, 0.65, 0.75])  # seeds differ a lot; A is always about 0.03 above B
    a = base + np.array([0.030, 0.032, 0.028, 0.031, 0.029])
    paired = C.paired_interval(a, base)
    assert paired.low > 0 and math.isclose(paired.diff, 0.03)
    assert C.rule_verdict("greater", a, base)[0] == C.REPRODUCED
    assert C.rule_verdict("less", a, base)[0] == C.NOT_REPRODUCED
    # unpaired (Welch over the same numbers) could not tell: the seeds' spread swamps the difference
    from scipy import stats
    assert stats.ttest_ind(a, base, equal_var=False).confidence_interval().low < 0


def test_one_seed_without_test_size_is_unbounded_and_with_it_is_not():
    assert C.paired_interval([0.9], [0.5]).low == -math.inf
    iv = C.paired_interval([0.9], [0.5], n_test=400)
    assert np.isfinite(iv.low) and iv.low > 0


def test_equivalence_inside_and_outside_the_margin():
    a = np.array([0.800, 0.805, 0.795, 0.802, 0.798])
    jitter = np.array([0.001, -0.001, 0.002, 0.0, -0.002])
    assert C.rule_verdict("equivalent", a, a - 0.001 + jitter, margin=0.02)[0] == C.REPRODUCED
    assert C.rule_verdict("equivalent", a, a - 0.10 + jitter, margin=0.02)[0] == C.NOT_REPRODUCED
    # a difference near the margin cannot be decided
    noisy = a + np.array([0.02, -0.01, 0.03, 0.0, 0.01])
    assert C.rule_verdict("equivalent", noisy, a - 0.01, margin=0.02)[0] == C.INCONCLUSIVE
    # "no better than": A clearly below B holds; A above B by more than the margin refutes it
    assert C.rule_verdict("no_better", a - 0.10 + jitter, a, margin=0.02)[0] == C.REPRODUCED
    assert C.rule_verdict("no_better", a + 0.10 + jitter, a, margin=0.02)[0] == C.NOT_REPRODUCED
    with pytest.raises(ValueError, match="margin"):
        C.rule_verdict("equivalent", a, a)


def test_absence_of_evidence_is_not_equivalence():
    # a wide interval holding 0 is "inconclusive", never "caught up"
    a, b = [0.5, 0.9, 0.6], [0.7, 0.6, 0.8]
    assert C.rule_verdict("equivalent", a, b, margin=0.02)[0] == C.INCONCLUSIVE


def test_a_failed_premise_gives_not_testable_and_keeps_the_interval_verdict():
    weak = C.source_learned({"source_test_acc": 0.10, "chance": 0.05, "n_test": 800})
    assert not weak.held
    c = C.judge("x", "seed 002", "frozen beats scratch", rule="greater", a=[0.2, 0.3, 0.25], b=[0.8, 0.85, 0.9],
                n_test=300, premises=[weak, C.enough_seeds(3)])
    assert c.verdict == C.NOT_TESTABLE and c.interval_verdict == C.NOT_REPRODUCED
    assert "source weights learned" in c.reason and "0.100" in c.reason
    good = C.source_learned({"source_test_acc": 0.589, "chance": 0.05, "n_test": 800})
    assert good.held
    c = C.judge("x", "seed 002", "h", rule="greater", a=[0.2, 0.3, 0.25], b=[0.8, 0.85, 0.9], n_test=300,
                premises=[good])
    assert c.verdict == C.NOT_REPRODUCED
    assert not C.source_learned(None).held


def test_premises_seeds_chance_budget():
    assert not C.enough_seeds(2).held and C.enough_seeds(3).held
    assert not C.above_chance("a", [0.03, 0.029, 0.031], 1 / 35, n_test=600).held
    assert C.above_chance("a", [0.6, 0.62, 0.61], 0.5, n_test=400).held
    assert not C.budget(600, 6250).held and C.budget(6250, 6250).held
    assert C.budget(100, None).held


def test_controls_gate_the_run():
    pos = C.judge("pos", "control", "transfer helps at shift 0", rule="greater", a=[0.9] * 3, b=[0.5] * 3,
                  n_test=500, kind="control", expected=C.REPRODUCED)
    neg = C.judge("neg", "control", "nothing beats chance on shuffled labels", rule="above", a=[0.9] * 3, b=0.1,
                  n_test=500, kind="control", expected=C.NOT_REPRODUCED)  # fails: 0.9 is far above chance
    claim = C.judge("c", "seed 003", "h", rule="greater", a=[0.9] * 3, b=[0.5] * 3, n_test=500)
    assert pos.passed and not neg.passed
    gated = C.gate_by_controls([pos, neg, claim])
    assert gated[2].verdict == C.NOT_TESTABLE and "controls passed" in gated[2].reason
    assert C.gate_by_controls([pos, claim])[1].verdict == C.REPRODUCED
    with pytest.raises(ValueError):
        C.judge("c", "control", "h", rule="greater", a=[1], b=[0], kind="control")


def test_holm_adjustment():
    assert C.holm([0.01, 0.04, 0.03]) == [True, False, False]
    assert C.holm([0.001, 0.01, 0.02]) == [True, True, True]
    strong = C.judge("s", "seed", "h", rule="greater", a=[0.9, 0.91, 0.92], b=[0.5, 0.52, 0.51], n_test=1000).as_dict()
    weak = C.judge("w", "seed", "h", rule="greater", a=[0.60, 0.62, 0.61], b=[0.57, 0.585, 0.57], n_test=2000).as_dict()
    assert weak["verdict"] == C.REPRODUCED and 0.01 < weak["interval"]["p_value"] < 0.05
    # three weak verdicts beside a strong one: Holm compares the weak p-values with 0.05/3
    assert C.adjusted_verdicts([weak, weak, weak, strong]) == [C.INCONCLUSIVE] * 3 + [C.REPRODUCED]
    assert C.adjusted_verdicts([weak]) == [C.REPRODUCED]


def test_the_negative_control_is_decidable_on_a_small_test_set():
    # three seeds at chance on 270 test images (the faces' test split): passes
    assert C.negative_control("n", "the simple CNN", [0.5, 0.5, 0.5], 0.5, 270).passed
    # an arm that learned something from shuffled labels (a leak) fails it
    leak = C.negative_control("n", "the simple CNN", [0.70, 0.72, 0.69], 0.5, 270)
    assert leak.verdict == C.NOT_REPRODUCED and not leak.passed


def test_arms_whose_known_premise_failed_are_not_trained_unless_forced():
    weak = C.Premise("source weights learned their task", False, detail="0.10 against chance 0.05")
    short = C.Premise("training budget", False, detail="600 of 6,250 steps")
    got = C.not_trained(["scratch", "frozen"], {"frozen": [weak]})
    assert list(got) == ["frozen"] and "0.10" in got["frozen"]
    assert set(C.not_trained(["scratch", "frozen"], {}, [short])) == {"scratch", "frozen"}
    assert C.not_trained(["scratch", "frozen"], {"frozen": [weak]}, [short], force=True) == {}


def test_a_premise_shared_by_two_arms_is_listed_once():
    from lib import claims as C

    src = C.Premise("source weights learned", False, detail="0.03 against 0.03")
    c = C.judge("x", "s", "h", rule="greater", a=[0.5] * 3, b=[0.4] * 3, n_test=100, premises=[src, src, C.enough_seeds(3)])
    assert len(c.premises) == 2 and c.reason.count("source weights learned") == 1
