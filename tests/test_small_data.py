"""The small-data report's steps (lib/studies/small_data.py) on hand-made rows: no training."""

import numpy as np
import pandas as pd

from lib import claims as C
from lib.data import Task
from lib.studies import small_data as study


def _rows():
    return pd.DataFrame([{"arm": a, "seed": s, "train_acc": t, "val_acc": t - 0.05, "test_acc": t - 0.1,
                          "best_val_acc": t, "best_epoch": 3} for a, t in (("vgg16:frozen", 0.95), ("vgg16:scratch", 0.6))
                         for s in (0, 1, 2)])


def _target(n=100):
    y = np.arange(n) % 2
    x = np.zeros((n, 2, 2, 3), "float32")
    return Task("t", x, y, x, y, x, y, ["a", "b"])


def test_comparisons_are_paired_against_the_reference_only():
    pairs = study.comparisons(_rows(), ["vgg16:frozen", "vgg16:scratch"], "vgg16:scratch", n_test=100)
    (row,) = pairs.to_dict(orient="records")
    assert row["arm"] == "vgg16:frozen" and row["vs"] == "vgg16:scratch"
    assert row["test acc difference, paired 95% interval"].startswith("+0.350")
    assert study.comparisons(_rows(), ["vgg16:frozen"], "vgg16:scratch", n_test=100).empty  # reference not trained
    # with each test example's outcome kept, the interval is paired over examples too (the claims' term)
    rng = np.random.default_rng(0)
    base = rng.random((3, 100)) < 0.5
    rows = _rows().assign(test_correct=[(base[s] | (rng.random(100) < 0.7)).astype(float) if a == "vgg16:frozen"
                                        else base[s].astype(float) for a, s in zip(_rows().arm, _rows().seed)])
    rows["test_acc"] = [np.mean(c) for c in rows.test_correct]
    text = study.comparisons(rows, ["vgg16:frozen", "vgg16:scratch"], "vgg16:scratch", 100).iloc[0, 2]
    acc = study.per_seed(rows)
    unpaired = C.paired_interval(acc["vgg16:frozen"], acc["vgg16:scratch"], 100)
    assert "test examples (paired)" in text and "unpaired" in unpaired.text() and text != unpaired.text()


def test_pitfalls_name_the_stuck_arm_and_a_bn_layer_in_training_mode():
    checks = pd.DataFrame([{"arm": "a", "stuck_at_chance": True, "frozen_bn_inference": None},
                           {"arm": "b", "stuck_at_chance": False, "frozen_bn_inference": False}])
    text = study.pitfall_markdown(checks)
    assert "Stuck at chance in at least one seed: **a**" in text and "NOT in inference mode: b" in text
    ok = pd.DataFrame([{"arm": "a", "stuck_at_chance": False, "frozen_bn_inference": True}])
    assert study.pitfall_markdown(ok) == "No arm is stuck at chance. Every frozen BN layer ran in inference mode."


def test_a_failed_negative_control_makes_the_blogs_claims_not_testable():
    plan = study.Plan(specs={}, premises={}, skipped={}, trained=["vgg16:frozen", "vgg16:scratch"])
    p = {"margin": 0.02, "blog_claims": {"vgg16:frozen": "learns"}, "blog_reported": {}}
    arms = (study.CONTROL_ARM, study.CONTROL_ARM)
    # 1,000 test images: on t with 2 df, 100 could not resolve the negative control's margin 0.10
    good = study.claims(_rows(), _target(1000), p, plan, study.Controls(arms, [0.5, 0.49, 0.51], [0.9, 0.92, 0.91]))
    assert [c.kind for c in good] == ["control", "control", "claim"]
    assert good[-1].verdict == C.REPRODUCED
    bad = study.claims(_rows(), _target(1000), p, plan, study.Controls(arms, [0.95, 0.96, 0.97], [0.9, 0.92, 0.91]))
    assert bad[1].verdict != bad[1].expected and bad[-1].verdict == C.NOT_TESTABLE
    skipped = study.claims(_rows(), _target(), p, plan, study.Controls(arms, [], [], skipped="x: weights learned nothing"))
    assert skipped[0].verdict == C.NOT_TESTABLE and skipped[-1].verdict == C.NOT_TESTABLE
    assert "weights learned nothing" in skipped[0].reason
    assert study.claims(_rows(), _target(), p, plan, None)[-1].verdict == C.REPRODUCED  # controls not asked for


def _control_params(**kw):
    return {"weights": "none", "epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "finetune_learning_rate": 1e-4,
            "head_epochs": 1, "cache_features": True, "stop_stuck_after": 0, "data_seed": 0, "image_size": 32, **kw}


