"""The summary: which runs count, which verdicts are open, and HTML links between reports."""

import json

import pytest

from lib import registry
from lib import claims, report, summary


def _record(root, key, status="ok", metrics=None, figures=3, promised=2, started=1.0, claims=None):
    nb, exp = key.split("/")
    path = root / nb / f"{exp}.{int(started * 1000):010d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = {"notebook": nb, "experiment": exp, "status": status, "complete": status == "ok", "started_unix": started,
           "wall_s": 60.0, "output": str(root / nb / f"{exp}.ipynb"), "figures": figures, "figures_promised": promised,
           "metrics": metrics or {}, "claims": claims or [],
           "history": {"arm": {"0": {"loss": [1, 0.5], "epoch_time_s": [2.0, 2.0]}}},
           "test_acc": {"arm": {"0": 0.75}}}
    path.write_text(json.dumps(rec))
    return path


def _claim(id, verdict=None, kind="claim", expected=None, a=(0.9, 0.91, 0.92), b=(0.5, 0.52, 0.51), premises=(),
           n_test=20000):
    c = claims.judge(id, "seed 002", f"hypothesis {id}", rule="greater", a=list(a), b=list(b), n_test=n_test,
                     kind=kind, expected=expected, premises=list(premises)).as_dict()
    if verdict:
        c["verdict"] = verdict
    return c


SMALL = {"arms": {"vgg16:scratch": {"test_acc": 0.5}},
         "cost": {"vgg16:scratch": {"wall_s": 10, "images_per_s": 20, "trainable_params": 100}}}


def _owed(root):
    """Every study experiment's owed claim ids, as the summary derives them (lib/registry.py), of the
    studies ``make all`` runs (an extended study without a record owes none: tested below)."""
    return {k: summary.owed_ids(k, root) for k in registry.experiments()
            if not k.startswith("summary/") and not registry.extended(k)}


def test_an_extended_study_is_listed_as_not_run_until_it_runs(tmp_path):
    extended = [k for k in registry.experiments() if registry.extended(k)]
    assert "transferability/default" in extended and "small_data/methods" in extended
    s = summary.summarise(tmp_path)
    runs = {r["run"]: r for r in s["runs"]}
    assert all(runs[k].get("extended") and not runs[k]["counts"] and "make extended" in runs[k]["why"]
               for k in extended)
    assert not any(c["run"] in extended for c in s["claims"])  # owed nothing: no open rows
    assert not runs["plates/h1_h4"].get("extended") and any(c["run"] == "plates/h1_h4" for c in s["claims"])
    _record(tmp_path, "transferability/default", metrics=SMALL, claims=[])
    runs = {r["run"]: r for r in summary.summarise(tmp_path)["runs"]}
    assert runs["transferability/default"]["counts"] and not runs["transferability/default"].get("extended")


def test_a_finished_run_gives_its_verdicts_and_a_missing_one_leaves_them_open(tmp_path):
    owed = _owed(tmp_path)
    assert owed["small_data/vgg16_plateau"][0] == "seed002.vgg16:frozen.stuck" and all(owed.values())
    _record(tmp_path, "small_data/vgg16_plateau", metrics=SMALL, claims=[_claim("seed002.vgg16:frozen.stuck")])
    s = summary.summarise(tmp_path)
    runs = {r["run"]: r for r in s["runs"]}
    assert runs["small_data/vgg16_plateau"]["counts"] and not runs["plates/h1_h4"]["counts"]
    assert set(runs) >= set(owed)
    got = {c["id"]: c["verdict"] for c in s["claims"] if c["run"] == "small_data/vgg16_plateau"}
    assert got["seed002.vgg16:frozen.stuck"] == "reproduced"
    open_ = [c for c in s["claims"] if c["verdict"] == summary.OPEN]
    assert {c["run"] for c in open_} == set(owed)  # the plateau run judged one of its four claims
    assert len(open_) == sum(len(v) for v in owed.values()) - 1
    left = [c for c in open_ if c["run"] == "small_data/vgg16_plateau"]
    assert [c["id"] for c in left] == owed["small_data/vgg16_plateau"][1:]
    assert all("judged no such claim" in c["reason"] for c in left)
    assert left[0]["quote"] and left[0]["said_by"] == "asker" and left[0]["source"] == "seed 002"
    missing = next(c for c in open_ if c["run"] == "plates/h1_h4")
    assert missing["id"] == "plates.H1" and missing["reason"] == "missing: no record"
    (cost,) = s["cost"]
    assert cost["arm"] == "arm" and cost["train_s"] == 4.0 and cost["epochs"] == 2 and cost["test_acc"] == 0.75


