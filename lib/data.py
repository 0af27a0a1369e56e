"""Datasets for the D1 -> D2 study: a built-in generator, scikit-learn's digits, and a user's CSVs.

Every loader returns a pair of :class:`Task` objects (D1, D2) with the same number of features,
split 80/20 into train+validation / test as in the seed, the validation set carved from the 80%.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split



@dataclass
class Task:
    """One classification data set, already split. ``x_*`` are float32, ``y_*`` int labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}


def split_task(name: str, x: np.ndarray, y: np.ndarray, class_names: list[str], *,
               test_fraction: float = 0.2, val_fraction: float = 0.2, seed: int = 0) -> Task:
    """Stratified split: ``test_fraction`` of all samples for test, then ``val_fraction`` of the
    rest for validation (defaults give 64/16/20)."""
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y, dtype="int64")
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_fraction, stratify=y_rest, random_state=seed + 1)
    return Task(name, x_train, y_train, x_val, y_val, x_test, y_test, list(class_names))


def split_problem(y, class_names: list[str]) -> str | None:
    """Why :func:`split_task` cannot split labels ``y`` 64/16/20 stratified (a class with too few
    examples), tried on the labels alone, or ``None``. Lets the checks before any kernel refuse a
    data set with one example of a class instead of scikit-learn's raw message mid-run."""
    y = np.asarray(y)
    try:
        split_task("check", np.zeros((len(y), 1), "float32"), y, class_names)
    except ValueError:
        counts = {class_names[int(k)] if int(k) < len(class_names) else str(k): int(n)
                  for k, n in zip(*np.unique(y, return_counts=True))}
        return (f"cannot split {len(y)} examples 64/16/20 keeping every class in each part: examples per class "
                f"{counts}; give every class a few more (at least 5 each is safe)")
    return None


