"""A single-shot sign detector (SSD, Liu et al. 2016) on a VGG16 base, for seed 001's own system.

Seed 001 trained an SSD300 with a VGG16 base (the ``ssd_keras`` port) on Belgian scenes and moved it
to German ones. This module is the same design at a size a 2-core CPU trains in minutes:

- **base**: keras.applications' VGG16 convolutions up to ``cut`` (``block4_conv3`` by default, SSD's
  own first source layer ``conv4_3``), with VGG16's caffe preprocessing inside, and ``weights``
  ``none`` / ``hed`` / ``imagenet`` / a ``.weights.h5`` file as everywhere in the lab;
- **multi-scale feature maps**: the cut layer's map and ``extra_levels`` coarser maps from new
  3x3 stride-2 convolutions (SSD's extra feature layers), each with **default boxes** (anchors) of
  ``anchor_sizes`` pixels (square: signs are as wide as tall);
- **heads**: per map a 3x3 convolution for the class scores (background + classes) and one for
  the four box offsets of every default box;
- **matching and encoding**: a ground-truth box is assigned to every default box it overlaps with
  IoU >= ``pos_iou`` and to its best default box whatever the IoU (SSD's rule); default boxes below
  ``neg_iou`` are background, the rest ignored. Offsets are ``keras.utils.bounding_boxes``'
  center-size deltas with SSD's variances (0.1, 0.1, 0.2, 0.2);
- **loss**: SSD's multibox loss with hard-negative mining (the ``neg_pos_ratio`` x positives
  hardest background boxes per image), softmax cross-entropy plus ``alpha`` x smooth-L1 on the
  positives' offsets, divided by the number of positives (the ``ssd_keras`` ``SSDLoss`` whose values
  the seed quotes: "down to 3", "never below 9");
- **inference**: decoded boxes, per-class non-maximum suppression (:func:`combined_nms`, NumPy:
  the same selections as TensorFlow's ``tf.image.combined_non_max_suppression``, tested against it,
  under any Keras backend);
- **evaluation**: the reference COCO evaluator (``pycocotools``' ``COCOeval``): mAP@0.5 and
  mAP@[.5:.95].

Written here rather than taken from a library: the anchor grid, the matching rule, the mining loss
and the heads (keras-hub's detection layers are not in the pinned environment, and its RetinaNet
parts use focal loss and FPN anchors rather than SSD's). Everything else is a library call.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops
from keras.utils import bounding_boxes as kbb

from lib import backbones, train
from lib.checks import check_cut, feature_map_sizes  # noqa: F401 (tests read them here)

VARIANCE = (0.1, 0.1, 0.2, 0.2)
FORMAT = "xyxy"  # pixels: left, top, right, bottom


# --------------------------------------------------------------------------------- anchors

@dataclass(frozen=True)
class AnchorGrid:
    """Default boxes: for each level ``(map_size, sizes)``, a ``map_size`` x ``map_size`` grid of
    square boxes of each size (pixels) centred on the cells of an ``image_size`` image."""

    image_size: int
    levels: tuple[tuple[int, tuple[float, ...]], ...]

    def boxes(self) -> np.ndarray:
        """``(n_anchors, 4)`` xyxy pixels, level by level, row-major, sizes innermost (the order of
        the heads' reshaped outputs)."""
        out = []
        for n, sizes in self.levels:
            step = self.image_size / n
            c = (np.arange(n) + 0.5) * step
            cy, cx = np.meshgrid(c, c, indexing="ij")
            for_level = []
            for s in sizes:
                h = s / 2
                for_level.append(np.stack([cx - h, cy - h, cx + h, cy + h], axis=-1))
            out.append(np.stack(for_level, axis=2).reshape(-1, 4))
        return np.concatenate(out).astype("float32")

    @property
    def per_cell(self) -> list[int]:
        return [len(s) for _, s in self.levels]

    def __len__(self) -> int:
        return sum(n * n * len(s) for n, s in self.levels)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of xyxy boxes (``keras.utils.bounding_boxes.compute_iou``)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), "float32")
    return ops.convert_to_numpy(kbb.compute_iou(np.asarray(a, "float32"), np.asarray(b, "float32"), FORMAT))


