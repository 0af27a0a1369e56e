"""The traffic-sign generator (country styles, shift, scenes), the country-folder loader, and the
transfer pieces the sign study adds (surgical policy, starting from a whole classifier)."""

import numpy as np
import pytest
from PIL import Image

from lib.studies import signs


def test_classes_are_43_distinct_drawings_and_cover_every_family_early():
    assert signs.MAX_CLASSES == 43
    drawings = {(family, pict) for _, family, pict in signs.CLASSES}
    assert len(drawings) == 43  # no two classes drawn alike
    families = {family for _, family, _ in signs.CLASSES[:7]}
    assert families == set(signs.FAMILY_SHAPE)


def test_shift_zero_is_country_a_exactly_and_shift_one_differs():
    a, ya, _ = signs.make_signs(3, 32, country="A", n_classes=6, seed=5)
    b0, yb, _ = signs.make_signs(3, 32, country="B", shift=0.0, n_classes=6, seed=5)
    b1, _, _ = signs.make_signs(3, 32, country="B", shift=1.0, n_classes=6, seed=5)
    np.testing.assert_array_equal(a, b0)
    np.testing.assert_array_equal(ya, yb)
    assert np.abs(a.astype(int) - b1.astype(int)).mean() > 5


def test_shift_moves_colour_statistics_monotonically():
    # country B fills warning triangles yellow: the blue channel of warning signs falls with shift
    x, y, names = signs.make_signs(20, 32, country="B", shift=0.0, n_classes=2, seed=0)
    warn = [names.index(n) for n, f, _ in signs.CLASSES[:2] if f == "warning"][0]
    blue = []
    for shift in (0.0, 0.5, 1.0):
        x, y, _ = signs.make_signs(20, 32, country="B", shift=shift, n_classes=2, seed=0)
        centre = x[y == warn][:, 14:20, 12:20].astype(float)
        blue.append(centre[..., 2].mean() - centre[..., 0].mean())
    assert blue[0] > blue[1] > blue[2]


def test_sizes_are_nested_balanced_and_deterministic():
    x4, y4, names = signs.make_signs(4, 32, country="C", n_classes=5, seed=1)
    x2, y2, _ = signs.make_signs(2, 32, country="C", n_classes=5, seed=1)
    assert x4.shape == (20, 32, 32, 3) and x4.dtype == np.uint8 and np.bincount(y4).tolist() == [4] * 5
    assert names == signs.CLASS_NAMES[:5]
    sub_x, sub_y = signs.take_per_class(x4, y4, 2)
    for c in range(5):  # the first 2 of each class are the same images, whatever n_per_class
        np.testing.assert_array_equal(sub_x[sub_y == c], x2[y2 == c])
    again, _, _ = signs.make_signs(4, 32, country="C", n_classes=5, seed=1)
    np.testing.assert_array_equal(x4, again)


@pytest.mark.parametrize("bad, message", [
    (dict(country="D"), "unknown country"), (dict(n_classes=44), "2..43"), (dict(shift=-0.1), "shift"),
])
def test_bad_generator_arguments_are_refused(bad, message):
    kwargs = dict(n_per_class=1, size=32) | bad
    with pytest.raises(ValueError, match=message):
        signs.make_signs(**kwargs)


def test_scene_boxes_hold_their_signs():
    img, boxes = signs.make_scene(128, 3, country="B", seed=4)
    assert img.shape == (128, 128, 3) and boxes.shape == (3, 5)
    assert (boxes[:, :4] >= 0).all() and (boxes[:, :4] <= 128).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    bg, _ = signs.make_scene(128, 0, country="B", seed=4)  # the same scene's background, no signs
    for x0, y0, x1, y1, _cls in boxes.astype(int):
        inside = np.abs(img[y0:y1, x0:x1].astype(int) - bg[y0:y1, x0:x1].astype(int)).mean()
        assert inside > 10  # a sign was painted inside its box


def _folder(root, country, classes, n=2):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / country / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(root / country / c / f"{i}.png")


