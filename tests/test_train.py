import math
import keras
import numpy as np
import pytest

from lib import data as D
from lib import models, train

# the model pool reuses compiled models under TensorFlow only (lib/train.py ModelPool)
POOL_REUSES = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the pool reuses models under TensorFlow only")


def _tiny():
    d1, d2 = D.synthetic_tasks(600, 300, n_features=8, latent_dim=3, n_classes_d1=4, n_classes_d2=4, seed=0)
    return d1, d2


def _run(task, seed):
    train.set_seed(seed)
    m = models.build_mlp(task.n_features, task.n_classes, (16, 8), normalizer_data=task.x_train)
    hist = train.fit(m, task, epochs=3, batch_size=32, seed=seed)
    return hist, train.accuracy(m, task.x_test, task.y_test)


def test_same_seed_gives_identical_metrics():
    d1, _ = _tiny()
    (h1, a1), (h2, a2) = _run(d1, 7), _run(d1, 7)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert h1[key] == h2[key]
    assert a1 == a2
    h3, _ = _run(d1, 8)
    assert h3["loss"] != h1["loss"]


def test_fit_history_has_every_epoch_and_learns():
    d1, _ = _tiny()
    hist, acc = _run(d1, 0)
    assert all(len(hist[k]) == 3 for k in ("loss", "accuracy", "val_accuracy", "epoch_time_s"))
    assert hist["loss"][-1] < hist["loss"][0]


def test_zero_shot_best_mapping_recovers_a_permutation():
    d1, _ = _tiny()
    train.set_seed(0)
    m = models.build_mlp(d1.n_features, d1.n_classes, (32, 16), normalizer_data=d1.x_train)
    train.fit(m, d1, epochs=15, batch_size=32, seed=0)
    perm = np.array([2, 0, 3, 1])  # target class of source class k
    relabelled = D.Task("perm", d1.x_train, perm[d1.y_train], d1.x_val, perm[d1.y_val],
                        d1.x_test, perm[d1.y_test], ["a", "b", "c", "d"])
    zs = train.zero_shot(m, relabelled)
    direct = train.accuracy(m, d1.x_test, d1.y_test)
    assert zs["mapping"] == perm.tolist()
    assert abs(zs["best_mapping"] - direct) < 1e-9
    assert zs["identity"] < direct


def test_fit_reports_each_epoch_on_the_process_stderr_unless_silenced(monkeypatch):
    import io
    import sys

    d1, _ = _tiny()
    buf = io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", buf)
    monkeypatch.delenv("TLLAB_PROGRESS", raising=False)
    _run(d1, 0)
    lines = buf.getvalue().splitlines()
    assert [ln.split("epoch ")[1].split(":")[0] for ln in lines] == ["1/3", "2/3", "3/3"]
    assert "val_accuracy" in lines[-1] and "loss" in lines[0]
    monkeypatch.setenv("TLLAB_PROGRESS", "0")
    buf.truncate(0)
    _run(d1, 0)
    assert buf.getvalue() == ""


def test_progress_inside_a_kernel_goes_to_the_terminal_not_the_cell_output(monkeypatch):
    """ipykernel copies everything written to fd 2 into the cell's output and keeps the terminal
    as ``sys.stderr._original_stdstream_copy``: the line must go there and nowhere else."""
    import os
    import sys

    class KernelStderr:
        def __init__(self, fd):
            self._original_stdstream_copy = fd
            self.written = []

        def write(self, text):
            self.written.append(text)

    read, write = os.pipe()
    fake = KernelStderr(write)
    monkeypatch.setattr(sys, "stderr", fake)
    train.terminal_line("epoch 1/1: done")
    os.close(write)
    assert os.read(read, 1000) == b"epoch 1/1: done\n" and fake.written == []
    os.close(read)


