import numpy as np
import pytest

from lib import models
from lib.studies import d1_d2_runs


@pytest.fixture(scope="module")
def source():
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    return models.build_mlp(6, 4, (16, 8, 4), normalizer_data=x, name="source")


def test_build_mlp_names_and_shapes(source):
    names = [l.name for l in source.layers]
    assert names == ["features", "norm", "hidden_1", "hidden_2", "hidden_3", "output"]
    assert source.output_shape == (None, 4)
    with pytest.raises(ValueError, match="n_classes"):
        models.build_mlp(6, 1)
    with pytest.raises(ValueError, match="hidden"):
        models.build_mlp(6, 3, (16, 0))


def _dense_params(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def test_transfer_copies_weights_and_freezes(source):
    frozen = d1_d2_runs.transfer_model(source, 3, (5, 7), freeze=True)
    counts = models.parameter_counts(frozen)
    assert counts["trainable"] == _dense_params([4, 5, 7, 3])  # only the three new layers
    assert counts["frozen"] == _dense_params([6, 16, 8, 4]) + (6 + 6 + 1)  # body + norm mean/var/count
    for name in ("hidden_1", "hidden_2", "hidden_3"):
        for w_new, w_src in zip(frozen.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(w_new, w_src)
    tuned = d1_d2_runs.transfer_model(source, 3, (5, 7), freeze=False)
    assert models.parameter_counts(tuned)["trainable"] == _dense_params([6, 16, 8, 4, 5, 7, 3])


def test_transfer_leaves_source_untouched(source):
    before = [w.copy() for w in source.get_weights()]
    model = d1_d2_runs.transfer_model(source, 3, freeze=False)
    model.get_layer("hidden_1").kernel.assign(np.zeros((6, 16), "float32"))
    for a, b in zip(before, source.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_reinitialised_transfer_architecture_matches_transfer_shapes(source):
    fresh = d1_d2_runs.reinitialised_transfer_architecture((16, 8, 4), 6, 3, (5, 7))
    copied = d1_d2_runs.transfer_model(source, 3, (5, 7), freeze=False)
    assert [w.shape for w in fresh.weights] == [w.shape for w in copied.weights]
    assert not np.allclose(fresh.get_layer("hidden_1").get_weights()[0], source.get_layer("hidden_1").get_weights()[0])


def test_body_layers_refuses_foreign_model():
    import keras
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    with pytest.raises(ValueError, match="no 'norm'/'hidden_k'"):
        d1_d2_runs.body_layers(m)


def test_walk_layers_reaches_inside_models_and_wrappers():
    import keras

    from lib.backbones import InferenceMode

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="deep"), keras.layers.Dense(2, name="deeper")],
                             name="inner")
    x = keras.Input((4,))
    outer = keras.Model(x, keras.layers.Dense(1, name="top")(InferenceMode(inner, name="wrap")(x)), name="outer")
    names = [layer.name for layer in models.walk_layers(outer)]
    assert names[0] == "outer" and {"wrap", "inner", "deep", "deeper", "top"} <= set(names)
    assert len(names) == len(set(names))  # each layer once
    assert names == [layer.name for layer in models.walk_layers(outer)]  # a fixed order