def test_controls_train_the_named_arm_and_reuse_only_runs_at_its_rate(monkeypatch):
    calls = []

    def fake_run(spec, task, image_size, *, seed, **kw):
        calls.append((spec, kw["stop_stuck_after"]))
        return {"test_acc": 0.5}, None, None

    monkeypatch.setattr(study.transfer, "run_image_arm", fake_run)
    p = _control_params()
    rows = pd.DataFrame([{"arm": "simple_cnn:scratch", "seed": s, "test_acc": 0.8} for s in (0, 1)])
    got = study.run_controls(rows, _target(), p, [0, 1], chosen={"simple_cnn:scratch": {"chosen": 3e-4}})
    assert got.positive == [0.8, 0.8] and got.negative == [0.5, 0.5]  # the arm ran at the control's rate: reused
    assert got.reused == "simple_cnn:scratch"
    assert calls == [(study.CONTROL_ARM, 0)] * 2  # only the negative control trained, never stopped early
    calls.clear()
    got = study.run_controls(rows, _target(), p, [0, 1], chosen={"simple_cnn:scratch": {"chosen": 1e-3}})
    assert got.positive == [0.5, 0.5] and calls == [(study.CONTROL_ARM, 0)] * 4  # another rate: its own runs


def test_controls_through_the_judged_arms_at_the_studys_chosen_rate(monkeypatch):
    """A control arm that is one of the study's arms trains at the rate the study chose for it on
    validation; the positive control may name another arm (one the claims do not call stuck); a control
    arm whose premise failed is not run, and says why."""
    calls = []

    def fake_run(spec, task, image_size, *, seed, **kw):
        calls.append(spec)
        return {"test_acc": 0.5}, None, None

    monkeypatch.setattr(study.transfer, "run_image_arm", fake_run)
    p = _control_params(control_arm="vgg16:frozen", positive_control_arm="simple_cnn:scratch")
    rows = pd.DataFrame([{"arm": a, "seed": s, "test_acc": 0.8} for a in ("simple_cnn:scratch", "vgg16:frozen")
                         for s in (0, 1)])
    chosen = {"simple_cnn:scratch": {"chosen": 3e-4}, "vgg16:frozen": {"chosen": 1e-3}}
    got = study.run_controls(rows, _target(), p, [0, 1], chosen=chosen)
    assert calls == ["vgg16:frozen@0.001"] * 2 and got.positive == [0.8, 0.8] and got.reused == "simple_cnn:scratch"
    assert study.control_arms(p) == ("vgg16:frozen", "simple_cnn:scratch")
    calls.clear()
    plan = study.Plan({}, {}, {"vgg16:frozen": "source weights learned their task: FAILED"}, ["simple_cnn:scratch"])
    got = study.run_controls(rows, _target(), p, [0, 1], chosen=chosen, plan_=plan)
    assert calls == [] and "vgg16:frozen: source weights learned their task: FAILED" in got.skipped


def test_each_blog_claim_is_judged_by_one_experiment_only():
    """The summary's Holm family counts hypotheses: a blog claim judged in two small_data reports (the
    same arm, rule and comparator, hence the same claim id) would be counted twice."""
    from collections import Counter
    from pathlib import Path

    import yaml

    owners = Counter()
    for path in sorted(Path("params/small_data").glob("*.yaml")):
        for arm, claim in (yaml.safe_load(path.read_text()).get("blog_claims") or {}).items():
            owners[(arm, claim)] += 1
    assert owners, "no blog claims found"
    assert [k for k, n in owners.items() if n > 1] == []


def test_the_grid_chooses_on_validation_and_its_run_is_the_first_seeds(monkeypatch):
    """One run per rate with a tuning seed, the rate with the best validation accuracy chosen (test
    never read), then every compared seed trained fresh: len(grid) + n_seeds runs per arm."""
    from lib import transfer

    calls = []

    def fake_run(spec, task, image_size, *, seed, **kw):
        lr = transfer.arm_learning_rate(spec)
        calls.append((spec, seed))
        val = {1e-4: 0.6, 3e-4: 0.8, 1e-3: 0.7}[lr]
        row = {"seed": seed, "best_val_acc": val, "test_acc": 1.0 - val, "train_acc": val, "val_acc": val}
        return row, {"loss": [1.0]}, object()

    class Rec:
        def add_history(self, *a, **k):
            pass

    monkeypatch.setattr(transfer, "run_image_arm", fake_run)
    monkeypatch.setattr(transfer, "pitfall_checks", lambda spec, parts, task, row: {"arm": spec, "parts": parts})
    p = {"lr_grid": [1e-4, 3e-4, 1e-3], "image_size": 32}
    p.update({k: 0 for k in ("weights", "epochs", "batch_size", "learning_rate", "finetune_learning_rate",
                             "head_epochs", "cache_features", "stop_stuck_after")})
    rows, checks, chosen = study.run_arms(["simple_cnn:scratch", "vgg16:scratch@1e-4"], _target(), p, [0, 1, 2], Rec())
    assert chosen == {"simple_cnn:scratch": {"chosen": 3e-4, "validation by rate": {1e-4: 0.6, 3e-4: 0.8, 1e-3: 0.7},
                                             "tuning seed": 3}}
    grid_runs = [c for c in calls if c[0].startswith("simple_cnn")]
    # the grid runs with a tuning seed none of the compared seeds is: validation chose the rate, and the
    # compared runs are fresh (validation used once)
    assert grid_runs == [("simple_cnn:scratch@0.0001", 3), ("simple_cnn:scratch@0.0003", 3), ("simple_cnn:scratch@0.001", 3),
                         ("simple_cnn:scratch@0.0003", 0), ("simple_cnn:scratch@0.0003", 1), ("simple_cnn:scratch@0.0003", 2)]
    assert [c for c in calls if c[0].startswith("vgg16")] == [("vgg16:scratch@1e-4", s) for s in (0, 1, 2)]
    assert rows[rows.arm == "simple_cnn:scratch"].test_acc.round(3).tolist() == [0.2, 0.2, 0.2]


