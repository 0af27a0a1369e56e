"""The SSD detector's parts: default boxes, matching, the box-encoding round trip, the multibox loss,
NMS decoding and the COCO evaluator on hand-made boxes whose mAP is known."""

import math

import keras
import numpy as np
import pytest

from lib import detector as D
from lib.datasets import signs as S

GRID = D.AnchorGrid(64, ((8, (10.0, 14.0)), (4, (20.0,))))


def test_anchor_grid_order_and_count():
    a = GRID.boxes()
    assert a.shape == (8 * 8 * 2 + 4 * 4, 4) == (len(GRID), 4)
    # first cell, both sizes, centred at (4, 4); then the next cell to the right
    np.testing.assert_allclose(a[0], [-1, -1, 9, 9])
    np.testing.assert_allclose(a[1], [-3, -3, 11, 11])
    np.testing.assert_allclose(a[2], [7, -1, 17, 9])
    np.testing.assert_allclose(a[-1], [46, 46, 66, 66])  # last coarse cell, centre 56


def test_feature_maps_follow_vgg16_pools():
    assert D.feature_map_sizes(64, "block3_conv3", 1) == [16, 8]
    assert D.feature_map_sizes(64, "block3_pool", 2) == [8, 4, 2]
    assert D.feature_map_sizes(300, "block4_conv3", 3) == [37, 19, 10, 5]
    with pytest.raises(ValueError, match="one list of sizes per feature map"):
        D.default_anchor_grid(64, "block3_conv3", 1, [[10]])
    with pytest.raises(ValueError, match="not a VGG16 layer the detector can stand on; did you mean .block3_conv3."):
        D.check_cut("block3conv3")


def test_match_gives_every_box_its_best_anchor_and_ignores_the_middle():
    anchors = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [5, 0, 15, 10], [30, 30, 40, 40]], "float32")
    boxes = np.array([[0, 0, 10, 10], [31, 31, 39, 39.5]], "float32")
    idx = D.match(anchors, boxes, pos_iou=0.5, neg_iou=0.4)
    # IoU with box 0: 1.0, 8/12 = 0.667, 5/15 = 0.333; box 1 overlaps anchor 3 at 68/100 only
    assert idx.tolist() == [0, 0, -1, 1]
    idx = D.match(anchors, boxes, pos_iou=0.7, neg_iou=0.3)
    assert idx.tolist() == [0, -2, -2, 1]  # 0.667 and 0.333 between the thresholds; box 1 forced to its best


def test_encode_decode_round_trip():
    anchors = GRID.boxes()
    boxes = np.array([[5, 6, 17, 19, 2], [30, 28, 52, 49, 0]], "float32")
    y = D.encode(anchors, boxes)
    assert y.shape == (len(anchors), 5)
    pos = y[:, 0] > 0
    assert pos.sum() >= 2 and set(y[pos, 0].astype(int)) == {1, 3}  # class + 1
    decoded = D.decode(anchors, y[:, 1:])
    idx = D.match(anchors, boxes[:, :4])
    np.testing.assert_allclose(decoded[pos], boxes[idx[pos], :4], atol=1e-3)
    assert np.all(y[~pos, 1:] == 0)
    empty = D.encode(anchors, np.zeros((0, 5)))
    assert np.all(empty[:, 0] == 0) and np.all(empty[:, 1:] == 0)


