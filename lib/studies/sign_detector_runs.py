"""Seed 001's detector study, its runs: the traffic-sign classifier whose
VGG16 convolutions are one of the source initialisations, the source and target detector runs of
the study (:class:`DetectorRuns`) and the detection figure. The SSD mechanics (default boxes,
matching, the multibox loss, NMS, training) are :mod:`lib.detector`'s; the claims and checks are
:mod:`lib.studies.sign_detector`'s."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import matplotlib.pyplot as plt
import numpy as np

from lib import backbones, data, train
from lib.checks import check_cut, freeze_until
from lib.datasets import signs
from lib.detector import Detector, build_detector, coco_map, detect, fit_detector, set_frozen

def sign_classifier(image_size: int, cut: str, *, n_per_class: int, epochs: int, learning_rate: float, seed: int,
                    init: str = "hed", country: str = "A", shuffled: bool = False, batch_size: int = 64) -> dict:
    """The seed's "VGG16 pretrained for traffic sign classification": VGG16's layers up to ``cut``
    (from ``init`` weights) + global average pooling + a softmax over all 43 built-in sign classes,
    trained on ``country``'s sign crops (``lib.studies.signs.make_signs``, 3/5 train, 1/5 validation, 1/5
    test). ``shuffled``: the training labels shuffled (the negative control). Returns the base's
    convolution weights by layer name, its test accuracy, chance and test size."""

    check_cut(cut)
    n = max(n_per_class, 5)
    x, y, names = signs.make_signs(n, image_size, country=country, n_classes=signs.MAX_CLASSES, seed=7_000 + seed)
    k = len(y)
    a, b = 3 * k // 5, 4 * k // 5  # images come round-robin over classes: every split holds every class
    task = data.Task("sign crops", x[:a].astype("float32"), y[:a], x[a:b].astype("float32"), y[a:b],
                     x[b:].astype("float32"), y[b:], names)
    if shuffled:
        task = data.shuffled_labels_task(task, seed=seed)
    train.set_seed(seed)
    full = backbones.build_base("vgg16", image_size, init)
    base = keras.Model(full.input, full.get_layer(cut).output, name="vgg16")
    inputs = keras.Input((image_size, image_size, 3))
    h = keras.layers.GlobalAveragePooling2D()(base(backbones.CaffePreprocess()(inputs)))
    h = keras.layers.BatchNormalization()(h)  # the pooled features of published weights are in the hundreds
    model = keras.Model(inputs, keras.layers.Dense(len(names), activation="softmax")(h), name="sign_vgg16")
    hist = train.fit(model, task, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                     patience=max(2, epochs // 4))
    weights = {layer.name: layer.get_weights() for layer in base.layers if layer.get_weights()}
    return {"weights": weights, "test_acc": train.accuracy(model, task.x_test, task.y_test),
            "chance": float(np.bincount(task.y_test).max() / len(task.y_test)), "n_test": int(len(task.y_test)),
            "history": hist}


@dataclass
class DetectorRuns:
    """The settings every run of the detector study shares: the detector's shape and training, the
    source scenes; :meth:`source` trains a source-country detector from an initialisation,
    :meth:`target` one target-country arm from the source detector of its seed."""

    image_size: int
    n_classes: int
    cut: str
    extra_levels: int
    anchor_sizes: list
    epochs: int
    target_epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    source_scenes: tuple
    min_delta: float = 0.01
    min_epochs: int = 0
    sign_weights: dict | None = None  # the traffic-sign classifier's convolutions (init "signs")
    source_files: dict | None = None  # seed -> the scratch source detector's weights file

    def build(self, weights: str = "none", seed: int = 0, base_weights=None) -> Detector:
        return build_detector(self.image_size, self.n_classes, weights=weights, cut=self.cut,
                              extra_levels=self.extra_levels, anchor_sizes=self.anchor_sizes, seed=seed,
                              base_weights=base_weights)

    def evaluate(self, det: Detector, tests: dict[str, tuple]) -> dict:
        """mAP@0.5 and mAP@[.5:.95] per test set (COCOeval), and ``matches_<set>``: which detection
        matched which box (:func:`lib.detection_map.match_table`), for the claims' paired image bootstrap."""
        from lib.detection_map import match_table

        out = {}
        for name, (x, b) in tests.items():
            found = detect(det, x)
            m = coco_map(b, found, self.n_classes)
            out[f"map50_{name}"], out[f"map_{name}"] = m["map50"], m["map"]
            out[f"matches_{name}"] = match_table(b, found, self.n_classes)
        return out

    def source(self, init: str, seed: int, val: tuple, tests: dict, out_file=None, scenes: tuple | None = None,
               stage: str = "source") -> tuple[dict, dict]:
        """A source-country detector from ``init``, trained on the source scenes (or ``scenes``: the
        negative control's, under ``stage`` "negative"); ``(row, history)``."""
        weights = {"scratch": "none", "signs": "none"}.get(init, init)
        det = self.build(weights, seed, self.sign_weights if init == "signs" else None)
        hist = fit_detector(det, self.source_scenes if scenes is None else scenes, val, epochs=self.epochs,
                            batch_size=self.batch_size, learning_rate=self.learning_rate, patience=self.patience,
                            seed=seed, label=f"{stage}/{init} seed {seed} ", min_delta=self.min_delta,
                            min_epochs=self.min_epochs)
        if out_file is not None:
            det.model.save_weights(out_file)
            self.source_files = {**(self.source_files or {}), seed: out_file}
        return {"stage": stage, "arm": init, "seed": seed, "epochs": len(hist["loss"]),
                "img_per_s": hist["img_per_s"][0], "final_loss": hist["loss"][-1], **self.evaluate(det, tests)}, hist

    def target(self, arm: str, seed: int, scenes: tuple, val: tuple, tests: dict, stage: str = "target"):
        """One target arm (``lib.studies.sign_detector.TARGET_ARMS``): ``(row, history)``; ``zero_shot``
        trains nothing (history ``None``)."""

        kind = arm.partition(":")[0]
        det = self.build("none", seed)
        if kind not in ("scratch", "compute_matched"):
            det.model.load_weights(self.source_files[seed])
        base = {"stage": stage, "arm": arm, "seed": seed}
        if kind == "zero_shot":
            return {**base, "epochs": 0, "img_per_s": None, "final_loss": None, **self.evaluate(det, tests)}, None
        set_frozen(det, freeze_until(arm, self.cut))
        epochs = self.target_epochs
        if kind == "compute_matched":  # as many optimizer steps as source training + fine-tuning
            steps = lambda n: -(-n // self.batch_size)  # noqa: E731
            epochs = -(-(self.epochs * steps(len(self.source_scenes[0])) + self.target_epochs * steps(len(scenes[0])))
                       // steps(len(scenes[0])))
        hist = fit_detector(det, scenes, val, epochs=epochs, batch_size=self.batch_size,
                            learning_rate=self.learning_rate, patience=self.patience, seed=seed,
                            label=f"{stage}/{arm} seed {seed} ", min_delta=self.min_delta,
                            min_epochs=self.min_epochs)
        return {**base, "epochs": len(hist["loss"]), "img_per_s": hist["img_per_s"][0], "final_loss": hist["loss"][-1],
                **self.evaluate(det, tests)}, hist


def plot_detections(images: np.ndarray, truth: list[np.ndarray], found: list[dict] | None, class_names: list[str],
                    title: str = "", score_min: float = 0.3, cols: int = 6):
    """Scenes with their true boxes (white, dashed) and the detector's boxes above ``score_min``
    (coloured by class, with the class and score). Drawn with matplotlib: keras'
    ``plot_bounding_box_gallery`` needs OpenCV, which the pinned environment does not carry."""
    from matplotlib.patches import Rectangle

    n = len(images)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.2 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i])
        for b in np.asarray(truth[i]).reshape(-1, 5):
            ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="white", ls="--", lw=1))
        if found is not None:
            d = found[i]
            for box, s, c in zip(d["boxes"], d["scores"], d["classes"]):
                if s < score_min:
                    continue
                ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False,
                                       ec=colours(int(c) % 10), lw=1.5))
                ax.text(box[0], box[1] - 1, f"{class_names[int(c)]} {s:.2f}", fontsize=6, color="black",
                        bbox={"fc": colours(int(c) % 10), "alpha": 0.8, "pad": 0.5, "lw": 0})
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
