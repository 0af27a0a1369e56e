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
    two at a time (training throughput does not rise with two runs at once, ``make bench``, but
    building Keras graphs and drawing data are single-threaded Python and overlap), the summary
    last. Returns the root and make's result; each test below checks one notebook's outputs."""
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


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def test_html_reports_render_in_headless_chromium(smoke_run, tmp_path):
    """``make reports`` on the smoke runs; headless Chromium opens the index, the summary and one
    study report: every figure decodes, the summary links to the HTML reports, and a screenshot
    is saved beside the index."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "needs Debian's chromium and chromium-driver (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver

    root, _ = smoke_run
    res = make(root, "reports", check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1600", f"--user-data-dir={tmp_path / 'chromium'}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=opts)
    figures = "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
    try:
        driver.get((root / "html" / "index.html").as_uri())
        links = [a.get_attribute("href") for a in driver.find_elements("tag name", "a")]
        assert len(links) == len(EXPERIMENTS) and links[0].endswith("/smoke/summary/default.html")
        driver.get(links[0])
        assert driver.execute_script(figures).count(True) >= 2 and all(driver.execute_script(figures))
        hrefs = {a.get_attribute("href") for a in driver.find_elements("tag name", "a")}
        study = next(h for h in hrefs if h and h.endswith("/smoke/signs/country_shift.html"))
        assert driver.save_screenshot(str(root / "html" / "summary.png"))
        driver.get(study)  # the summary's link leads to the study's HTML report, figures and all
        assert "Traffic signs across a country shift" in driver.page_source
        shown = driver.execute_script(figures)
        assert len(shown) >= 4 and all(shown)
    finally:
        driver.quit()
    assert (root / "html" / "summary.png").stat().st_size > 10_000


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


def test_a_smoke_report_runs_under_the_jax_backend(tmp_path):
    """The same report under KERAS_BACKEND=jax: published, and its record names the backend."""
    pytest.importorskip("jax")
    res = make(tmp_path, str(tmp_path / "smoke" / "source_pretrain" / "simple_cnn.ipynb"), check=False,
               env={**os.environ, "KERAS_BACKEND": "jax"})
    assert res.returncode == 0, res.stderr[-3000:]
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "smoke" / "source_pretrain").glob("simple_cnn.*.json")]
    assert rec["status"] == "ok" and rec["hardware"]["keras_backend"] == "jax"
