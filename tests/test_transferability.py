"""LogME and the linear probe rank informative features above uninformative ones."""

import numpy as np
import pytest

from lib import transferability as T


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