def match(anchors: np.ndarray, boxes: np.ndarray, pos_iou: float = 0.5, neg_iou: float = 0.4) -> np.ndarray:
    """For each default box, the index of its ground-truth box (>= 0), background (-1) or ignored
    (-2). A box goes to every default box with IoU >= ``pos_iou`` and to its single best one."""
    out = np.full(len(anchors), -1, "int64")
    if len(boxes) == 0:
        return out
    m = iou(anchors, boxes)  # (A, G)
    best_gt, best = m.argmax(1), m.max(1)
    out[best >= pos_iou] = best_gt[best >= pos_iou]
    out[(best >= neg_iou) & (best < pos_iou)] = -2
    for g in range(len(boxes)):  # every box gets at least its best default box (bipartite step)
        out[int(m[:, g].argmax())] = g
    return out


def encode(anchors: np.ndarray, boxes: np.ndarray, pos_iou: float = 0.5, neg_iou: float = 0.4) -> np.ndarray:
    """The training target of one image: ``(n_anchors, 5)`` = class (0 background, ``c + 1`` for
    class ``c``, -1 ignored) and the four encoded offsets. ``boxes``: ``(n, 5)`` xyxy pixels + class."""
    boxes = np.asarray(boxes, "float32").reshape(-1, 5)
    if len(boxes) == 0:  # a scene without signs: every default box is background
        return np.zeros((len(anchors), 5), "float32")
    idx = match(anchors, boxes[:, :4], pos_iou, neg_iou)
    cls = np.where(idx >= 0, boxes[np.maximum(idx, 0), 4] + 1, np.where(idx == -1, 0, -1)).astype("float32")
    target = boxes[np.maximum(idx, 0), :4]
    deltas = np.array(ops.convert_to_numpy(kbb.encode_box_to_deltas(  # tensors: Keras mixes them with its own
        ops.convert_to_tensor(anchors, "float32"), ops.convert_to_tensor(target, "float32"), anchor_format=FORMAT,
        box_format=FORMAT, variance=list(VARIANCE))), "float32")
    deltas[idx < 0] = 0.0
    return np.concatenate([cls[:, None], deltas], axis=1)


def encode_all(anchors: np.ndarray, boxes: list[np.ndarray], **kw) -> np.ndarray:
    return np.stack([encode(anchors, b, **kw) for b in boxes])


def decode(anchors: np.ndarray, deltas) -> np.ndarray:
    """Offsets back to xyxy pixel boxes (``keras.utils.bounding_boxes.decode_deltas_to_boxes``)."""
    return ops.convert_to_numpy(kbb.decode_deltas_to_boxes(  # tensors: under torch Keras' variance is one
        ops.convert_to_tensor(anchors, "float32"), ops.convert_to_tensor(deltas, "float32"), anchor_format=FORMAT,
        box_format=FORMAT, variance=list(VARIANCE)))


# --------------------------------------------------------------------------------- model

def default_anchor_grid(image_size: int, cut: str, extra_levels: int, anchor_sizes: list[list[float]]) -> AnchorGrid:
    maps = feature_map_sizes(image_size, cut, extra_levels)
    if len(anchor_sizes) != len(maps):
        raise ValueError(f"anchor_sizes needs one list of sizes per feature map: {len(maps)} maps ({maps}, the cut "
                         f"layer {cut!r} and {extra_levels} extra), received {len(anchor_sizes)} lists")
    if min(maps) < 1:
        raise ValueError(f"image_size {image_size} is too small for a cut at {cut!r} and {extra_levels} extra levels")
    return AnchorGrid(image_size, tuple((n, tuple(float(s) for s in sizes)) for n, sizes in zip(maps, anchor_sizes)))


