"""Cheap transferability estimates, computed from frozen features before any fine-tuning (numpy and
scikit-learn, no TensorFlow).

- :func:`logme`: LogME (You et al. 2021), the log maximum evidence of a Bayesian linear model
  from features to one-hot labels, averaged over classes and divided by the number of samples.
  Higher means the features carry the labels more linearly. It needs one forward pass.
- :func:`h_score`: H-score (Bao et al. 2019), ``tr(cov(f)^+ cov(E[f | y]))``: how much of the
  features' spread the class means explain, whitened by the features' own covariance.
- :func:`leep`: LEEP (Nguyen et al. 2020), from the *source model's own classifier*: the mean
  log-likelihood of the target labels under the "expected empirical predictor" that maps the
  source classes to target classes through their empirical joint on the target data.
- :func:`nce`: NCE (Tran et al. 2019), the negative conditional entropy ``-H(Y | Z)`` of the target
  labels given the source model's hard source-class predictions.
- :func:`linear_probe`: cross-validated accuracy of a logistic regression on the features
  (scikit-learn), the classic "fixed features + logistic regression" protocol of Kornblith et al.

All are meant to rank cut points or backbones; a report that uses them must show their rank
correlation with the realised transfer accuracy (estimators can rank wrongly).
"""

from __future__ import annotations

import numpy as np

# the estimates a transferability report computes per cut, in the order its tables and figures show them
ESTIMATES = ("logme", "h_score", "linear_probe")


def logme(features: np.ndarray, labels: np.ndarray, max_iter: int = 100, tol: float = 1e-3) -> float:
    """LogME score of ``features`` ``(n, d)`` for integer ``labels`` ``(n,)``.

    For each class, the evidence of ``y_c = F w + noise`` with prior ``w ~ N(0, 1/alpha)`` and
    noise precision ``beta`` is maximised over ``alpha`` and ``beta`` by the fixed-point updates
    of the paper (through one SVD of ``F``); the score is the mean over classes of the maximal
    log evidence divided by ``n``.

    Wide features (``d > n``, three of the simple CNN's four cuts): the sums run over all ``d``
    eigenvalues of ``F^T F``, zeros included, which is the exact evidence (Bishop 3.86: ``|A|``
    has ``d - k`` factors ``alpha``). The evidence depends on ``F`` only through ``F F^T``, so this
    equals LogME of the features reduced first to their ``k = rank`` principal directions
    (``U_k S_k``), where the reference implementation (You et al., ``_fit_fixed_point``, whose
    sums run over the ``k`` non-zero singular values with ``D`` in front of ``log alpha``) gives the
    same number; on the raw wide features that implementation adds ``(d - k) / 2 log alpha`` per
    class, which grows with ``d`` without any gain in what the features tell about the labels.
    Tested in ``tests/test_transferability.py``."""
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


def h_score(features: np.ndarray, labels: np.ndarray, rcond: float = 1e-10) -> float:
    """H-score of ``features`` ``(n, d)`` for integer ``labels``: ``tr(pinv(cov f) cov g)``, ``g`` each
    example's class mean of ``f`` (Bao et al. 2019; TLlib's ``tllib.ranking.hscore`` computes it on
    the ``d x d`` covariances). Here through the thin SVD of the centred features ``F = U S V^T``:
    the class-mean map is a projection ``P`` of the rows, so ``cov g = F^T P F / (n - 1)`` and the
    trace is ``||P U||_F^2 = sum_c n_c ||mean of U's rows in class c||^2`` over the directions whose
    singular value exceeds ``rcond`` times the largest (the pseudo-inverse's): exact, and cheap for
    wide features (16,384 dimensions would make a 2 GB covariance). At most ``min(classes - 1, rank)``.
    Tested against the covariance formula and a hand-computed value in ``tests/test_scores.py``."""
    f = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    y = np.asarray(labels)
    if len(f) != len(y):
        raise ValueError(f"features have {len(f)} rows but labels {len(y)}")
    if len(np.unique(y)) < 2:
        raise ValueError("H-score needs at least two classes")
    u, s, _ = np.linalg.svd(f - f.mean(0), full_matrices=False)
    u = u[:, s > rcond * s.max()] if s.max() > 0 else u[:, :0]
    return float(sum((y == c).sum() * np.sum(u[y == c].mean(0) ** 2) for c in np.unique(y)))


def _joint(source_probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The empirical joint ``P(y, z)`` ``(classes, source classes)`` of target labels ``y`` and
    source classes ``z`` (``source_probs`` ``(n, Z)``: each row a distribution over ``z``), and the
    integer labels as ``0 .. classes - 1``."""
    theta = np.asarray(source_probs, dtype=np.float64)
    y = np.asarray(labels)
    if theta.ndim != 2 or len(theta) != len(y):
        raise ValueError(f"source probabilities must be (n, source classes) for n = {len(y)} labels; got {theta.shape}")
    _, y = np.unique(y, return_inverse=True)
    joint = np.zeros((y.max() + 1, theta.shape[1]))
    np.add.at(joint, y, theta)
    return joint / len(y), y


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP (Nguyen et al. 2020; TLlib's ``tllib.ranking.leep``) of a source classifier for the
    target ``labels``: ``source_probs`` ``(n, Z)`` are its softmax outputs on the ``n`` target
    examples. The empirical joint ``P(y, z) = mean_i theta_i(z) [y_i = y]`` gives ``P(y | z)``; LEEP is
    ``mean_i log sum_z P(y_i | z) theta_i(z)``, at most 0, higher meaning the source classes predict the
    target's better. Tested on hand-computed values in ``tests/test_scores.py``."""
    joint, y = _joint(source_probs, labels)
    cond = np.divide(joint, joint.sum(0, keepdims=True), out=np.zeros_like(joint), where=joint.sum(0, keepdims=True) > 0)
    theta = np.asarray(source_probs, dtype=np.float64)
    eep = np.einsum("nz,nz->n", theta, cond[y])
    return float(np.mean(np.log(np.clip(eep, 1e-300, None))))


def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """NCE (Tran et al. 2019; TLlib's ``tllib.ranking.negative_conditional_entropy``): ``-H(Y | Z) =
    sum_{y,z} P(y, z) log P(y | z)`` over the empirical joint of the target ``labels`` and the source
    model's hard predictions ``source_labels`` (integer source classes). At most 0; 0 when the source
    class determines the target class."""
    z = np.asarray(source_labels)
    _, z = np.unique(z, return_inverse=True)
    joint, _ = _joint(np.eye(z.max() + 1)[z], labels)
    cond = np.divide(joint, joint.sum(0, keepdims=True), out=np.ones_like(joint), where=joint > 0)
    return float(np.sum(joint * np.log(cond)))
