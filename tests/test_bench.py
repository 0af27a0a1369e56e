"""``make bench`` machinery on a tiny case: both paths run, and the ceiling is the forward-pass count ratio."""

from lib import bench


def test_cached_bench_reports_ratio_ceiling_and_accuracies():
    out = bench.bench_cached("simple_cnn", 16, epochs=2, n_images=50)
    # 50 images split 32 / 8 / 10: end to end pays 2 epochs x 40 forward passes, cached 50 once
    assert abs(out["ceiling"] - 2 * 40 / 50) < 1e-9
    assert out["speedup"] > 0 and out["end_to_end_s"] > 0 and out["cached_s"] > 0
    assert 0 <= out["test_acc_cached"] <= 1 and abs(out["acc_diff_points"]) <= 100