@dataclass
class Detector:
    """A built detector: the training model (pixels -> ``(B, A, 4 + 1 + n_classes)``: offsets, then
    class logits), its VGG16 base (freeze it by layer) and its default boxes."""

    model: keras.Model
    base: keras.Model
    anchors: np.ndarray
    grid: AnchorGrid
    n_classes: int


def build_detector(image_size: int, n_classes: int, *, weights: str = "none", cut: str = "block4_conv3",
                   extra_levels: int = 1, anchor_sizes: list[list[float]] | None = None, width: int = 128,
                   seed: int = 0, base_weights: dict[str, list] | None = None) -> Detector:
    """The SSD above. ``width``: channels of the extra levels. The base is a functional model of
    VGG16's layers up to ``cut`` carrying ``weights`` (a ``Detector.base`` whose layers keep VGG16's names)."""
    check_cut(cut)
    grid = default_anchor_grid(image_size, cut, extra_levels, anchor_sizes or [[16.0]] * (extra_levels + 1))
    keras.utils.set_random_seed(seed)
    full = backbones.build_base("vgg16", image_size, weights)
    base = keras.Model(full.input, full.get_layer(cut).output, name="vgg16")
    for name, arrays in (base_weights or {}).items():  # e.g. the traffic-sign classifier's convolutions
        base.get_layer(name).set_weights(arrays)
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = backbones.CaffePreprocess(name="preprocess")(inputs)
    # SSD normalises conv4_3's larger activations (L2Norm) before its head; a BatchNorm here does that for
    # the cut layer's map, and the extra levels stand on the normalised map (published VGG16 weights
    # otherwise give activations in the hundreds and a first loss of 40-100)
    feats = [keras.layers.BatchNormalization(name="base_norm")(base(x))]
    for i in range(extra_levels):
        y = keras.layers.Conv2D(width // 2, 1, activation="relu", name=f"extra{i + 1}_1x1")(feats[-1])
        feats.append(keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu",
                                         name=f"extra{i + 1}_3x3")(y))
    cls_out, box_out = [], []
    for i, (f, k) in enumerate(zip(feats, grid.per_cell)):
        c = keras.layers.Conv2D(k * (n_classes + 1), 3, padding="same", name=f"level{i + 1}_classes")(f)
        b = keras.layers.Conv2D(k * 4, 3, padding="same", name=f"level{i + 1}_boxes")(f)
        cls_out.append(keras.layers.Reshape((-1, n_classes + 1))(c))
        box_out.append(keras.layers.Reshape((-1, 4))(b))
    cls_all = keras.layers.Concatenate(axis=1, name="classes")(cls_out) if len(cls_out) > 1 else cls_out[0]
    box_all = keras.layers.Concatenate(axis=1, name="boxes")(box_out) if len(box_out) > 1 else box_out[0]
    out = keras.layers.Concatenate(axis=-1, name="detections")([box_all, cls_all])
    model = keras.Model(inputs, out, name="ssd_vgg16")
    if model.output_shape[1] != len(grid):
        raise AssertionError(f"heads give {model.output_shape[1]} boxes, the grid has {len(grid)}")
    return Detector(model, base, grid.boxes(), grid, n_classes)


def set_frozen(det: Detector, freeze_until: str | None) -> None:
    """Freeze the base's layers up to and including ``freeze_until`` (``None``: nothing frozen;
    ``"all"``: the whole base). The heads and extra levels always train."""
    names = [layer.name for layer in det.base.layers]
    if freeze_until not in (None, "all") and freeze_until not in names:
        backbones.resolve_layer(det.base, freeze_until)
    stop = len(names) if freeze_until == "all" else (names.index(freeze_until) + 1 if freeze_until else 0)
    for i, layer in enumerate(det.base.layers):
        layer.trainable = i >= stop


# --------------------------------------------------------------------------------- loss

def smooth_l1(x):
    ax = ops.abs(x)
    return ops.where(ax < 1.0, 0.5 * x * x, ax - 0.5)


