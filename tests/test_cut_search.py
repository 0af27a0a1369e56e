"""The cut search: candidate cuts and their refusals, cached block outputs, a tiny keras-tuner run."""

import numpy as np
import pytest

from lib import images, transfer
from lib.studies import cut_search
from lib import data as D


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """Block outputs of one fixed simple CNN base (its weights saved to a file, as source weights are)."""
    from lib import backbones
    weights = tmp_path_factory.mktemp("w") / "simple_cnn_32px.weights.h5"
    backbones.build_base("simple_cnn", 32).save_weights(weights)
    x, y, names = images.target_faces(60, 32, seed=0)
    task = D.split_task("faces", x, y, names, seed=0)
    with pytest.raises(ValueError, match="needs fixed weights"):
        cut_search.BlockFeatures("simple_cnn", 32, "none", task, ["block1_pool"])
    return cut_search.BlockFeatures("simple_cnn", 32, str(weights), task, cut_search.block_outputs("simple_cnn", 32))


def test_block_outputs_and_refusals():
    assert cut_search.block_outputs("inceptionv3", 75) == [f"mixed{i}" for i in range(11)]
    assert cut_search.block_outputs("vgg16", 32, ["block5_pool", "block2_pool"]) == ["block2_pool", "block5_pool"]
    with pytest.raises(ValueError, match="did you mean 'mixed5'"):
        cut_search.block_outputs("inceptionv3", 75, ["mixed_5"])
    blocks = ["mixed0", "mixed1", "mixed2"]
    assert cut_search.unfreeze_from(blocks, "mixed2", 0) is None
    assert cut_search.unfreeze_from(blocks, "mixed2", 1) == "mixed1"
    with pytest.raises(ValueError, match="only 0 clean block"):
        cut_search.unfreeze_from(blocks, "mixed0", 1)


def test_block_features_are_the_prefix_outputs(features):
    model, parts = transfer.build_image_classifier("simple_cnn", 32, 2, policy="cut_unfreeze", cut_at="block3_pool",
                                                   unfreeze_from="block2_pool", weights=features.weights)
    prefix, _ = transfer.split_frozen_prefix(parts)
    np.testing.assert_allclose(features["block2_pool"].x_val, prefix.predict(features.task.x_val, verbose=0),
                               rtol=1e-5, atol=1e-5)
    assert features.shapes() == {"block1_pool": (16, 16, 32), "block2_pool": (8, 8, 64), "block3_pool": (4, 4, 128)}


def test_cut_model_on_cached_blocks_equals_the_pixel_model(features):
    """What train_cut returns, applied to pixels, gives the predictions its training saw on the
    cached block outputs (same weights, same source base)."""
    model, parts = cut_search.build_cut(features, "block3_pool", 1, seed=0)
    hist = cut_search.fit_cut(features, parts, 1e-3, head_learning_rate=1e-3, head_epochs=1, epochs=1, batch_size=16, seed=0)
    assert hist["val_epoch"] == [1, 2] and len(hist["accuracy"]) == 2
    _, suffix = transfer.split_frozen_prefix(parts)
    np.testing.assert_allclose(model.predict(features.task.x_val, verbose=0),
                               suffix.predict(features["block2_pool"].x_val, verbose=0), rtol=1e-4, atol=1e-5)


def test_tiny_search_logs_every_trial(features, tmp_path):
    hm = cut_search.CutHyperModel(features, max_unfreeze=1, lr_range=(1e-4, 1e-2), head_learning_rate=1e-3,
                                  head_epochs=1, epochs=1, batch_size=16, seed=0)
    tuner = cut_search.make_tuner(hm, oracle="random", max_trials=2, seed=0, directory=str(tmp_path))
    tuner.search(verbose=0)
    table = cut_search.trials_table(hm.log)
    assert len(table) == 2 and set(table.cut_at) <= set(features.blocks)
    assert (table.val_acc.diff().dropna() <= 0).all()  # best first
    from_oracle = cut_search.trials_table(hm.log, tuner.oracle, features.blocks)  # what a distributed chief sees
    assert from_oracle.val_acc.tolist() == table.val_acc.tolist()
    assert from_oracle.wall_s.notna().all()  # this process ran every trial: its columns are joined
    assert len(cut_search.trials_table([], tuner.oracle, features.blocks)) == 2
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == pytest.approx(table.val_acc.iloc[0])
    assert all(0 <= k <= features.blocks.index(c) for c, k in zip(table.cut_at, table.unfreeze_blocks))
    with pytest.raises(ValueError, match="oracle must be one of"):
        cut_search.make_tuner(hm, oracle="grid", max_trials=1, seed=0, directory=str(tmp_path))