def test_a_runs_own_parameters_decide_what_it_owes(tmp_path):
    """A run that judged every claim its parameters call for leaves none open, even when its
    parameter file (e.g. a profile) asks for other claims than the default one."""
    params = {"blog_claims": {"vgg16:scratch": "stuck"}}
    path = _record(tmp_path, "small_data/vgg16_plateau", claims=[_claim("seed002.vgg16:scratch.stuck")])
    data = json.loads(path.read_text())
    data["params"] = params
    path.write_text(json.dumps(data))
    s = summary.summarise(tmp_path)
    assert not [c for c in s["claims"] if c["run"] == "small_data/vgg16_plateau" and c["verdict"] == summary.OPEN]
    assert summary.owed_ids("small_data/vgg16_plateau", tmp_path, {"params": {"blog_claims": {}}}) == []
    assert summary.owed_ids("summary/default", tmp_path) == []


def test_a_record_without_contract_claims_leaves_its_verdicts_open(tmp_path):
    _record(tmp_path, "small_data/vgg16_plateau", metrics=SMALL)  # an old record: per-notebook metrics only
    s = summary.summarise(tmp_path)
    mine = [c for c in s["claims"] if c["run"] == "small_data/vgg16_plateau"]
    assert mine and all(c["verdict"] == summary.OPEN for c in mine)
    assert "claims contract" in mine[0]["evidence"]


def test_deleting_a_record_reopens_its_verdicts(tmp_path):
    owed = summary.owed_ids("small_data/vgg16_plateau", tmp_path)
    path = _record(tmp_path, "small_data/vgg16_plateau", metrics=SMALL, claims=[_claim(i) for i in owed])
    assert "small_data/vgg16_plateau" not in {c["run"] for c in summary.summarise(tmp_path)["claims"]
                                              if c["verdict"] == summary.OPEN}
    path.unlink()
    reopened = [c for c in summary.summarise(tmp_path)["claims"] if c["run"] == "small_data/vgg16_plateau"]
    assert reopened and all(c["verdict"] == summary.OPEN for c in reopened)
    assert "missing" in reopened[0]["evidence"]


@pytest.mark.parametrize("status, figures, why", [("failed", 3, "status 'failed'"), ("running", 3, "status 'running'"),
                                                  ("ok", 1, "1 figures; the notebook promises at least 2")])
def test_failed_partial_or_figureless_runs_do_not_count(tmp_path, status, figures, why):
    _record(tmp_path, "small_data/vgg16_plateau", status=status, figures=figures, metrics=SMALL, claims=[_claim("v")])
    s = summary.summarise(tmp_path)
    (run,) = [r for r in s["runs"] if r["run"] == "small_data/vgg16_plateau"]
    assert not run["counts"] and why in run["why"]
    assert run["report"] is None  # no finished report to link (and no failed notebook here)
    assert all(c["verdict"] == summary.OPEN for c in s["claims"] if c["run"] == "small_data/vgg16_plateau")


def test_a_failed_rerun_leaves_the_published_report_counting(tmp_path):
    _record(tmp_path, "d1_d2/digits", claims=[_claim("d.frozen")], started=1.0)
    _record(tmp_path, "d1_d2/digits", status="interrupted", claims=[], started=2.0)
    (run,) = [r for r in summary.summarise(tmp_path)["runs"] if r["run"] == "d1_d2/digits"]
    assert run["counts"] and run["failed_after"] == 1 and "published report stands" in run["why"]
    got = [c for c in summary.summarise(tmp_path)["claims"] if c["run"] == "d1_d2/digits" and c["id"] == "d.frozen"]
    assert [c["verdict"] for c in got] == ["reproduced"]
    # a newer run that publishes replaces it
    _record(tmp_path, "d1_d2/digits", claims=[_claim("d.frozen", a=(0.5, 0.52, 0.51), b=(0.9, 0.91, 0.92))], started=3.0)
    got = [c for c in summary.summarise(tmp_path)["claims"] if c["run"] == "d1_d2/digits" and c["id"] == "d.frozen"]
    assert [c["verdict"] for c in got] == ["not reproduced"]


def test_every_study_failed(tmp_path):
    for key in _owed(tmp_path):
        _record(tmp_path, key, status="failed", claims=[_claim("x")])
    s = summary.summarise(tmp_path)
    assert not any(r["counts"] for r in s["runs"])
    assert {c["verdict"] for c in s["claims"]} == {summary.OPEN}
    assert summary.cost_frame(s["cost"]).empty and s["controls"] == []


