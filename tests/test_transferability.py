"""LogME and the linear probe rank informative features above uninformative ones."""

import numpy as np
import pytest

from lib.studies import transferability as T


def _features(separation, n=300, d=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(0, 1, (classes, d)) * separation
    return centres[y] + rng.normal(0, 1, (n, d)), y


def test_logme_grows_with_how_well_the_features_separate_the_classes():
    scores = [T.logme(*_features(s)) for s in (0.0, 0.5, 1.0, 3.0)]
    assert scores == sorted(scores) and scores[-1] - scores[0] > 0.1


def test_logme_is_invariant_to_sample_order_and_handles_wide_features():
    f, y = _features(1.0, n=60, d=200)  # more dimensions than samples
    perm = np.random.default_rng(1).permutation(len(y))
    assert np.isfinite(T.logme(f, y))
    assert T.logme(f, y) == pytest.approx(T.logme(f[perm], y[perm]), rel=1e-6)


def test_linear_probe_tracks_separation_and_refuses_bad_input():
    assert T.linear_probe(*_features(3.0)) > 0.9 > T.linear_probe(*_features(0.0)) - 0.5
    assert T.linear_probe(*_features(0.0)) < 0.5
    with pytest.raises(ValueError, match="two classes"):
        T.logme(np.ones((4, 2)), np.zeros(4, int))
    with pytest.raises(ValueError, match="rows"):
        T.logme(np.ones((4, 2)), np.zeros(3, int))


def test_logme_equals_the_directly_maximised_evidence():
    """The fixed-point updates reach the maximum of the Gaussian marginal likelihood
    t ~ N(0, I / beta + F F^T / alpha), found here by a generic optimiser."""
    from scipy.optimize import minimize
    from scipy.stats import multivariate_normal

    f, y = _features(1.0, n=40, d=5, classes=2, seed=3)
    best = []
    for c in (0, 1):
        t = (y == c).astype(float)

        def neg(log_ab):
            a, b = np.exp(log_ab)
            cov = np.eye(len(t)) / b + f @ f.T / a
            return -multivariate_normal(np.zeros(len(t)), cov).logpdf(t)

        best.append(-minimize(neg, [0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10}).fun / len(t))
    assert T.logme(f, y, tol=1e-8, max_iter=1000) == pytest.approx(np.mean(best), abs=1e-4)


def _reference_fixed_point(f, y, iters=100):
    """You et al.'s LogME fixed point as published (sums over the rank, D in front of log alpha)."""
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    k = int((s > 1e-10).sum())
    u, sigma = u[:, :k], s[:k] ** 2
    out = []
    for c in np.unique(y):
        t_y = (y == c).astype(float)
        z2 = (u.T @ t_y) ** 2
        delta = t_y @ t_y - z2.sum()
        alpha = beta = 1.0
        for _ in range(iters):
            t = alpha / beta
            gamma = (sigma / (sigma + t)).sum()
            m2 = (sigma * z2 / (t + sigma) ** 2).sum()
            res2 = (z2 / (1 + sigma / t) ** 2).sum() + delta
            alpha, beta = gamma / m2, (n - gamma) / res2
        t = alpha / beta
        m2 = (sigma * z2 / (t + sigma) ** 2).sum()
        res2 = (z2 / (1 + sigma / t) ** 2).sum() + delta
        out.append((d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.log(alpha + beta * sigma).sum()
                    - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi)) / n)
    return float(np.mean(out))


def test_logme_on_wide_features_equals_the_reference_on_features_reduced_to_their_rank():
    rng = np.random.default_rng(3)
    n, d, k = 60, 200, 12  # wider than tall, as three of the simple CNN's cuts, of rank 12 (ReLU maps are)
    y = rng.integers(0, 2, n)
    f = (rng.normal(size=(n, k)) + 0.8 * y[:, None]) @ rng.normal(size=(k, d))
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    reduced = u[:, :k] * s[:k]  # n x rank: the same F F^T
    ours = T.logme(f, y, tol=1e-10, max_iter=1000)
    assert ours == pytest.approx(T.logme(reduced, y, tol=1e-10, max_iter=1000), abs=1e-6)
    assert ours == pytest.approx(_reference_fixed_point(reduced, y), abs=1e-4)
    # on the raw wide features the reference adds (d - k)/2 log alpha per class: not the same number
    assert abs(_reference_fixed_point(f, y) - ours) > 1e-3


