"""Model builders. Layer names carry their role so a block can be frozen or copied by name."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np


def build_mlp(n_features: int, n_classes: int, hidden: Sequence[int] = (128, 64, 32), *,
              normalizer_data: np.ndarray | None = None, dropout: float = 0.0,
              name: str = "mlp") -> keras.Model:
    """A dense classifier: ``norm`` -> ``hidden_1..k`` (ReLU) -> ``output`` (softmax).

    Input standardisation lives inside the model (a ``Normalization`` layer adapted on
    ``normalizer_data``, usually the training inputs), so a copied model carries its input
    contract with it. Defaults: three hidden layers of 128, 64 and 32 units, no dropout.
    """
    if n_features < 1 or n_classes < 2:
        raise ValueError(f"need n_features >= 1 and n_classes >= 2; received {n_features}, {n_classes}")
    if not hidden or any(int(h) < 1 for h in hidden):
        raise ValueError(f"hidden must list positive layer sizes; received {list(hidden)}")
    inputs = keras.Input((n_features,), name="features")
    norm = keras.layers.Normalization(name="norm")
    if normalizer_data is not None:
        norm.adapt(np.asarray(normalizer_data, dtype="float32"))
    else:
        norm.build((None, n_features))
    x = norm(inputs)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(int(units), activation="relu", name=f"hidden_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def parameter_counts(model: keras.Model) -> dict[str, int]:
    """Trainable and frozen (non-trainable) parameter counts."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"trainable": trainable, "frozen": frozen, "total": trainable + frozen}


def walk_layers(layer) -> list:
    """``layer`` and every layer inside it, each once, breadth first: a model's ``layers`` and a
    wrapper layer's inner model (an attribute holding a layer, e.g. ``backbones.InferenceMode.inner``).
    Public attributes only (Keras' own recursive walk is private); the order is fixed for a given
    architecture, so two models built alike walk alike (the graph pool copies ``trainable`` flags
    along it; the feature cache names layers by their position in it)."""
    out, seen, queue = [], set(), [layer]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        out.append(current)
        queue += list(getattr(current, "layers", None) or [])
        attrs = dict(vars(current))
        attrs.update(attrs.get("_modules") or {})  # torch backend: a Layer is a torch Module, its sub-layers live there
        queue += [v for k, v in sorted(attrs.items()) if isinstance(v, keras.layers.Layer)]
    return out
