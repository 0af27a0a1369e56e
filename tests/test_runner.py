"""The runner's promises: validate before compute, publish only complete runs, keep failures apart."""

import json

import nbformat
import pytest

from lib import runner

BODY = """%matplotlib inline
import matplotlib.pyplot as plt
from lib import records
rec = records.open_record("tiny", {"x": x, "fail": fail, "figure": figure})
if fail:
    raise RuntimeError("boom on purpose")
if figure:
    plt.plot([0, x])
rec.add_history("arm", 0, {"loss": [1.0, 0.5 * x]})
rec.set_metrics({"x": x})
rec.complete()"""


@pytest.fixture
def tiny(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x: int = 1  # a value [min 0]\nfail: bool = False  # raise on purpose\n"
                                     "figure: bool = True  # draw a figure")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(BODY)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["tllab"] = {"min_figures": 1}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def _params(tmp_path, name, **values):
    p = tmp_path / f"{name}.yaml"
    p.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    return p


def test_typo_is_refused_before_anything_runs(tiny, tmp_path):
    out = tmp_path / "out" / "exp.ipynb"
    with pytest.raises(runner.P.ParameterError, match="unknown parameter 'xx'.*did you mean 'x'"):
        runner.run(tiny, out, [_params(tmp_path, "bad", xx=3)], progress_bar=False)
    assert not out.parent.exists()
    with pytest.raises(runner.P.ParameterError, match="must be >= 0"):
        runner.run(tiny, out, [_params(tmp_path, "neg", x=-1)], progress_bar=False)
    assert runner.main([str(tiny), str(out), str(_params(tmp_path, "bad2", xx=3))]) == 2


def test_success_publishes_notebook_and_record(tiny, tmp_path):
    out = tmp_path / "out" / "exp.ipynb"
    record = runner.run(tiny, out, [_params(tmp_path, "ok", x=4)], progress_bar=False)
    data = json.loads(record.read_text())
    assert out.exists() and data["status"] == "ok" and data["metrics"] == {"x": 4}
    assert data["params"] == {"x": 4, "fail": False, "figure": True} and data["figures"] == 1
    assert record.name == f"exp.{data['params_hash']}.json"
    assert not list(out.parent.glob("*.partial.*"))
    logs = tmp_path / "tensorboard" / "tiny" / "exp" / "arm" / "seed_0"  # <outputs root>/tensorboard/<notebook>/<exp>
    assert list(logs.glob("events.out.tfevents.*"))


def test_failure_keeps_banner_and_never_touches_the_good_run(tiny, tmp_path):
    out = tmp_path / "out" / "exp.ipynb"
    good = runner.run(tiny, out, [_params(tmp_path, "ok", x=2)], progress_bar=False)
    before = out.read_text()
    with pytest.raises(runner.RunFailed, match="boom on purpose"):
        runner.run(tiny, out, [_params(tmp_path, "fail", fail=True)], progress_bar=False)
    assert out.read_text() == before and json.loads(good.read_text())["status"] == "ok"
    from lib.tensorboard_logs import read_scalars

    assert read_scalars(tmp_path / "tensorboard" / "tiny" / "exp" / "arm" / "seed_0")["loss"] == [(1, 1.0), (2, 1.0)]  # x=2's
    failed_nb = out.parent / "exp.failed.ipynb"
    assert "boom on purpose" in failed_nb.read_text()
    (failed_rec,) = out.parent.glob("exp.*.failed.json")
    rec = json.loads(failed_rec.read_text())
    assert rec["status"] == "failed" and "boom" in rec["error"] and rec["ended"]


def test_missing_figures_count_as_failure(tiny, tmp_path):
    out = tmp_path / "out" / "exp.ipynb"
    with pytest.raises(runner.RunFailed, match="0 figures"):
        runner.run(tiny, out, [_params(tmp_path, "nofig", figure=False)], progress_bar=False)
    assert not out.exists()


def test_tensorflow_startup_lines_are_dropped_and_nothing_else(tmp_path):
    """TF's absl start-up lines reach the cells' stderr whatever the log level; the published
    report drops exactly those and keeps every other line of the same output."""
    nb = nbformat.v4.new_notebook()
    noise = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "I0000 00:00:1795867717.597889    7490 port.cc:153] oneDNN custom operations are on. "
             "You may see slightly different numerical results. To turn them off, set `TF_ENABLE_ONEDNN_OPTS=0`.\n"
             "I0000 00:00:1795971106.374715   23569 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
             "GPU will not be used.\n"
             "E0000 00:00:1795971327.797639   21199 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
             "Failed call to cuInit: UNKNOWN ERROR (303)\n")
    nb.cells = [nbformat.v4.new_code_cell(
        "import sys\n"
        f"sys.stderr.write({noise!r}); sys.stderr.flush()\n"
        "print('I0000 a line of the study that mentions port.cc:153] but is not the notice', file=sys.stderr)\n"
        "print('WARNING: a real warning', file=sys.stderr)\n"
        f"sys.stderr.write({noise!r}); sys.stderr.flush()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "noisy.ipynb"
    nbformat.write(nb, path)
    executed = tmp_path / "executed.ipynb"
    import papermill as pm

    pm.execute_notebook(str(path), str(executed), kernel_name="python3", progress_bar=False)
    assert "absl::InitializeLog" in executed.read_text()
    assert runner.strip_startup_noise(executed) == 8
    text = "".join(o.get("text", "") for o in nbformat.read(executed, 4).cells[0].outputs)
    assert "absl::InitializeLog" not in text and "oneDNN custom operations" not in text and "cuda drivers" not in text
    assert "a real warning" in text and "is not the notice" in text
    assert runner.strip_startup_noise(executed) == 0


def test_a_second_run_of_the_same_report_is_refused_and_the_published_one_stays(tiny, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out" / "exp.ipynb"
    first = runner.run(tiny, out, [_params(tmp_path, "ok", x=4)], progress_bar=False)
    published = out.read_bytes()
    # another process holds the report's lock, as a run in progress does
    holder = subprocess.Popen([sys.executable, "-c", "import sys, pathlib; from lib import runner; "
                               "f = runner.lock(pathlib.Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()",
                               str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=runner.P.REPO_ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(runner.RunLocked, match="being run already \\(pid"):
            runner.run(tiny, out, [_params(tmp_path, "ok2", x=5)], progress_bar=False)
        assert runner.main([str(tiny), str(out), str(_params(tmp_path, "ok3", x=6))]) == 3
        # nothing touched: the published report and its record, no partial or failed files
        assert out.read_bytes() == published and first.exists()
        assert not list(out.parent.glob("*.partial.*")) and not list(out.parent.glob("*.failed.*"))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # the lock goes with its process: the next run proceeds
    assert runner.run(tiny, out, [_params(tmp_path, "ok4", x=7)], progress_bar=False).exists()
