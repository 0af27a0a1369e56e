"""lib/report.py: a notebook's one-call setup, and the small figures every image study shares."""

import json

import numpy as np
import pytest

from lib import params, records, report


def test_begin_validates_opens_the_runners_record_and_counts_seeds(tmp_path, monkeypatch):
    spec = params.read_parameters("summary").specs
    good = params.validate({"title": "T", "outputs_root": ""}, spec)
    path = tmp_path / "run.json"
    records.Record(path, records.new_record("summary", "x", good)).save()
    monkeypatch.setenv(records.RECORD_ENV, str(path))
    P, record, seeds = report.begin({"title": "T", "outputs_root": ""}, "summary")
    assert P == good and record.path == path and seeds == []  # the summary has no training seeds
    with pytest.raises(params.ParameterError):
        report.begin({"title": 3, "outputs_root": ""}, "summary")  # a bad value typed in the kernel


def test_begin_lists_the_seeds(tmp_path, monkeypatch):
    namespace = {name: s.default for name, s in params.read_parameters("d1_d2").specs.items()}
    namespace.update(seed=4, n_seeds=3)
    path = tmp_path / "run.json"
    values = params.validate(namespace, params.read_parameters("d1_d2").specs)
    records.Record(path, records.new_record("d1_d2", "x", values)).save()
    monkeypatch.setenv(records.RECORD_ENV, str(path))
    assert report.begin(namespace, "d1_d2")[2] == [4, 5, 6]
    assert json.loads(path.read_text())["notebook"] == "d1_d2"


def test_plot_examples_titles_each_image_and_hides_spare_axes():
    fig = report.plot_examples(np.zeros((5, 8, 8, 3)), list("abcde"), n=6, rows=2)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == list("abcde") and len(fig.axes) == 6


def test_a_reports_claims_table_draws_its_forest_plot():
    import matplotlib

    matplotlib.use("Agg")
    from lib import claims as C

    good = C.judge("g", "seed 002", "h", rule="greater", a=[0.9, 0.91, 0.92], b=[0.5, 0.52, 0.51], n_test=20000, quote="q")
    none = C.judge("n", "seed 002", "h", rule="greater", verdict=C.INCONCLUSIVE, quote="q")
    fig = report.claims_forest([good.as_dict(), none.as_dict()])
    assert fig is not None and len(fig.axes[0].get_yticklabels()) == 1  # the claim without an interval is left out
    assert report.claims_forest([none.as_dict()]) is None
    assert len(report.claims_table([good, none])) == 2


def test_the_power_plan_is_opened_shown_and_kept_before_any_data(tmp_path, monkeypatch):
    from lib import params as P
    from lib import power, records

    monkeypatch.setenv(P.OUTPUTS_ENV, str(tmp_path))
    p = P.validate(P.load_overlays([P.REPO_ROOT / "params" / "d1_d2" / "synthetic.yaml"]),
                   P.read_parameters(P.NOTEBOOK_DIR / "d1_d2.ipynb").specs, notebook="d1_d2")
    rec = records.Record(tmp_path / "d1_d2" / "synthetic.x.partial.json", records.new_record("d1_d2", "synthetic", p))
    try:
        text = report.power_plan("d1_d2", rec, list(range(p["n_seeds"])))
        kept = rec.data["notes"]["power_plan"]
        assert "Power plan, before any data" in text and "seed 003: 4 claims" in text
        assert [r["id"] for r in kept["planned"]] == ["d1_d2.author.no_help", "d1_d2.answer.faster"]
        assert kept["planned"][0]["n_test"] == 1600 and kept["seed_sd_from"].startswith("prior")
        assert "Budget." in text  # the default scale: the registry's minutes apply
        assert power.context()["family_sizes"]["seed 003"] == 4  # judge() now plans each claim under it
        src = records.Record(tmp_path / "source_pretrain" / "default.x.partial.json",
                             records.new_record("source_pretrain", "default", {"source_task": "shapes", "archs": [],
                                                                                "image_size": 32}))
        assert report.power_plan("source_pretrain", src, [0]) is None and not power.context()
    finally:
        power.end()