def test_arm_lists_are_checked_before_any_kernel():
    from pathlib import Path

    from lib import prereqs
    from lib.studies.transferability import arm_problems

    assert arm_problems(["B", "AnB", "AnB+", "BnB"]) == [] and arm_problems(["AnB"]) == []
    (typo,) = arm_problems(["AnB", "AnB +"])
    assert "unknown arm 'AnB +'" in typo and "did you mean 'AnB+'" in typo
    assert any("BnB copies" in p for p in arm_problems(["AnB", "BnB"]))
    assert any("needs AnB or AnB+" in p for p in arm_problems(["B"]))
    p = prereqs.merged(Path("params/transferability/vgg16_hed.yaml"), None)
    T.check(p)  # the shipped file is valid
    with pytest.raises(ValueError, match="BnB copies"):
        T.check({**p, "arms": ["AnB", "BnB"]})


def test_cut_points_take_a_subset_in_network_order_and_name_typos():
    from lib.studies.transferability import cut_points

    assert cut_points("simple_cnn", 32) == ["block1_pool", "block2_pool", "block3_pool", "fc1"]
    assert cut_points("simple_cnn", 32, ["fc1", "block2_pool"]) == ["block2_pool", "fc1"]
    with pytest.raises(ValueError, match="did you mean 'block2_pool'"):
        cut_points("simple_cnn", 32, ["block2_pol"])


def test_claims_without_the_fine_tuned_arms_are_not_testable_and_name_why():
    from lib import claims as C
    from lib.studies.transferability import claims, control_arm, positive_arm

    assert control_arm(["B", "AnB"], ["c1", "c2"]) == ("B", None)
    assert control_arm(["AnB"], ["c1", "c2"]) == ("AnB", "c2")
    assert positive_arm(["B", "AnB"]) == ("B", 0) and positive_arm(["AnB"]) == ("AnB", 1)
    assert positive_arm(["AnB+"]) == ("AnB+", 1)
    per = {("AnB", 1): [0.9, 0.92, 0.91], ("AnB", 2): [0.7, 0.72, 0.69]}
    out = {c.id: c for c in claims(per, 2, ["AnB"], majority=0.5, n_test=300, n_seeds=3, source=None,
                                   ranks={"AnB": (1.0, None), "linear_probe": (1.0, None)}, n_estimates=2)}
    assert out["literature.yosinski.anb_plus"].verdict == C.NOT_TESTABLE
    assert "AnB+, B not in this experiment's arms" in out["literature.yosinski.anb_plus"].reason
    assert out["literature.yosinski.anb_drop"].verdict == C.REPRODUCED  # 0.91 vs 0.70 on 300 test images
    assert out["literature.logme.ranks"].verdict == C.NOT_TESTABLE  # AnB+ did not run
    assert "AnB+ not in this experiment's arms" in out["literature.logme.ranks"].reason
    assert out["literature.logme.ranks_frozen"].verdict == C.NOT_TESTABLE  # two cuts cannot rank
    assert "at least 3 cuts" in out["literature.logme.ranks_frozen"].reason
    assert "frozen transfer (AnB" in out["literature.logme.ranks_frozen"].hypothesis
    per.update({("B", 0): [0.8, 0.8, 0.81], ("AnB+", 1): [0.9, 0.9, 0.9], ("AnB+", 2): [0.7, 0.7, 0.71]})
    ranks = {"AnB+": (1.0, (0.8, 1.0)), "AnB": (-1.0, None), "linear_probe": (0.4, None)}
    out = {c.id: c for c in claims(per, 2, ["B", "AnB", "AnB+"], majority=0.5, n_test=3000, n_seeds=3, source=None,
                                   ranks=ranks, n_estimates=5)}
    assert out["literature.yosinski.anb_plus"].verdict == C.NOT_REPRODUCED  # n=2 falls below B (3,000 images: t on 2 df)
    assert out["literature.logme.ranks"].verdict == C.REPRODUCED  # a perfect ranking of 5 cuts: p = 1/120
    assert "[+0.80, +1.00]" in out["literature.logme.ranks"].evidence
    assert out["literature.logme.ranks_frozen"].verdict == C.NOT_REPRODUCED  # reversed: significantly below 0
    assert out["literature.logme.ranks_probe"].verdict == C.INCONCLUSIVE  # rho 0.4 over 5 cuts: p = 0.26
    assert out["literature.logme.ranks"].p_value == pytest.approx(1 / 120)
    three = {c.id: c for c in claims(per, 2, ["B", "AnB", "AnB+"], majority=0.5, n_test=300, n_seeds=3, source=None,
                                     ranks=ranks, n_estimates=3)}
    assert three["literature.logme.ranks"].verdict == C.INCONCLUSIVE  # 3 cuts: 1 in 6 random rankings are perfect