def test_multibox_loss_by_hand():
    # one image, four anchors: anchor 0 positive (class 1), anchors 1-3 background, ratio 1: only the
    # hardest negative (anchor 2) counts; anchor 0's offsets are off by 0.5 (smooth L1 0.125) and 2.0 (1.5)
    y_true = np.array([[[1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [-1, 0, 0, 0, 0]]], "float32")
    logits = np.array([[0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [0.0, 5.0]], "float32")
    offsets = np.array([[0.5, 2.0, 0, 0], [9, 9, 9, 9], [9, 9, 9, 9], [9, 9, 9, 9]], "float32")
    y_pred = np.concatenate([offsets, logits], -1)[None]
    loss = float(D.MultiboxLoss(neg_pos_ratio=1.0, alpha=1.0)(y_true, y_pred))

    def ce(z, k):
        return -(z[k] - math.log(np.exp(z).sum()))

    expected = ce(logits[0], 1) + ce(logits[2], 0) + 0.125 + 1.5  # over one positive
    assert loss == pytest.approx(expected, rel=1e-5)
    # a batch of two copies: the sum over images divided by the batch's positives is the same value
    loss2 = float(D.MultiboxLoss(neg_pos_ratio=1.0)(np.repeat(y_true, 2, 0), np.repeat(y_pred, 2, 0)))
    assert loss2 == pytest.approx(expected, rel=1e-5)


def _constant_detector(y: np.ndarray, n_classes: int) -> D.Detector:
    """A detector whose model always outputs the given encoded targets as confident predictions."""
    logits = np.where(np.arange(n_classes + 1)[None] == y[:, :1], 12.0, 0.0).astype("float32")
    logits[y[:, 0] < 0, 0] = 12.0
    out = np.concatenate([y[:, 1:], logits], -1)[None]
    inputs = keras.Input((64, 64, 3))
    const = keras.layers.Lambda(lambda t: keras.ops.zeros_like(t[:, :1, :1, 0]) + keras.ops.convert_to_tensor(out))(inputs)
    return D.Detector(keras.Model(inputs, const), None, GRID.boxes(), GRID, n_classes)


def test_detect_recovers_encoded_boxes_through_nms():
    boxes = np.array([[5, 6, 17, 19, 2], [30, 28, 52, 49, 0]], "float32")
    det = _constant_detector(D.encode(GRID.boxes(), boxes), n_classes=3)
    found = D.detect(det, np.zeros((2, 64, 64, 3), "uint8"))
    assert len(found) == 2
    order = np.argsort(found[0]["classes"])
    assert found[0]["classes"][order].tolist() == [0, 2]  # NMS keeps one box per sign
    np.testing.assert_allclose(found[0]["boxes"][order], boxes[[1, 0], :4], atol=0.05)
    assert D.coco_map([boxes, boxes], found, 3) == pytest.approx({"map": 1.0, "map50": 1.0})


def _dets(rows):
    rows = np.asarray(rows, "float32").reshape(-1, 6)
    return {"boxes": rows[:, :4], "scores": rows[:, 4], "classes": rows[:, 5].astype("int64")}


def test_coco_map_on_known_cases():
    truth = [np.array([[0, 0, 20, 20, 0], [40, 40, 60, 60, 1]], "float32")]
    perfect = [_dets([[0, 0, 20, 20, 0.9, 0], [40, 40, 60, 60, 0.8, 1]])]
    assert D.coco_map(truth, perfect, 2) == pytest.approx({"map": 1.0, "map50": 1.0})
    wrong_class = [_dets([[0, 0, 20, 20, 0.9, 1], [40, 40, 60, 60, 0.8, 0]])]
    assert D.coco_map(truth, wrong_class, 2) == pytest.approx({"map": 0.0, "map50": 0.0})
    # a box of IoU 0.72 (width 20 vs 14.4 inside): a hit at thresholds .50-.70, a miss at .75-.95
    loose = [_dets([[0, 0, 20, 14.4, 0.9, 0], [40, 40, 60, 60, 0.8, 1]])]
    m = D.coco_map(truth, loose, 2)
    assert m["map50"] == pytest.approx(1.0) and m["map"] == pytest.approx((0.5 + 1.0) / 2)
    # two images of class 0, one found: recall 0.5 at precision 1 -> 51 of COCO's 101 recall points
    truth2 = [np.array([[0, 0, 20, 20, 0]], "float32"), np.array([[10, 10, 30, 30, 0]], "float32")]
    half = [_dets([[0, 0, 20, 20, 0.9, 0]]), _dets([])]
    assert D.coco_map(truth2, half, 1)["map50"] == pytest.approx(51 / 101, abs=1e-6)
    assert D.coco_map(truth2, [_dets([]), _dets([])], 1) == {"map50": 0.0, "map": 0.0}


def test_built_in_scenes_are_deterministic_and_nested():
    x, b = S.make_scenes(4, 64, country="A", seed=3)
    x2, b2 = S.make_scenes(6, 64, country="A", seed=3)
    np.testing.assert_array_equal(x, x2[:4])
    assert all(np.array_equal(p, q) for p, q in zip(b, b2))
    xb, bb = S.make_scenes(4, 64, country="B", shift=0.0, seed=3)
    np.testing.assert_array_equal(x, xb)
    assert all(1 <= len(q) <= 3 and q.shape[1] == 5 for q in b)
    assert all((q[:, :4] >= 0).all() and (q[:, :4] <= 64).all() for q in b)


def test_fit_detector_validates_with_one_forward_pass_and_keras_values():
    """val_loss and val_map50 come from one prediction of the validation scenes per epoch: the loss is
    Keras' own evaluate, the mAP@0.5 COCO's, at the epoch whose weights early stopping restored."""
    x, boxes = S.make_scenes(12, 64, n_classes=2, seed=0)
    det = D.build_detector(64, 2, cut="block3_conv3", anchor_sizes=[[10, 14], [19, 26]], seed=0)
    hist = D.fit_detector(det, (x[:8], boxes[:8]), (x[8:], boxes[8:]), epochs=2, batch_size=4, learning_rate=1e-3,
                          patience=5, seed=0)
    assert len(hist["val_loss"]) == len(hist["val_map50"]) == 2 and hist["img_per_s"][0] > 0
    best = int(hist["best_epoch"][0]) - 1  # restore_best_weights: the model holds this epoch's weights
    keras_loss = det.model.evaluate(x[8:], D.encode_all(det.anchors, boxes[8:]), batch_size=256, verbose=0)
    assert hist["val_loss"][best] == pytest.approx(float(np.atleast_1d(keras_loss)[0]), rel=1e-4)
    found = D.detect(det, x[8:])
    assert hist["val_map50"][best] == pytest.approx(D.coco_map(boxes[8:], found, 2)["map50"], abs=1e-9)


def test_combined_nms_selects_what_tensorflows_does():
    """The NumPy NMS (backend-neutral) against tf.image.combined_non_max_suppression on random images:
    crowded boxes, some corners swapped or outside [0, 1], three classes; same boxes, scores, classes."""
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    for trial in range(20):
        n, c = int(rng.integers(1, 60)), 3
        centre, size = rng.uniform(0.0, 1.0, (n, 2)), rng.uniform(0.05, 0.5, (n, 2))
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype("float32")
        swap = rng.random(n) < 0.2
        boxes[swap] = boxes[swap][:, [2, 3, 0, 1]]
        scores = rng.random((n, c)).astype("float32")
        kw = dict(iou_threshold=0.45, score_threshold=0.3)
        ref = tf.image.combined_non_max_suppression(boxes[None, :, None], scores[None], max_output_size_per_class=5,
                                                    max_total_size=8, clip_boxes=True, **kw)
        k = int(ref.valid_detections[0])
        b, s, cl = D.combined_nms(boxes, scores, max_per_class=5, max_total=8, **kw)
        assert len(s) == k, trial
        np.testing.assert_allclose(s, ref.nmsed_scores[0, :k].numpy(), rtol=1e-6)
        np.testing.assert_array_equal(cl, ref.nmsed_classes[0, :k].numpy().astype(int))
        np.testing.assert_allclose(b, ref.nmsed_boxes[0, :k].numpy(), atol=1e-6)


def test_combined_nms_keeps_the_best_of_overlapping_boxes_per_class():
    boxes = np.array([[0, 0, 0.5, 0.5], [0.02, 0, 0.52, 0.5], [0.6, 0.6, 1.2, 0.9]], "float32")
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.6]], "float32")
    b, s, c = D.combined_nms(boxes, scores, max_per_class=5, max_total=5, iou_threshold=0.5, score_threshold=0.15)
    # class 0: box 1 overlaps box 0 (IoU 0.92) and goes; box 2 stays; class 1: all three kept (box 0 below 0.15)
    assert list(zip(c.tolist(), np.round(s.astype(float), 2).tolist())) == [(0, 0.9), (1, 0.7), (1, 0.6), (0, 0.2)]
    assert b[2].tolist() == pytest.approx([0.6, 0.6, 1.0, 0.9])  # clipped to the image
