"""Transfer: reuse a trained model's lower layers under a new head, frozen or fine-tuned."""

from __future__ import annotations

from collections.abc import Sequence

import keras

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


def run_d1_d2(d1, d2, *, seeds, hidden=(128, 64, 32), new_hidden=(64, 32), epochs=20, batch_size=128,
              learning_rate=1e-3, finetune_learning_rate=5e-4, record=None, log=print):
    """Every arm of the D1 -> D2 study for every seed; same training function throughout.

    Returns ``(rows, params)``: one row per arm and seed with its final train / validation /
    test accuracy (and zero-shot scores of the source on D2), and per-arm parameter counts.
    Per-epoch histories go to ``record`` (a :class:`lib.records.Record`) as they come.
    """
    from lib import models, train

    rows, param_counts = [], {}
    common = dict(epochs=epochs, batch_size=batch_size)
    for seed in seeds:
        train.set_seed(seed)
        src = models.build_mlp(d1.n_features, d1.n_classes, hidden, normalizer_data=d1.x_train, name="source")
        hist = train.fit(src, d1, learning_rate=learning_rate, seed=seed, **common)
        _keep(rows, record, "source", seed, src, d1, hist)
        zs = train.zero_shot(src, d2)
        rows[-1].update(zero_shot_identity=zs["identity"], zero_shot_best_mapping=zs["best_mapping"])
        train.set_seed(seed)
        arms = {
            "frozen": (transfer_model(src, d2.n_classes, new_hidden, freeze=True, name="frozen"), learning_rate),
            "finetune": (transfer_model(src, d2.n_classes, new_hidden, freeze=False, name="finetune"),
                         finetune_learning_rate),
            "control": (models.build_mlp(d2.n_features, d2.n_classes, hidden, normalizer_data=d2.x_train,
                                         name="control"), learning_rate),
            "control_deep": (reinitialised_transfer_architecture(hidden, d2.n_features, d2.n_classes, new_hidden,
                                                                 normalizer_data=d2.x_train), learning_rate),
        }
        param_counts["source"] = models.parameter_counts(src)
        for arm, (model, lr) in arms.items():
            hist = train.fit(model, d2, learning_rate=lr, seed=seed, **common)
            _keep(rows, record, arm, seed, model, d2, hist)
            param_counts[arm] = models.parameter_counts(model)
        log(f"seed {seed}: " + ", ".join(f"{r['arm']} test {r['test_acc']:.3f}" for r in rows if r["seed"] == seed))
    return rows, param_counts


def _keep(rows, record, arm, seed, model, task, hist):
    from lib import train

    rows.append({
        "arm": arm, "seed": seed, "dataset": task.name,
        "train_acc": hist["accuracy"][-1], "val_acc": hist["val_accuracy"][-1],
        "test_acc": train.accuracy(model, task.x_test, task.y_test),
        "epoch_time_s": float(sum(hist["epoch_time_s"]) / len(hist["epoch_time_s"])),
    })
    if record is not None:
        record.add_history(arm, seed, hist)