def test_one_study_only_with_missing_cost_fields(tmp_path):
    rec = _record(tmp_path, "d1_d2/digits", claims=[_claim("d.frozen")])
    data = json.loads(rec.read_text())
    data["metrics"] = {"cost": {"arm": {"wall_s": None, "images_per_s": None}}}
    rec.write_text(json.dumps(data))
    s = summary.summarise(tmp_path)
    frame = summary.cost_frame(s["cost"])
    assert frame.images_per_s.round(0).isna().all()  # rounding works: floats, not None
    counts = summary.verdict_counts(s["claims"])
    assert counts["reproduced"] == 1 and counts[summary.NOT_TESTABLE] == 0
    owed = [i for ids in _owed(tmp_path).values() for i in ids if not i.startswith("prerequisite.")]
    assert counts[summary.OPEN] == len(owed)  # d1_d2/digits judged none of its own two: open beside "d.frozen"


def test_controls_are_counted_and_a_failed_one_gates_its_run(tmp_path):
    good = _claim("pos", kind="control", expected="reproduced")
    bad = _claim("neg", kind="control", expected="not reproduced")  # the interval says reproduced: fails
    _record(tmp_path, "d1_d2/synthetic", claims=[good, _claim("c1")])
    _record(tmp_path, "d1_d2/digits", claims=[good, bad, _claim("c2")])
    s = summary.summarise(tmp_path)
    (ctl,) = s["controls"]
    assert ctl["study"] == "d1_d2" and ctl["run"] == 3 and ctl["passed"] == 2 and len(ctl["failed"]) == 1
    got = {c["id"]: c for c in s["claims"]}
    assert got["c1"]["verdict"] == "reproduced"
    assert got["c2"]["verdict"] == summary.NOT_TESTABLE and "controls passed" in got["c2"]["reason"]
    assert summary.verdict_counts(s["claims"])[summary.NOT_TESTABLE] == 1


def test_premise_failures_and_prerequisite_links_reach_the_summary(tmp_path):
    weak = claims.source_learned({"source_test_acc": 0.10, "chance": 0.05, "n_test": 800, "record": "src.json"})
    _record(tmp_path, "small_data/resnet50", claims=[_claim("r", premises=[weak])])
    (c,) = [c for c in summary.summarise(tmp_path)["claims"] if c["run"] == "small_data/resnet50" and c["id"] == "r"]
    assert c["verdict"] == summary.NOT_TESTABLE and c["interval_verdict"] == "reproduced"
    assert c["prerequisites"] == ["src.json"] and "FAILED" in c["premises"]


def test_holm_verdict_sits_beside_the_unadjusted_one(tmp_path):
    weak = dict(a=(0.60, 0.62, 0.61), b=(0.57, 0.585, 0.57), n_test=20000)  # p = 0.026 each (t on 2 df)
    cl = [_claim(f"w{i}", **weak) for i in range(3)] + [_claim("strong")]
    _record(tmp_path, "small_data/resnet50", claims=cl)
    got = {c["id"]: c for c in summary.summarise(tmp_path)["claims"]}
    assert got["strong"]["verdict"] == got["strong"]["holm_verdict"] == "reproduced"
    assert [(got[f"w{i}"]["verdict"], got[f"w{i}"]["holm_verdict"]) for i in range(3)] == [("reproduced", "inconclusive")] * 3


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


def test_a_failed_runs_reason_is_one_line():
    error = ('PapermillExecutionError: \n----\nException encountered at "In [6]":\n----\nKeyboardInterrupt   Traceback\n'
             + "File x.py, line 3\n" * 50)
    assert summary._short_error(error) == "KeyboardInterrupt in In [6]"
    assert summary._short_error("the notebook finished without marking its record complete") == \
        "the notebook finished without marking its record complete"


def test_counts_by_study_keep_not_testable_apart(tmp_path):
    weak = claims.source_learned({"source_test_acc": 0.10, "chance": 0.05, "n_test": 800})
    _record(tmp_path, "small_data/resnet50", claims=[_claim("r", premises=[weak]), _claim("s")])
    _record(tmp_path, "d1_d2/digits", claims=[_claim("pos", kind="control", expected="reproduced"), _claim("d")])
    rows = {r["study"]: r for r in summary.counts_by_study(summary.summarise(tmp_path))}
    assert rows["small_data"]["not testable here"] == 1 and rows["small_data"]["reproduced"] == 1
    assert rows["small_data"]["controls passed"] == "none" and rows["d1_d2"]["controls passed"] == "1/1"
    assert rows["plates"]["open"] == 4 + 3 + 1  # h1_h4: H1-H4, the three fixes, the noise strength; no record


