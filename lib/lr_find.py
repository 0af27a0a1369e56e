"""The learning-rate range test (Smith 2017; fastai's ``lr_find``): train a fresh model for a few
hundred steps while the learning rate grows exponentially, and read off where the loss falls
fastest and where it blows up.

Written here, after fastai's ``callback/schedule.py`` (``LRFinder``: exponential schedule, loss
smoothed by an exponential moving average with bias correction, stop once the smoothed loss passes
4x its minimum), because Keras has no such callback (keras-team/keras #8891, keras-contrib #204).
Two suggestions are returned, as fastai does: ``steep``, the rate of the steepest fall of the
smoothed loss against log(rate), and ``min_div10``, a tenth of the rate at the smoothed minimum,
both read after dropping the first tenth of the planned steps and the last 5 recorded ones, as
fastai's ``Learner.lr_find`` does (``recorder.lrs[num_it//10:-5]``): the smoothed loss's first
steps fall fastest of all only because the average is starting up (measured on the faces: without
the trim, the steepest fall sat at the sweep's first rate in all 8 arms of ``small_data/methods``).
Range-test suggestions are known to be rough (ktrain #174, pytorch-lr-finder #56): a report that
shows them puts them beside the rate its validation grid chose, never in its place.
"""

from __future__ import annotations

import math

import keras
import numpy as np


def range_test(model: keras.Model, x: np.ndarray, y: np.ndarray, *, start: float = 1e-6, end: float = 1.0,
               steps: int = 100, batch_size: int = 32, seed: int = 0, beta: float = 0.98, optimizer: str = "adam",
               loss: str = "sparse_categorical_crossentropy", stop_factor: float = 4.0) -> dict:
    """Train ``model`` (changed in place: give it a fresh copy) on batches of ``(x, y)`` drawn in a
    seeded order, the learning rate growing from ``start`` to ``end`` geometrically over ``steps``
    optimizer steps, and stop early once the smoothed loss exceeds ``stop_factor`` times its
    minimum (or is not finite). Returns ``{"lr": [...], "loss": [...] (raw), "smooth": [...],
    "steep": rate, "min_div10": rate, "diverged_at": rate or None}``."""
    if not 0 < start < end:
        raise ValueError(f"need 0 < start < end; received start={start}, end={end}")
    if steps < 5:
        raise ValueError(f"a range test needs at least 5 steps; received {steps}")
    opt = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[optimizer](start)
    model.compile(optimizer=opt, loss=loss)
    rng = np.random.default_rng(seed)
    ratio = (end / start) ** (1 / (steps - 1))
    lrs, raw, smooth = [], [], []
    avg, best, diverged = 0.0, math.inf, None
    order = np.array([], dtype=int)
    for i in range(steps):
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(y))])
        idx, order = order[:batch_size], order[batch_size:]
        lr = start * ratio ** i
        model.optimizer.learning_rate = lr
        value = float(np.asarray(model.train_on_batch(x[idx], y[idx])).ravel()[0])
        avg = beta * avg + (1 - beta) * value
        s = avg / (1 - beta ** (i + 1))  # bias-corrected
        lrs.append(lr)
        raw.append(value)
        smooth.append(s)
        if not math.isfinite(s) or s > stop_factor * best:
            diverged = lr
            break
        best = min(best, s)
    return {"lr": lrs, "loss": raw, "smooth": smooth, "diverged_at": diverged,
            **suggestions(lrs, smooth, skip_start=steps // 10, skip_end=5)}


def suggestions(lrs: list[float], smooth: list[float], skip_start: int = 0, skip_end: int = 0) -> dict[str, float]:
    """fastai's two readings of a range-test curve: ``steep``, the rate where the smoothed loss falls
    fastest against log(rate) (before its minimum), and ``min_div10``, a tenth of the rate at the
    minimum, read on the curve without its first ``skip_start`` and last ``skip_end`` points (fastai:
    the first tenth of the planned steps and the last 5; the whole curve when that would leave fewer
    than 3). Non-finite losses (the blow-up) are left out."""
    if len(lrs) - skip_start - skip_end >= 3:
        lrs, smooth = lrs[skip_start:len(lrs) - skip_end], smooth[skip_start:len(smooth) - skip_end]
    lr, sm = np.asarray(lrs, dtype=float), np.asarray(smooth, dtype=float)
    ok = np.isfinite(sm)
    lr, sm = lr[ok], sm[ok]
    if len(lr) < 3:
        raise ValueError("too few finite points to read a range-test curve")
    low = int(np.argmin(sm))
    grad = np.gradient(sm[:low + 1], np.log(lr[:low + 1])) if low >= 2 else np.gradient(sm, np.log(lr))
    return {"steep": float(lr[int(np.argmin(grad))]), "min_div10": float(lr[low] / 10)}


def plot(result: dict, ax=None, chosen: float | None = None, title: str = ""):
    """The smoothed loss against the rate (log scale), the suggestions and, when given, the rate the
    validation grid chose."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(result["lr"], result["smooth"], label="smoothed training loss")
    ax.set_xscale("log")
    ax.axvline(result["steep"], color="tab:orange", ls="--", lw=1, label=f"steepest fall {result['steep']:.1e}")
    ax.axvline(result["min_div10"], color="tab:green", ls=":", lw=1, label=f"minimum / 10 {result['min_div10']:.1e}")
    if chosen:
        ax.axvline(chosen, color="black", lw=1.5, label=f"chosen on validation {chosen:.0e}")
    finite = [s for s in result["smooth"] if math.isfinite(s)]
    if finite:
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 4 * min(finite)) * 1.05)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax
