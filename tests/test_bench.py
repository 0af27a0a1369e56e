"""``make bench`` machinery on a tiny case: both paths run, and the ceiling is the forward-pass count ratio."""

import os

import keras
import pytest

from lib import bench


def test_cached_bench_reports_ratio_ceiling_and_accuracies():
    out = bench.bench_cached("simple_cnn", 16, epochs=2, n_images=50)
    # 50 images split 32 / 8 / 10: end to end pays 2 epochs x 40 forward passes, cached 50 once
    assert abs(out["ceiling"] - 2 * 40 / 50) < 1e-9
    assert out["speedup"] > 0 and out["end_to_end_s"] > 0 and out["cached_s"] > 0
    assert 0 <= out["test_acc_cached"] <= 1 and abs(out["acc_diff_points"]) <= 100


def test_study_ledger_reads_records_and_ranks_arms(tmp_path):
    import json

    rec = {"notebook": "small_data", "experiment": "x", "status": "ok", "complete": True, "figures": 2,
           "figures_promised": 2, "started_unix": 1, "metrics": {"arms": {"a": {"test_acc": 0.9}, "b": {"test_acc": 0.8}},
                                                                   "cost": {"a": {"wall_s": 30.0}}},
           "history": {"a": {"0": {"loss": [1], "epoch_time_s": [20.0]}}, "b": {"0": {"loss": [1], "epoch_time_s": [10.0]}}}}
    (tmp_path / "small_data").mkdir()
    (tmp_path / "small_data" / "x.1.json").write_text(json.dumps(rec))
    rows = {r["arm"]: r for r in bench.study_ledger(tmp_path)}
    assert rows["a"]["seconds"] == 30.0 and rows["b"]["seconds"] == 10.0  # wall time preferred to epoch time
    assert rows["a"]["speedup"] == 1.0 and rows["b"]["speedup"] == 3.0


def test_concurrency_bench_runs_separate_processes_and_sums_them():
    out = bench.bench_concurrency("simple_cnn", 16, steps=3)
    assert out["alone_img_s"] > 0 and out["two_default_img_s"] > 0 and out["two_one_thread_img_s"] > 0
    assert abs(out["ratio_two_one_thread"] - out["two_one_thread_img_s"] / out["alone_img_s"]) < 1e-9
    # two runs of the same work cannot go more than twice as fast as one on this machine's cores
    assert out["ratio_two_one_thread"] < 2 * max(1, (os.cpu_count() or 1))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the pool reuses models under TensorFlow only")
def test_reuse_bench_times_both_paths_and_checks_they_agree():
    out = bench.bench_reuse("simple_cnn", 16, seeds=3, n_images=40)
    assert len(out["per_seed_s"]["rebuilt"]) == len(out["per_seed_s"]["reused"]) == 3
    assert out["same_losses"] is True  # reuse must not change what a seed learns
    assert abs(out["ratio"] - out["rebuilt_s"] / out["reused_s"]) < 1e-9


def test_detector_validation_bench_times_both_paths_and_checks_they_agree():
    out = bench.bench_detector_validation(repeats=1)
    assert out["same_values"] is True  # one pass must give Keras' loss and COCO's mAP@0.5
    assert out["two_passes_s"] > 0 and out["one_pass_s"] > 0 and out["target_epoch_ratio"] > 0
    assert abs(out["ratio"] - out["two_passes_s"] / out["one_pass_s"]) < 1e-9


def test_cache_summary_reads_the_ledger_of_an_outputs_root(tmp_path):
    import json

    folder = tmp_path / ".cache" / "features"
    folder.mkdir(parents=True)
    lines = [{"event": e, "compute_s": s, "run": r} for e, s, r in
             (("miss", 4.0, "a"), ("hit", 4.0, "a"), ("hit", 2.0, "b"), ("skip", 1.0, "b"))]
    (folder / "ledger.jsonl").write_text("\n".join(json.dumps(l) for l in lines) + "\n")
    out = bench.cache_summary(tmp_path)
    assert (out["hit"], out["miss"], out["skip"], out["lookups"]) == (2, 1, 1, 4)
    assert out["ratio"] == 0.5 and out["saved_s"] == 6.0 and out["runs"] == 2
    assert bench.cache_summary(tmp_path / "empty")["lookups"] == 0


def test_main_prints_every_measure_with_its_target(tmp_path, monkeypatch, capsys):
    """The table of ``make bench`` (the measurements themselves are tested above, here stubbed)."""
    import json

    monkeypatch.setattr(bench, "bench_cached", lambda arch, size, e, n: {
        "epochs": e, "ceiling": 5.0, "speedup": 12.0, "what": "w", "acc_diff_points": 0.5,
        "test_acc_cached": 0.9, "test_acc_end_to_end": 0.895})
    monkeypatch.setattr(bench, "bench_pipeline", lambda *a: {"fraction": 0.95, "pipeline_img_s": 95, "in_memory_img_s": 100,
                                                             "what": "w"})
    monkeypatch.setattr(bench, "bench_concurrency", lambda: {"ratio_two_one_thread": 0.99, "two_one_thread_img_s": 99,
                                                            "alone_img_s": 100, "ratio_two_default": 0.98, "what": "w"})
    monkeypatch.setattr(bench, "bench_reuse", lambda: {"ratio": 2.3, "same_losses": True, "rebuilt_s": 18.0,
                                                      "reused_s": 8.0, "saving_s": 10.0, "what": "w"})
    monkeypatch.setattr(bench, "bench_detector_validation", lambda: {
        "ratio": 2.8, "same_values": True, "two_passes_s": 2.0, "one_pass_s": 0.7, "target_epoch_ratio": 1.4,
        "source_epoch_ratio": 1.2, "what": "w"})
    ledger = tmp_path / ".cache" / "features"
    ledger.mkdir(parents=True)
    (ledger / "ledger.jsonl").write_text("\n".join(json.dumps({"event": e, "compute_s": 2.0, "run": "r"})
                                                   for e in ("miss", "hit", "hit", "hit")) + "\n")
    out = tmp_path / "bench" / "bench.json"
    assert bench.main(["--epochs", "10", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "graph reuse: seconds per model, rebuilt / reused" in text and "2.3x" in text
    assert "detector validation: two passes / one" in text and "2.80x" in text and "a target epoch 1.40x" in text
    assert "feature cache hit ratio" in text and "0.75" in text and "3 hits, 1 misses" in text
    saved = json.loads(out.read_text())
    assert saved["graph_reuse"]["ratio"] == 2.3 and saved["feature_cache"]["hit"] == 3