def test_front_page_groups_reports_by_document_and_kind_with_their_records(tmp_path):
    ctl = _claim("ctl", kind="control", expected="reproduced")
    _record(tmp_path, "small_data/vgg16_plateau", claims=[_claim("a"), _claim("b", verdict="not testable here"), ctl])
    _record(tmp_path, "summary/default")
    _record(tmp_path / "smoke", "d1_d2/synthetic", claims=[_claim("c")])
    for rel in ("summary/default", "small_data/vgg16_plateau", "smoke/d1_d2/synthetic"):
        (tmp_path / "html" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "html" / f"{rel}.html").write_text("<p>report</p>")
    text = open(report.write_html_index(str(tmp_path))).read()
    assert text.count("<a href=") == 3  # one link per report, nothing else linked
    assert text.index("Default runs") < text.index("summary/default.html") < text.index("small_data/vgg16_plateau.html") \
        < text.index("Smoke runs") < text.index("smoke/d1_d2/synthetic.html")
    assert "seed 002: transfer with a small data set" in text and "seed 003: D1 -&gt; D2" in text
    assert "<b>Controls passed 1/1</b>" in text  # the default root's summary headline
    row = text[text.index("small_data/vgg16_plateau.html"):].split("</tr>")[0]
    assert "1.0 min" in row and "1/1" in row and "1 not testable here, 1 reproduced" in row and ">ok<" in row


def test_front_page_lists_every_seed_in_order_with_the_summarys_own_status(tmp_path):
    _record(tmp_path, "small_data/vgg16_plateau", claims=[_claim("a"), _claim("b", verdict="not testable here")])
    _record(tmp_path, "summary/default")
    for rel in ("summary/default", "small_data/vgg16_plateau"):
        (tmp_path / "html" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "html" / f"{rel}.html").write_text("<p>report</p>")
    text = open(report.write_html_index(str(tmp_path))).read()
    heads = [text.index(f"<h3>seed {s}") for s in ("000", "001", "002", "003")]
    assert text.index("<h3>the summary") < heads[0] and heads == sorted(heads)  # seed order, every seed listed
    assert "No report has run yet: <code>make seed-001</code>" in text  # a seed with no run says how to run it
    summary_row = text[text.index("summary/default.html"):].split("</tr>")[0]
    assert ">ok<" in summary_row and "no record" not in summary_row  # the summary's own record is read
    # per seed, one line of its verdicts after Holm (the summary's open claims of seed 002 counted too)
    line = text[heads[2]:heads[3]]
    assert "seed 002: " in line and "1 reproduced" in line and "(after Holm)" in line


def test_forest_plot_has_a_row_per_claim_with_an_interval(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    _record(tmp_path, "small_data/vgg16_plateau", claims=[_claim("a"), _claim("b", a=(0.5, 0.52, 0.51))])
    frame = pd.DataFrame(summary.summarise(tmp_path)["claims"])
    fig = summary.plot_forest(frame, "seed 002")
    assert fig is not None and len(fig.axes[0].get_yticklabels()) == 2  # the open claims have no interval
    colours = {line.get_color() for line in fig.axes[0].lines if line.get_marker() == "o"}
    assert "tab:green" in colours  # "a" survives Holm in its family
    assert summary.plot_forest(frame, "seed 000") is None
    # an unbounded interval comes back from a record's JSON with None bounds: left out, never an error
    unbounded = frame.copy()
    unbounded["interval"] = [dict(iv, low=None) if isinstance(iv, dict) else iv for iv in unbounded.interval]
    assert summary.plot_forest(unbounded, "seed 002") is None


def test_claim_cards_group_by_seed_and_say_both_verdicts(tmp_path):
    import pandas as pd

    weak = claims.source_learned({"source_test_acc": 0.10, "chance": 0.05, "n_test": 800})
    _record(tmp_path, "small_data/vgg16_plateau", claims=[_claim("a"), _claim("r", premises=[weak]),
                                                          _claim("ctl", kind="control", expected="reproduced")])
    frame = pd.DataFrame(summary.summarise(tmp_path)["claims"])
    text = summary.claim_cards(frame, tmp_path)
    assert text.index("### seed 000") < text.index("### seed 002") < text.index("### seed 003")
    assert "**small_data/vgg16_plateau** (controls passed 1/1)" in text
    assert "- **reproduced** (p " in text and ", Holm " in text  # both p-values; the same verdict said once
    assert "premises failed: source weights learned their task" in text
    assert "|" not in text  # no table
