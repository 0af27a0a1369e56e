"""`distribution: data_parallel` (lib/distribution.py): refused before compute where it cannot run,
passed by the runner to every notebook the same way, and a model trains the same under it."""

import json
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

from lib import distribution, params, runner

ROOT = params.REPO_ROOT


def test_problems_refuse_an_unknown_name_and_data_parallel_off_jax():
    (msg,) = distribution.problems("data_paralel", "jax")
    assert "unknown distribution 'data_paralel'" in msg and "did you mean 'data_parallel'" in msg
    assert "none, data_parallel" in msg
    (msg,) = distribution.problems("data_parallel", "tensorflow")
    assert "runs on JAX only" in msg and "KERAS_BACKEND=jax" in msg and "distribution: none" in msg
    assert distribution.problems("data_parallel", "torch")
    assert distribution.problems("none", "jax") == distribution.problems("data_parallel", "jax") == []
    assert distribution.problems("none", "tensorflow") == []


def test_the_check_reads_the_backend_without_keras(monkeypatch):
    monkeypatch.delitem(sys.modules, "keras", raising=False)  # as the runner checks, before any kernel
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert distribution.problems("data_parallel")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert distribution.problems("data_parallel") == []


def test_every_parameter_file_may_ask_for_it_and_the_notebook_never_sees_it(monkeypatch):
    specs = params.read_parameters("d1_d2").specs
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    merged = params.validate({"distribution": "data_parallel", "n_seeds": 3}, specs, notebook="d1_d2")
    assert "distribution" not in merged and merged["n_seeds"] == 3  # nor in the parameters' hash
    assert merged == params.validate({"n_seeds": 3}, specs, notebook="d1_d2")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(params.ParameterError, match="parameter 'distribution': .*JAX only"):
        params.validate({"distribution": "data_parallel"}, specs, notebook="d1_d2")
    with pytest.raises(params.ParameterError, match="unknown distribution 'dp'"):
        params.validate({"distribution": "dp"}, specs)
    with pytest.raises(params.ParameterError, match="unknown parameter 'distributon'.*did you mean.*'distribution'"):
        params.validate({"distributon": "none"}, specs)
    for nb in sorted(params.NOTEBOOK_DIR.glob("*.ipynb")):  # a runner key is never a notebook's own parameter
        assert not set(params.RUNNER_KEYS) & set(params.read_parameters(nb).specs), nb.name


@pytest.fixture
def tiny(tmp_path):
    """A notebook that starts as every report does (lib.report.begin) and records what it was given."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('title: str = ""  # heading\nbatch_size: int = 4  # batch [min 1]')
    cell.metadata["tags"] = ["parameters"]
    body = textwrap.dedent(f"""\
        import os
        from lib import report
        P, record, _ = report.begin(globals(), {str(tmp_path / "tiny.ipynb")!r})
        record.note("env", os.environ.get("TLLAB_DISTRIBUTION"))
        record.note("notebook_sees_it", "distribution" in globals())
        record.complete()""")
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def test_runner_refuses_before_any_kernel_and_passes_it_to_the_kernel(tiny, tmp_path, monkeypatch):
    out = tmp_path / "out" / "exp.ipynb"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.delitem(sys.modules, "keras", raising=False)  # the runner's process has no Keras of its own
    bad = tmp_path / "dp.yaml"
    bad.write_text("distribution: data_parallel\n")
    assert runner.main([str(tiny), str(out), str(bad)]) == 2  # refused: exit 2, nothing written
    assert not out.parent.exists()
    ok = tmp_path / "none.yaml"
    ok.write_text("distribution: none\n")
    rec = json.loads(runner.run(tiny, out, [ok], progress_bar=False).read_text())
    assert rec["status"] == "ok" and rec["params"] == {"title": "", "batch_size": 4}
    assert rec["notes"] == {"env": "none", "notebook_sees_it": False}
    assert rec["distribution"] == {"distribution": "none", "devices": []}  # report.begin applied it
    assert os.environ.get(distribution.ENV) is None  # the runner's environment restored


SCRIPT = """
import numpy as np
import keras
from lib import distribution

def train():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(65, 6)).astype("float32")  # the last batch of each pass is 1 row: replicated
    y = rng.integers(0, 3, size=65)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    hist = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    spread = len(model.trainable_variables[0].value.devices())  # the devices holding a copy of the kernel
    pred = model.predict(x[:5], batch_size=1024, verbose=0)  # one batch of 5 rows: replicated
    return hist.history["loss"], [np.asarray(w) for w in model.get_weights()], spread, pred

plain_loss, plain_w, plain_spread, plain_pred = train()
info = distribution.apply("data_parallel", batch_size=16)
dp_loss, dp_w, dp_spread, dp_pred = train()
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=info["devices"]))
uneven = None
try:  # Keras' own DataParallel on a batch that does not split evenly over 2 devices (5 rows)
    keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)]).predict(np.zeros((5, 6), "float32"), verbose=0)
except Exception as exc:
    uneven = type(exc).__name__
try:
    distribution.apply("data_parallel", batch_size=15)
    odd_batch = None
except ValueError as exc:
    odd_batch = str(exc)
print("RESULT " + __import__("json").dumps({
    "info": info, "spread": [plain_spread, dp_spread], "plain_loss": plain_loss, "dp_loss": dp_loss,
    "uneven": uneven, "odd_batch": odd_batch, "pred_diff": float(np.max(np.abs(plain_pred - dp_pred))),
    "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(plain_w, dp_w)),
    "max_weight": max(float(np.max(np.abs(a))) for a in plain_w)}))
"""


def test_a_model_trains_the_same_data_parallel_on_two_virtual_devices_odd_last_batch_included():
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop(distribution.ENV, None)
    res = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.split("RESULT ", 1)[1])
    assert out["info"] == {"distribution": "data_parallel", "devices": ["cpu:0", "cpu:1"]}
    assert out["spread"] == [1, 2]  # the second model really was replicated over both devices
    assert out["plain_loss"] == pytest.approx(out["dp_loss"], rel=1e-5)
    assert out["plain_loss"][-1] < out["plain_loss"][0]  # it trained
    assert out["max_weight_diff"] <= 1e-5 * max(1.0, out["max_weight"])
    assert out["pred_diff"] <= 1e-5  # predict on a batch of 5 rows over 2 devices (replicated)
    assert out["odd_batch"] and "not divisible by 2" in out["odd_batch"]
    # Keras 3.15's own DataParallel stops on a batch that splits unevenly, which is why
    # lib.distribution lays such a batch replicated: if this starts passing, Keras handles it and
    # EvenOrReplicated can go
    assert out["uneven"] == "IndivisibleError"