def test_a_run_stuck_at_chance_stops_and_says_so():
    import numpy as np

    from lib import models, train
    from lib.data import Task

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 4)).astype("float32")
    y = rng.integers(0, 2, 2000)  # labels unrelated to x: nothing to learn, the loss settles at log 2
    task = Task("noise", x[:1200], y[:1200], x[1200:1600], y[1200:1600], x[1600:], y[1600:], ["a", "b"])
    model = models.build_mlp(4, 2, [4], name="m")
    hist = train.fit(model, task, epochs=40, batch_size=64, learning_rate=1e-2, stop_stuck_after=3)
    assert 3 <= hist["stopped_stuck"][0] < 40 and len(hist["loss"]) == hist["stopped_stuck"][0]
    z = (x[:, 0] > 0).astype(int)
    learnable = Task("signal", x[:120], z[:120], x[120:160], z[120:160], x[160:200], z[160:200], ["a", "b"])
    hist = train.fit(models.build_mlp(4, 2, [8], name="m2"), learnable, epochs=15, batch_size=16, learning_rate=1e-2,
                     stop_stuck_after=3)
    assert hist["stopped_stuck"] == [0.0] and len(hist["loss"]) == 15


def _cnn(seed, policy="scratch"):
    from lib import transfer

    train.set_seed(seed)
    return transfer.build_image_classifier("simple_cnn", 16, 3, policy=policy, dropout=0.5)


def _image_task():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (90, 16, 16, 3)).astype("float32")
    y = np.repeat(np.arange(3), 30)
    x[y == 1, :8] += 60.0
    return D.split_task("toy", x, y, ["a", "b", "c"], seed=0)


@POOL_REUSES
def test_a_pooled_model_trains_exactly_as_a_freshly_built_one():
    """Reuse changes nothing but time: weights, BatchNorm statistics and dropout seed states are
    copied from the fresh build, the optimizer starts anew, the graph is the compiled one."""
    task = _image_task()
    pool = train.ModelPool()
    fresh = {}
    for seed in (0, 1):
        model, _ = _cnn(seed)
        fresh[seed] = (train.fit(model, task, epochs=2, batch_size=16, seed=seed),
                       train.accuracy(model, task.x_test, task.y_test))
    first, parts = pool.take("cnn", *_cnn(0))
    h0 = train.fit(first, task, epochs=2, batch_size=16, seed=0)
    again, parts2 = pool.take("cnn", *_cnn(1))
    assert again is first and parts2 is parts and (pool.built, pool.reused) == (1, 1)
    assert train.compile_or_reset(again, 1e-3) is True  # compiled graph kept, optimizer reset
    h1 = train.fit(again, task, epochs=2, batch_size=16, seed=1)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert h0[key] == fresh[0][0][key]
        assert h1[key] == fresh[1][0][key]
    assert train.accuracy(again, task.x_test, task.y_test) == fresh[1][1]
    assert train.compile_or_reset(again, 3e-4) is True
    assert np.isclose(float(again.optimizer.learning_rate), 3e-4) and int(again.optimizer.iterations) == 0


@POOL_REUSES
def test_a_trainable_change_compiles_anew_and_the_pool_restores_flags():
    task = _image_task()
    pool = train.ModelPool()
    model, parts = pool.take("cnn", *_cnn(0, "frozen"))
    train.fit(model, task, epochs=1, batch_size=16)
    from lib import transfer

    transfer.unfreeze_all(parts)  # a two-stage arm's second phase
    assert train.compile_or_reset(model, 1e-4) is False
    again, parts = pool.take("cnn", *_cnn(1, "frozen"))
    assert again is model and not any(l.trainable for l in parts.base.layers if l.weights)
    other, _ = pool.take("cnn-other", *_cnn(0))  # another key: built, not reused
    assert other is not model and pool.built == 2
    off = train.ModelPool(size=0)
    a, _ = off.take("cnn", *_cnn(0))
    b, _ = off.take("cnn", *_cnn(0))
    assert a is not b


@POOL_REUSES
def test_the_pool_drops_the_least_recently_used_model_beyond_its_bounds():
    pool = train.ModelPool(size=2)
    a, _ = pool.take("a", *_cnn(0))
    pool.take("b", *_cnn(0))
    pool.take("a", *_cnn(1))  # a used again: b is now the oldest
    pool.take("c", *_cnn(0))
    assert pool.take("a", *_cnn(2))[0] is a and pool.reused == 2
    assert pool.take("b", *_cnn(0))[0] is not None and pool.built == 4  # b was dropped: built again
    small = train.ModelPool(size=10, max_params=1.5 * a.count_params())
    first, _ = small.take("a", *_cnn(0))
    small.take("b", *_cnn(0))  # two models exceed the parameter bound: a is dropped
    assert small.take("a", *_cnn(1))[0] is not first


