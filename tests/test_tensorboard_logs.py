"""TensorBoard logs from run records (lib/tensorboard_logs.py): what is written is what the record
holds, at the epochs it was measured, and `make tensorboard` serves it over HTTP."""

import json
import socket
import subprocess
import time
import urllib.request

import pytest

from lib import tensorboard_logs as T
from lib.params import REPO_ROOT


def _record(**history):
    return {"notebook": "small_data", "experiment": "vgg16_plateau", "started_unix": 1000.0,
            "history": {"vgg16:scratch@0.001": {"0": history}, "source/scratch": {"1": {"loss": [3.0, 2.0]}}}}


def test_every_per_epoch_scalar_is_written_at_its_epoch(tmp_path):
    rec = _record(loss=[0.9, 0.7, 0.6], accuracy=[0.5, 0.6, 0.7], val_accuracy=[0.55, 0.65], val_epoch=[2, 3],
                  epoch_time_s=[1.0, 1.0, 1.0], steps_per_epoch=[10.0], best_epoch=[3.0])
    dest = T.export(rec, tmp_path)
    assert dest == tmp_path / "tensorboard" / "small_data" / "vgg16_plateau"
    got = T.read_scalars(dest / "vgg16:scratch@0.001" / "seed_0")
    assert got["loss"] == [(1, pytest.approx(0.9)), (2, pytest.approx(0.7)), (3, pytest.approx(0.6))]
    assert got["val_accuracy"] == [(2, pytest.approx(0.55)), (3, pytest.approx(0.65))]  # measured at epochs 2, 3
    assert "steps_per_epoch" not in got and "best_epoch" not in got  # one value per run: not a curve
    assert T.read_scalars(dest / "source" / "scratch" / "seed_1")["loss"][-1] == (2, 2.0)  # "/" groups the runs
    assert T.export({"notebook": "summary", "experiment": "default", "history": {}}, tmp_path) is None


def test_a_new_export_replaces_the_old_logs_whole(tmp_path):
    T.export(_record(loss=[1.0, 0.5]), tmp_path)
    dest = T.export({**_record(loss=[2.0]), "history": {"other": {"0": {"loss": [2.0]}}}}, tmp_path)
    assert sorted(p.name for p in dest.iterdir()) == ["other"] and not dest.with_name("vgg16_plateau.partial").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_tensorboard_serves_the_logs_over_http(tmp_path):
    T.export(_record(loss=[0.9, 0.7]), tmp_path)
    port = _free_port()
    proc = subprocess.Popen(["make", "--no-print-directory", f"OUTPUTS={tmp_path}", f"TB_PORT={port}", "tensorboard"],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        runs, deadline = None, time.time() + 90
        while time.time() < deadline and runs is None:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/data/runs", timeout=5) as r:
                    runs = json.loads(r.read())
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(1)
        assert runs is not None, "tensorboard did not answer within 90 s"
        run = "small_data/vgg16_plateau/vgg16:scratch@0.001/seed_0"
        assert run in runs
        url = f"http://localhost:{port}/data/plugin/scalars/scalars?run={urllib.request.quote(run)}&tag=loss"
        with urllib.request.urlopen(url, timeout=10) as r:
            points = json.loads(r.read())
        assert [(p[1], round(p[2], 6)) for p in points] == [(1, 0.9), (2, 0.7)]  # [wall time, step, value]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run(["pkill", "-f", f"--port {port}"], check=False)
