"""Seeding, training and evaluation, the same for every arm of a study."""

from __future__ import annotations

import math

import os
import random
import sys
import time
import weakref
from collections import OrderedDict

import keras
import numpy as np

try:  # TensorFlow feeds (tf.data) and seeds the TensorFlow backend; other backends run without it installed
    import tensorflow as tf
except ImportError:  # e.g. a GPU machine with JAX and no TensorFlow wheel
    tf = None
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import accuracy_score, confusion_matrix

from lib.data import Task
from lib.models import walk_layers
from lib.checks import STUCK_LOSS_FRACTION, STUCK_MARGIN  # one definition of "stuck at chance"


class EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch, in ``times`` (seconds). Also a one-line progress report per
    epoch on the terminal (:func:`terminal_line`): under papermill it reaches the terminal running
    ``make``, not the report. ``TLLAB_PROGRESS=0`` silences it."""

    def __init__(self, label: str = ""):
        super().__init__()
        self.times: list[float] = []
        self.label = label
        self.quiet = os.environ.get("TLLAB_PROGRESS", "1") == "0" or sys.__stderr__ is None

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t)
        if not self.quiet:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in (logs or {}).items() if k in ("loss", "accuracy", "val_accuracy"))
            total = self.params.get("epochs", "?") if self.params else "?"
            terminal_line(f"  [{time.strftime('%H:%M:%S')}] {self.label}epoch {epoch + 1}/{total}: {shown} "
                          f"({self.times[-1]:.0f} s)")


class StopWhenStuck(keras.callbacks.Callback):
    """Stop a run stuck at chance: after ``after`` epochs whose training loss all sat within
    ``fraction`` of ``log(n_classes)`` (the loss of a uniform guess) and whose validation accuracy
    never rose above ``majority + margin`` (defaults: :data:`lib.checks.STUCK_LOSS_FRACTION` and
    :data:`lib.checks.STUCK_MARGIN`, the pitfall check's own thresholds). ``stuck_epoch`` says when it
    stopped (0: it did not)."""

    def __init__(self, n_classes: int, majority: float, after: int, fraction: float | None = None,
                 margin: float | None = None):
        fraction = STUCK_LOSS_FRACTION if fraction is None else fraction
        margin = STUCK_MARGIN if margin is None else margin
        super().__init__()
        self.chance_loss, self.majority, self.after = float(np.log(n_classes)), majority, after
        self.fraction, self.margin = fraction, margin
        self.flat = 0
        self.stuck_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        flat = abs(logs.get("loss", np.inf) - self.chance_loss) < self.fraction * self.chance_loss
        chance = logs.get("val_accuracy", 1.0) <= self.majority + self.margin
        self.flat = self.flat + 1 if flat and chance else 0
        if self.flat >= self.after:
            self.stuck_epoch = epoch + 1
            self.model.stop_training = True


def terminal_line(line: str) -> None:
    """Write ``line`` to the terminal that started this process, never into a notebook's outputs.
    Inside a Jupyter kernel, file descriptor 2 is a pipe whose every byte ipykernel copies into
    the running cell's output; ipykernel keeps the terminal's descriptor as
    ``sys.stderr._original_stdstream_copy``, and that is where the line goes. Elsewhere it goes to
    ``sys.__stderr__``."""
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)
    if isinstance(fd, int):
        try:
            os.write(fd, (line + "\n").encode())
            return
        except OSError:
            pass
    print(line, file=sys.__stderr__, flush=True)


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and turn on TensorFlow's op determinism, so the same
    parameters on the same CPU give identical metrics."""

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if tf is not None:
        tf.config.experimental.enable_op_determinism()
        # studies build many models in one process: TensorFlow's Python-side "retracing" warnings
        # about it are expected and only clutter the reports
        tf.get_logger().setLevel("ERROR")


def uses_tf_data() -> bool:
    """Whether :func:`make_dataset` builds a ``tf.data`` pipeline: on the TensorFlow backend
    (TensorFlow is then installed); every other backend gets :class:`ArrayBatches`."""
    return tf is not None and keras.backend.backend() == "tensorflow"


class ArrayBatches(keras.utils.PyDataset):
    """In-memory arrays as batches for a backend without TensorFlow (JAX, PyTorch): the same
    contract as :func:`make_dataset`'s ``tf.data`` pipeline (whole batches gathered by index, the
    index order shuffled anew each pass with a generator seeded by ``seed`` when ``shuffle``,
    ``passes`` whole passes per iteration) in NumPy. Not the same order as ``tf.data``'s shuffle:
    runs are reproducible per backend, not across backends (docs/scale.md)."""

    def __init__(self, x, y, batch_size: int, *, shuffle: bool = False, seed: int = 0, passes: int = 1):
        super().__init__()
        self.x, self.y, self.batch_size, self.shuffle, self.passes = x, y, int(batch_size), shuffle, max(int(passes), 1)
        self.per_pass = -(-len(y) // self.batch_size)
        self.rng = np.random.default_rng(seed)
        self.orders = self._draw()

    def _draw(self):
        n = len(self.y)
        return [self.rng.permutation(n) if self.shuffle else np.arange(n) for _ in range(self.passes)]

    def __len__(self):
        return self.per_pass * self.passes

    def __getitem__(self, i):
        order = self.orders[i // self.per_pass]
        k = i % self.per_pass
        idx = order[k * self.batch_size:(k + 1) * self.batch_size]
        return self.x[idx], self.y[idx]

    def on_epoch_end(self):
        if self.shuffle:
            self.orders = self._draw()


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                 passes: int = 1):
    """tf.data pipeline over in-memory arrays: the arrays are held once as tensors; each epoch
    shuffles the *indices* with ``seed`` (when asked), batches them and gathers whole batches, then
    prefetches. Gathering per batch instead of slicing per element keeps tf.data's per-element
    overhead out of the training loop (see ``make bench``). ``passes`` > 1: one iteration of the
    dataset is that many whole passes over the data, each shuffled anew. Under a backend other
    than TensorFlow, the same in NumPy (:class:`ArrayBatches`)."""

    if not uses_tf_data():
        return ArrayBatches(x, y, batch_size, shuffle=shuffle, seed=seed, passes=passes)
    xt, yt = tf.constant(x), tf.constant(y)
    idx = tf.data.Dataset.range(len(y))
    if shuffle:
        idx = idx.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = idx.batch(batch_size).map(lambda i: (tf.gather(xt, i), tf.gather(yt, i)),
                                   num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if passes > 1:
        ds = ds.repeat(passes)
    return ds.prefetch(tf.data.AUTOTUNE)


# The models this module compiled, with what their graph was traced for: the optimizer and the
# ids of the variables that train. Kept beside the model (not on it: Keras tracks attributes).
_COMPILED: "weakref.WeakKeyDictionary[keras.Model, tuple]" = weakref.WeakKeyDictionary()


class PerVariableAdam(keras.optimizers.Adam):
    """Adam whose step for a variable is scaled by that variable's ``lr_multiplier`` attribute
    (set by a training policy, e.g. discriminative rates: ``lib.arms.block_multipliers``); a
    variable without one (every other policy) gets exactly Adam's step. Keras has no per-layer
    rates (keras-team/keras #8850, #21741); scaling the gradient would not do it, Adam being
    invariant to the gradient's scale, so the rate given to ``update_step`` is scaled."""

    def update_step(self, gradient, variable, learning_rate):
        # the backend may pass its own variable (TensorFlow: the tf.Variable): the Keras one is looked up
        mult = getattr(self._trainable_variables[self._get_variable_index(variable)], "lr_multiplier", None)
        if mult is not None and mult != 1.0:
            learning_rate = learning_rate * mult
        return super().update_step(gradient, variable, learning_rate)


def compile_or_reset(model: keras.Model, learning_rate: float, steps_per_execution: int = 1) -> bool:
    """Make ``model`` ready for a fresh training run with Adam at ``learning_rate`` and sparse
    categorical cross-entropy. When this module compiled it before with the same variables
    trainable, the compiled model is kept and only the optimizer's state is reset (step count and
    moments to zero, the learning rate set): Keras then reuses its traced training graph instead of
    tracing a new one, which costs 15-45 s per VGG16 / ResNet50 on a 2-core CPU (``make bench``).
    Any other change (a layer frozen or unfrozen, a compile elsewhere) compiles anew: a
    ``trainable`` change only takes effect on compile. Returns whether the graph was reused.
    ``steps_per_execution`` is 1 under the PyTorch backend, which takes no other value (the same
    steps, only the Python overhead per step differs)."""
    if keras.backend.backend() == "torch":
        steps_per_execution = 1
    trainable = (tuple(id(v) for v in model.trainable_variables), steps_per_execution)
    before = _COMPILED.get(model)
    if before and before[0] is model.optimizer and before[1] == trainable and model.compiled:
        for v in model.optimizer.variables:
            if v.name != "learning_rate":
                v.assign(np.zeros(v.shape, v.dtype))
        model.optimizer.learning_rate = learning_rate
        return True
    model.compile(optimizer=PerVariableAdam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    _COMPILED[model] = (model.optimizer, trainable)
    return False


class ModelPool:
    """Built models kept by a key (architecture, policy, size, classes, weights: whatever makes
    the graph the same), so that the next seed or arm of that key trains the already compiled
    model instead of tracing a new one.

    :meth:`take` is given a freshly built model (cheap: building is not tracing), whose variables
    hold this run's initial values (its seed's random draws, loaded weights). If the pool holds a
    model of the key, every variable of the fresh model (weights, BatchNorm statistics, dropout
    seed states) and every layer's ``trainable`` flag are copied into it and it is returned with
    its own parts; else the fresh one is kept and returned. Training the returned model gives the
    same history as training the fresh one (``tests/test_train.py``); :func:`fit` resets the
    optimizer. ``size``: models kept, and ``max_params`` their parameters in all (least recently
    used dropped first: a study's loop over seeds needs every arm of one seed kept until the next
    seed comes round; each kept parameter costs about 12 bytes with Adam's two moments);
    ``size=0`` turns reuse off, and so does any backend but TensorFlow: under JAX (jax 0.10.2,
    Keras 3.15.1) a reused model with every variable and seed state copied from a fresh build still
    trains to other weights than that build (measured; cause not found), and reuse must never
    change what a seed learns."""

    def __init__(self, size: int = 24, max_params: float = 2e8):
        self.size = size if keras.backend.backend() == "tensorflow" else 0
        self.max_params = max_params
        self._models: OrderedDict = OrderedDict()
        self.reused = 0
        self.built = 0

    def take(self, key, model: keras.Model, parts=None):
        if any(getattr(v, "regularizer", None) is not None for v in model.variables):
            # a regularizer holding its own values (L2-SP's starting point) is baked into the traced graph:
            # a pooled model would train toward an earlier build's values, so such a model is never pooled
            self.built += 1
            return (model, parts) if parts is not None else model
        kept = self._models.get(key) if self.size else None
        if kept is not None and _same_variables(kept[0], model):
            self._models.move_to_end(key)
            old, old_parts = kept
            for a, b in zip(old.variables, model.variables):
                a.assign(b)
            for a, b in zip(walk_layers(old), walk_layers(model)):
                a.trainable = b.trainable
            if parts is not None and old_parts is not None:  # plain values (flags, names) from the fresh build
                old_parts.refresh_from(parts)
            self.reused += 1
            return (old, old_parts) if parts is not None else old
        self.built += 1
        if self.size:
            self._models[key] = (model, parts)
            while len(self._models) > 1 and (len(self._models) > self.size or self._params() > self.max_params):
                self._models.popitem(last=False)
        return (model, parts) if parts is not None else model

    def _params(self) -> int:
        return sum(m.count_params() for m, _ in self._models.values())

    def clear(self) -> None:
        self._models.clear()


def _same_variables(a: keras.Model, b: keras.Model) -> bool:
    va, vb = a.variables, b.variables
    return len(va) == len(vb) and all(tuple(x.shape) == tuple(y.shape) and x.dtype == y.dtype for x, y in zip(va, vb))


def early_stopping(monitor: str, *, patience: int, epochs: int, min_epochs: int = 0, mode: str = "auto",
                   min_delta: float = 0.0) -> keras.callbacks.EarlyStopping:
    """Keras' ``EarlyStopping`` on ``monitor`` that restores the best epoch's weights and watches
    from epoch ``min_epochs`` on (``start_from_epoch``), clamped so that the last of ``epochs`` is
    always watched: every run keeps the weights of a watched epoch. The one early stopping of the
    lab (:func:`fit` and the detector's ``fit_detector``); :func:`kept_epoch` reads which epoch it kept."""
    return keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, min_delta=min_delta,
                                         restore_best_weights=True, start_from_epoch=min(min_epochs, max(epochs - 1, 0)))


def validation_se(y_val, multiple: float = 1.0) -> float:
    """``multiple`` standard errors of a validation accuracy measured on ``y_val``'s outcomes (every
    entry one: a plate's seven characters are seven), at its widest, 50%: ``0.5 / sqrt(n)``. As
    early stopping's ``min_delta``, a gain smaller than the validation set can resolve does not
    count as one: measured on the plates' curves (2,800 validation characters, SE 0.009), runs
    went on for 6-10 epochs of 0.001-0.005 gains that were noise."""
    n = int(np.asarray(y_val).size)
    return float(multiple) * 0.5 / np.sqrt(n) if n and multiple else 0.0


def kept_epoch(stop: keras.callbacks.EarlyStopping, ran: int) -> int:
    """The 1-based epoch whose weights ``stop`` restored: its best watched epoch (by its own rule,
    ``min_delta`` included), or the last epoch run when it watched none (a run stopped before)."""
    return int(stop.best_epoch) + 1 if stop.best_weights is not None else ran


def one_cycle(lr: float, epoch: int, epochs: int, pct_start: float = 0.25, div: float = 25.0,
              div_final: float = 1e5) -> float:
    """fastai's one-cycle (``fit_one_cycle``, Smith & Topin 2019), per epoch: the rate rises from
    ``lr / div`` to ``lr`` over the first ``pct_start`` of training and anneals to ``lr / div /
    div_final``, both halves cosine (fastai's ``combined_cos`` and defaults), read at each epoch's
    middle (fastai changes it per step; an epoch gets the rate of its middle step)."""
    p = (epoch + 0.5) / max(epochs, 1)
    lo, end = lr / div, lr / div / div_final
    if p < pct_start:
        return lo + (lr - lo) * (1 - math.cos(math.pi * p / pct_start)) / 2
    return end + (lr - end) * (1 + math.cos(math.pi * (p - pct_start) / (1 - pct_start))) / 2


SCHEDULES = {
    "constant": lambda lr, epoch, epochs: lr,
    # cosine annealing per epoch: lr at the first, lr/2 halfway, towards 0 at the cap
    "cosine": lambda lr, epoch, epochs: lr * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1))),
    "one_cycle": one_cycle,
}