def _fit_with(task, **kw):
    train.set_seed(3)
    m = models.build_mlp(task.n_features, task.n_classes, (16, 8), normalizer_data=task.x_train)
    return train.fit(m, task, batch_size=32, seed=3, **kw), m


def test_steps_per_execution_changes_nothing_but_speed():
    d1, _ = _tiny()
    (h1, m1), (h8, m8) = _fit_with(d1, epochs=3), _fit_with(d1, epochs=3, steps_per_execution=8)
    assert h1["loss"] == h8["loss"] and h1["val_accuracy"] == h8["val_accuracy"]
    assert np.array_equal(train.predict_labels(m1, d1.x_test), train.predict_labels(m8, d1.x_test))


def test_min_epoch_steps_makes_an_epoch_whole_passes():
    d1, _ = _tiny()  # 384 train examples: 12 steps per pass at batch 32
    per_pass = -(-len(d1.y_train) // 32)
    h, _ = _fit_with(d1, epochs=2, min_epoch_steps=per_pass * 2 + 1)
    assert h["passes_per_epoch"] == [3.0] and h["steps_per_epoch"] == [3.0 * per_pass]
    h2, _ = _fit_with(d1, epochs=6)
    assert h2["passes_per_epoch"] == [1.0]
    assert h["loss"][0] != h2["loss"][0]  # an epoch of three passes averages over more steps
    h3, _ = _fit_with(d1, epochs=2, min_epoch_steps=per_pass)  # already enough: one pass
    assert h3["passes_per_epoch"] == [1.0] and h3["loss"] == h2["loss"][:2]


def test_the_pool_reuses_nothing_under_another_backend(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    pool = train.ModelPool()
    a, b = _cnn(0)[0], _cnn(1)[0]
    assert pool.take("cnn", a) is a and pool.take("cnn", b) is b and pool.reused == 0


def test_join_phases_counts_epochs_from_the_first_phase():
    from lib.train import join_phases

    head = {"loss": [2.0, 1.5], "val_accuracy": [0.3, 0.4], "val_epoch": [1, 2], "steps_per_epoch": [10.0]}
    rest = {"loss": [1.0, 0.9, 0.8], "val_accuracy": [0.6, 0.7, 0.65], "val_epoch": [1, 2, 3],
            "steps_per_epoch": [10.0], "best_epoch": [2.0], "stopped_early": [1.0]}
    got = join_phases(head, rest)
    assert got["val_epoch"] == [1, 2, 3, 4, 5] and got["best_epoch"] == [4.0]  # the second phase's best is epoch 4
    assert got["stopped_early"] == [1.0] and got["phase_epochs"] == [2.0, 3.0] and got["loss"][-1] == 0.8


def test_early_stopping_waits_for_min_epochs_before_it_may_stop():
    """A model at chance for its first epochs (the plate models' plateau) must not be stopped there:
    with labels unrelated to the inputs, patience 1 stops a run within a few epochs, but never before
    ``min_epochs``, and the kept (best) epoch is one it watched."""
    from lib.data import Task

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4)).astype("float32")
    y = rng.integers(0, 2, 600)
    task = Task("noise", x[:400], y[:400], x[400:500], y[400:500], x[500:], y[500:], ["a", "b"])

    def run(min_epochs):
        train.set_seed(0)
        return train.fit(models.build_mlp(4, 2, [4], name="m"), task, epochs=20, batch_size=64, learning_rate=1e-2,
                         patience=1, min_epochs=min_epochs, seed=0)

    early, late = run(0), run(8)
    assert len(early["loss"]) < 8 and early["stopped_early"] == [1.0]
    assert len(late["loss"]) >= 8 + 2 and late["best_epoch"][0] >= 8 + 1  # watched from epoch 9 on (1-based)