class MultiboxLoss(keras.losses.Loss):
    """SSD's loss: softmax cross-entropy on the positives and on the ``neg_pos_ratio`` x positives
    hardest negatives of each image (at least ``min_negatives``), plus ``alpha`` x smooth-L1 of the
    positives' offsets; the batch's sum divided by its number of positives (at least 1)."""

    def __init__(self, neg_pos_ratio: float = 3.0, alpha: float = 1.0, min_negatives: int = 0, **kw):
        super().__init__(name=kw.pop("name", "multibox"), reduction="sum", **kw)
        self.neg_pos_ratio, self.alpha, self.min_negatives = neg_pos_ratio, alpha, min_negatives

    def call(self, y_true, y_pred):
        cls = y_true[..., 0]
        pos = ops.cast(cls > 0, "float32")
        neg = ops.cast(ops.equal(cls, 0.0), "float32")
        logits = y_pred[..., 4:]
        labels = ops.cast(ops.maximum(cls, 0.0), "int32")
        ce = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)  # (B, A)
        n_pos = ops.sum(pos, axis=1)  # (B,)
        k = ops.minimum(ops.maximum(self.neg_pos_ratio * n_pos, float(self.min_negatives)), ops.sum(neg, axis=1))
        neg_ce = ce * neg - (1.0 - neg) * 1e9  # non-negatives sort last
        order = ops.argsort(-neg_ce, axis=1)
        rank = ops.argsort(order, axis=1)  # rank of each anchor among the image's negatives
        hard = ops.cast(ops.cast(rank, "float32") < k[:, None], "float32") * neg
        conf = ops.sum(ce * (pos + hard), axis=1)
        loc = ops.sum(ops.sum(smooth_l1(y_pred[..., :4] - y_true[..., 1:5]), axis=-1) * pos, axis=1)
        total = ops.sum(n_pos)
        return (conf + self.alpha * loc) / ops.maximum(total, 1.0)

    def get_config(self):
        return {**super().get_config(), "neg_pos_ratio": self.neg_pos_ratio, "alpha": self.alpha,
                "min_negatives": self.min_negatives}


def compile_detector(det: Detector, learning_rate: float, *, momentum: float = 0.9, neg_pos_ratio: float = 3.0,
                     alpha: float = 1.0) -> None:
    """SGD with momentum, as ``ssd_keras`` trains (learning rate stated in the parameters).

    The train step is a graph without XLA under TensorFlow (XLA trains 2x slower on the lab's CPU,
    docs/lab-notes.md) and a ``jax.jit`` under JAX: there ``jit_compile=False`` means op-by-op
    eager dispatch, which made the detector's smoke report take over 30 minutes (Keras' "auto"
    resolves to this under each backend: TensorFlow's op determinism turns XLA off)."""
    jit = False if keras.backend.backend() == "tensorflow" else "auto"
    det.model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=momentum, clipnorm=10.0),
                      loss=MultiboxLoss(neg_pos_ratio, alpha), jit_compile=jit)


# --------------------------------------------------------------------------------- inference

def detect(det: Detector, images: np.ndarray, *, score_threshold: float = 0.05, iou_threshold: float = 0.45,
           max_detections: int = 20, batch_size: int = 64) -> list[dict[str, np.ndarray]]:
    """Boxes, scores and classes per image after per-class NMS (:func:`combined_nms`)."""

    pred = det.model.predict(images, batch_size=batch_size, verbose=0)
    return detections_of(det, pred, score_threshold=score_threshold, iou_threshold=iou_threshold,
                         max_detections=max_detections)


def detections_of(det: Detector, pred: np.ndarray, *, score_threshold: float = 0.05, iou_threshold: float = 0.45,
                  max_detections: int = 20) -> list[dict[str, np.ndarray]]:
    """:func:`detect` from the model's raw output ``pred`` (offsets and class logits per anchor)."""
    boxes = decode(det.anchors, pred[..., :4])  # (B, A, 4) xyxy pixels
    probs = ops.convert_to_numpy(ops.softmax(pred[..., 4:], axis=-1))[..., 1:]  # drop background
    s = float(det.grid.image_size)
    return [{"boxes": b * s, "scores": sc, "classes": c}
            for b, sc, c in (combined_nms(boxes[i] / s, probs[i], max_per_class=max_detections, max_total=max_detections,
                                          iou_threshold=iou_threshold, score_threshold=score_threshold)
                             for i in range(len(boxes)))]


