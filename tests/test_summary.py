"""The summary: which runs count, which verdicts are open, and HTML links between reports."""

import json

import pytest

from lib import report, summary


def _record(root, key, status="ok", metrics=None, figures=3, promised=2, started=1.0):
    nb, exp = key.split("/")
    path = root / nb / f"{exp}.{int(started * 1000):010d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = {"notebook": nb, "experiment": exp, "status": status, "complete": status == "ok", "started_unix": started,
           "wall_s": 60.0, "output": str(root / nb / f"{exp}.ipynb"), "figures": figures, "figures_promised": promised,
           "metrics": metrics or {}, "history": {"arm": {"0": {"loss": [1, 0.5], "epoch_time_s": [2.0, 2.0]}}}}
    path.write_text(json.dumps(rec))
    return path


SMALL = {"claims": [{"arm": "vgg16:scratch", "claim": "stuck", "verdict": "reproduced", "evidence": "0.5 vs 0.5",
                     "blog reported": "plateau"}], "arms": {"vgg16:scratch": {"test_acc": 0.5}},
         "cost": {"vgg16:scratch": {"wall_s": 10, "images_per_s": 20, "trainable_params": 100}}}


def test_a_finished_run_gives_its_verdicts_and_a_missing_one_leaves_them_open(tmp_path):
    _record(tmp_path, "small_data/vgg16_plateau", metrics=SMALL)
    s = summary.summarise(tmp_path)
    runs = {r["run"]: r for r in s["runs"]}
    assert runs["small_data/vgg16_plateau"]["counts"] and not runs["plates/h1_h4"]["counts"]
    assert set(runs) >= set(summary.EXPECTED)
    got = {c["claim"]: c["verdict"] for c in s["claims"]}
    assert got["seed 002: vgg16:scratch stuck"] == "reproduced"
    open_ = [c for c in s["claims"] if c["verdict"] == summary.OPEN]
    assert {c["run"] for c in open_} == set(summary.EXPECTED) - {"small_data/vgg16_plateau"}
    assert len(open_) == sum(len(v) for k, v in summary.EXPECTED.items() if k != "small_data/vgg16_plateau")
    (cost,) = s["cost"]
    assert cost["arm"] == "arm" and cost["train_s"] == 4.0 and cost["epochs"] == 2


def test_deleting_a_record_reopens_its_verdicts(tmp_path):
    path = _record(tmp_path, "small_data/vgg16_plateau", metrics=SMALL)
    assert "small_data/vgg16_plateau" not in {c["run"] for c in summary.summarise(tmp_path)["claims"]
                                              if c["verdict"] == summary.OPEN}
    path.unlink()
    reopened = [c for c in summary.summarise(tmp_path)["claims"] if c["run"] == "small_data/vgg16_plateau"]
    assert reopened and all(c["verdict"] == summary.OPEN for c in reopened)
    assert "missing" in reopened[0]["evidence"]


@pytest.mark.parametrize("status, figures, why", [("failed", 3, "status 'failed'"), ("running", 3, "status 'running'"),
                                                  ("ok", 1, "1 figures; the notebook promises at least 2")])
def test_failed_partial_or_figureless_runs_do_not_count(tmp_path, status, figures, why):
    _record(tmp_path, "small_data/vgg16_plateau", status=status, figures=figures, metrics=SMALL)
    s = summary.summarise(tmp_path)
    (run,) = [r for r in s["runs"] if r["run"] == "small_data/vgg16_plateau"]
    assert not run["counts"] and why in run["why"]
    assert run["report"] is None  # no finished report to link (and no failed notebook here)
    assert all(c["verdict"] == summary.OPEN for c in s["claims"] if c["run"] == "small_data/vgg16_plateau")


def test_the_newest_record_decides(tmp_path):
    _record(tmp_path, "small_data/vgg16_plateau", metrics=SMALL, started=1.0)
    _record(tmp_path, "small_data/vgg16_plateau", status="failed", metrics=SMALL, started=2.0)
    (run,) = [r for r in summary.summarise(tmp_path)["runs"] if r["run"] == "small_data/vgg16_plateau"]
    assert not run["counts"]


def test_plate_hypotheses_are_judged_against_what_the_seed_found(tmp_path):
    hyp = [{"hypothesis": "H1", "claim": "reads", "verdict": "supported", "evidence": "x"},
           {"hypothesis": "H2", "claim": "transfer helps", "verdict": "supported", "evidence": "y"},
           {"hypothesis": "H3", "claim": "noise helps", "verdict": "refuted", "evidence": "z"},
           {"hypothesis": "H4", "claim": "both best", "verdict": "inconclusive", "evidence": "w"}]
    _record(tmp_path, "plates/h1_h4", metrics={"hypotheses": hyp})
    got = [c["verdict"] for c in summary.summarise(tmp_path)["claims"] if c["run"] == "plates/h1_h4"]
    # the seed: H1 held, H2-H4 failed
    assert got == ["reproduced", "not reproduced", "reproduced", "inconclusive"]


def test_html_links_between_reports_point_at_html(tmp_path):
    (tmp_path / "html" / "summary").mkdir(parents=True)
    (tmp_path / "html" / "plates").mkdir()
    (tmp_path / "html" / "summary" / "default.html").write_text('<a href="../plates/h1_h4.ipynb">p</a>')
    (tmp_path / "html" / "plates" / "h1_h4.html").write_text("<p>plates</p>")
    index = report.write_html_index(str(tmp_path))
    assert '<a href="../plates/h1_h4.html">' in (tmp_path / "html" / "summary" / "default.html").read_text()
    text = open(index).read()
    assert text.index("summary/default.html") < text.index("plates/h1_h4.html")


def test_markdown_table_escapes_pipes():
    import pandas as pd

    out = report.markdown_table(pd.DataFrame({"a": ["x|y"], "b": [None]}))
    assert out.splitlines() == ["| a | b |", "|---|---|", "| x\\|y |  |"]


def test_the_summary_expects_every_experiment_in_params():
    from lib.params import REPO_ROOT

    experiments = {f"{p.parent.name}/{p.stem}" for p in (REPO_ROOT / "params").glob("*/*.yaml")}
    assert set(summary.EXPECTED) == experiments - {"summary/default"}


def test_a_failed_runs_reason_is_one_line():
    error = ('PapermillExecutionError: \n----\nException encountered at "In [6]":\n----\nKeyboardInterrupt   Traceback\n'
             + "File x.py, line 3\n" * 50)
    assert summary._short_error(error) == "KeyboardInterrupt in In [6]"
    assert summary._short_error("the notebook finished without marking its record complete") == \
        "the notebook finished without marking its record complete"