def test_a_gain_below_min_delta_does_not_keep_a_run_going():
    """``fit``'s ``min_delta`` reaches early stopping: on a problem that learns slowly, any gain keeps
    the run going past three epochs, while a min_delta no gain can reach stops it after its first
    epoch plus the patience; ``validation_se`` is 0.5/sqrt(n) over every validation outcome. (At a
    rate of 3e-4 PyTorch's initialisation left validation flat for five epochs: 1e-3 learns on every backend.)"""
    from lib.data import Task

    rng = np.random.default_rng(1)
    x = rng.normal(size=(900, 8)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=900) > 0).astype(int)
    task = Task("slow", x[:600], y[:600], x[600:800], y[600:800], x[800:], y[800:], ["a", "b"])

    def run(min_delta):
        train.set_seed(0)
        return train.fit(models.build_mlp(8, 2, [8], name="m"), task, epochs=12, batch_size=32, learning_rate=1e-3,
                         patience=2, min_delta=min_delta, seed=0)

    assert len(run(0.0)["loss"]) > 3
    assert len(run(1.0)["loss"]) == 3
    assert train.validation_se(np.zeros((400, 7))) == pytest.approx(0.5 / np.sqrt(2800))
    assert train.validation_se(np.zeros(100), 2.0) == pytest.approx(0.1) and train.validation_se(np.zeros(5), 0) == 0


@pytest.mark.parametrize("values, min_delta, min_epochs, kept", [
    ([0.5, 0.509, 0.3], 0.01, 0, 1),  # a gain under min_delta is no new best: the argmax (2) is not what was kept
    ([0.5, 0.52, 0.3], 0.01, 0, 2),
    ([0.9, 0.5, 0.6], 0.0, 1, 3),  # watched from the second epoch: the first epoch's 0.9 was never a candidate
])
def test_the_kept_epoch_is_the_one_early_stopping_restored(values, min_delta, min_epochs, kept):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    stop = train.early_stopping("val_map50", mode="max", patience=5, epochs=len(values), min_epochs=min_epochs,
                                min_delta=min_delta)
    stop.set_model(model)
    stop.on_train_begin()
    for epoch, v in enumerate(values):
        stop.on_epoch_end(epoch, {"val_map50": v})
    assert train.kept_epoch(stop, len(values)) == kept


def test_a_cosine_schedule_anneals_the_rate_per_epoch_and_a_constant_one_does_not():
    d1, _ = _tiny()
    hist, m = _fit_with(d1, epochs=4, learning_rate=1e-2, schedule="cosine")
    # epoch e trains at lr * (1 + cos(pi e / 4)) / 2: 1e-2, 8.5e-3, 5e-3, 1.5e-3
    assert hist["learning_rate"] == pytest.approx([1e-2, 8.5355e-3, 5e-3, 1.4645e-3], rel=1e-3)
    assert float(keras.ops.convert_to_numpy(m.optimizer.learning_rate)) == pytest.approx(1.4645e-3, rel=1e-3)
    # the next run on the same compiled model starts at its own rate again, constant throughout
    flat, m2 = _fit_with(d1, epochs=2, learning_rate=1e-2)
    assert "learning_rate" not in flat
    assert float(keras.ops.convert_to_numpy(m2.optimizer.learning_rate)) == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'cosin'"):
        _fit_with(d1, epochs=1, schedule="cosin")


def test_loss_gradients_match_a_finite_difference_under_the_running_backend():
    """The gradient behind the VGG-plateau diagnosis (block_diagnostics) on any backend: TensorFlow's
    tape, JAX's value_and_grad of the stateless call; checked against a central finite difference of
    the loss along one kernel entry."""
    from lib import backbones

    model, parts = _cnn(0)
    task = _image_task()
    x, y = task.x_train[:16], task.y_train[:16]
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    kernel = [w for w in model.trainable_weights if len(w.shape) == 2][-1]  # the head's kernel: a well-conditioned check
    loss, (g,) = train.loss_gradients(model, loss_fn, x, y, [kernel])
    g = keras.ops.convert_to_numpy(g)
    assert np.isfinite(loss) and g.shape == tuple(kernel.shape)
    k = np.unravel_index(int(np.argmax(np.abs(g))), g.shape)
    w0 = keras.ops.convert_to_numpy(kernel.value).copy()

    def loss_at(delta):
        w = w0.copy()
        w[k] += delta
        kernel.assign(w)
        return float(loss_fn(y, model(x, training=True)))

    # dropout off for the difference (BatchNorm in training mode uses the batch: deterministic)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    _, (g,) = train.loss_gradients(model, loss_fn, x, y, [kernel])
    eps = 1e-2
    numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    kernel.assign(w0)
    assert float(keras.ops.convert_to_numpy(g)[k]) == pytest.approx(numeric, rel=0.05, abs=1e-4)
    rows = train.block_diagnostics(model, parts.base, backbones.get("simple_cnn").block_of, x, y)
    assert rows and all(r["grad_norm"] > 0 and np.isfinite(r["grad_norm"]) for r in rows)