def fit(model: keras.Model, task: Task, *, epochs: int, batch_size: int = 64,
        learning_rate: float = 1e-3, seed: int = 0, validation_freq: int = 1,
        patience: int = 0, stop_stuck_after: int = 0, min_epoch_steps: int = 0,
        steps_per_execution: int = 1, min_epochs: int = 0, min_delta: float = 0.0,
        schedule: str = "constant") -> dict[str, list[float]]:
    """Compile with Adam and sparse categorical cross-entropy (or reuse the compiled graph with a
    fresh optimizer state, :func:`compile_or_reset`), train on ``task``'s train split, validate on its validation split.

    ``patience`` > 0: early stopping on validation accuracy (Keras' ``EarlyStopping``) after that
    many epochs without improvement, and the best epoch's weights restored; ``epochs`` is then the
    cap. The history says so: ``best_epoch`` (1-based) and ``stopped_early`` (1 or 0).
    ``min_epochs``: early stopping watches from that epoch on (Keras' ``start_from_epoch``), so a
    model that sits at chance for its first epochs before it takes off is not stopped there.
    ``min_delta``: the smallest gain in validation accuracy that counts as one for early stopping
    (Keras' ``min_delta``; :func:`validation_se` gives the rule the plate study uses).
    ``stop_stuck_after`` > 0: stop a run whose training loss sat at ``log(classes)`` with validation
    accuracy at the majority rate for that many epochs in a row (:class:`StopWhenStuck`); the
    history's ``stopped_stuck`` holds the epoch it stopped at (0: it did not).
    ``min_epoch_steps`` > 0: an "epoch" is as many whole passes over the train split as make at
    least that many optimizer steps (a 300-example task at batch 128 has 3 steps per pass: validating
    and starting a new epoch after each costs ~40 ms on 2 cores, ten times the steps); the history's
    ``steps_per_epoch`` and ``passes_per_epoch`` say what an epoch was. ``steps_per_execution``:
    Keras' optimizer steps per graph call (less Python per step for small models; the same result,
    ``tests/test_train.py``). ``schedule``: the learning rate over the epochs (:data:`SCHEDULES`):
    ``constant``; ``cosine``, annealed per epoch from ``learning_rate`` towards 0 at ``epochs``
    (SGDR without restarts, Loshchilov & Hutter 2017); or ``one_cycle`` (:func:`one_cycle`, peaking at
    ``learning_rate``). The cap sets the curve; early stopping may end the run before; the history's
    ``learning_rate`` (Keras' scheduler) then lists each epoch's rate.

    Returns the per-epoch history: ``loss``, ``accuracy`` (train), ``val_loss``, ``val_accuracy``
    (validation, every ``validation_freq`` epochs: ``val_epoch`` lists which, counting from 1),
    ``epoch_time_s`` and ``steps_per_epoch`` (optimizer steps). The test split is not touched.
    """
    set_seed(seed)
    compile_or_reset(model, learning_rate, steps_per_execution)
    per_pass = -(-len(task.y_train) // batch_size)
    passes = -(-min_epoch_steps // per_pass) if min_epoch_steps > per_pass else 1
    timer = EpochTimer(f"{model.name} ")
    callbacks: list = [timer]
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r} (known: {', '.join(SCHEDULES)})")
    rates = [SCHEDULES[schedule](learning_rate, e, epochs) for e in range(epochs)]
    if schedule != "constant":
        callbacks.append(keras.callbacks.LearningRateScheduler(lambda epoch, lr: rates[epoch]))
    stop = None
    if patience:
        if validation_freq != 1:
            raise ValueError("early stopping (patience > 0) needs validation every epoch (validation_freq=1)")
        stop = early_stopping("val_accuracy", patience=patience, epochs=epochs, min_epochs=min_epochs,
                              min_delta=min_delta)
        callbacks.append(stop)
    stuck = None
    if stop_stuck_after:
        if validation_freq != 1:
            raise ValueError("stopping stuck runs needs validation every epoch (validation_freq=1)")
        majority = float(np.bincount(np.asarray(task.y_val).ravel()).max() / np.asarray(task.y_val).size)
        n_classes = task.n_classes if task.class_names else int(np.max(task.y_train)) + 1
        stuck = StopWhenStuck(max(n_classes, 2), majority, stop_stuck_after)
        callbacks.append(stuck)
    hist = model.fit(make_dataset(task.x_train, task.y_train, batch_size, shuffle=True, seed=seed, passes=passes),
                     validation_data=make_dataset(task.x_val, task.y_val, 1024),
                     epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks,  # the dataset shuffles
                     validation_freq=validation_freq)
    out = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    ran = len(out["loss"])
    out["epoch_time_s"] = timer.times
    out["val_epoch"] = [e for e in range(1, ran + 1) if e % validation_freq == 0]
    out["steps_per_epoch"] = [float(per_pass * passes)]
    out["passes_per_epoch"] = [float(passes)]
    if stuck is not None:
        out["stopped_stuck"] = [float(stuck.stuck_epoch)]
    if stop is not None:  # the epoch whose weights early stopping kept: the best from its first watched epoch on
        out["best_epoch"] = [float(kept_epoch(stop, ran))]
        out["stopped_early"] = [float(ran < epochs)]
    return out


PER_RUN = ("steps_per_epoch", "passes_per_epoch", "best_epoch", "stopped_early", "stopped_stuck")


def join_phases(first: dict[str, list[float]], second: dict[str, list[float]]) -> dict[str, list[float]]:
    """One history of two training phases run one after the other (a head first, then more
    layers): per-epoch lists joined, the second phase's ``val_epoch`` shifted by the first's epochs
    so the validation curve runs on instead of folding back, per-run entries (``steps_per_epoch``
    ...) listed per phase. The one place phases are joined: every study uses it."""
    ran = len(first.get("loss", []))
    out = {}
    for k in first.keys() | second.keys():
        a, b = list(first.get(k, [])), list(second.get(k, []))
        if k in ("val_epoch", "best_epoch"):  # epochs of the whole run, counting from its first phase
            b = [e + ran for e in b]
        out[k] = a + b
    out["phase_epochs"] = [float(ran), float(len(second.get("loss", [])))]
    return out


def predict_labels(model: keras.Model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    return np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=-1)


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of ``model`` on ``(x, y)`` (sklearn's ``accuracy_score``); with several labels per
    example (the plate study's ``(n, 7)`` characters), the fraction of labels right."""
    return accuracy_of(model.predict(x, batch_size=1024, verbose=0), y)


def correct_of(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example outcomes of predicted class probabilities: 1.0 where the example is right; with
    several labels per example (a plate's ``(n, 7)`` characters), the share of its labels right, one
    value per example, since the labels of one example are not independent draws (the claims'
    paired test-set term, :func:`lib.claims.paired_test_var`, reads these)."""
    right = (np.argmax(probs, axis=-1) == np.asarray(y)).astype(np.float32)
    return right.mean(axis=-1) if right.ndim > 1 else right


def test_scores(probs: np.ndarray, y: np.ndarray) -> dict:
    """``test_acc`` and the per-example ``test_correct`` (:func:`correct_of`) of predicted
    probabilities: what every arm runner puts in its row."""
    return {"test_acc": accuracy_of(probs, y), "test_correct": correct_of(probs, y)}


def accuracy_of(probs: np.ndarray, y: np.ndarray) -> float:
    """:func:`accuracy` of predicted class probabilities ``probs`` (last axis: classes)."""
    pred = np.argmax(probs, axis=-1)
    if np.ndim(y) > 1:
        return float(np.mean(pred == np.asarray(y)))
    return float(accuracy_score(y, pred))


def zero_shot(model: keras.Model, task: Task) -> dict[str, float | list[int]]:
    """A source model applied unchanged to another task's test split.

    ``identity``: the source's output unit k is read as target class k (what the seed did; only
    meaningful if the classes coincide and are ordered alike). ``best_mapping``: the one-to-one
    assignment of source outputs to target classes that maximises accuracy, found on the target's
    *train* split (Hungarian algorithm) and scored on its test split: an upper bound on what the
    unchanged model knows about the target classes.
    """
    pred_test = predict_labels(model, task.x_test)
    identity = float(np.mean(pred_test == task.y_test))
    pred_train = predict_labels(model, task.x_train)
    n_out = int(model.output_shape[-1])
    n = max(n_out, task.n_classes)
    cm = confusion_matrix(task.y_train, pred_train, labels=range(n))  # rows target, cols source
    rows, cols = linear_sum_assignment(-cm)
    mapping = {int(src): int(tgt) for tgt, src in zip(rows, cols)}
    mapped = np.array([mapping.get(int(p), -1) for p in pred_test])
    return {"identity": identity, "best_mapping": float(np.mean(mapped == task.y_test)),
            "mapping": [mapping.get(k, -1) for k in range(n_out)]}


def loss_gradients(model: keras.Model, loss_fn, x, y, variables) -> tuple[float, list]:
    """The loss of ``model`` on one batch (training mode) and its gradient with respect to each of
    ``variables`` (``None`` for one the loss does not depend on), under the running Keras backend:
    TensorFlow's gradient tape, JAX's ``value_and_grad`` of the model's stateless call, or PyTorch's
    autograd."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return float(loss), tape.gradient(loss, variables)
    if backend == "jax":
        import jax

        trainable, fixed = model.trainable_variables, [v.value for v in model.non_trainable_variables]

        def of(values):
            pred, _ = model.stateless_call(values, fixed, x, training=True)
            return loss_fn(y, pred)

        loss, grads = jax.value_and_grad(of)([v.value for v in trainable])
        at = {id(v): g for v, g in zip(trainable, grads)}
        return float(loss), [at.get(id(v)) for v in variables]
    if backend == "torch":
        for v in variables:
            v.value.grad = None
        loss = loss_fn(y, model(x, training=True))
        loss.backward()
        return float(loss.detach().cpu()), [v.value.grad for v in variables]
    raise ValueError(f"gradients under the {backend!r} backend are not supported (tensorflow, jax, torch)")


def block_diagnostics(model: keras.Model, base: keras.Model, block_of, x: np.ndarray, y: np.ndarray) -> list[dict]:
    """Per block of ``base``: the norm of the loss gradient with respect to its weights and the
    standard deviation of its output activations, on one batch. A block whose gradient norm is
    orders of magnitude below the others learns nothing (vanishing gradients); activations that
    shrink block after block signal the same from the forward side."""

    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    weights = base.trainable_weights
    loss, grads = loss_gradients(model, loss_fn, x, y, weights)
    norms: dict[str, float] = {}
    owner = {id(w): layer.name for layer in base.layers for w in layer.trainable_weights}
    for w, g in zip(weights, grads):
        block = block_of(owner.get(id(w), "")) or "other"
        if g is not None:
            norms[block] = norms.get(block, 0.0) + float(np.sum(np.square(keras.ops.convert_to_numpy(g))))
    outs = {}
    names = [l.name for l in base.layers]
    for block in dict.fromkeys(b for b in (block_of(n) for n in names) if b):
        last = [n for n in names if block_of(n) == block][-1]
        outs[block] = base.get_layer(last).output
    probe = keras.Model(base.input, list(outs.values()))
    pre = model.layers[1] if model.layers[1].name == "preprocess" else None
    acts = probe(pre(x) if pre is not None else x)
    acts = acts if isinstance(acts, list) else [acts]
    return [{"block": b, "grad_norm": float(np.sqrt(norms.get(b, 0.0))),
             "activation_std": float(np.std(keras.ops.convert_to_numpy(a))), "loss": float(loss)}
            for b, a in zip(outs, acts)]
