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