def test_the_plan_checks_the_control_arms_premises_too(monkeypatch):
    from lib import backbones, sources

    failed = C.Premise("source weights learned their task", False, detail="0.05 against chance 0.05")
    monkeypatch.setattr(backbones, "check_weights", lambda *a: None)
    monkeypatch.setattr(sources, "source_premise", lambda arch, size, w: failed if arch == "resnet50" else None)
    p = {"arms": ["simple_cnn:scratch", "vgg16:frozen"], "weights": "source", "image_size": 32, "run_untestable": False,
         "control_arm": "resnet50:frozen", "controls": True}
    plan = study.plan(p)
    assert plan.trained == ["simple_cnn:scratch", "vgg16:frozen"] and plan.skipped == {}
    assert list(plan.controls_skipped) == ["resnet50:frozen"] and "FAILED" in plan.controls_skipped["resnet50:frozen"]
    assert study.plan({**p, "controls": False}).controls_skipped == {}


def test_the_registry_owes_exactly_the_blog_claims_a_run_judges():
    from lib.checks import small_data_claims

    plan = study.Plan(specs={}, premises={}, skipped={}, trained=["vgg16:frozen", "vgg16:scratch"])
    p = {"margin": 0.02, "blog_claims": {"vgg16:frozen": "learns", "vgg16:scratch": "no_better_than vgg16:frozen"},
         "blog_reported": {}}
    judged = [c.id for c in study.claims(_rows(), _target(), p, plan, None)]
    assert small_data_claims(p) == judged == ["seed002.vgg16:frozen.learns", "seed002.vgg16:scratch.no_better_than.vgg16:frozen"]


def test_size_lines_read_each_arm_by_its_amount_of_training_data():
    from types import SimpleNamespace

    import pandas as pd

    from lib.studies.small_data import size_lines

    arms = ["vgg16:frozen+train:0.25", "vgg16:frozen", "simple_cnn:scratch+train:0.25", "simple_cnn:scratch"]
    means = pd.DataFrame({"test_acc": [0.61, 0.63, 0.80, 0.90]}, index=arms)
    lines = size_lines(means, SimpleNamespace(trained=arms))
    assert "(vgg16:frozen, " in lines[0] and "x1 0.610, x4 0.630" in lines[0]
    assert "(simple_cnn:scratch, " in lines[1] and "x1 0.800, x4 0.900" in lines[1]
    assert size_lines(means.iloc[[1, 3]], SimpleNamespace(trained=arms[1::2])) == []  # one amount each: no sweep


def test_architecture_lines_compare_architectures_under_one_policy():
    from types import SimpleNamespace

    import pandas as pd

    from lib.studies.small_data import architecture_lines
    from lib.transfer import parse_arm

    arms = ["vgg16:frozen~source", "resnet50:frozen~source", "inceptionv3:frozen+resize:75~source"]
    means = pd.DataFrame({"test_acc": [0.60, 0.70, 0.80]}, index=arms)
    plan = SimpleNamespace(trained=arms, specs={a: parse_arm(a) for a in arms})
    (line,) = architecture_lines(means, plan)
    assert "(frozen, " in line and "vgg16 0.600, resnet50 0.700, inceptionv3 0.800" in line
    one = SimpleNamespace(trained=arms[:1], specs={arms[0]: parse_arm(arms[0])})
    assert architecture_lines(means, one) == []  # one architecture: nothing to compare