def combined_nms(boxes: np.ndarray, scores: np.ndarray, *, max_per_class: int, max_total: int,
                 iou_threshold: float = 0.5, score_threshold: float = 0.0, clip: bool = True):
    """Per-class greedy non-maximum suppression of one image, then the best ``max_total`` over the
    classes: TensorFlow's ``tf.image.combined_non_max_suppression`` (boxes shared by the classes,
    ``clip_boxes``, no per-class padding) in NumPy, so the detector evaluates under any Keras backend.
    ``boxes``: ``(n, 4)`` corners in [0, 1] (any corner order), ``scores``: ``(n, classes)``. Per
    class, boxes scoring above ``score_threshold`` are taken best first, each dropping the later ones
    that overlap it with IoU above ``iou_threshold``, at most ``max_per_class`` kept. Returns
    ``(boxes, scores, classes)`` sorted by score, boxes clipped to [0, 1] when ``clip``."""
    from lib.detection_map import pairwise_iou

    boxes, scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
    # each box as its min and max corner, as TensorFlow's NMS reads boxes given in either order
    corners = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], axis=1)
    kept_boxes, kept_scores, kept_classes = [], [], []
    for c in range(scores.shape[1]):
        candidates = np.flatnonzero(scores[:, c] > score_threshold)
        order = list(candidates[np.argsort(-scores[candidates, c], kind="stable")])
        picked = []
        while order and len(picked) < max_per_class:
            i, rest = order[0], np.asarray(order[1:], dtype=np.int64)
            picked.append(i)
            order = list(rest[pairwise_iou(corners[i:i + 1], corners[rest])[0] <= iou_threshold]) if len(rest) else []
        kept_boxes.append(boxes[picked].reshape(-1, 4))
        kept_scores.append(scores[picked, c])
        kept_classes.append(np.full(len(picked), c, np.int64))
    b, sc, cl = np.concatenate(kept_boxes), np.concatenate(kept_scores), np.concatenate(kept_classes)
    top = np.argsort(-sc, kind="stable")[:max_total]
    b = np.clip(b[top], 0.0, 1.0) if clip else b[top]
    return b, sc[top], cl[top]


def map50(truth: list[np.ndarray], detections: list[dict[str, np.ndarray]], n_classes: int) -> float:
    """mAP@0.5 alone, COCO's (equal to :func:`coco_map`'s ``map50``, tests/test_detection_map.py) without
    its ten IoU thresholds and four area ranges: the per-epoch validation score."""
    from lib import detection_map

    return float(detection_map.weighted_map50(detection_map.match_table(truth, detections, n_classes),
                                              np.ones(len(truth)))[0])


