"""The learning-rate range test (lib/lr_find.py) on a problem whose divergence point is known: SGD on
a least-squares line diverges once the rate passes 2 / (the Hessian's largest eigenvalue), i.e.
1 / var(x) for y = 2x + noise."""

import numpy as np
import pytest

from lib import lr_find


def _line(s: float):
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(0, s, (4096, 1)).astype("float32")
    y = (2.0 * x[:, 0] + rng.normal(0, 1, 4096)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    return lr_find.range_test(model, x, y, start=1e-4, end=100.0, steps=120, batch_size=256, optimizer="sgd",
                              loss="mse")


@pytest.mark.parametrize("s", [1.0, 3.0])
def test_the_range_test_finds_the_known_divergence_point(s):
    r = _line(s)
    threshold = 1 / s ** 2  # SGD's stability limit on this problem
    assert threshold <= r["diverged_at"] <= 5 * threshold  # found, a few steps late (the smoothing lags)
    assert r["min_div10"] < threshold and r["steep"] < threshold  # both suggestions are stable rates
    assert len(r["lr"]) < 120 and r["lr"] == sorted(r["lr"])  # it stopped at the blow-up


def test_suggestions_read_the_curve_as_fastai_does():
    lrs = list(np.geomspace(1e-5, 1, 11))
    smooth = [5, 5, 4.9, 4.5, 3, 1.5, 1.0, 0.9, 1.2, 3, float("inf")]  # steepest fall from 1e-3 to 1e-2
    got = lr_find.suggestions(lrs, smooth)
    assert got["steep"] == pytest.approx(lrs[4]) and got["min_div10"] == pytest.approx(lrs[7] / 10)
    with pytest.raises(ValueError, match="too few"):
        lr_find.suggestions([1e-3, 1e-2], [1.0, 0.5])
    with pytest.raises(ValueError, match="0 < start < end"):
        lr_find.range_test(None, None, None, start=1.0, end=0.1)


def test_the_suggestions_skip_the_smoothings_start_up_as_fastai_does():
    """fastai reads its suggestions on recorder.lrs[num_it//10:-5]: a curve whose first points fall
    fastest (the moving average starting up) is read after them."""
    lrs = list(np.geomspace(1e-6, 1, 30))
    smooth = [9.0, 6.0, 5.0] + [5.0 - 0.05 * k for k in range(10)] + [4.4, 3.0, 1.6, 1.2, 1.1, 1.0] + [1.2 + k for k in range(11)]
    assert lr_find.suggestions(lrs, smooth)["steep"] == pytest.approx(lrs[0])  # the start-up, untrimmed
    trimmed = lr_find.suggestions(lrs, smooth, skip_start=3, skip_end=5)
    assert trimmed["steep"] == pytest.approx(lrs[14]) and trimmed["min_div10"] == pytest.approx(lrs[18] / 10)
    assert lr_find.suggestions(lrs[:6], smooth[:6], skip_start=3, skip_end=5) == lr_find.suggestions(lrs[:6], smooth[:6])