def test_positive_control_passes_above_chance_and_fails_at_it():
    from lib import claims as C

    ok = C.positive_control("x.control.positive", "B", [0.9, 0.88, 0.91], 0.5, 300)
    bad = C.positive_control("x.control.positive", "B", [0.5, 0.52, 0.49], 0.5, 300)
    assert ok.verdict == C.REPRODUCED == ok.expected and bad.verdict != bad.expected
    gated = C.gate_by_controls([bad, C.judge("x.claim", "s", "h", rule="greater", a=[0.9] * 3, b=[0.5] * 3, n_test=300)])
    assert gated[1].verdict == C.NOT_TESTABLE


def test_the_best_depth_is_chosen_on_validation_not_test():
    from lib.studies.transferability import conclusion_lines

    per = {("AnB", 1): [0.70, 0.70, 0.70], ("AnB", 2): [0.90, 0.90, 0.90]}  # test prefers n=2
    val = {("AnB", 1): 0.85, ("AnB", 2): 0.80}  # validation prefers n=1
    lines = conclusion_lines(per, ["c1", "c2"], ["AnB"], val)
    assert "best AnB on validation at n=1 (`c1`): test 0.700" in lines[0]
    assert lines[1] == "- AnB by depth: n=1 0.700, n=2 0.900."


def test_every_depth_claim_carries_its_test_and_pairs_over_test_images():
    """AnB+ above B "at every depth" is an intersection-union test (its p-value is the largest of the
    depths', so Holm can adjust it); per-image outcomes pair the test-set term over the images both
    arms were scored on."""
    from lib import claims as C
    from lib.studies.transferability import claims

    rng = np.random.default_rng(0)
    b = rng.random((3, 4000)) < 0.80
    plus = np.array(b)
    plus[:, :400] = True  # AnB+ right on every image B gets right, and on ~80 more it gets wrong
    per = {("B", 0): b.mean(1).tolist(), ("AnB+", 1): plus.mean(1).tolist(), ("AnB+", 2): plus.mean(1).tolist()}
    cor = {("B", 0): list(b), ("AnB+", 1): list(plus), ("AnB+", 2): list(plus)}
    kw = dict(majority=0.5, n_test=4000, n_seeds=3, source=None, ranks={"AnB+": (1.0, None)}, n_estimates=2)
    unpaired = {c.id: c for c in claims(per, 2, ["B", "AnB+"], **kw)}["literature.yosinski.anb_plus"]
    paired = {c.id: c for c in claims(per, 2, ["B", "AnB+"], correct=cor, **kw)}["literature.yosinski.anb_plus"]
    assert paired.verdict == C.REPRODUCED and "(paired)" in paired.evidence
    assert paired.p_value < unpaired.p_value and paired.p_value < 0.05
    p_depth = [C.rule_p_values("greater", C.rule_verdict("greater", per[("AnB+", n)], per[("B", 0)], 4000,
                                                          outcomes=C.paired_outcomes(cor[("AnB+", n)], cor[("B", 0)]))[1])[0]
               for n in (1, 2)]
    assert paired.p_value == pytest.approx(max(p_depth))
    assert paired.data == "stand-in"


def test_the_rank_interval_resamples_seeds_and_test_images():
    import pandas as pd
    from scipy import stats

    from lib.intervals import spearman_interval
    from lib.studies.transferability import rank_interval

    rng = np.random.default_rng(1)
    far = [rng.random((3, 1500)) < q for q in (0.6, 0.7, 0.8, 0.9)]  # accuracies far apart: the ranking cannot move
    assert spearman_interval([1, 2, 3, 4], far) == (1.0, 1.0, 1.0)
    close = [rng.random((1, 300)) < q for q in (0.70, 0.71, 0.72, 0.73)]  # within noise: it moves a lot
    rho, low, high = spearman_interval([1, 2, 3, 4], close)
    assert low <= rho <= high and high - low >= 1.0
    # one seed: the same percentile bootstrap over test images as scipy's (paired over the items)
    ref = stats.bootstrap(tuple(c[0].astype(float) for c in close), lambda *x: stats.spearmanr(
        [1, 2, 3, 4], [v.mean() for v in x]).statistic, paired=True, vectorized=False, method="percentile",
        n_resamples=2000, random_state=0).confidence_interval
    assert abs(ref.low - low) <= 0.2 + 1e-9 and abs(ref.high - high) <= 0.2 + 1e-9  # one rank step of 4 items
    est = pd.DataFrame({"cut": ["a", "b", "c", "d"], "n": [1, 2, 3, 4], "logme": [1.0, 2.0, 3.0, 4.0]})
    rows = pd.DataFrame([{"arm": "AnB", "n": n, "seed": s, "test_correct": far[n - 1][s]} for n in (1, 2, 3, 4)
                         for s in range(3)])
    assert rank_interval(est, rows, "logme", "AnB") == (1.0, 1.0)
    assert rank_interval(est, rows.drop(columns="test_correct"), "logme", "AnB") is None


def test_an_arm_validated_once_at_the_end_trains_and_scores_as_one_validated_every_epoch():
    from lib.data import split_task
    from lib.studies.transferability import yosinski_arm

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (60, 16, 16, 3)).astype("float32")
    task = split_task("noise", x, np.arange(60) % 2, ["a", "b"], seed=0)
    common = dict(arch="simple_cnn", image_size=16, src=None, epochs=3, batch_size=8, learning_rate=1e-3, seed=0)
    every, h_every, _ = yosinski_arm("B", None, task, validation_freq=1, **common)
    once, h_once, _ = yosinski_arm("B", None, task, **common)
    assert len(h_every["val_accuracy"]) == 3 and len(h_once["val_accuracy"]) == 1 and h_once["val_epoch"] == [3]
    assert once["val_acc"] == every["val_acc"] and once["test_acc"] == every["test_acc"]
    assert h_once["loss"] == h_every["loss"]  # validation never steers training here


def test_the_panel_ranks_every_estimate_against_each_accuracy_with_intervals():
    """LogME, H-score and the probe against AnB+, AnB (bootstrap interval over seeds and test images)
    and the linear probe's own accuracy (no interval: it does not depend on the training seeds);
    the claims read LogME's rows."""
    import pandas as pd

    from lib.studies.transferability import logme_ranks, rank_correlations

    rng = np.random.default_rng(2)
    up = [rng.random((3, 1500)) < q for q in (0.6, 0.7, 0.8, 0.9)]  # AnB+ rises with n
    down = up[::-1]  # AnB falls with n
    est = pd.DataFrame({"cut": list("abcd"), "n": [1, 2, 3, 4], "logme": [1.0, 2.0, 3.0, 4.0],
                        "h_score": [4.0, 3.0, 2.0, 1.0], "linear_probe": [0.5, 0.6, 0.8, 0.7]})
    rows = pd.DataFrame([{"arm": arm, "n": n, "seed": s, "test_correct": c[n - 1][s], "test_acc": c[n - 1][s].mean()}
                         for arm, c in (("AnB+", up), ("AnB", down)) for n in (1, 2, 3, 4) for s in range(3)])
    corr = rank_correlations(est, rows)
    assert len(corr) == 3 * 2 + 2  # three estimates x two arms, and LogME and H-score against the probe
    one = corr.set_index(["estimate", "target"])
    assert one.loc[("logme", "AnB+")].spearman_rho == pytest.approx(1.0)
    assert one.loc[("logme", "AnB+")].low == pytest.approx(1.0)  # far apart: the ranking cannot move
    assert one.loc[("logme", "AnB")].spearman_rho == pytest.approx(-1.0)
    assert one.loc[("h_score", "AnB")].spearman_rho == pytest.approx(1.0)
    assert one.loc[("logme", "linear_probe")].spearman_rho == pytest.approx(0.8)
    assert np.isnan(one.loc[("logme", "linear_probe")].low)
    assert one.loc[("logme", "AnB+")].p_above_0 == pytest.approx(1 / 24)  # exact over 4! rankings
    ranks = logme_ranks(corr)
    assert ranks["AnB+"] == (pytest.approx(1.0), (pytest.approx(1.0), pytest.approx(1.0)))
    assert ranks["linear_probe"] == (pytest.approx(0.8), None)
