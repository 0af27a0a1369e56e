import numpy as np
import pytest

from lib import cache, train, transfer


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "features"))
    return tmp_path / "features"


def _backbone(seed=0):
    train.set_seed(seed)
    _, parts = transfer.build_image_classifier("simple_cnn", 16, 2, policy="frozen")
    return parts.backbone


def _x(seed=0, n=12):
    return np.random.default_rng(seed).uniform(0, 255, (n, 16, 16, 3)).astype("float32")


def test_a_second_build_of_the_same_weights_reads_the_features_back(folder):
    a, b = _backbone(0), _backbone(0)  # two builds, one set of weights: layer names differ, the key does not
    assert a.name != b.name or a is not b
    x = _x()
    first = cache.predict(a, x, batch_size=4)
    again = cache.predict(b, x, batch_size=4)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(again, b.predict(x, batch_size=4, verbose=0), rtol=1e-6)
    events = [l["event"] for l in cache.ledger(folder)]
    assert events == ["miss", "hit"]
    r = cache.hit_ratio(cache.ledger(folder))
    assert r["ratio"] == 0.5 and r["saved_s"] > 0


def test_other_weights_inputs_or_batch_size_are_other_keys(folder):
    m = _backbone(0)
    x = _x()
    cache.predict(m, x)
    cache.predict(_backbone(1), x)  # another seed's random weights
    cache.predict(m, _x(1))  # other images
    cache.predict(m, x, batch_size=3)
    w = m.get_weights()
    w[0] = w[0] + 1e-3  # one kernel changed, e.g. a fine-tuned copy
    m.set_weights(w)
    cache.predict(m, x)
    assert [l["event"] for l in cache.ledger(folder)] == ["miss"] * 5
    assert len(list(folder.glob("*.npz"))) == 5


def test_a_broken_entry_is_computed_again_and_off_means_off(folder, monkeypatch):
    m = _backbone(0)
    x = _x()
    want = cache.predict(m, x)
    (entry,) = folder.glob("*.npz")
    entry.write_bytes(b"truncated")
    np.testing.assert_array_equal(cache.predict(m, x), want)
    assert [l["event"] for l in cache.ledger(folder)] == ["miss", "miss"]
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert cache.root() is None
    np.testing.assert_array_equal(cache.predict(m, x), want)
    assert len(cache.ledger(folder)) == 2  # nothing looked up, nothing written


def test_outputs_over_the_entry_limit_are_not_stored(folder, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRY_BYTES", 10)
    cache.predict(_backbone(0), _x())
    assert [l["event"] for l in cache.ledger(folder)] == ["skip"] and not list(folder.glob("*.npz"))


def test_block_outputs_of_every_cut_share_one_entry(folder):
    from lib import data as D
    from lib.studies.cut_search import BlockFeatures

    x = _x(0, 30)
    y = np.tile([0, 1], 15)
    task = D.split_task("toy", x, y, ["a", "b"], seed=0)
    cuts = ["block1_pool", "block2_pool"]
    train.set_seed(0)
    f1 = BlockFeatures("simple_cnn", 16, "none", task, cuts, allow_random=True)
    f1["block1_pool"]
    train.set_seed(0)
    f2 = BlockFeatures("simple_cnn", 16, "none", task, cuts, allow_random=True)
    np.testing.assert_array_equal(f2["block2_pool"].x_test, f1["block2_pool"].x_test)
    assert [l["event"] for l in cache.ledger(folder)] == ["miss"] * 3 + ["hit"] * 3  # train, validation, test


def test_the_ledger_names_the_run_by_notebook_and_experiment(folder, monkeypatch):
    from lib.records import RECORD_ENV

    monkeypatch.setenv(RECORD_ENV, "/x/outputs/small_data/vgg16_plateau.0ebd2400ed.partial.json")
    cache.predict(_backbone(0), _x())
    assert cache.ledger(folder)[-1]["run"] == "small_data/vgg16_plateau"


def test_a_frozen_base_in_inference_mode_has_a_key_that_names_its_inside():
    """Frozen pre-trained bases run behind lib.backbones.InferenceMode: its config must carry the
    inner model, or the cache could not key (nor tell apart) what it wraps."""
    import keras

    from lib.backbones import InferenceMode

    def wrapped(units):
        keras.utils.set_random_seed(0)
        inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, name="d")])
        x = keras.Input((4,))
        return keras.Model(x, InferenceMode(inner)(x))

    a, b = wrapped(3), wrapped(3)
    assert cache.model_fingerprint(a) is not None and cache.model_fingerprint(a) == cache.model_fingerprint(b)
    assert cache.model_fingerprint(wrapped(5)) != cache.model_fingerprint(a)
    again = InferenceMode.from_config(a.layers[1].get_config())
    assert [w.shape for w in again.inner.weights] == [w.shape for w in a.layers[1].inner.weights]
