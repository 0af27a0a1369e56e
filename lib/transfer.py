"""Transfer: reuse a trained model's lower layers under a new head, frozen or fine-tuned."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, fields
from functools import partial

import keras
import numpy as np

from lib import backbones, cache, models, train
from lib.backbones import in_mode
from lib.arms import POLICIES, SCHEDULE_TRANSFORMS, Arm, arm_weights, set_trainable, split_arm  # noqa: F401 (set_trainable: transfer.*)
from lib.checks import hint, stuck_at_chance
from lib.data import Task, train_fraction


def build_head(feature_shape, n_classes: int, dropout: float = 0.3, name: str = "head"):
    """New classifier on a feature map (global average pooling first) or a feature vector:
    -> dropout -> softmax."""

    inputs = keras.Input(feature_shape, name="features")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(inputs) if len(feature_shape) == 3 else inputs
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="head_output")(x)
    return keras.Model(inputs, outputs, name=name)


def on_pixels(backbone, inner, name: str, training: bool | None = None):
    """``inner`` (a model on the base's input) behind ``backbone``'s preprocessing layer, as a model
    on raw 0-255 pixels: what a cut base, a frozen prefix or a multi-block probe needs.
    ``training``: as in :func:`lib.backbones.build_backbone`."""

    pixels = backbone.input
    pre = [layer for layer in backbone.layers if layer.name == "preprocess"]

    return keras.Model(pixels, in_mode(inner, training)(pre[0](pixels) if pre else pixels), name=name)


@dataclass
class ImageParts:
    """The pieces of a classifier built by :func:`build_image_classifier`, as the arm runner and the
    studies use them."""

    model: keras.Model  # pixels -> probabilities (the whole classifier)
    backbone: keras.Model  # pixels -> features (preprocessing inside)
    base: keras.Model  # the keras application, or its cut
    head: keras.Model  # features -> probabilities
    frozen: bool  # the whole backbone frozen: features can be computed once
    bn_mode: str  # how BatchNorm layers run (backbones.in_mode)
    frozen_until: str | None = None  # cut_unfreeze: the base is frozen up to this layer
    cut_at: str | None = None  # cut policies: the layer the base ends at
    split: tuple | None = None  # (frozen_until, prefix, suffix) once fit_split made them (kept for reuse)
    test_probs: np.ndarray | None = None  # the run's test predictions (run_image_arm)

    def refresh_from(self, fresh: "ImageParts") -> None:
        """Take a fresh build's plain values (flags, names), keeping this one's models and split:
        what :class:`lib.train.ModelPool` calls when it hands back a kept model."""
        for f in fields(self):
            value = getattr(fresh, f.name)
            if f.name not in ("split", "test_probs") and not isinstance(value, keras.layers.Layer):
                setattr(self, f.name, value)


def build_image_classifier(arch: str, image_size: int, n_classes: int, *, policy: str = "frozen",
                           weights: str = "none", freeze_blocks: int = 0, cut_at: str = "",
                           unfreeze_from: str = "", block: str = "", lora_rank: int = 0, l2sp_alpha: float = 0.0,
                           lr_ratio: float = 0.0, bss_eta: float = 0.0, dropout: float = 0.3, head=None):
    """A classifier on raw 0-255 pixels: backbone (preprocessing inside) -> new head.

    Returns ``(model, parts)``, ``parts`` an :class:`ImageParts` (``model`` is the same model).
    ``policy`` is one of :data:`POLICIES`; ``scratch`` ignores ``weights``. ``head``: a function
    ``feature_shape -> keras.Model`` building another head than :func:`build_head`'s.
    """

    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}{hint(policy, POLICIES, 1)} (known: {', '.join(POLICIES)})")
    mode = backbones.bn_mode(policy, weights)
    training = False if mode == "inference" else None
    full, base = backbones.build_backbone(arch, image_size, "none" if policy == "scratch" else weights, training=training)
    if POLICIES[policy].cuts:
        if not cut_at:
            raise ValueError(f"policy {policy!r} needs cut_at (a layer name of {base.name})")
        cut = backbones.resolve_layer(base, cut_at)
        base = keras.Model(base.input, base.get_layer(cut).output, name=f"{base.name}_cut_{cut}")
        full = on_pixels(full, base, f"{base.name}_backbone", training=training)
    rule = POLICIES[policy]
    rule.freeze(base, backbones.get(arch), backbones.resolve_layer, freeze_blocks=freeze_blocks,
                unfreeze_from=unfreeze_from, block=block, lora_rank=lora_rank, l2sp_alpha=l2sp_alpha,
                lr_ratio=lr_ratio, bss_eta=bss_eta)
    head = head(full.output_shape[1:]) if head else build_head(full.output_shape[1:], n_classes, dropout)
    model = keras.Model(full.input, head(full.output), name=f"{arch}_{policy}")
    frozen = len(base.trainable_weights) == 0
    split = backbones.resolve_layer(base, unfreeze_from) if policy == "cut_unfreeze" else None
    return model, ImageParts(model=model, backbone=full, base=base, head=head, frozen=frozen, bn_mode=mode,
                             frozen_until=split, cut_at=cut if rule.cuts else None)


def split_frozen_prefix(parts) -> tuple:
    """``(prefix, suffix)`` of a model whose base is frozen up to the layer ``parts.frozen_until``
    (``cut_unfreeze``: ``unfreeze_from``) and trained after it: ``prefix`` maps pixels to that
    layer's output (preprocessing inside, nothing trainable), ``suffix`` maps it to class
    probabilities through the trainable blocks and the head. Both share the model's layers, so
    training ``suffix`` trains the model. The cut must be clean: every layer after it reads only
    from it (Inception's ``mixedK`` outputs are; a layer inside a block is not, and is refused)."""
    name = parts.frozen_until
    if not name:
        raise ValueError("this model has no frozen prefix to split at (policy cut_unfreeze sets one)")
    base = parts.base
    t = base.get_layer(name).output
    try:
        tail = keras.Model(t, base.output, name=f"{base.name}_after_{name}")
    except ValueError as exc:
        raise ValueError(f"cannot split {base.name} at {name!r}: layers after it read from earlier ones ({exc})") from None
    if any(not layer.trainable for layer in tail.layers if layer.weights):
        raise ValueError(f"layers after {name!r} are not all trainable: the prefix is not the whole frozen part")
    prefix = on_pixels(parts.backbone, keras.Model(base.input, t, name=f"{base.name}_to_{name}"), f"prefix_{name}")
    inputs = keras.Input(t.shape[1:], name=f"{name}_features")

    training = False if parts.bn_mode == "inference" else None
    suffix = keras.Model(inputs, parts.head(in_mode(tail, training)(inputs)), name=f"suffix_{name}")
    return prefix, suffix


def fit_split(parts, task, batch_size: int = 256, **fit_kwargs):
    """Train a ``cut_unfreeze`` model on its frozen prefix's output, computed once: the trained
    blocks and the head see exactly what end-to-end training feeds them (the frozen layers run in
    inference mode either way; no random augmentation here), without paying the frozen part's
    forward pass every epoch. ``fit_kwargs`` go to :func:`lib.train.fit` (``batch_size`` too)."""

    if (parts.split or (None,))[0] != parts.frozen_until:  # kept with the parts: a pooled model reuses it
        parts.split = (parts.frozen_until, *split_frozen_prefix(parts))
    _, prefix, suffix = parts.split
    if prefix.trainable_weights:
        raise ValueError("the prefix has trainable weights: caching its output would freeze them")
    return train.fit(suffix, cached_features(parts, task, model=prefix), batch_size=batch_size, **fit_kwargs)


def unfreeze_all(parts) -> None:
    """Second stage of ``two_stage``: every backbone layer trainable (recompile after)."""
    set_trainable(parts.base, 0)


def cached_features(parts, task, batch_size: int = 256, model=None):
    """The task with every split replaced by the frozen backbone's features (or ``model``'s
    outputs, e.g. a frozen prefix), computed once."""

    def feats(x):  # content-addressed: a second seed or arm on the same frozen weights reads them back
        return cache.predict(model or parts.backbone, x, batch_size=batch_size)

    return Task(f"{task.name} (features)", feats(task.x_train), task.y_train, feats(task.x_val), task.y_val,
                feats(task.x_test), task.y_test, task.class_names)


def fit_cached(parts, task, **fit_kwargs):
    """Train only the head on features computed once by the frozen backbone: the same result as
    end-to-end training of a frozen base without random augmentation, without paying the
    backbone's forward pass every epoch. ``fit_kwargs`` go to :func:`lib.train.fit`."""

    if not parts.frozen:
        raise ValueError("feature caching needs a fully frozen backbone; this policy trains part of it")
    return train.fit(parts.head, cached_features(parts, task), **fit_kwargs)


def arm_learning_rate(spec: str) -> float | None:
    """The arm's own learning rate, ``arch:policy[:args]@LR`` (e.g. ``vgg16:scratch@1e-4``), or
    ``None`` when the arm uses the study's learning rates (:func:`lib.checks.split_arm` validates it)."""
    return split_arm(spec)[2]


def parse_arm(spec: str) -> dict:
    """``"arch:policy[:arg[:arg]][@LR]"`` -> keyword arguments of :func:`build_image_classifier`.

    ``vgg16:frozen``, ``vgg16:freeze_first:2``, ``inceptionv3:cut:mixed5``,
    ``inceptionv3:cut_unfreeze:mixed5:mixed4`` (cut at mixed5, train what follows mixed4),
    ``resnet50:two_stage``, ``vgg16:surgical:block3`` (only block3 and the head train),
    ``simple_cnn:scratch``; ``vgg16:scratch@1e-4`` trains that arm at
    learning rate 1e-4 whatever the study's learning rates (see :func:`arm_learning_rate`).
    Input transforms after the policy (``+noise[:STD]``, ``+div255``; :func:`arm_transforms`)
    change the data, not the model: they are not in the returned keywords."""

    arm = Arm.parse(spec)  # refuses a malformed transform or '@LR'
    if not arm.policy:
        raise ValueError(f"an arm is 'arch:policy[:args]'; received {spec!r}")
    return {"arch": backbones.get(arm.arch).name, **arm.policy_kwargs()}


# Compiled models of the arms run so far, reused by the next seed of the same arm (lib/train.py ModelPool)
POOL = train.ModelPool()


def arm_transforms(spec: str) -> dict[str, float | None]:
    """The input transforms of an arm (``lib.checks.TRANSFORMS``): ``efficientnetb0:frozen+noise:50``
    -> ``{"noise": 50.0}``; ``+noise`` alone -> ``{"noise": None}`` (the study's strength);
    ``+div255`` -> ``{"div255": None}``."""

    return split_arm(spec)[1]


def arm_task(spec: str, task, image_size: int):
    """``(task, image_size)`` as arm ``spec``'s model sees them: its data transforms applied
    (``+div255``: every split's pixels divided by 255; ``+train:F``: that fraction of the training
    split; ``+resize:N``: every split resized to N px). ``+noise`` acts while training, not here.
    The one place an arm's data transforms are applied (the arm runner, the range test)."""
    transforms = arm_transforms(spec)
    if "div255" in transforms:
        task = divided_by_255(task)
    if "train" in transforms:
        task = train_fraction(task, transforms["train"])
    if transforms.get("resize"):
        image_size = int(transforms["resize"])
        task = resized(task, image_size)
    return task, image_size


def with_input_noise(model, std: float, seed: int):
    """``model`` behind a Gaussian-noise layer of ``std`` (0-255 pixel units) that acts in training
    only; Keras' ``GaussianNoise`` is applied on the 0-1 scale and scaled back."""

    inputs = keras.Input(model.input_shape[1:], name="pixels")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.GaussianNoise(min(std / 255.0, 1.0), seed=seed)(x)
    return keras.Model(inputs, model(keras.layers.Rescaling(255.0)(x)), name="with_noise")


def divided_by_255(task):
    """The task with every split's pixels divided by 255 (the preprocessing bug of seed 000)."""

    return Task(task.name + " /255", task.x_train / 255.0, task.y_train, task.x_val / 255.0, task.y_val,
                task.x_test / 255.0, task.y_test, task.class_names)


def resized(task, size: int):
    """The task with every split's images resized to ``size`` x ``size`` (bilinear, antialiased
    when shrinking; ``+resize:N``) with Keras' own resize (any backend)."""
    def one(x):
        if x.shape[1:3] == (size, size):
            return x
        out = [keras.ops.convert_to_numpy(keras.ops.image.resize(x[i:i + 512], (size, size), antialias=True))
               for i in range(0, len(x), 512)]
        return np.concatenate(out).astype("float32") if out else np.zeros((0, size, size, x.shape[-1]), "float32")

    return Task(f"{task.name} ({size} px)", one(task.x_train), task.y_train, one(task.x_val), task.y_val,
                one(task.x_test), task.y_test, task.class_names)


def head_key(head) -> tuple | str | None:
    """What tells heads apart in the compiled-model pool: the function's name, and for a
    ``functools.partial`` (the plate head with its pooling) the function's name with its arguments
    (a partial has no name: two plate heads would otherwise share the default head's key)."""
    if isinstance(head, partial):
        return (head_key(head.func), head.args, tuple(sorted(head.keywords.items())))
    return getattr(head, "__name__", None)


def run_image_arm(spec: str, task, image_size: int, *, weights: str, epochs: int, batch_size: int,
                  learning_rate: float, finetune_learning_rate: float, head_epochs: int, seed: int,
                  cache_features: bool = True, init_weights: str | None = None, validation_freq: int = 1,
                  stop_stuck_after: int = 0, head=None, noise_std: float = 0.0, patience: int = 0,
                  min_epochs: int = 0, min_delta: float = 0.0, schedule: str = "constant"):
    """Train one arm on ``task`` and return ``(row, history, parts)``. The one arm runner: every
    image study (small data, signs, plates, the source pre-training) trains its arms here.

    ``head``: a function ``feature_shape -> keras.Model`` for another head than the one-softmax
    classifier (the plate study's seven character heads; its name keys the compiled-model pool).
    Input transforms of the spec: ``+noise[:STD]`` trains behind Gaussian noise (``noise_std`` when
    no STD is given; the base then runs every step, no cached features), ``+div255`` divides every
    split's pixels by 255 first.

    ``init_weights``: a whole classifier's ``.weights.h5`` (same architecture, size and classes,
    e.g. a model trained on another domain) to start from, head included, instead of ``weights``
    for the base and a new head. ``validation_freq``: validate every that many epochs (the
    history's ``val_epoch`` lists which). ``stop_stuck_after``: end-to-end runs stop once stuck at
    chance for that many epochs (:class:`lib.train.StopWhenStuck`; the row's ``stopped_stuck``).
    ``patience``, ``min_epochs``, ``min_delta``: early stopping of the run's last phase, ``schedule``
    its learning rate over the epochs (:func:`lib.train.fit`; an arm's ``+cosine`` / ``+one_cycle``
    replaces it).

    Fully frozen arms train the head on features computed once (``cache_features``), and
    ``cut_unfreeze`` its trained blocks and head on the frozen prefix's output (:func:`fit_split`); ``two_stage``
    trains the head for ``head_epochs`` on the frozen base, then everything at
    ``finetune_learning_rate`` for the remaining epochs; ``cut`` and ``cut_unfreeze`` share one
    schedule (the head alone at ``learning_rate`` for ``head_epochs``, then ``finetune_learning_rate``:
    the cut's head only, or the unfrozen blocks with it), so unfreezing is all that differs;
    ``finetune`` trains at ``finetune_learning_rate`` from the start, and so does every other policy
    that trains pre-trained layers end to end (``freeze_first``, ``surgical``, a ``cut`` without cached
    features); randomly initialised ones at ``learning_rate``. An arm's own
    ``@LR`` replaces both learning rates, and its own ``~WEIGHTS`` (``onet:frozen~mtcnn``) replaces ``weights``."""

    kw = parse_arm(spec)
    weights = arm_weights(spec, weights)
    transforms = arm_transforms(spec)
    noise = float((noise_std if transforms["noise"] is None else transforms["noise"]) or 0.0) if "noise" in transforms else 0.0
    task, image_size = arm_task(spec, task, image_size)
    schedule = next((n for n in SCHEDULE_TRANSFORMS if n in transforms), schedule)  # the arm's own, else the study's
    own_lr = arm_learning_rate(spec)
    if own_lr is not None:
        learning_rate = finetune_learning_rate = own_lr
    train.set_seed(seed)
    model, parts = build_image_classifier(image_size=image_size, n_classes=task.n_classes,
                                          weights="none" if init_weights else weights, head=head, **kw)
    if init_weights:
        model.load_weights(init_weights)
    graph = (split_arm(spec)[0], image_size, task.n_classes, parts.bn_mode, head_key(head))
    model, parts = POOL.take(graph, model, parts)  # same graph as an earlier seed's: trained without a new trace
    counts = models.parameter_counts(model)
    common = dict(batch_size=batch_size, seed=seed, validation_freq=validation_freq)
    # the run's last (or only) phase: early stopping there, watching from its min_epochs-th epoch on
    last = dict(common, patience=patience, min_epochs=min_epochs, min_delta=min_delta, schedule=schedule)
    fit_model = with_input_noise(model, noise, seed) if noise else model
    cache_features = cache_features and not noise  # noise is redrawn per batch: the base must run every step
    t0 = time.perf_counter()
    rule = POLICIES[kw["policy"]]
    on_features = None  # the cached features the head alone was trained on (its base never changed)
    if rule.schedule == "two_stage":
        hist = train.fit(fit_model, task, epochs=head_epochs, learning_rate=learning_rate, **common)
        unfreeze_all(parts)
        counts = models.parameter_counts(model)
        more = train.fit(fit_model, task, epochs=epochs - head_epochs, learning_rate=finetune_learning_rate, **last)
        hist = train.join_phases(hist, more)
    elif rule.cuts and cache_features and 0 < head_epochs < epochs:
        # the blog's two cut arms share one schedule: the new head alone on the frozen cut at
        # learning_rate, then finetune_learning_rate, where the plain cut keeps training its head
        # and cut_unfreeze trains its unfrozen blocks too: unfreezing is the only difference
        head_task = cached_features(parts, task)
        hist = train.fit(parts.head, head_task, epochs=head_epochs, learning_rate=learning_rate, **common)
        if parts.frozen_until is None:  # the plain cut: its head goes on alone
            more = train.fit(parts.head, head_task, epochs=epochs - head_epochs, learning_rate=finetune_learning_rate,
                             **last)
            on_features = head_task
        else:
            more = fit_split(parts, task, epochs=epochs - head_epochs, learning_rate=finetune_learning_rate, **last)
        hist = train.join_phases(hist, more)
    elif parts.frozen and cache_features:
        hist = fit_cached(parts, task, epochs=epochs, learning_rate=learning_rate, **last)
        on_features = cached_features(parts, task)  # read back from the cache
    elif parts.frozen_until and cache_features:
        hist = fit_split(parts, task, epochs=epochs, learning_rate=finetune_learning_rate, **last)
    else:
        # pre-trained layers train at the fine-tuning rate whatever the policy (equal treatment: freeze_first,
        # surgical and a cut without cached features against finetune); random ones at learning_rate
        pretrained = bool(init_weights) or weights not in ("none", None)
        lr = finetune_learning_rate if pretrained and rule.pretrained_rate else learning_rate
        hist = train.fit(fit_model, task, epochs=epochs, learning_rate=lr, stop_stuck_after=stop_stuck_after, **last)
    wall = time.perf_counter() - t0
    # predictions of the trained model on the transformed splits (+div255); where only the head trained on
    # cached features, the head on those features is the model (the same numbers: tests/test_transfer_policies.py)
    # without the base's forward pass over validation and test again (2/3 of a frozen VGG16 run's time at 32 px)
    predictor, splits = (parts.head, on_features) if on_features is not None else (model, task)
    test_probs = predictor.predict(splits.x_test, batch_size=1024, verbose=0)
    parts.test_probs = test_probs
    row = {"arm": spec, "seed": seed, "train_acc": hist["accuracy"][-1], "val_acc": hist["val_accuracy"][-1],
           "best_val_acc": max(hist["val_accuracy"]),
           "best_epoch": int(hist["val_epoch"][int(np.argmax(hist["val_accuracy"]))]),
           **train.test_scores(test_probs, task.y_test),  # test_correct: per example, for the paired intervals
           "final_val_loss": hist["val_loss"][-1],
           # the final model's per-example validation outcomes (its last val_accuracy): the stuck rule pairs them
           # with the majority-class predictor's on the same examples
           "val_correct": train.correct_of(predictor.predict(splits.x_val, batch_size=1024, verbose=0), task.y_val),
           "wall_s": wall, "images_per_s": len(hist["loss"]) * len(task.y_train) / wall,
           "epochs_run": len(hist["loss"]), "stopped_stuck": int((hist.get("stopped_stuck") or [0])[0]),
           "cached_features": bool((parts.frozen or parts.frozen_until) and cache_features
                                   and rule.schedule != "two_stage"), "bn_mode": parts.bn_mode,
           "noise_std": noise, "input_max": float(np.max(task.x_train)),
           **{f"{k}_params": v for k, v in counts.items()}}
    return row, hist, parts


def choose_learning_rate(spec: str, grid, task, image_size: int, *, seed: int,
                         **run_kw) -> tuple[float | None, dict, tuple | None]:
    """The learning rate of ``grid`` at which arm ``spec`` reaches its best **validation** accuracy
    (one run per rate, with ``seed``; the test split is not looked at), every rate's score, and the
    chosen rate's run (``run_image_arm``'s ``(row, history, parts)``): it is the run of ``seed`` at
    that rate (runs are deterministic per seed; small_data does not reuse it as a compared seed: its grid
    runs with a tuning seed of its own, so validation is used once).
    An arm that names its own rate (``@LR``) keeps it: ``(None, {}, None)``. Every arm of a study uses
    the same grid, scratch and transfer alike (He et al. 2019: a from-scratch baseline needs its
    own tuning before "transfer beats scratch" means anything)."""
    if not grid or arm_learning_rate(spec) is not None:
        return None, {}, None
    scores, best = {}, None
    for lr in grid:
        run = run_image_arm(str(Arm.parse(spec).at(lr)), task, image_size, seed=seed, **run_kw)
        scores[float(lr)] = float(run[0]["best_val_acc"])
        if best is None or scores[float(lr)] > scores[best[0]]:
            best = (float(lr), run)  # the first of equal scores, as max() picks
    return best[0], scores, best[1]


def pretrain_source(arch: str, task, image_size: int, *, epochs: int, batch_size: int, learning_rate: float,
                    seed: int, out_path, patience: int = 0, schedule: str = "constant"):
    """Train ``arch`` from random weights on the source task and save its base's weights to
    ``out_path`` (through a temporary file, so a failed run leaves no half-written weights).
    ``patience`` > 0: early stopping on validation accuracy, the best epoch's weights kept;
    ``schedule``: the learning rate over the epochs (:data:`lib.train.SCHEDULES`).
    Returns ``(row, history)`` with the source train / validation / test accuracy."""
    from pathlib import Path

    row, hist, parts = run_image_arm(f"{arch}:scratch", task, image_size, weights="none", epochs=epochs,
                                     batch_size=batch_size, learning_rate=learning_rate,
                                     finetune_learning_rate=learning_rate, head_epochs=0, seed=seed, patience=patience,
                                     schedule=schedule)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name.replace(".weights.h5", ".partial.weights.h5"))
    parts.base.save_weights(tmp)
    os.replace(tmp, out_path)
    row["weights_file"] = str(out_path)
    return row, hist


def pitfall_checks(spec: str, parts, task, row: dict) -> dict:
    """The known Keras transfer pitfalls, checked for one trained arm:

    - ``raw_pixels_in``: the data fed in spans 0-255 (not pre-scaled to [0, 1]) and the model
      does its own preprocessing;
    - ``frozen_bn_inference``: a frozen BatchNormalization layer, called with ``training=True``
      on a batch, still gives its inference-mode output (it normalises with its moving
      statistics, so fine-tuning cannot wreck them); ``None`` when nothing is frozen;
    - ``stuck_at_chance``: :func:`lib.checks.stuck_at_chance` on the final validation
      accuracy and loss (one rule for every report).
    """

    x_max = float(np.max(task.x_train))
    bns = [l for l in parts.base.layers if isinstance(l, keras.layers.BatchNormalization)]
    frozen_bns = [l for l in bns if not l.trainable]
    bn_ok = None
    if frozen_bns:
        layer = frozen_bns[0]
        probe = np.random.default_rng(0).normal(2.0, 3.0, (4, *layer.input.shape[1:])).astype("float32")
        bn_ok = bool(np.allclose(layer(probe, training=True), layer(probe, training=False), atol=1e-5))
    majority = float(np.bincount(task.y_val).max() / len(task.y_val))
    chance_loss = float(np.log(task.n_classes))
    stuck = stuck_at_chance(row["val_acc"], majority, row["final_val_loss"], task.n_classes)
    return {"arm": spec, "seed": row["seed"], "input max (expect > 1)": x_max,
            "raw_pixels_in": x_max > 1.0, "BN layers": len(bns), "frozen BN layers": len(frozen_bns),
            "frozen_bn_inference": bn_ok,
            "val loss vs log(classes)": f"{row['final_val_loss']:.3f} vs {chance_loss:.3f}",
            "stuck_at_chance": bool(stuck)}
