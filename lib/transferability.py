"""Cheap transferability estimates, computed from frozen features before any fine-tuning.

- :func:`logme`: LogME (You et al. 2021), the log maximum evidence of a Bayesian linear model
  from features to one-hot labels, averaged over classes and divided by the number of samples.
  Higher means the features carry the labels more linearly. It needs one forward pass.
- :func:`linear_probe`: cross-validated accuracy of a logistic regression on the features
  (scikit-learn), the classic "fixed features + logistic regression" protocol of Kornblith et al.

Both are meant to rank cut points or backbones; the report that uses them must show the rank
correlation with the realised fine-tuned accuracy (estimators can rank wrongly).
"""

from __future__ import annotations

import numpy as np


def logme(features: np.ndarray, labels: np.ndarray, max_iter: int = 100, tol: float = 1e-3) -> float:
    """LogME score of ``features`` ``(n, d)`` for integer ``labels`` ``(n,)``.

    For each class, the evidence of ``y_c = F w + noise`` with prior ``w ~ N(0, 1/alpha)`` and
    noise precision ``beta`` is maximised over ``alpha`` and ``beta`` by the fixed-point updates
    of the paper (through one SVD of ``F``); the score is the mean over classes of the maximal
    log evidence divided by ``n``."""
    f = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    y = np.asarray(labels)
    n, d = f.shape
    if n != len(y):
        raise ValueError(f"features have {n} rows but labels {len(y)}")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("LogME needs at least two classes")
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = np.zeros(d)
    sigma[:len(s)] = s**2  # eigenvalues of F^T F, zero beyond the rank
    scores = []
    for c in classes:
        t = (y == c).astype(np.float64)
        z = u.T @ t
        z2 = np.zeros(d)
        z2[:len(z)] = z**2
        outside = max(float(t @ t - z2.sum()), 0.0)  # the part of t outside the span of F
        alpha, beta = 1.0, 1.0
        for _ in range(max_iter):
            denom = alpha + beta * sigma
            gamma = float((beta * sigma / denom).sum())
            m2 = float((beta**2 * sigma * z2 / denom**2).sum())
            res2 = float((alpha**2 * z2 / denom**2).sum() + outside)
            new_alpha, new_beta = gamma / (m2 + 1e-12), (n - gamma) / (res2 + 1e-12)
            done = abs(new_alpha - alpha) / alpha < tol and abs(new_beta - beta) / beta < tol
            alpha, beta = new_alpha, new_beta
            if done:
                break
        denom = alpha + beta * sigma
        m2 = float((beta**2 * sigma * z2 / denom**2).sum())
        res2 = float((alpha**2 * z2 / denom**2).sum() + outside)
        evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.log(denom).sum()
                    - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi))
        scores.append(evidence / n)
    return float(np.mean(scores))


def linear_probe(features: np.ndarray, labels: np.ndarray, folds: int = 3, seed: int = 0) -> float:
    """Mean cross-validated accuracy of a standardised logistic regression on ``features``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    f = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    folds = int(min(folds, np.bincount(np.asarray(labels)).min()))
    if folds < 2:
        raise ValueError("linear_probe needs at least two examples of every class")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, f, labels, cv=cv).mean())