def test_the_methods_experiment_judges_the_literatures_claims():
    """params/small_data/methods.yaml: its claims are the papers' (ids under ``literature.``, each with a
    paraphrase said by "literature"), about arms it trains, and make all leaves it out (make extended)."""
    from pathlib import Path

    from lib import checks, prereqs, registry
    from lib.quotes import quote_for

    p = prereqs.merged(Path("params/small_data/methods.yaml"), None)
    ids = checks.small_data_claims(p)
    assert len(ids) == len(p["blog_claims"]) + 1 == 6 and all(i.startswith("literature.") for i in ids)
    assert ids[-1] == checks.LR_FIND_CLAIM  # range tests beside the grid: the range test's claim too
    assert all(quote_for(i)[1] == "literature" and quote_for(i)[0].startswith("(paraphrase)") for i in ids)
    assert {a for c in p["blog_claims"].values() for a in c.split()[1:]} | set(p["blog_claims"]) <= set(p["arms"])
    assert registry.extended("small_data/methods") and not registry.extended("small_data/resnet50")
    assert checks.small_data_claims({**p, "claims_source": "seed 002"})[0].startswith("seed002.")


def test_accuracy_against_trainable_parameters_is_one_point_per_arm_at_its_seed_mean():
    rows = pd.DataFrame([{"arm": "a:frozen", "seed": s, "test_acc": acc, "trainable_params": 1026}
                         for s, acc in enumerate((0.6, 0.7))]
                        + [{"arm": "a:lora:4", "seed": s, "test_acc": acc, "trainable_params": 21998}
                           for s, acc in enumerate((0.8, 0.9))])
    fig = study.plot_accuracy_vs_params(rows, "t")
    ax = fig.axes[0]
    (points,) = [c for c in ax.collections if len(c.get_offsets()) == 2]
    assert np.allclose(points.get_offsets(), [[1026, 0.65], [21998, 0.85]])
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_legend().get_texts()] == ["a:frozen", "a:lora:4"]
    assert study.plot_accuracy_vs_params(pd.DataFrame()) is None


def test_the_range_test_claim_reads_each_arms_distance_to_its_chosen_rate():
    from lib.checks import LR_FIND_CLAIM, small_data_claims

    chosen = {a: {"chosen": 1e-3} for a in "abcd"}
    valley = [3.0, 2.0, 1.0, 0.5, 0.4, 0.6, 1.0, 2.0, 3.0, 4.0, 5.0]  # a minimum inside the sweep
    near = {a: {"steep": 1e-3 * f, "smooth": valley, "diverged_at": None} for a, f in zip("abcd", (1.0, 1.5, 0.8, 1.2))}
    far = {a: {"steep": 1e-3 * f, "smooth": valley, "diverged_at": None} for a, f in zip("abcd", (20.0, 0.04, 30.0, 15.0))}
    assert study.range_test_claim(near, chosen).verdict == C.REPRODUCED
    assert study.range_test_claim(far, chosen).verdict == C.NOT_REPRODUCED
    few = study.range_test_claim({"a": near["a"], "b": near["b"]}, chosen)
    assert few.verdict == C.NOT_TESTABLE and "at least 3 arms" in few.reason
    assert study.range_test_claim(near, chosen).id == LR_FIND_CLAIM
    falling = {**near, "b": {**near["b"], "smooth": [3.0 - 0.2 * k for k in range(11)]}}  # no minimum in its sweep
    stuck = study.range_test_claim(falling, chosen)
    assert stuck.verdict == C.NOT_TESTABLE and "still falling at the last rate: b" in stuck.reason
    assert study.curve_has_minimum({"smooth": [3.0 - 0.2 * k for k in range(11)], "diverged_at": 0.5})
    p = {"blog_claims": {}, "lr_find": True, "lr_grid": [1e-3], "claims_source": "literature"}
    assert small_data_claims(p) == [LR_FIND_CLAIM]
    assert small_data_claims({**p, "claims_source": "seed 002"}) == [] == small_data_claims({**p, "lr_find": False})


def test_a_methods_quote_follows_the_method_whatever_the_study_or_argument():
    from lib.quotes import METHOD_QUOTES, quote_for

    assert quote_for("literature.simple_cnn:l2sp:0.01.beats.simple_cnn:finetune")[0] == METHOD_QUOTES["l2sp"]
    assert quote_for("literature.l2sp:0.1.beats.finetune")[0] == METHOD_QUOTES["l2sp"]  # the sign study's arm names
    assert quote_for("literature.discriminative:10.beats.finetune")[0] == METHOD_QUOTES["discriminative"]
    assert quote_for("literature.simple_cnn:finetune+one_cycle.beats.simple_cnn:finetune")[0] == METHOD_QUOTES["one_cycle"]
    assert quote_for("literature.finetune.no_better_than.lora:8") == (METHOD_QUOTES["lora"], "literature")
    assert quote_for("literature.finetune.beats.lora:8") == ("", "")  # a claim no paper made has no quote
    assert quote_for("literature.logme.ranks")[1] == "literature"
