"""mAP@0.5 under image weights (lib/detection_map.py) against the reference COCO evaluator."""

import numpy as np
import pytest

from lib import detection_map as M


def _scene(rng, n_classes, max_boxes=3):
    k = rng.integers(0, max_boxes + 1)
    xy = rng.uniform(0, 50, (k, 2))
    wh = rng.uniform(6, 20, (k, 2))
    return np.column_stack([xy, xy + wh, rng.integers(0, n_classes, k)])


def _detections(rng, gt, n_classes, noise=4.0, extra=2):
    boxes = [g[:4] + rng.normal(0, noise, 4) for g in gt]
    classes = [int(g[4]) if rng.random() < 0.8 else int(rng.integers(0, n_classes)) for g in gt]
    for _ in range(rng.integers(0, extra + 1)):
        xy = rng.uniform(0, 50, 2)
        boxes.append(np.concatenate([xy, xy + rng.uniform(6, 20, 2)]))
        classes.append(int(rng.integers(0, n_classes)))
    scores = rng.uniform(0.05, 1.0, len(boxes)).round(2)  # rounded: ties between images, as in real runs
    return {"boxes": np.array(boxes).reshape(-1, 4), "scores": scores, "classes": np.array(classes, dtype="int64")}


@pytest.mark.parametrize("seed", range(6))
def test_unit_weights_give_cocoevals_map50(seed):
    from lib.detector import coco_map

    rng = np.random.default_rng(seed)
    n_classes = 3
    truth = [_scene(rng, n_classes) for _ in range(25)]
    truth[0] = np.array([[5, 5, 20, 20, 0]], float)  # at least one box
    found = [_detections(rng, g, n_classes) for g in truth]
    table = M.match_table(truth, found, n_classes)
    assert M.weighted_map50(table, np.ones(len(truth)))[0] == pytest.approx(coco_map(truth, found, n_classes)["map50"],
                                                                            abs=1e-9)
    # integer weights are the images repeated: the same as the evaluator on the repeated scenes
    w = rng.integers(0, 3, len(truth))
    w[0] = max(w[0], 1)
    rep = [i for i in range(len(truth)) for _ in range(w[i])]
    assert M.weighted_map50(table, w)[0] == pytest.approx(
        coco_map([truth[i] for i in rep], [found[i] for i in rep], n_classes)["map50"], abs=1e-9)


def test_the_paired_test_term_is_zero_for_one_arm_against_itself_and_grows_with_disagreement():
    rng = np.random.default_rng(0)
    truth = [_scene(rng, 2) for _ in range(60)]
    truth[0] = np.array([[5, 5, 20, 20, 0]], float)
    good = [M.match_table(truth, [_detections(np.random.default_rng(s * 100 + i), g, 2, noise=1.0) for i, g in
                                  enumerate(truth)], 2) for s in range(3)]
    bad = [M.match_table(truth, [_detections(np.random.default_rng(s * 100 + i + 7), g, 2, noise=6.0) for i, g in
                                 enumerate(truth)], 2) for s in range(3)]
    assert M.map50_test_var(good, good) == 1 / 60 ** 2  # no disagreement: one image's worth, never zero
    assert M.map50_test_var(good, bad, n_boot=300) > 1 / 60 ** 2
    nothing = [M.match_table(truth, [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "classes": np.zeros(0, int)}]
                             * 60, 2)] * 3
    assert M.map50_test_var(nothing, None) == 1 / 60 ** 2  # mAP 0 in every draw: still a width
    with pytest.raises(ValueError, match="one table per seed"):
        M.map50_test_var(good, bad[:2])
    with pytest.raises(ValueError, match="same test images"):
        M.map50_test_var(good, [M.match_table(truth[:10], [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0),
                                                            "classes": np.zeros(0, int)}] * 10, 2)] * 3)


def test_no_detections_and_no_truth_score_zero():
    truth = [np.array([[5, 5, 20, 20, 0]], float), np.zeros((0, 5))]
    none = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "classes": np.zeros(0, int)}] * 2
    table = M.match_table(truth, none, 1)
    assert M.weighted_map50(table, np.ones(2))[0] == 0.0
    assert M.weighted_map50(table, np.array([0.0, 2.0]))[0] == 0.0  # no ground truth drawn at all
