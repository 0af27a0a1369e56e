"""mAP@0.5 resampled over test images: the detector study's paired test-set term. No TensorFlow.

The detector study reports mAP@0.5 from the reference COCO evaluator (``pycocotools``, in
:func:`lib.detector.coco_map`). Its claims compare two arms on the same test scenes, so the test
set's sampling error of their *difference* is what an interval needs, and mAP is not a mean of
per-image scores: it is resampled. Which detection matches which ground-truth box is decided within
one image, so it does not change when images are drawn again; :func:`match_table` does COCO's
matching once (per image and class, detections by falling score, each to the unmatched box of
highest IoU >= 0.5, as ``COCOeval.evaluateImg``), and :func:`weighted_map50` recomputes COCO's
101-point interpolated AP per class and their mean (``COCOeval.accumulate`` / ``summarize``) under
any weights on the images, many draws at once. With every weight 1 it equals ``coco_map``'s
mAP@0.5 (tests/test_detection_map.py); :func:`map50_test_var` draws the images (the same draws for
both arms and every seed: paired) and returns the variance of the mean difference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)  # COCOeval's recThrs
IOU = 0.5
AREA_MAX = 1e5 ** 2  # COCOeval's area range "all"


def pairwise_iou(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes ``d`` (n, 4) against ``g`` (m, 4), COCO's way (widths without +1), in NumPy
    (the evaluation here and the detector's non-maximum suppression)."""
    lt = np.maximum(d[:, None, :2], g[None, :, :2])
    rb = np.minimum(d[:, None, 2:], g[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    union = area(d)[:, None] + area(g)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_table(truth: Sequence[np.ndarray], detections: Sequence[dict], n_classes: int) -> dict:
    """Every detection's image, class, score and whether it matched a ground-truth box at IoU 0.5
    (COCO's greedy rule), plus the ground-truth count per image and class: what mAP@0.5 needs,
    as plain lists (a run record can keep it). ``truth``: per image (n, 5) xyxy + class;
    ``detections``: :func:`lib.detector.detect`'s output."""
    img, cls, score, tp = [], [], [], []
    counts = np.zeros((len(truth), n_classes), dtype=int)
    for i, (gt, det) in enumerate(zip(truth, detections)):
        gt = np.asarray(gt, dtype=float).reshape(-1, 5)
        for c in range(n_classes):
            g = gt[gt[:, 4] == c, :4]
            counts[i, c] = len(g)
            keep = np.asarray(det["classes"]) == c
            d = np.asarray(det["boxes"], dtype=float).reshape(-1, 4)[keep]
            s = np.asarray(det["scores"], dtype=float)[keep]
            order = np.argsort(-s, kind="mergesort")
            d, s = d[order], s[order]
            ious = pairwise_iou(d, g) if len(d) and len(g) else np.zeros((len(d), len(g)))
            taken = np.zeros(len(g), dtype=bool)
            for k in range(len(d)):
                best, m = min(IOU, 1 - 1e-10), -1
                for j in range(len(g)):
                    if taken[j] or ious[k, j] < best:
                        continue
                    best, m = ious[k, j], j
                if m >= 0:
                    taken[m] = True
                elif not 0 <= (d[k, 2] - d[k, 0]) * (d[k, 3] - d[k, 1]) <= AREA_MAX:
                    continue  # COCOeval ignores an unmatched detection outside its area range
                img.append(i); cls.append(c); score.append(float(s[k])); tp.append(m >= 0)  # noqa: E702
    return {"image": img, "class": cls, "score": score, "tp": tp, "gt_counts": counts.tolist()}


def weighted_map50(table: dict, weights: np.ndarray) -> np.ndarray:
    """mAP@0.5 under per-image ``weights`` ((draws, images), or (images,) for one draw): COCO's
    101-point interpolated precision per class over the weighted detections, averaged over the
    classes that have ground truth in the draw (a class without any weighted ground truth is left
    out, as COCOeval leaves it out). A draw with no such class scores 0, as ``coco_map`` does."""
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    img, cls = np.asarray(table["image"], dtype=int), np.asarray(table["class"], dtype=int)
    score, tp = np.asarray(table["score"], dtype=float), np.asarray(table["tp"], dtype=bool)
    counts = np.asarray(table["gt_counts"], dtype=float).reshape(w.shape[1], -1)
    n_gt = w @ counts  # (draws, classes)
    aps = np.full(n_gt.shape, np.nan)
    for c in range(counts.shape[1]):
        valid = n_gt[:, c] > 0
        if not valid.any():
            continue
        sel = np.flatnonzero(cls == c)
        if not len(sel):
            aps[valid, c] = 0.0
            continue
        sel = sel[np.argsort(-score[sel], kind="mergesort")]
        wd = w[:, img[sel]]  # (draws, detections)
        tps = np.cumsum(wd * tp[sel], axis=1)
        fps = np.cumsum(wd * ~tp[sel], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rc = tps / n_gt[:, c:c + 1]
        pr = tps / (tps + fps + np.spacing(1))
        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # the precision envelope
        idx = np.stack([np.searchsorted(r, RECALL_THRESHOLDS, side="left") for r in rc])  # recall never falls
        q = np.take_along_axis(np.concatenate([pr, np.zeros((len(pr), 1))], axis=1), idx, axis=1)
        aps[valid, c] = q[valid].mean(axis=1)
    have = ~np.isnan(aps)
    return np.where(have.any(axis=1), np.where(have, aps, 0.0).sum(axis=1) / np.maximum(have.sum(axis=1), 1), 0.0)


def map50_test_var(tables_a: Sequence[dict], tables_b: Sequence[dict] | None, n_boot: int = 1000,
                   seed: int = 0) -> float:
    """Variance, over test images drawn again with replacement, of the mean over seeds of
    mAP@0.5(A) - mAP@0.5(B): ``tables_a[i]`` and ``tables_b[i]`` are seed i's :func:`match_table`
    on the same test images, and every draw weights the images alike for both arms and all seeds
    (paired). ``tables_b`` ``None``: of A's mAP alone (against a fixed value). The test-set term of
    :func:`lib.intervals.paired_interval` for mAP. Floored at ``1 / images**2``, one image's worth, as
    the accuracy terms add a half-count to every cell: draws that all agree (two arms that detect
    alike, or a detector that finds nothing in any draw) are not evidence of zero sampling error."""
    if tables_b is None:
        tables_b = [None] * len(tables_a)
    if len(tables_a) != len(tables_b) or not len(tables_a):
        raise ValueError(f"need one table per seed on both sides; received {len(tables_a)} and {len(tables_b)}")
    n = len(tables_a[0]["gt_counts"])
    if any(len(t["gt_counts"]) != n for t in (*tables_a, *tables_b) if t is not None):
        raise ValueError("the tables were not made on the same test images")
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1 / n), size=n_boot).astype(float)
    diff = np.mean([weighted_map50(a, w) - (0.0 if b is None else weighted_map50(b, w))
                    for a, b in zip(tables_a, tables_b)], axis=0)
    return max(float(diff.var(ddof=1)), 1.0 / n ** 2)