def test_the_same_seed_gives_the_same_search_seed_zero_included(features, tmp_path):
    """keras-tuner replaces seed 0 by a random one; the study's default seed is 0: two searches with it
    must propose the same configurations (no training needed: the oracle's proposals are compared)."""
    hm = cut_search.CutHyperModel(features, max_unfreeze=1, lr_range=(1e-5, 1e-3), head_learning_rate=1e-3,
                                  head_epochs=1, epochs=1, batch_size=16, seed=0)

    def proposals(seed, name):
        tuner = cut_search.make_tuner(hm, oracle="bayesian", max_trials=3, seed=seed, directory=str(tmp_path),
                                      project_name=name)
        return [tuner.oracle.create_trial(f"t{i}").hyperparameters.values for i in range(3)]

    assert proposals(0, "a") == proposals(0, "b")
    assert proposals(0, "c") != proposals(1, "d")


def test_claims_gate_on_controls_and_name_the_skipped_premise():
    from lib import claims as C
    from lib.studies.cut_search import claims

    ref, near = ("mixed5", 1, 1e-4), ("mixed5", 2, 1e-3)
    acc = {"search": [0.9, 0.91, 0.92], "blog": [0.88, 0.9, 0.9]}
    got = {c.id: c for c in claims(acc, ref, near, n_test=2000, majority=0.5, n_seeds=3, negative=[0.5, 0.49, 0.52])}
    assert got["seed002.cut_search.agrees"].verdict == C.REPRODUCED
    assert got["seed002.cut_search.agrees"].p_value < 0.05 and "also cut at mixed5" in got["seed002.cut_search.agrees"].evidence
    # another cut that scores the same is no finding against the blog: the margin decides, not the cut's name
    same = claims(acc, ref, ("mixed7", 0, 1e-3), n_test=2000, majority=0.5, n_seeds=3)[-1]
    assert same.verdict == C.REPRODUCED and "cut at mixed7" in same.evidence
    # at 300 test images the design cannot resolve a 0.05 margin: not testable, not "reproduced"
    small = claims(acc, ref, near, n_test=300, majority=0.5, n_seeds=3)[-1]
    assert small.verdict == C.NOT_TESTABLE and "resolves the margin" in small.reason
    assert got["seed002.cut_search.control.positive"].verdict == C.REPRODUCED
    assert got["seed002.cut_search.control.negative"].verdict == C.REPRODUCED
    bad = {c.id: c for c in claims(acc, ref, near, n_test=2000, majority=0.5, n_seeds=3, negative=[0.9, 0.9, 0.9])}
    assert bad["seed002.cut_search.agrees"].verdict == C.NOT_TESTABLE  # a failed control gates the claim
    elsewhere = claims({"search": [0.95] * 3, "blog": [0.7, 0.72, 0.71]}, ref, ("mixed2", 0, 1e-3), n_test=300,
                       majority=0.5, n_seeds=3)
    assert elsewhere[-1].verdict == C.NOT_REPRODUCED
    src = C.Premise("source weights learned", False, detail="0.05 against 0.05")
    (skipped,) = claims(None, ref, None, n_test=300, majority=0.5, n_seeds=3, source=src)
    assert skipped.verdict == C.NOT_TESTABLE and "source weights learned: FAILED" in skipped.reason


def test_the_claim_pairs_its_test_term_over_the_images_both_configurations_share():
    """Two configurations that get the same images right differ only where they disagree: the paired
    test-set term (McNemar-style) is far narrower than two independent binomials on 300 images, so a
    design the unpaired term cannot resolve becomes testable, and the method says which was used."""
    from lib import claims as C
    from lib.studies.cut_search import claims, outcomes
    import pandas as pd

    rng = np.random.default_rng(0)
    ref, pick = ("mixed5", 1, 1e-4), ("mixed7", 0, 1e-3)
    base = rng.random(300) < 0.85
    rows = pd.DataFrame([{"configuration": who, "seed": s, "test_acc": float(c.mean()), "test_correct": c}
                         for who in ("search", "blog") for s in (0, 1, 2)
                         for c in [base.copy() if who == "blog" else np.where(np.arange(300) == s, ~base, base)]])
    acc = {w: g.sort_values("seed").test_acc.tolist() for w, g in rows.groupby("configuration")}
    unpaired = claims(acc, ref, pick, n_test=300, majority=0.5, n_seeds=3)[-1]
    paired = claims(acc, ref, pick, n_test=300, majority=0.5, n_seeds=3, correct=outcomes(rows))[-1]
    assert unpaired.verdict == C.NOT_TESTABLE and "unpaired" in unpaired.interval["method"]
    assert paired.verdict == C.REPRODUCED and "(paired)" in paired.interval["method"]
    assert paired.interval["high"] - paired.interval["low"] < (unpaired.interval["high"] - unpaired.interval["low"]) / 3
    assert outcomes(rows.drop(columns="test_correct")) is None