def test_country_folders_load_and_mismatches_are_named(tmp_path):
    _folder(tmp_path, "belgium", ["stop", "yield"])
    _folder(tmp_path, "germany", ["stop", "yield"])
    data = signs.load_country_folders(tmp_path, ["belgium", "germany"], 32)
    x, y, names = data["germany"]
    assert x.shape == (4, 32, 32, 3) and names == ["stop", "yield"]
    with pytest.raises(FileNotFoundError, match="austria"):
        signs.load_country_folders(tmp_path, ["belgium", "austria"], 32)
    _folder(tmp_path, "spain", ["stop", "give_way"])
    with pytest.raises(ValueError, match="only in belgium: \\['yield'\\]; only in spain: \\['give_way'\\]"):
        signs.load_country_folders(tmp_path, ["belgium", "spain"], 32)


def test_surgical_policy_trains_one_block_and_the_head():
    from lib import backbones, models, transfer

    model, parts = transfer.build_image_classifier(image_size=32, n_classes=4,
                                                    **transfer.parse_arm("vgg16:surgical:block3"))
    bb = backbones.get("vgg16")
    trainable_blocks = {bb.block_of(l.name) for l in parts.base.layers if l.trainable and l.weights}
    assert trainable_blocks == {"block3"}
    block3 = sum(int(np.prod(w.shape)) for l in parts.base.layers if bb.block_of(l.name) == "block3"
                 for w in l.weights)
    head = sum(int(np.prod(w.shape)) for w in parts.head.weights)
    assert models.parameter_counts(model)["trainable"] == block3 + head
    with pytest.raises(ValueError, match="did you mean 'block3'"):
        transfer.build_image_classifier("vgg16", 32, 4, policy="surgical", block="blok3")


def test_an_arm_can_start_from_a_whole_classifier(tmp_path):
    """``init_weights`` loads base and head: a frozen arm trained 0 epochs... is the source model."""
    from lib import data as D, train, transfer

    x, y, names = signs.make_signs(6, 32, n_classes=3, seed=0)
    task = D.split_task("signs", x, y, names, seed=0)
    src, _ = transfer.build_image_classifier("simple_cnn", 32, 3, policy="scratch")
    train.fit(src, task, epochs=1, batch_size=8)
    path = tmp_path / "src.weights.h5"
    src.save_weights(path)
    for policy in ("frozen", "finetune", "surgical:block2"):
        model, _ = transfer.build_image_classifier(image_size=32, n_classes=3,
                                                   **transfer.parse_arm(f"simple_cnn:{policy}"))
        model.load_weights(path)
        np.testing.assert_allclose(model.predict(task.x_test, verbose=0), src.predict(task.x_test, verbose=0),
                                   rtol=1e-5, atol=1e-6)
    row, hist, _ = transfer.run_image_arm("simple_cnn:frozen", task, 32, weights="none", epochs=2, batch_size=8,
                                          learning_rate=1e-3, finetune_learning_rate=1e-4, head_epochs=1, seed=0,
                                          init_weights=str(path), validation_freq=2)
    assert hist["val_epoch"] == [2] and len(hist["val_accuracy"]) == 1 and row["best_epoch"] == 2


def test_any_country_can_be_the_reference():
    c, _, _ = signs.make_signs(2, 32, country="C", n_classes=4, seed=2)
    b0, _, _ = signs.make_signs(2, 32, country="B", shift=0.0, reference="C", n_classes=4, seed=2)
    np.testing.assert_array_equal(c, b0)


class _StubRuns:
    """Stands in for SignRuns: a target run's accuracies come from a table; calls are counted."""

    def __init__(self, test, val):
        self.test, self.val, self.calls = test, val, []

    def target(self, name, task, seed, size, shift):
        self.calls.append((name, size, shift))
        return {"arm": name, "seed": seed, "size": size, "shift": shift, "test_acc_B": self.test[name],
                "best_val_acc": self.val[name]}, None


