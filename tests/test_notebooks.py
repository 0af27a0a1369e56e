"""Every notebook runs end to end through make with its smoke profile (the CI layer)."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lib import runner
from lib.params import REPO_ROOT

pytestmark = pytest.mark.notebook
EXPERIMENTS = sorted(p.relative_to(REPO_ROOT / "params").with_suffix("")
                     for p in (REPO_ROOT / "params").glob("*/*.yaml"))


def make(outputs: Path, *targets: str, check: bool = True, **kwargs):
    cmd = ["make", "--no-print-directory", f"OUTPUTS={outputs}", *targets]
    return subprocess.run(cmd, cwd=REPO_ROOT, check=check, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One ``make -j 2 smoke`` into a fresh outputs root: every notebook with its smoke profile,
    two at a time (building Keras graphs is mostly single-threaded Python), the summary last.
    Returns the root and make's result; each test below checks one notebook's outputs."""
    root = tmp_path_factory.mktemp("outputs")
    return root, make(root, "-j", "2", "smoke", check=False)


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=str)
def test_smoke_run_has_figures_and_ok_record(experiment, smoke_run):
    tmp_path, res = smoke_run
    target = tmp_path / "smoke" / f"{experiment}.ipynb"
    failed = [p.name for p in target.parent.glob(f"{experiment.name}.*failed*")] if target.parent.exists() else []
    assert target.exists(), f"{target.name} not written (failed: {failed}); make said:\n{res.stderr[-3000:]}"
    records = [json.loads(p.read_text()) for p in target.parent.glob(f"{experiment.name}.*.json")]
    assert [r["status"] for r in records] == ["ok"]
    notebook = REPO_ROOT / "notebooks" / f"{experiment.parent}.ipynb"
    assert runner.count_figures(target) >= max(1, runner.min_figures(notebook))
    assert records[0]["metrics"] and (records[0]["history"] or experiment.parent.name == "summary")
    # a second make has nothing to do
    assert make(tmp_path, "-q", str(target), check=False).returncode == 0


def test_smoke_summary_counts_every_smoke_run(smoke_run):
    tmp_path, res = smoke_run
    assert res.returncode == 0, res.stderr[-3000:]
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "smoke" / "summary").glob("default.*.json")]
    m = rec["metrics"]
    assert m["runs_counted"] == m["runs_expected"] == len([e for e in EXPERIMENTS if e.parent.name != "summary"])
    assert not m["open"] and not m["not_counted"]


def test_interrupted_run_leaves_nothing_finished_and_is_redone(tmp_path):
    experiment = Path("d1_d2/synthetic")
    target = tmp_path / "smoke" / f"{experiment}.ipynb"
    # SIGINT back to its default in the child: a shell without job control starts background
    # commands (`make test &`) with SIGINT ignored, and an ignored signal is inherited
    proc = subprocess.Popen(["make", "--no-print-directory", f"OUTPUTS={tmp_path}", str(target)], cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 180
    partial = None
    while time.time() < deadline:  # wait until training has started (history written)
        found = list(target.parent.glob("*.partial.json")) if target.parent.exists() else []
        if found and json.loads(found[0].read_text() or "{}").get("history"):
            partial = found[0]
            break
        time.sleep(0.5)
    assert partial is not None, "the run never got to training"
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=120) != 0
    assert not target.exists()
    (failed,) = target.parent.glob("*.failed.json")
    assert json.loads(failed.read_text())["status"] in ("interrupted", "failed")
    assert make(tmp_path, "-q", str(target), check=False).returncode != 0  # make knows it is not done
    res = make(tmp_path, str(target), check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert target.exists()