def coco_map(truth: list[np.ndarray], detections: list[dict[str, np.ndarray]], n_classes: int) -> dict[str, float]:
    """mAP@0.5 and mAP@[.5:.95] by the reference COCO evaluator (``pycocotools``). ``truth``: per
    image ``(n, 5)`` xyxy pixels + class; ``detections``: :func:`detect`'s output."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = [], [], []
    for i, (gt, d) in enumerate(zip(truth, detections)):
        images.append({"id": i + 1})
        for b in np.asarray(gt).reshape(-1, 5):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(b[4]) + 1,
                                "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h, "iscrowd": 0})
        for box, score, c in zip(d["boxes"], d["scores"], d["classes"]):
            results.append({"image_id": i + 1, "category_id": int(c) + 1, "score": float(score),
                            "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]})
    if not annotations:
        raise ValueError("no ground-truth boxes to evaluate against")
    if not results:
        return {"map50": 0.0, "map": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations,
                      "categories": [{"id": c + 1} for c in range(n_classes)]}
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map": max(float(ev.stats[0]), 0.0), "map50": max(float(ev.stats[1]), 0.0)}


# --------------------------------------------------------------------------------- data

# --------------------------------------------------------------------------------- training

class ValidationMAP(keras.callbacks.Callback):
    """The validation scenes after every epoch, predicted once: their multibox loss as ``val_loss``
    and mAP@0.5 as ``val_map50`` in the logs (so ``EarlyStopping`` can watch it and the history keeps
    both). One forward pass where Keras' ``validation_data`` and a separate ``detect`` made two."""

    def __init__(self, det: Detector, images: np.ndarray, truth: list[np.ndarray], encoded: np.ndarray,
                 batch_size: int = 256):
        super().__init__()
        self.det, self.images, self.truth, self.encoded, self.batch_size = det, images, truth, encoded, batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            pred = self.det.model.predict(self.images, batch_size=self.batch_size, verbose=0)
            losses = [self.det.model.loss(self.encoded[i:i + self.batch_size], pred[i:i + self.batch_size])
                      for i in range(0, len(pred), self.batch_size)]  # Keras' evaluate: the mean over batches
            sizes = [len(pred[i:i + self.batch_size]) for i in range(0, len(pred), self.batch_size)]
            logs["val_loss"] = float(np.average([float(ops.convert_to_numpy(x)) for x in losses], weights=sizes))
            logs["val_map50"] = map50(self.truth, detections_of(self.det, pred), self.det.n_classes)


def fit_detector(det: Detector, train_scenes: tuple, val_scenes: tuple, *, epochs: int, batch_size: int,
                 learning_rate: float, patience: int, seed: int, label: str = "", min_delta: float = 0.01,
                 min_epochs: int = 0) -> dict[str, list[float]]:
    """Train on ``(images, boxes)`` scenes with SGD, validate every epoch (multibox loss and
    mAP@0.5), stop after ``patience`` epochs in which validation mAP@0.5 did not gain ``min_delta``
    over its best (the run has converged) and restore the best epoch's weights; not before
    ``min_epochs`` (a detector's mAP sits near 0 for its first epochs, which is not convergence).
    History: ``loss``, ``val_loss``, ``val_map50``, ``epoch_time_s``,
    ``steps_per_epoch``, ``best_epoch``, ``stopped_early``, ``img_per_s`` (measured: training images
    over the epochs' wall time, validation excluded)."""
    x, boxes = train_scenes
    xv, bv = val_scenes
    y, yv = encode_all(det.anchors, boxes), encode_all(det.anchors, bv)
    train.set_seed(seed)
    compile_detector(det, learning_rate)
    timer = train.EpochTimer(label)
    vmap = ValidationMAP(det, xv, bv, yv)
    stop = train.early_stopping("val_map50", mode="max", patience=patience, min_delta=min_delta, epochs=epochs,
                                min_epochs=min_epochs)
    t_fit = []

    class FitTime(keras.callbacks.Callback):  # the training part of an epoch, before validation (vmap) starts
        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            t_fit.append(time.perf_counter() - self._t)

    hist = det.model.fit(train.make_dataset(x, y, batch_size, shuffle=True, seed=seed), epochs=epochs,
                         verbose=0, shuffle=False, callbacks=[FitTime(), vmap, timer, stop])
    out = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    ran = len(out["loss"])
    out["epoch_time_s"] = timer.times
    out["steps_per_epoch"] = [float(-(-len(x) // batch_size))]
    out["best_epoch"] = [float(train.kept_epoch(stop, ran))]  # the restored one (its min_delta, from min_epochs on)
    out["stopped_early"] = [float(ran < epochs)]
    # the first epoch also traces the graph: throughput from the later ones when there are any
    fit_times = t_fit[1:] if len(t_fit) > 1 else t_fit
    out["img_per_s"] = [float(len(x) * len(fit_times) / max(sum(fit_times), 1e-9))]
    return out
