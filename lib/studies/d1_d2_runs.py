"""Seed 003's D1 -> D2 runs: a multilayer perceptron trained on D1, its lower layers reused under a
new head on D2 (frozen or fine-tuned), against a re-initialised control of the same shape and
D2 from scratch. The claims these runs feed are in :mod:`lib.studies.d1_d2` (no TensorFlow)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from lib import models, train
from lib.models import build_mlp

def body_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers a transfer copies: ``norm`` and every ``hidden_k`` (not the ``output`` head)."""
    layers = [l for l in model.layers if l.name == "norm" or l.name.startswith("hidden_")]
    if not layers:
        names = [l.name for l in model.layers]
        raise ValueError(f"model {model.name!r} has no 'norm'/'hidden_k' layers to transfer; layers: {names}")
    return layers


def transfer_model(source: keras.Model, n_classes: int, new_hidden: Sequence[int] = (64, 32), *,
                   freeze: bool = True, name: str = "transfer") -> keras.Model:
    """Copy ``source``'s body (weights copied, the source is left untouched), then add the new
    layers ``new_1..k`` and ``new_output`` (defaults: 64 and 32 units plus the output, three new
    layers as in the seed). ``freeze=True`` makes the copied layers non-trainable.
    Recompile after changing ``trainable`` (``lib.train.fit`` always compiles)."""
    inputs = keras.Input(source.input_shape[1:], name="features")
    x = inputs
    for layer in body_layers(source):
        clone = layer.__class__.from_config(layer.get_config())
        x = clone(x)
        clone.set_weights(layer.get_weights())
        clone.trainable = not freeze
    for i, units in enumerate(new_hidden, start=1):
        x = keras.layers.Dense(int(units), activation="relu", name=f"new_{i}")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="new_output")(x)
    return keras.Model(inputs, outputs, name=name)


def reinitialised_transfer_architecture(source_hidden: Sequence[int], n_features: int, n_classes: int,
                                        new_hidden: Sequence[int] = (64, 32), *,
                                        normalizer_data=None, name: str = "control_deep") -> keras.Model:
    """The transfer model's exact architecture with fresh random weights everywhere (all trainable):
    the control that separates 'transferred weights' from 'a deeper network'."""
    fresh = build_mlp(n_features, 2, source_hidden, normalizer_data=normalizer_data)
    return transfer_model(fresh, n_classes, new_hidden, freeze=False, name=name)


D1_D2_ARMS = {
    "source": "source network trained on D1 (reported on D1)",
    "frozen": "D1 layers frozen + 3 new layers, trained on D2",
    "finetune": "D1 layers + 3 new layers, all trained on D2 at the fine-tune learning rate",
    "control": "re-initialised copy of the source network trained on D2 only (the seed answer's control)",
    "control_deep": "the transfer arms' architecture re-initialised, trained on D2 only",
}


CONTROL_ARMS = ("frozen", "control")
# Keras optimizer steps per graph call for the D1 -> D2 networks: a few thousand parameters, where
# Python's per-step work outweighs the step (measured: 73 -> 66 s per seed, identical results)
STEPS_PER_EXECUTION = 32