def test_surgical_sweep_picks_its_block_on_validation_and_reuses_runs():
    import pandas as pd

    test = {"surgical:block1": 0.9, "surgical:block2": 0.5, "frozen": 0.4, "finetune": 0.6}
    val = {"surgical:block1": 0.3, "surgical:block2": 0.8, "frozen": 0.4, "finetune": 0.6}
    runs = _StubRuns(test, val)
    done = pd.DataFrame([{"arm": "finetune", "seed": s, "size": 2, "shift": 1.0, "test_acc_B": 0.6,
                          "best_val_acc": 0.6} for s in (0, 1)])
    tgt = signs.built_in_task("B", 1.0, 2, "B", image_size=16, n_classes=2, val_per_class=1, test_per_class=1,
                              data_seed=0, reference="A")
    p = {"surgical_size": 2, "shift": 1.0}
    out, summary = signs.surgical_sweep(runs, tgt, done, p, ["block1", "block2"], [0, 1], n_test=100)
    assert summary["best_block"] == "block2"  # best on validation, though block1 is better on test
    assert summary["best_block_acc"] == 0.5 and summary["finetune_acc"] == 0.6
    assert ("finetune", 2, 1.0) not in runs.calls and len(runs.calls) == 6  # finetune reused, 3 arms x 2 seeds run
    assert set(out.trained) == {"block1", "block2", "head only", "all layers"}


def _sign_rows(acc: dict[str, list[float]], reach: dict[str, list[float | None]]):
    import pandas as pd

    return pd.DataFrame([{"size": 5, "arm": a, "seed": s, "test_acc_B": v, "val_acc": v,
                          "epochs_to_target": reach[a][s], "epochs": 20, "wall_s": {"frozen": 3.0}.get(a, 9.0)}
                         for a, vals in acc.items() for s, v in enumerate(vals)])


def test_seed_001_claims_follow_the_evidence_and_say_their_data():
    import pandas as pd

    from lib import claims as C

    rows = _sign_rows({"scratch": [0.40, 0.42, 0.41], "finetune": [0.80, 0.82, 0.81], "frozen": [0.41, 0.40, 0.42]},
                      {"scratch": [None, None, None], "finetune": [3, 4, 3], "frozen": [None, None, None]})
    src = pd.DataFrame([{"init": i, "seed": s, "test_acc_A": v, "val_acc": v}
                        for i, vals in (("scratch", [0.9, 0.91, 0.9]), ("coco", [0.9, 0.9, 0.91])) for s, v in enumerate(vals)])
    kw = dict(arms=["scratch", "finetune", "frozen"], comparator="finetune", sizes=[5], n_classes=4, batch_size=8,
              n_seeds=3, target_accuracy=0.7, margin=0.05, n_val=12000, n_test=12000, source_inits=["scratch", "coco"],
              source_premise=None, src_n_val=12000, src_n_test=12000)
    out = {c.id: c for c in signs.claims(rows, src, **kw)}
    assert out["seed001.finetune.no_better_than.scratch"].verdict == C.NOT_REPRODUCED  # +0.40: an advantage
    assert out["seed001.frozen.no_better_than.scratch"].verdict == C.REPRODUCED  # equal within 0.05 on 12,000 (t on 2 df)
    assert out["seed001.scratch.faster.finetune"].verdict == C.NOT_REPRODUCED  # scratch never reached it
    assert "0 of 3" in out["seed001.scratch.faster.finetune"].evidence
    assert out["seed001.freezing.no_speedup"].verdict == C.NOT_TESTABLE  # a different system: premise failed
    # the answer's "from scratch leads to better results, but it is much costly", at the largest size, cost beside
    better = out["seed001.scratch.beats.finetune"]
    assert better.verdict == C.NOT_REPRODUCED and "scratch 9.0 s, finetune 9.0 s" in better.seed_reported
    assert better.quote.startswith("In my experience learning from scratch")
    assert {c.data for c in out.values()} == {"stand-in"}
    # the registry's claim ids (what the summary leaves open when missing) are exactly those judged
    p = {"arms": kw["arms"], "comparator_arm": "finetune", "source_inits": kw["source_inits"]}
    assert sorted(signs.claim_ids(p)) == sorted(out)
    assert {c.data for c in signs.claims(rows, src, **kw, data="user")} == {"user"}