def make_latent_tasks(n_d1: int = 22000, n_d2: int = 8000, *, n_features: int = 32,
                      latent_dim: int = 8, n_classes_d1: int = 10, n_classes_d2: int = 10,
                      similarity: float = 0.9, noise: float = 0.05,
                      seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Raw arrays ``(x1, y1), (x2, y2)`` of two tasks that share their input structure.

    Both data sets observe a hidden ``latent_dim``-dimensional cause ``z ~ N(0, I)`` through the
    same fixed random two-layer non-linear map (``x = tanh(tanh(z A + a) B + b) C + noise``).
    Labels are the arg-max of a linear read-out of ``z``. What is worth transferring is therefore
    the inversion of the shared map (the lower layers), not the label read-out.

    ``similarity`` (0..1) relates the read-outs: D2's is ``s * D1's (columns shuffled) +
    sqrt(1 - s^2) * fresh noise``. At 1 the classes are D1's in a different order; at 0 D2 is
    an unrelated task on the same inputs. Either way D2's label order differs from D1's.
    Deterministic in ``seed``.
    """
    if not 0.0 <= similarity <= 1.0:
        raise ValueError(f"similarity must lie in [0, 1]; received {similarity}")
    if similarity > 0 and n_classes_d2 != n_classes_d1:
        raise ValueError("similarity > 0 relates D2's classes to D1's, so it needs "
                         f"n_classes_d2 == n_classes_d1; received {n_classes_d2} and {n_classes_d1}")
    rng = np.random.default_rng(seed)
    width = 4 * max(n_features, latent_dim)
    a_mat = rng.normal(0, 1.0 / np.sqrt(latent_dim), (latent_dim, width))
    a_bias = rng.normal(0, 0.5, width)
    b_mat = rng.normal(0, 1.5 / np.sqrt(width), (width, width))
    b_bias = rng.normal(0, 0.5, width)
    c_mat = rng.normal(0, 1.0 / np.sqrt(width), (width, n_features))

    def readout(n_classes: int) -> np.ndarray:
        r = rng.normal(size=(latent_dim, n_classes))
        return r / np.linalg.norm(r, axis=0, keepdims=True)  # unit columns: balanced classes

    read1 = readout(n_classes_d1)
    read2 = np.sqrt(1 - similarity**2) * readout(n_classes_d2)
    if similarity > 0:
        read2 = read2 + similarity * read1[:, rng.permutation(n_classes_d1)]

    def sample(n: int, read: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = rng.normal(size=(n, latent_dim))
        x = np.tanh(np.tanh(z @ a_mat + a_bias) @ b_mat + b_bias) @ c_mat
        x = x / x.std(axis=0, keepdims=True) + rng.normal(0, noise, x.shape)
        return x.astype("float32"), np.argmax(z @ read, axis=1)

    return sample(n_d1, read1), sample(n_d2, read2)


def synthetic_tasks(n_d1: int = 22000, n_d2: int = 8000, *, seed: int = 0, **kwargs) -> tuple[Task, Task]:
    """The built-in D1 and D2 (see :func:`make_latent_tasks`), split 64/16/20."""
    (x1, y1), (x2, y2) = make_latent_tasks(n_d1, n_d2, seed=seed, **kwargs)
    names1 = [f"d1_class{i}" for i in range(int(y1.max()) + 1)]
    names2 = [f"d2_class{i}" for i in range(int(y2.max()) + 1)]
    return (split_task("D1 (synthetic)", x1, y1, names1, seed=seed),
            split_task("D2 (synthetic)", x2, y2, names2, seed=seed))


def digits_tasks(seed: int = 0) -> tuple[Task, Task]:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, offline): D1 is digits 0-4,
    D2 is digits 5-9 relabelled 0-4 (so a zero-shot D1 model maps digit 5 to its class '0')."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    low = y < 5
    return (split_task("D1 (digits 0-4)", x[low], y[low], [str(d) for d in range(5)], seed=seed),
            split_task("D2 (digits 5-9)", x[~low], y[~low] - 5, [str(d) for d in range(5, 10)], seed=seed))


def read_csv_task(path: str | Path, label_column: str = "label") -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """A user's CSV: one row per sample, numeric feature columns and one label column.

    Returns ``(x, y, class_names, feature_names)``; labels (numbers or strings) are encoded in
    sorted order. Raises ``ValueError`` naming the file and column when the file does not fit.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CSV file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})") from None
    if label_column not in frame.columns:
        raise ValueError(f"{path}: no label column {label_column!r}; columns are {list(frame.columns)}")
    features = frame.drop(columns=[label_column])
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise ValueError(f"{path}: feature columns must be numeric; non-numeric: {bad}")
    if features.isna().any().any():
        cols = list(features.columns[features.isna().any()])
        raise ValueError(f"{path}: missing values in columns {cols}")
    classes = sorted(frame[label_column].unique(), key=str)
    if len(classes) < 2:
        raise ValueError(f"{path}: need at least 2 classes in {label_column!r}; found {classes}")
    index = {c: i for i, c in enumerate(classes)}
    y = frame[label_column].map(index).to_numpy()
    problem = split_problem(y, [str(c) for c in classes])
    if problem:
        raise ValueError(f"{path}: {problem}")
    return features.to_numpy("float32"), y, [str(c) for c in classes], list(features.columns)


def csv_tasks(d1_csv: str | Path, d2_csv: str | Path, label_column: str = "label",
              seed: int = 0) -> tuple[Task, Task]:
    """D1 and D2 from two CSV files with the same feature columns."""
    x1, y1, c1, f1 = read_csv_task(d1_csv, label_column)
    x2, y2, c2, f2 = read_csv_task(d2_csv, label_column)
    if f1 != f2:
        raise ValueError(f"D1 and D2 must have the same feature columns (same input shape); "
                         f"{d1_csv} has {len(f1)}, {d2_csv} has {len(f2)}; "
                         f"only in D1: {sorted(set(f1) - set(f2))}, only in D2: {sorted(set(f2) - set(f1))}")
    return (split_task(f"D1 ({Path(d1_csv).name})", x1, y1, c1, seed=seed),
            split_task(f"D2 ({Path(d2_csv).name})", x2, y2, c2, seed=seed))


