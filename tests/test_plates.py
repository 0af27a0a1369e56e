"""The license-plate generator, user loader and the seed's multi-head model (seed 000)."""

import numpy as np
import pytest
from PIL import Image

from lib.studies import plates


def test_alphabet_is_35_symbols_without_O():
    assert len(plates.ALPHABET) == 35 and len(set(plates.ALPHABET)) == 35 and "O" not in plates.ALPHABET
    assert plates.decode(plates.encode("AB12CD3")) == "AB12CD3"


def test_make_plates_deterministic_shapes_and_labels():
    x, y = plates.make_plates(12, size=48, seed=3)
    x2, y2 = plates.make_plates(12, size=48, seed=3)
    assert x.shape == (12, 48, 48, 3) and x.dtype == np.uint8 and y.shape == (12, 7)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert y.min() >= 0 and y.max() < 35
    x3, _ = plates.make_plates(12, size=48, seed=4)
    assert not np.array_equal(x, x3)
    assert x.max() > 150 and x.min() < 100  # raw 0-255 pixels, not rescaled
    with pytest.raises(ValueError, match="at least 32"):
        plates.make_plates(2, size=16)


def test_the_plate_text_is_drawn():
    """A clean plate's pixels depend on its text: two texts, same nuisance draws, differ."""
    a = plates.render_plate("AAAAAAA", 64, np.random.default_rng(0), hard=0.0)
    b = plates.render_plate("1111111", 64, np.random.default_rng(0), hard=0.0)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 5


def _write(path, colour=(200, 200, 200)):
    Image.new("RGB", (60, 20), colour).save(path)


def test_user_plate_folder_labels_from_names_and_bad_labels_named(tmp_path):
    _write(tmp_path / "AB12CD3.png")
    _write(tmp_path / "ZX98765_2.jpg")
    x, y = plates.load_plate_folder(tmp_path, 40)
    assert x.shape == (2, 40, 40, 3) and [plates.decode(r) for r in y] == ["AB12CD3", "ZX98765"]
    _write(tmp_path / "SHORT1.png")
    _write(tmp_path / "OO12345.png")
    with pytest.raises(ValueError) as err:
        plates.load_plate_folder(tmp_path, 40)
    msg = str(err.value)
    assert "SHORT1.png" in msg and "6 characters" in msg and "OO12345.png" in msg and "write '0'" in msg


