import json

import pytest

from lib import records as R


def test_new_record_has_environment_and_is_running():
    rec = R.new_record("nb", "exp", {"a": 1})
    assert rec["status"] == "running" and rec["params"] == {"a": 1}
    assert rec["versions"]["python"] and "keras" in rec["versions"]
    assert rec["hardware"]["cpu_count"] >= 1 and "commit" in rec["git"]
    assert rec["params_hash"] == R.params_hash({"a": 1}) != R.params_hash({"a": 2})


def test_record_keeps_the_thread_setting(monkeypatch):
    for k in R.THREAD_ENV:
        monkeypatch.delenv(k, raising=False)
    assert R.hardware()["threads"] == {}
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    assert R.hardware()["threads"] == {"TF_NUM_INTRAOP_THREADS": "1"}


def test_make_refuses_a_bad_thread_count_and_exports_a_good_one():
    import subprocess

    from lib.params import REPO_ROOT

    def make(*args, **kwargs):
        return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              **kwargs)

    bad = make("-n", "unit", "THREADS=two")
    assert bad.returncode != 0 and "THREADS must be a positive whole number" in bad.stderr
    # a throwaway target appended to the Makefile prints what a run would inherit
    # (a file, not stdin: make reads its makefiles again after remaking outputs/.prereqs.mk)
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".mk") as extra:
        extra.write("show:\n\t@echo $$TF_NUM_INTRAOP_THREADS,$$TF_NUM_INTEROP_THREADS\n")
        extra.flush()
        res = make("-s", "-f", "Makefile", "-f", extra.name, "show", "THREADS=1")
    assert res.stdout.strip() == "1,1", res.stderr


def test_record_round_trip_history_and_finish(tmp_path):
    rec = R.Record(tmp_path / "r.json", R.new_record("nb", "exp", {"a": 1}))
    rec.add_history("control", 3, {"val_accuracy": [0.1, 0.2]}, test_acc=0.25)
    rec.add_history("probe", 3, {"val_accuracy": [0.3]})
    rec.set_metrics({"test_acc": 0.5})
    rec.finish("ok")
    back = json.loads((tmp_path / "r.json").read_text())
    assert back["history"]["control"]["3"]["val_accuracy"] == [0.1, 0.2]
    assert back["seeds"] == [3] and back["status"] == "ok" and back["wall_s"] >= 0
    assert back["test_acc"] == {"control": {"3": 0.25}}  # beside its history, under the same arm name
    with pytest.raises(ValueError):
        rec.finish("done")


def test_load_records_skips_unfinished_and_failed(tmp_path):
    for name, status in [("a.1.json", "ok"), ("b.2.failed.json", "failed"), ("c.3.partial.json", "running")]:
        R.write_json_atomic(tmp_path / name, {**R.new_record("nb", name, {}), "status": status})
    (tmp_path / "junk.json").write_text("{not json")
    assert [r["experiment"] for r in R.load_records(tmp_path)] == ["a.1.json"]
    assert len(R.load_records(tmp_path, include_unfinished=True)) == 3


def test_open_record_refuses_params_that_differ_from_the_runners(tmp_path, monkeypatch):
    path = tmp_path / "r.partial.json"
    R.Record(path, R.new_record("nb", "exp", {"epochs": 3})).save()
    monkeypatch.setenv(R.RECORD_ENV, str(path))
    assert R.open_record("nb", {"epochs": 3}).path == path
    with pytest.raises(RuntimeError, match="differ"):
        R.open_record("nb", {"epochs": 4})


def test_learning_curves_mark_each_arms_best_validation_epoch():
    import matplotlib
    matplotlib.use("Agg")
    from lib import report

    hist = {"a": {"0": {"val_accuracy": [0.5, 0.9, 0.7], "accuracy": [0.5, 0.8, 0.99]}},
            "b": {"0": {"val_accuracy": [0.4, 0.5, 0.6], "accuracy": [0.4, 0.5, 0.6]}}}
    fig = report.plot_learning_curves(report.history_frame(hist), ["a", "b"], mark_best=True)
    stars = [line for line in fig.axes[0].get_lines() if line.get_marker() == "*"]
    assert sorted((float(s.get_xdata()[0]), float(s.get_ydata()[0])) for s in stars) == [(2.0, 0.9), (3.0, 0.6)]
    assert not [line for line in fig.axes[1].get_lines() if line.get_marker() == "*"]


def test_records_are_strict_json_with_nan_and_infinity_as_null(tmp_path):
    import json

    import numpy as np

    from lib import records

    path = tmp_path / "r.json"
    records.write_json_atomic(path, {"ci": [float("-inf"), float("inf")], "v": np.float64("nan"),
                                     "arr": np.array([1.0, np.nan]), "ok": 0.5, "n": np.int64(3)})

    def refuse(const):
        raise ValueError(f"not strict JSON: {const}")

    assert json.loads(path.read_text(), parse_constant=refuse) == {"ci": [None, None], "v": None, "arr": [1.0, None],
                                                                   "ok": 0.5, "n": 3}