def run_d1_d2(d1, d2, *, seeds, hidden=(128, 64, 32), new_hidden=(64, 32), epochs=20, batch_size=128,
              learning_rate=1e-3, finetune_learning_rate=5e-4, patience=0, controls=None, record=None, log=print,
              max_steps=0, patience_steps=0, min_epoch_steps=32):
    """Every arm of the D1 -> D2 study for every seed; same training function throughout.

    ``patience`` > 0 trains every arm to convergence (early stopping on validation accuracy, best
    weights restored, ``epochs`` the cap). ``max_steps`` / ``patience_steps`` > 0 state the cap and
    the patience in optimizer steps instead, converted to epochs per task (a 300-sample task has
    3 steps per epoch at batch 128, the 8,000-sample D2 40: patience in epochs would stop the small
    one after a tenth of the steps). ``min_epoch_steps``: an epoch of a small task is as many whole
    passes as make that many steps (:func:`lib.train.fit`; validation after every 3-step pass of the
    300-sample positive control cost more than its training). ``controls`` maps a name to a target task (the positive
    and negative controls, :func:`lib.data.positive_control_task`, :func:`lib.data.shuffled_labels_task`):
    the :data:`CONTROL_ARMS` run on each, as arms ``<name>/<arm>``, from the same source network.

    Returns ``(rows, params)``: one row per arm and seed with its final train / validation /
    test accuracy (and zero-shot scores of the source on D2), and per-arm parameter counts.
    Per-epoch histories go to ``record`` (a :class:`lib.records.Record`) as they come.
    """

    rows, param_counts = [], {}
    def budget(task):
        per_pass = -(-len(task.y_train) // batch_size)
        spe = per_pass * (-(-min_epoch_steps // per_pass) if min_epoch_steps > per_pass else 1)
        return dict(epochs=-(-max_steps // spe) if max_steps else epochs, batch_size=batch_size,
                    patience=-(-patience_steps // spe) if patience_steps else patience,
                    min_epoch_steps=min_epoch_steps, steps_per_execution=STEPS_PER_EXECUTION)

    for seed in seeds:
        train.set_seed(seed)
        src = models.build_mlp(d1.n_features, d1.n_classes, hidden, normalizer_data=d1.x_train, name="source")
        hist = train.fit(src, d1, learning_rate=learning_rate, seed=seed, **budget(d1))
        _keep(rows, record, "source", seed, src, d1, hist)
        zs = train.zero_shot(src, d2)
        rows[-1].update(zero_shot_identity=zs["identity"], zero_shot_best_mapping=zs["best_mapping"])
        param_counts["source"] = models.parameter_counts(src)
        targets = [("", d2, tuple(D1_D2_ARMS)[1:]), *((f"{k}/", t, CONTROL_ARMS) for k, t in (controls or {}).items())]
        for prefix, task, names in targets:
            train.set_seed(seed)
            for arm in names:
                model, lr = _d1_d2_arm(arm, src, task, hidden, new_hidden, learning_rate, finetune_learning_rate)
                hist = train.fit(model, task, learning_rate=lr, seed=seed, **budget(task))
                _keep(rows, record, prefix + arm, seed, model, task, hist)
                param_counts[prefix + arm] = models.parameter_counts(model)
        log(f"seed {seed}: " + ", ".join(f"{r['arm']} test {r['test_acc']:.3f}" for r in rows if r["seed"] == seed))
    return rows, param_counts


def _d1_d2_arm(arm, src, task, hidden, new_hidden, learning_rate, finetune_learning_rate):
    """A fresh model for one D1 -> D2 arm on ``task`` and its learning rate."""

    if arm == "frozen":
        return transfer_model(src, task.n_classes, new_hidden, freeze=True, name="frozen"), learning_rate
    if arm == "finetune":
        return transfer_model(src, task.n_classes, new_hidden, freeze=False, name="finetune"), finetune_learning_rate
    if arm == "control":
        return models.build_mlp(task.n_features, task.n_classes, hidden, normalizer_data=task.x_train,
                                name="control"), learning_rate
    if arm == "control_deep":
        return reinitialised_transfer_architecture(hidden, task.n_features, task.n_classes, new_hidden,
                                                   normalizer_data=task.x_train), learning_rate
    raise ValueError(f"unknown D1 -> D2 arm {arm!r}; known: {', '.join(D1_D2_ARMS)}")


def _keep(rows, record, arm, seed, model, task, hist):

    best = int(np.argmax(hist["val_accuracy"])) if "best_epoch" in hist else -1  # early stopping restored it
    rows.append({
        "arm": arm, "seed": seed, "dataset": task.name, "epochs_run": len(hist["loss"]),
        "train_acc": hist["accuracy"][best], "val_acc": hist["val_accuracy"][best],
        **train.test_scores(model.predict(task.x_test, batch_size=1024, verbose=0), task.y_test),
        "epoch_time_s": float(sum(hist["epoch_time_s"]) / len(hist["epoch_time_s"])),
    })
    if record is not None:
        record.add_history(arm, seed, hist, test_acc=rows[-1]["test_acc"])


# ---------------------------------------------------------------------------------------------
# Image transfer policies (seed 002 and later studies)