def test_user_plate_csv_labels_and_corrupt_file(tmp_path):
    _write(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not an image")
    (tmp_path / "labels.csv").write_text("filename,label\na.png,ab12cd3\nb.png,XY34567\n")
    with pytest.raises(ValueError, match=r"b\.png"):
        plates.load_plate_folder(tmp_path, 40, csv=tmp_path / "labels.csv")
    (tmp_path / "labels.csv").write_text("filename,label\na.png,AB12CD\n")
    with pytest.raises(ValueError, match="a.png"):
        plates.load_plate_folder(tmp_path, 40, csv=tmp_path / "labels.csv")
    (tmp_path / "labels.csv").write_text("file,text\na.png,AB12CD3\n")
    with pytest.raises(ValueError, match="'filename' and 'label'"):
        plates.load_plate_folder(tmp_path, 40, csv=tmp_path / "labels.csv")


def test_plate_model_is_the_seeds_and_freezes_the_base():
    from lib.models import parameter_counts

    model, parts = plates.build_plate_model(32, policy="frozen")
    base = parts.base
    assert model.output_shape == (None, 7, 35)
    assert [l.name for l in parts.head.layers if l.name.startswith("char0")] == [
        "char0_dense", "char0_bn", "char0_relu", "char0_dropout", "char0"]
    frozen = parameter_counts(model)
    scratch, _ = plates.build_plate_model(32, policy="scratch")
    counts = parameter_counts(scratch)
    # per branch: Dense 1280->360, BN gamma/beta (trainable) and moving mean/var (not), Dense 360->35
    assert frozen["trainable"] == 7 * (1280 * 360 + 360 + 2 * 360 + 360 * 35 + 35)
    assert frozen["frozen"] == base.count_params() + 7 * 2 * 360
    assert counts["trainable"] > frozen["trainable"] and counts["total"] == frozen["total"]


def test_plate_metrics():
    y = np.array([[0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6]])
    probs = np.eye(35)[y].copy()
    probs[1, 6] = np.eye(35)[7]  # second plate: last character 6 read as 7
    m = plates.plate_metrics(y, probs)
    assert m["char_acc"] == pytest.approx(13 / 14) and m["plate_acc"] == 0.5
    assert m["char_acc_by_position"][6] == 0.5 and m["confused_pairs"][0] == ("6", "7", 1)


def test_parse_plate_arm():
    assert plates.parse_plate_arm("pretrained") == {"name": "pretrained", "policy": "frozen", "noise": 0.0}
    assert plates.parse_plate_arm("scratch+noise")["noise"] is None
    assert plates.parse_plate_arm("pretrained+noise:50")["noise"] == 50.0
    with pytest.raises(ValueError, match="did you mean 'pretrained'"):
        plates.parse_plate_arm("pretrianed")
    with pytest.raises(ValueError, match="positive number"):
        plates.parse_plate_arm("scratch+noise:-3")
    with pytest.raises(ValueError, match="only '\\+noise'"):
        plates.parse_plate_arm("scratch+blur")


def _hyp(acc, val=None, premises=None, **kw):
    from lib import claims as C

    got = plates.judge_hypotheses(acc, val or acc, n_test=600 * 7, margin=0.02,
                                  premises=premises if premises is not None else [C.enough_seeds(3)], **kw)
    return {c.id.split(".")[1]: c for c in got}


def test_judge_hypotheses():
    acc = {"scratch": [0.80, 0.82, 0.81], "scratch+noise": [0.70, 0.71, 0.69],
           "pretrained": [0.50, 0.52, 0.51], "pretrained+noise": [0.40, 0.42, 0.41]}
    # the seed's outcome: H1 held, H2-H4 failed: every claim as the seed found it is reproduced
    assert {h: c.verdict for h, c in _hyp(acc).items()} == {h: "reproduced" for h in ("H1", "H2", "H3", "H4")}
    acc["pretrained+noise"] = [0.90, 0.91, 0.92]
    acc["pretrained"] = [0.85, 0.86, 0.84]
    v = {h: c.verdict for h, c in _hyp(acc).items()}
    assert v["H4"] == "not reproduced" and v["H2"] == "not reproduced"
    acc["scratch+noise"] = [0.60, 0.95, 0.70]
    # undecided, and 600 plates counted as 4,200 independent characters cannot resolve a 0.02 margin: said so
    h3 = _hyp(acc)["H3"]
    assert h3.verdict == "not testable here" and "design resolves the margin" in h3.reason
    assert h3.interval_verdict == "inconclusive"


def test_hypotheses_pair_plates_as_clusters():
    rng = np.random.default_rng(0)
    n = 3000
    base = (rng.random((n, 7)) < 0.8).mean(1)  # each plate's share of characters read right
    arms = {a: [np.clip(base + rng.normal(0, 0.02, n), 0, 1) for _ in range(3)] for a in plates.FACTORIAL}
    acc = {a: [float(x.mean()) for x in v] for a, v in arms.items()}
    got = _hyp(acc, outcomes=arms)
    assert "paired" in got["H2"].interval["method"] and got["H2"].interval["n_test"] == n
    assert got["H2"].verdict == "reproduced" and got["H3"].verdict == "reproduced"
    assert all(c.verdict == "not testable here" for c in _hyp({"scratch": [0.5]}).values())


def test_h4_rival_is_chosen_on_validation_not_test():
    acc = {"scratch": [0.80, 0.82, 0.81], "scratch+noise": [0.70, 0.71, 0.69],
           "pretrained": [0.50, 0.52, 0.51], "pretrained+noise": [0.60, 0.61, 0.62]}
    val = {**acc, "scratch": [0.5] * 3, "pretrained": [0.9] * 3}  # on validation, pretrained is the rival
    got = _hyp(acc, val)["H4"]
    assert "pretrained (best other arm on validation)" == got.comparator and got.verdict == "not reproduced"
    assert "scratch (best" in _hyp(acc)["H4"].comparator


def test_nothing_reads_plates_or_too_small_a_budget_is_not_testable():
    from lib import claims as C

    near = {"scratch": [0.030, 0.031, 0.030], "scratch+noise": [0.029, 0.030, 0.030],
            "pretrained": [0.041, 0.042, 0.040], "pretrained+noise": [0.040, 0.041, 0.041]}
    got = _hyp(near)
    assert got["H1"].verdict == "not reproduced"  # H1 is about chance itself: with the budget, it is judged
    assert [got[h].verdict for h in ("H2", "H3", "H4")] == ["not testable here"] * 3
    assert "above chance: FAILED" in got["H2"].reason
    # the seed's 6,250 steps against 600 here: nothing is testable, H1 included, never "not reproduced"
    small = _hyp(near, premises=[C.enough_seeds(3), C.budget(600, plates.SEED_STEPS)])
    assert {c.verdict for c in small.values()} == {"not testable here"}
    assert "training budget: FAILED" in small["H1"].reason


def test_the_seed_budget_is_the_paper_profiles_premise_and_convergence_every_runs():
    import pandas as pd

    base = {"arms": list(plates.FACTORIAL), "noise_sweep": [], "n_seeds": 3, "run_untestable": False, "epochs": 6,
            "n_train": 1600, "batch_size": 16, "plate_dir": "", "weights": "none", "image_size": 64,
            "arch": "efficientnetb0"}
    plan = plates.plan({**base, "seed_budget": False})
    assert plan.trained == plates.FACTORIAL and [p.name for p in plan.common] == ["enough seeds"]
    assert plates.needs({**base, "seed_budget": False, "weights": "source:glyphs"}) == {("efficientnetb0", 64, "glyphs")}
    paper = plates.plan({**base, "seed_budget": True})  # 600 steps against the seed's 6,250: nothing trains
    assert paper.trained == [] and "training budget" in next(iter(paper.skipped.values()))
    assert plates.needs({**base, "seed_budget": True, "weights": "source:glyphs"}) == set()
    assert plates.needs({**base, "seed_budget": False, "weights": "source:glyphs", "arch": "plate_cnn"}) == {
        ("plate_cnn", 64, "glyphs")}
    rows = pd.DataFrame([{"arm": a, "seed": s, "stopped_early": float(a != "scratch+noise" or s < 2), "best_epoch": 4.0}
                         for a in plates.FACTORIAL for s in range(3)])
    got = plates.trained_premises(plan, rows)
    assert got["pretrained"][-1].held and "early stopping ended all 3 runs" in got["pretrained"][-1].detail
    assert not got["scratch+noise"][-1].held and "1 of 3 runs still improving" in got["scratch+noise"][-1].detail
    nopatience = plates.trained_premises(plan, rows.drop(columns=["stopped_early", "best_epoch"]))
    assert not nopatience["pretrained"][-1].held and "without early stopping" in nopatience["pretrained"][-1].detail
    # an unconverged arm makes the claims that compare it not testable, the others stand
    acc = {"scratch": [0.80, 0.82, 0.81], "scratch+noise": [0.70, 0.71, 0.69],
           "pretrained": [0.50, 0.52, 0.51], "pretrained+noise": [0.60, 0.61, 0.62]}
    from lib import claims as C
    hyp = {c.id.split(".")[-1]: c for c in plates.judge_hypotheses(acc, acc, n_test=1200 * 7, margin=0.05,
                                                                      premises=[C.enough_seeds(3)], arm_premises=got)}
    assert hyp["H2"].verdict == "not testable here" and "scratch+noise converged: FAILED" in hyp["H2"].reason
    assert hyp["H4"].verdict != "not testable here"  # pretrained+noise against scratch (best on validation): converged


def _expl(acc, noise_std=40):
    from lib import claims as C

    return plates.judge_explanations(acc, noise_std, n_test=600 * 7, premises=[C.enough_seeds(3)])


def test_judge_explanations_reads_fixes_preprocessing_and_noise_strength():
    acc = {"pretrained": [0.50, 0.52, 0.51], "finetune": [0.70, 0.72, 0.71], "two_stage": [0.40, 0.42, 0.41],
           "pretrained_div255": [0.49, 0.53, 0.50], "pretrained+noise": [0.30, 0.31, 0.32],
           "pretrained+noise:10": [0.45, 0.44, 0.46], "pretrained+noise:100": [0.10, 0.12, 0.11]}
    got = {c.id: c.verdict for c in _expl(acc)}
    assert got == {"plates.answer.finetune": "reproduced", "plates.answer.two_stage": "not reproduced",
                   "plates.pitfall.div255": "inconclusive", "plates.noise_too_strong.pretrained": "reproduced"}
    # the study's strength is the weakest: compare it with no noise; a lone noise arm judges nothing
    got = _expl({"pretrained": [0.5, 0.5, 0.6], "pretrained+noise": [0.2, 0.2, 0.3], "pretrained+noise:100": [0.1, 0.1, 0.1]})
    assert [(c.hypothesis.split("(")[-1], c.comparator, c.verdict) for c in got] == [
        ("pretrained)", "pretrained+noise", "reproduced")]
    assert _expl({"pretrained": [0.5], "pretrained+noise": [0.4]}) == []  # no sweep
    got = _expl({"finetune": [0.6, 0.6, 0.7], "finetune+noise": [0.6, 0.7, 0.6], "finetune+noise:10": [0.6, 0.7, 0.7]})
    assert [(c.comparator, c.verdict) for c in got] == [("finetune+noise", "inconclusive")]
    assert _expl({"finetune": [0.5, 0.6]}) == []  # no frozen reference
    near = _expl({"pretrained": [0.040, 0.041, 0.042], "finetune": [0.048, 0.049, 0.050]})
    assert near[0].verdict == "not testable here" and "finetune above chance: FAILED" in near[0].reason


def test_run_plate_arm_cached_and_noisy_tiny():
    """Every code path of one arm on a tiny set: cached frozen head, noisy end-to-end, /255."""
    from lib.data import Task

    x, y = plates.make_plates(24, size=32, seed=0)
    task = Task("plates", x[:12].astype("float32"), y[:12], x[12:18].astype("float32"), y[12:18],
                x[18:].astype("float32"), y[18:], list(plates.ALPHABET))
    kw = dict(weights="none", epochs=1, head_epochs=1, batch_size=8, learning_rate=1e-3,
              finetune_learning_rate=1e-4, noise_std=20.0, seed=0)
    row, hist = plates.run_plate_arm("pretrained", task, 32, **kw)
    assert row["cached_features"] and 0 <= row["test_char_acc"] <= 1 and len(hist["val_accuracy"]) == 1
    row, _ = plates.run_plate_arm("pretrained+noise:30", task, 32, **kw)
    assert not row["cached_features"] and row["noise_std"] == 30.0
    row, _ = plates.run_plate_arm("pretrained_div255", task, 32, **kw)
    assert row["input_max"] <= 1.0
    row, hist = plates.run_plate_arm("scratch", task, 32, **kw, arch="plate_cnn", head="columns")
    assert row["policy"] == "scratch" and 0 <= row["test_char_acc"] <= 1


def test_the_column_head_keeps_the_columns_and_the_seeds_pools_them():
    seed = plates.plate_head((4, 4, 8), pool="seed")
    cols = plates.plate_head((4, 4, 8), pool="columns")
    assert seed.output_shape == cols.output_shape == (None, 7, 35)
    assert cols.get_layer("char0_dense").kernel.shape == (4 * 8, 360)  # four columns of eight channels
    assert seed.get_layer("char0_dense").kernel.shape == (8, 360)
    with pytest.raises(ValueError, match="did you mean 'columns'"):
        plates.plate_head((4, 4, 8), pool="column")


def test_h1_is_about_efficientnet_and_another_base_leaves_it_not_testable():
    from lib import claims as C

    acc = {"scratch": [0.80, 0.82, 0.81], "scratch+noise": [0.70, 0.71, 0.69],
           "pretrained": [0.50, 0.52, 0.51], "pretrained+noise": [0.60, 0.61, 0.62]}
    kw = dict(n_test=1200 * 7, margin=0.05, premises=[C.enough_seeds(3)])
    seed = {c.id: c for c in plates.judge_hypotheses(acc, acc, **kw)}
    stand_in = {c.id: c for c in plates.judge_hypotheses(acc, acc, **kw, arch="plate_cnn")}
    assert seed["plates.H1"].verdict == "reproduced"
    assert stand_in["plates.H1"].verdict == "not testable here" and "plate_cnn" in stand_in["plates.H1"].reason
    assert {k: c.verdict for k, c in stand_in.items() if k != "plates.H1"} == {
        k: c.verdict for k, c in seed.items() if k != "plates.H1"}  # H2-H4 do not depend on the base's name


def test_check_refuses_an_unknown_base_or_head():
    from lib import params as P

    defaults = P.read_parameters("notebooks/plates.ipynb").defaults()
    P.check_study("plates", defaults, source="test")  # the defaults pass
    with pytest.raises(P.ParameterError, match="(?s)arch: unknown architecture 'plate_cn'.*did you mean 'plate_cnn'"
                                               ".*head: unknown plate head 'colums'"):
        P.check_study("plates", {**defaults, "arch": "plate_cn", "head": "colums"}, source="test")


def test_near_chance_uses_one_named_margin():
    from lib.studies import plates

    chance = 1 / len(plates.ALPHABET)
    assert plates.near_chance([[chance, chance + 0.02], [0.05]])
    assert not plates.near_chance([[0.05], [chance + plates.READS_MARGIN + 0.01]])
    assert plates.near_chance([[0.5]], chance=0.45) and not plates.near_chance([[0.6]], chance=0.45)


def test_report_steps_sweep_confusions_and_arms():
    import pandas as pd

    assert plates.all_arms(["scratch", "pretrained+noise:40"], [10.0, 40.0]) == [
        "scratch", "pretrained+noise:40", "pretrained+noise:10"]
    rows = pd.DataFrame([{"arm": a, "noise_std": n, "test_char_acc": acc, "seed": s,
                          "confused_pairs": [("8", "B", 2), ("0", "D", 1)]}
                         for a, n, acc in (("scratch", 0.0, 0.3), ("pretrained", 0.0, 0.2),
                                           ("pretrained+noise:10", 10.0, 0.25), ("pretrained+noise:40", 40.0, 0.1))
                         for s in (0, 1)])
    sweep = plates.noise_sweep_rows(rows)
    assert set(sweep.arm) == {"pretrained", "pretrained+noise:10", "pretrained+noise:40"}  # scratch has no sweep
    assert plates.noise_sweep_rows(rows[rows.arm != "pretrained+noise:10"]).empty  # one strength is no sweep
    top = plates.confusions(rows, top=1)
    assert len(top) == 4 and set(top["read as"]) == {"B"} and set(top["count (all seeds)"]) == {4}


@pytest.mark.parametrize("arms, sweep", [(["scratch", "scratch+noise", "pretrained", "pretrained+noise"], []),
                                         (["pretrained", "finetune", "two_stage", "pretrained_div255"], []),
                                         (["pretrained", "pretrained+noise"], [10.0, 100.0])])
def test_the_registry_owes_exactly_the_claims_a_plate_run_judges(arms, sweep):
    from lib import claims as C

    p = {"arms": arms, "noise_sweep": sweep, "noise_std": 40.0}
    planned = plates.all_arms(arms, sweep)
    acc = {a: [0.5, 0.5, 0.5] for a in planned}
    judged = [c.id for c in plates.judge_explanations(acc, 40.0, n_test=700, premises=[C.enough_seeds(3)],
                                                      planned=planned)]
    if all(a in planned for a in plates.FACTORIAL):
        judged += [c.id for c in plates.judge_hypotheses(acc, acc, n_test=700, margin=0.05,
                                                         premises=[C.enough_seeds(3)])]
    assert sorted(plates.claim_ids(p)) == sorted(judged) and judged


def test_an_arm_left_at_chance_beside_one_that_reads_is_a_finding():
    """H2 as the seed saw it: the frozen pretrained arms stagnate near chance while scratch reads
    plates. Only the best compared arm (on validation) must read plates; when none does, the
    comparison says nothing."""
    acc = {"scratch": [0.66, 0.67, 0.68], "scratch+noise": [0.60, 0.61, 0.62],
           "pretrained": [0.12, 0.12, 0.13], "pretrained+noise": [0.08, 0.09, 0.08]}
    got = _hyp(acc)
    names = [p["name"] for p in got["H2"].premises]
    assert got["H2"].verdict == "reproduced" and "scratch above chance" in names
    assert "pretrained above chance" not in names
    near = {a: [0.03, 0.031, 0.03] for a in acc}
    assert _hyp(near)["H2"].verdict == "not testable here"


def test_the_model_pool_tells_the_plate_heads_apart():
    """The compiled-model pool keys a graph by its head: the two plate heads (partials of one
    function) and the default classifier head must not share a key."""
    from functools import partial

    from lib import transfer

    keys = {transfer.head_key(partial(plates.plate_head, pool=p)) for p in plates.HEADS}
    assert len(keys) == len(plates.HEADS) and None not in keys
    assert transfer.head_key(plates.plate_head) == "plate_head" and transfer.head_key(None) is None


def test_the_negative_control_goes_through_the_frozen_arm_when_it_trained():
    import pandas as pd

    from lib.studies import plates

    assert plates.negative_control_arm([{"arm": "scratch"}, {"arm": "pretrained"}]) == "pretrained"
    assert plates.negative_control_arm(pd.DataFrame([{"arm": "scratch"}, {"arm": "finetune"}])) == "scratch"
    (neg,) = [c for c in plates.controls([0.03, 0.03], [0.6, 0.6], 2800, "pretrained") if "negative" in c.id]
    assert "frozen" in neg.hypothesis