def test_the_literatures_methods_are_judged_against_fine_tuning_at_the_fewest_examples():
    """A method arm (discriminative, l2sp, bss) "beats finetune"; LoRA "reaches" it (fine-tuning no
    better than LoRA by the margin); ids as the registry lists them, each with its paper's paraphrase."""
    from lib import claims as C
    from lib.quotes import METHOD_QUOTES

    arms = ["finetune", "l2sp:0.01", "discriminative:100", "lora:4"]
    rows = _sign_rows({"finetune": [0.60, 0.61, 0.60], "l2sp:0.01": [0.70, 0.71, 0.70],
                       "discriminative:100": [0.50, 0.50, 0.51], "lora:4": [0.60, 0.61, 0.61]},
                      {a: [3, 3, 3] for a in arms})
    kw = dict(arms=arms, comparator="finetune", sizes=[5], n_classes=4, batch_size=8, n_seeds=3, target_accuracy=0.7,
              margin=0.05, n_val=12000, n_test=12000, source_inits=["scratch"], source_premise=None, src_n_val=12000,
              src_n_test=12000)
    out = {c.id: c for c in signs.claims(rows, None, **kw)}
    assert out["literature.l2sp:0.01.beats.finetune"].verdict == C.REPRODUCED
    assert out["literature.discriminative:100.beats.finetune"].verdict == C.NOT_REPRODUCED  # significantly worse
    assert out["literature.finetune.no_better_than.lora:4"].verdict == C.REPRODUCED  # within 0.05 on 12,000
    assert out["literature.l2sp:0.01.beats.finetune"].quote == METHOD_QUOTES["l2sp"]
    assert out["literature.finetune.no_better_than.lora:4"].said_by == "literature"
    p = {"arms": arms, "comparator_arm": "finetune", "source_inits": ["scratch"]}
    assert sorted(signs.claim_ids(p)) == sorted(out)
    assert signs.arm_spec("l2sp:0.01", "simple_cnn", 1e-3) == ("simple_cnn:l2sp:0.01@0.001", True)


def test_the_positive_control_pairs_the_test_signs_both_arms_answered():
    """At shift 0 fine-tuning must beat scratch; with per-sign outcomes the test-set term is paired
    (both arms answer the same signs), which narrows the interval when the arms agree on most signs."""
    import pandas as pd

    from lib import claims as C

    rng = np.random.default_rng(0)
    # 4,000 test signs: with 3 seeds the interval's t has 2 df (lib.intervals.seed_df)
    scratch = [rng.random(4000) < 0.45 for _ in range(3)]
    tuned = [s | (rng.random(4000) < 0.06) for s in scratch]  # right wherever scratch is, and on a few more
    rows = pd.DataFrame([{"shift": 0.0, "arm": a, "seed": i, "test_acc_B": c.mean(), "correct_B": c}
                         for a, cs in (("scratch", scratch), ("finetune", tuned)) for i, c in enumerate(cs)])
    paired = signs.controls(rows, ["scratch", "finetune"], "finetune", 4000, 4)[0]
    unpaired = signs.controls(rows.drop(columns="correct_B"), ["scratch", "finetune"], "finetune", 4000, 4)[0]
    assert "(paired)" in paired.evidence and "unpaired" in unpaired.evidence
    assert paired.verdict == C.REPRODUCED and paired.p_value < unpaired.p_value


def test_the_conclusions_speak_of_scratch_catching_up_only_when_scratch_ran():
    rows = _sign_rows({"scratch": [0.40, 0.42, 0.41], "finetune": [0.80, 0.82, 0.81]}, {"scratch": [None] * 3,
                                                                                       "finetune": [3] * 3})
    p = {"target_sizes": [5], "margin": 0.05, "comparator_arm": "finetune", "target_country": "B"}
    with_scratch = signs.conclusion_lines(rows, {**p, "arms": ["scratch", "finetune"]}, [], {})
    assert any("From scratch is not shown to be within 0.05" in line for line in with_scratch)
    methods = signs.conclusion_lines(rows[rows.arm == "finetune"], {**p, "arms": ["finetune"]}, [], {})
    assert not any("From scratch" in line for line in methods) and "best arm on validation **finetune**" in methods[0]
