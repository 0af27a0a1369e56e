"""The cheap transferability estimates of lib/scores.py on features where the answer is known."""

import numpy as np
import pytest

from lib import scores


def _h_by_covariances(f, y):
    """H-score as TLlib writes it: tr(pinv(cov f) cov g), g the class means of f."""
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(0)
    return float(np.trace(np.linalg.pinv(np.cov(f, rowvar=False), rcond=1e-15) @ np.cov(g, rowvar=False)))


def test_h_score_by_hand():
    # class means 1 and 2 -> g = [1, 1, 2, 2], var g = 1/3; var f = 5/3; H = 0.2
    assert scores.h_score(np.array([[0.0], [2.0], [1.0], [3.0]]), np.array([0, 0, 1, 1])) == pytest.approx(0.2)
    # features that are the labels: the class means explain everything
    assert scores.h_score(np.array([[0.0], [0.0], [1.0], [1.0]]), np.array([0, 0, 1, 1])) == pytest.approx(1.0)


def test_h_score_matches_the_covariance_formula_and_ranks_signal_above_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    noise = rng.normal(size=(300, 6))
    signal = noise + 2.0 * np.eye(6)[y]  # classes shift four of the six dimensions
    for f in (noise, signal):
        assert scores.h_score(f, y) == pytest.approx(_h_by_covariances(f, y), rel=1e-8)
    assert scores.h_score(signal, y) > 1.0 > 0.2 > scores.h_score(noise, y)
    assert scores.h_score(signal, y) <= 3 + 1e-9  # at most classes - 1


def test_h_score_on_wide_features_uses_the_pseudo_inverse():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 10)
    f = rng.normal(size=(30, 5000))  # d >> n: the covariance is singular
    got = scores.h_score(f, y)
    assert got == pytest.approx(2.0, abs=1e-6)  # n - 1 directions span every centred example: g is explained fully
    with pytest.raises(ValueError, match="two classes"):
        scores.h_score(f, np.zeros(30))


def test_leep_by_hand():
    theta = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    y = np.array([0, 1, 1])
    # P(y, z) * 3: y=0 -> (0.8, 0.2); y=1 -> (0.9, 1.1); P(z) * 3 = (1.7, 1.3)
    p0 = np.array([0.8 / 1.7, 0.2 / 1.3])
    p1 = np.array([0.9 / 1.7, 1.1 / 1.3])
    want = np.mean(np.log([theta[0] @ p0, theta[1] @ p1, theta[2] @ p1]))
    assert scores.leep(theta, y) == pytest.approx(want, rel=1e-12)
    assert scores.leep(theta, y) == pytest.approx(-0.53532, abs=1e-5)
    # a source whose classes are the target's: 0; an uninformative one: log of the class share
    assert scores.leep(np.eye(2)[[0, 1, 0, 1]], [0, 1, 0, 1]) == pytest.approx(0.0)
    assert scores.leep(np.full((4, 2), 0.5), [0, 0, 1, 1]) == pytest.approx(np.log(0.5))
    with pytest.raises(ValueError, match="source probabilities must be"):
        scores.leep(theta[:2], y)


def test_nce_by_hand():
    # z = (0, 1, 0), y = (0, 1, 1): P(y|z=0) = 1/2 each, P(y=1|z=1) = 1 -> -(2/3) log 2
    assert scores.nce([0, 1, 0], [0, 1, 1]) == pytest.approx(-2 / 3 * np.log(2))
    assert scores.nce([3, 7, 3, 7], [0, 1, 0, 1]) == pytest.approx(0.0)  # any source class names
    assert scores.nce([0, 0, 0, 0], [0, 0, 1, 1]) == pytest.approx(np.log(0.5))


def test_leep_and_nce_rank_an_informative_source_above_a_noisy_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    good = np.eye(5)[(y + rng.integers(0, 2, 600) * 3) % 5] * 0.9 + 0.02  # z carries y
    bad = rng.dirichlet(np.ones(5), 600)
    assert scores.leep(good, y) > scores.leep(bad, y)
    assert scores.nce(good.argmax(1), y) > scores.nce(bad.argmax(1), y)