def test_the_engine_trains_and_detects_under_jax_with_no_tensorflow_installed(tmp_path):
    """The GPU machine has JAX and no TensorFlow: with ``import tensorflow`` made to fail, a fresh
    process on the JAX backend seeds, feeds (ArrayBatches), trains an arm and decodes detections."""
    pytest.importorskip("jax")
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = textwrap.dedent("""
        import importlib.abc, sys

        class NoTensorFlow(importlib.abc.MetaPathFinder):  # as if the wheel were not installed
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("tensorflow", "tf_keras"):
                    raise ModuleNotFoundError(f"No module named {name!r}")

        sys.meta_path.insert(0, NoTensorFlow())
        import numpy as np
        from lib import data as D, detector, train, transfer
        assert train.tf is None and not train.uses_tf_data()
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 255, (60, 16, 16, 3)).astype("float32"); y = np.repeat(np.arange(2), 30)
        x[y == 1, :8] += 80.0
        task = D.split_task("toy", x, y, ["a", "b"], seed=0)
        row, hist, _ = transfer.run_image_arm("simple_cnn:scratch", task, 16, weights="none", epochs=2, batch_size=8,
                                              learning_rate=1e-3, finetune_learning_rate=1e-3, head_epochs=0, seed=0)
        assert len(hist["loss"]) == 2 and np.isfinite(row["test_acc"])
        b, s, c = detector.combined_nms(np.array([[0, 0, .5, .5], [0, 0, .5, .52]], "float32"),
                                        np.array([[.9], [.8]], "float32"), max_per_class=5, max_total=5)
        assert len(s) == 1
        assert "tensorflow" not in sys.modules
        print("ok without tensorflow")
    """)
    env = {**__import__("os").environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ok without tensorflow" in out.stdout


def test_one_cycle_rises_to_the_rate_then_anneals_as_fastai_per_epoch():
    lr, epochs = 1e-2, 8
    rates = [train.one_cycle(lr, e, epochs) for e in range(epochs)]
    # epoch middles at 1/16, 3/16 (warm-up: cosine from lr/25), then cosine down from p = 1/4
    lo = lr / 25
    assert rates[0] == pytest.approx(lo + (lr - lo) * (1 - math.cos(math.pi * 0.25)) / 2)
    assert rates[1] == pytest.approx(lo + (lr - lo) * (1 - math.cos(math.pi * 0.75)) / 2)
    assert rates[2] == pytest.approx(lr * (1 + math.cos(math.pi * (5 / 16 - 1 / 4) / 0.75)) / 2, rel=1e-4)
    assert max(rates) <= lr and rates[2:] == sorted(rates[2:], reverse=True) and rates[-1] < lr / 50


def test_an_arms_schedule_transform_sets_its_rate_per_epoch():
    from lib import transfer

    task = _image_task()
    kw = dict(weights="none", epochs=4, batch_size=16, learning_rate=1e-3, finetune_learning_rate=1e-3, head_epochs=0, seed=0)
    _, hist, _ = transfer.run_image_arm("simple_cnn:scratch+one_cycle", task, 16, **kw)
    assert hist["learning_rate"] == pytest.approx([train.one_cycle(1e-3, e, 4) for e in range(4)], rel=1e-5)
    _, flat, _ = transfer.run_image_arm("simple_cnn:scratch", task, 16, **kw)
    assert "learning_rate" not in flat