def positive_control_task(d1: Task, n_train: int, seed: int = 0) -> Task:
    """The positive control's D2: drawn from D1's own distribution with D1's own labels, so transfer
    must help. It is D1's validation and test splits (the source never trained on them; validation
    only chose when it stopped): ``n_train`` samples to train on (at most half), half as many for
    validation, and every other sample for test, so the few-sample regime where transfer pays is
    measured on as large a test set as D1 allows."""
    x, y = np.concatenate([d1.x_val, d1.x_test]), np.concatenate([d1.y_val, d1.y_test])
    n_train = max(min(n_train, len(y) // 2), d1.n_classes)
    n_val = max(n_train // 2, d1.n_classes)
    idx = np.arange(len(y))
    tr, rest = train_test_split(idx, train_size=n_train, stratify=y, random_state=seed)
    va, te = train_test_split(rest, train_size=n_val, stratify=y[rest], random_state=seed + 1)
    return Task(f"{d1.name}, held-out part (positive control)", x[tr], y[tr], x[va], y[va], x[te], y[te],
                list(d1.class_names))


def shuffled_labels_task(task: Task, seed: int = 0) -> Task:
    """The negative control: ``task`` with its train and validation labels permuted (test labels
    kept), so nothing learnable carries over to the test split and no arm may beat chance."""
    rng = np.random.default_rng(seed)
    return Task(f"{task.name}, shuffled labels (negative control)", task.x_train, rng.permutation(task.y_train),
                task.x_val, rng.permutation(task.y_val), task.x_test, task.y_test, list(task.class_names))


def majority_rate(y: np.ndarray) -> float:
    """Accuracy of always answering the most frequent class: chance for a skewed label set."""
    return float(np.bincount(np.asarray(y)).max() / len(y))


DATA_SOURCES = ("synthetic", "digits", "csv")


def load_d1_d2(source: str = "synthetic", *, d1_csv: str = "", d2_csv: str = "", label_column: str = "label",
               seed: int = 0, synthetic: dict | None = None) -> tuple[Task, Task]:
    """D1 and D2 from ``source``: the built-in generator (``synthetic`` holds the keyword
    arguments of :func:`make_latent_tasks`; ignored otherwise), scikit-learn's digits, or the
    user's two CSV files."""
    if source == "synthetic":
        return synthetic_tasks(seed=seed, **(synthetic or {}))
    if source == "digits":
        return digits_tasks(seed=seed)
    if source == "csv":
        if not d1_csv or not d2_csv:
            raise ValueError("data='csv' needs both d1_csv and d2_csv; "
                             f"received d1_csv={d1_csv!r}, d2_csv={d2_csv!r}")
        return csv_tasks(d1_csv, d2_csv, label_column, seed=seed)
    raise ValueError(f"unknown data source {source!r}; use one of {DATA_SOURCES}")


def train_fraction(task: Task, fraction: float, seed: int = 0) -> Task:
    """``task`` with its training split cut to ``fraction`` of it, class by class (at least one
    example per class), the validation and test splits untouched, so arms trained on different
    amounts of data are compared on the same examples. Nested: with the same ``seed`` a smaller
    fraction's examples are among a larger one's (one random order per class, cut at the front)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; received {fraction}")
    if fraction == 1:
        return task
    y = np.asarray(task.y_train)
    labels = y if y.ndim == 1 else np.zeros(len(y), dtype="int64")  # several labels per example: no strata
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        keep.append(idx[:max(1, int(round(fraction * len(idx))))])
    keep = np.sort(np.concatenate(keep))
    return Task(f"{task.name} (train x{fraction:g})", task.x_train[keep], task.y_train[keep], task.x_val, task.y_val,
                task.x_test, task.y_test, task.class_names)
