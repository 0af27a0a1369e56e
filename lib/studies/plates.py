"""Seed 000's plate study: the 7-character x 35-class multi-head model and its runs on the
built-in plates of :mod:`lib.datasets.plates`, and the report's steps. The arms, the claims and
the checks before any kernel live in :mod:`lib.studies.plate_claims` (no TensorFlow), the figures
in :mod:`lib.studies.plate_figures`; both are re-exported here under their names.

The alphabet has 35 symbols: the digits and the Latin capitals without ``O`` (too close to
``0`` on real plates). A plate is rendered wide (about 1:4) with one of several fonts, plate
colours and borders, then warped into a square image (the seed resized plates to 224x224), with
perspective, blur, lighting and, sometimes, a smudge over part of one character.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import keras
import numpy as np

from lib import backbones, sources, train, transfer
from lib.checks import hint
from lib.datasets.plates import (  # noqa: F401 (the study's names for its data)
    ALPHABET,
    FONTS,
    INK_COLOURS,
    N_CHARS,
    PLATE_COLOURS,
    decode,
    encode,
    label_problem,
    load_plate_folder,
    make_glyphs,
    make_plates,
    plate_labels_from,
    plate_metrics,
    render_plate,
)

from lib.studies import plate_figures
from lib.studies.plate_claims import (  # noqa: F401 (the notebook and the registry read them as plates.*)
    FACTORIAL,
    HEADS,
    PLATE_ARMS,
    SEED_STEPS,
    SOURCE,
    all_arms,
    budget_premise,
    check,
    claim_ids,
    explanations,
    judge_explanations,
    judge_hypotheses,
    needs,
    parse_plate_arm,
    plate_spec,
    steps_of,
)
from lib.studies.plate_figures import (  # noqa: F401 (the notebook reads them as plates.*)
    READS_MARGIN,
    confusions,
    diagnosis_lines,
    near_chance,
    noise_sweep_rows,
    per_seed,
    plot_noise_sweep,
    plot_positions,
)


def plate_head(feature_shape, n_chars: int = N_CHARS, n_symbols: int = len(ALPHABET), pool: str = "seed"):
    """The seed's head: GlobalAveragePooling -> Dropout 0.2 -> ``n_chars`` branches of [Dense 360
    -> BatchNorm -> ReLU -> Dropout 0.2 -> Dense ``n_symbols`` softmax] -> Concatenate -> Reshape
    ``(n_chars, n_symbols)``. ``pool="columns"`` averages the feature map over its height only and
    flattens the columns instead (:data:`HEADS`): a global pool leaves the branches to infer
    character positions from the base's border effects, which a frozen base cannot learn."""
    if pool not in HEADS:
        raise ValueError(f"unknown plate head {pool!r}{hint(pool, HEADS, 1)} (known: {', '.join(HEADS)})")
    inputs = keras.Input(feature_shape, name="features")
    if pool == "seed":
        x = keras.layers.GlobalAveragePooling2D(name="gap")(inputs)
    else:
        x = keras.layers.AveragePooling2D((feature_shape[0], 1), name="column_pool")(inputs)
        x = keras.layers.Flatten(name="columns")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    branches = []
    for k in range(n_chars):
        h = keras.layers.Dense(360, name=f"char{k}_dense")(x)
        h = keras.layers.BatchNormalization(name=f"char{k}_bn")(h)
        h = keras.layers.ReLU(name=f"char{k}_relu")(h)
        h = keras.layers.Dropout(0.2, name=f"char{k}_dropout")(h)
        branches.append(keras.layers.Dense(n_symbols, activation="softmax", name=f"char{k}")(h))
    out = keras.layers.Reshape((n_chars, n_symbols), name="plate")(keras.layers.Concatenate(name="chars")(branches))
    return keras.Model(inputs, out, name="plate_head")


def build_plate_model(image_size: int, *, weights: str = "none", policy: str = "frozen", arch: str = "efficientnetb0",
                      head: str = "seed"):
    """The seed's model: ``arch`` without top (preprocessing inside) -> :func:`plate_head` (``head``:
    its pooling, :data:`HEADS`), built by :func:`lib.transfer.build_image_classifier` (``policy``:
    one of its policies; ``frozen`` keeps BatchNorm in inference mode). Returns ``(model, parts)``."""
    return transfer.build_image_classifier(arch, image_size, len(ALPHABET), policy=policy, weights=weights,
                                           head=partial(plate_head, pool=head))


def run_plate_arm(arm: str, task, image_size: int, *, weights: str, epochs: int, head_epochs: int, batch_size: int,
                  learning_rate: float, finetune_learning_rate: float, noise_std: float, seed: int,
                  cache_features: bool = True, patience: int = 0, arch: str = "efficientnetb0", head: str = "seed",
                  min_epochs: int = 0, min_delta_se: float = 0.0):
    """Train one plate arm with the shared arm runner (:func:`lib.transfer.run_image_arm`, the
    seven-character head); returns ``(row, history)`` with the plate metrics. ``task`` holds
    images and ``(n, 7)`` labels. A frozen arm without noise trains its head on cached features
    (``cache_features``); with noise the base runs every step, since the noise is redrawn per batch.
    ``patience``: early stopping on validation character accuracy (the row's ``stopped_early`` and
    ``best_epoch`` say whether the run converged before the epoch cap), watching from its
    ``min_epochs``-th epoch on, a gain counting only above ``min_delta_se`` standard errors of the
    validation character accuracy (:func:`lib.train.validation_se`). ``arch``, ``head``: the base
    and the head's pooling (:data:`HEADS`)."""
    spec = plate_spec(arm, arch)
    row, hist, parts = transfer.run_image_arm(
        spec, task, image_size, weights=weights, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        finetune_learning_rate=finetune_learning_rate, head_epochs=head_epochs, seed=seed,
        cache_features=cache_features, head=partial(plate_head, pool=head), noise_std=noise_std, patience=patience,
        min_epochs=min_epochs, min_delta=train.validation_se(task.y_val, min_delta_se))
    m = plate_metrics(task.y_test, parts.test_probs)  # the runner's own test predictions (after any +div255)
    out = {"arm": arm, "seed": seed, "noise_std": row["noise_std"], "policy": parse_plate_arm(arm)["policy"],
           "train_char_acc": row["train_acc"], "val_char_acc": row["val_acc"], "best_val_char_acc": row["best_val_acc"],
           "test_char_acc": m["char_acc"], "test_plate_acc": m["plate_acc"],
           "test_plate_correct": row["test_correct"],  # per plate: the share of its 7 characters read right
           "test_char_acc_by_position": m["char_acc_by_position"], "confused_pairs": m["confused_pairs"],
           "wall_s": row["wall_s"], "images_per_s": row["images_per_s"], "cached_features": row["cached_features"],
           "input_max": row["input_max"], "epochs_run": row["epochs_run"],
           **{k: hist[k][0] for k in ("stopped_early", "best_epoch") if k in hist},
           **{k: v for k, v in row.items() if k.endswith("_params")}}
    return out, hist


# ---------------------------------------------------------------------------------------------
# The report's steps (notebooks/plates.ipynb): each cell calls one of these with the run's
# parameters ``p`` (as :func:`lib.params.collect` returns them).

@dataclass
class Plan:
    """What a run trains, decided before any training: the premises every claim shares
    (``common``: seeds, the budget), the source weights' premise (``source``, ``None`` when nothing
    would load them), each arm's own premises, the arms not trained (with why) and those trained."""

    arms: list[str]
    steps: int | None
    common: list
    source: object | None
    arm_premises: dict
    skipped: dict
    trained: list[str]

    def markdown(self) -> str:
        known = "; ".join(x.text() for x in [*self.common, *([self.source] if self.source else [])])
        text = f"**Premises known before training**: {known}."
        if self.skipped:
            text += (f"\n\n**Not trained** ({len(self.skipped)} of {len(self.arms)} arms): a premise of theirs fails before "
                     "any training, so their claims are *not testable here* whatever they would score. The seed's regime "
                     "is the `paper` profile (224 px, 10,000 plates, 10 epochs, ImageNet weights, a GPU); "
                     "`run_untestable: true` trains them here anyway.")
        return text


def plan(p: dict) -> Plan:
    """The run's :class:`Plan`. The source weights' premise is read only when an arm that loads them
    can train (else ``make`` did not pre-train them first); their file is then checked now."""
    from lib import claims as C

    arms = all_arms(p["arms"], p["noise_sweep"])
    steps = steps_of(p)
    budget = [b for b in [budget_premise(p)] if b is not None]
    common = [C.enough_seeds(p["n_seeds"]), *budget]
    force = p["run_untestable"]
    src = (sources.source_premise(p["arch"], p["image_size"], p["weights"])
           if force or all(x.held for x in budget) else None)
    pretrained = [a for a in arms if parse_plate_arm(a)["policy"] != "scratch"]
    arm_premises = {a: [src] for a in pretrained if src is not None}
    skipped = C.not_trained(arms, arm_premises, budget, force=force)  # the seeds are no reason to skip
    trained = [a for a in arms if a not in skipped]
    if any(a in pretrained for a in trained):  # only then are the weights loaded (lib/prereqs.py agrees)
        backbones.check_weights(p["arch"], p["image_size"], p["weights"])  # offline imagenet: fail now
    return Plan(arms, steps, common, src, arm_premises, skipped, trained)


def trained_premises(plan_: Plan, rows) -> dict[str, list]:
    """Each trained arm's premises after training: those known before (its source weights) and
    *converged* (:func:`lib.claims.converged`: early stopping on validation ended every seed's run,
    not the epoch cap), read from the rows' ``stopped_early`` / ``best_epoch``."""
    import pandas as pd

    from lib import claims as C

    out = {a: list(v) for a, v in plan_.arm_premises.items()}
    for arm, g in (rows.groupby("arm", sort=False) if len(rows) else []):
        hists = [{k: [r[k]] for k in ("stopped_early", "best_epoch") if k in r and pd.notna(r[k])}
                 for r in g.sort_values("seed").to_dict("records")]
        out.setdefault(arm, []).append(C.converged(arm, hists))
    return out


def load_task(p: dict):
    """The run's plates as a :class:`lib.data.Task` (float32 raw pixels, ``(n, 7)`` labels): the
    built-in generator's ``n_train / n_val / n_test``, or ``plate_dir`` split 70/15/15 after a
    shuffle by ``data_seed``."""
    from lib.data import Task

    if p["plate_dir"]:
        x, y = load_plate_folder(p["plate_dir"], p["image_size"], csv=p["plate_csv"] or None)
        n = len(y)
        order = np.random.default_rng(p["data_seed"]).permutation(n)
        x, y = x[order], y[order]
        cuts = (0, int(0.7 * n), int(0.85 * n), n)
    else:
        x, y = make_plates(p["n_train"] + p["n_val"] + p["n_test"], p["image_size"], seed=p["data_seed"], hard=p["hard"])
        cuts = (0, p["n_train"], p["n_train"] + p["n_val"], len(y))
    x = x.astype("float32")
    splits = [a for lo, hi in zip(cuts, cuts[1:]) for a in (x[lo:hi], y[lo:hi])]
    return Task("plates", *splits, list(ALPHABET))


def data_markdown(task) -> str:
    x = task.x_train
    return (f"{sum(task.sizes().values())} plates at {x.shape[1]}x{x.shape[2]} px, raw pixels {x.min():.0f}-{x.max():.0f}; "
            f"{task.sizes()}. Alphabet ({len(ALPHABET)} symbols, no `O`): `{ALPHABET}`; "
            f"chance per character {1 / len(ALPHABET):.3f}.")


def train_kwargs(p: dict, **override) -> dict:
    """The training settings of :func:`run_plate_arm` from the run's parameters."""
    keys = ("weights", "epochs", "head_epochs", "batch_size", "learning_rate", "finetune_learning_rate", "noise_std",
            "cache_features", "patience", "min_epochs", "min_delta_se", "arch", "head")
    return {**{k: p[k] for k in keys}, **override}


def run_arms(arms, task, p: dict, seeds, record=None) -> list[dict]:
    """Every arm for every seed (histories and test character accuracy to ``record``); one line per arm."""
    from lib import report

    rows = []
    for a in arms:
        for s in seeds:
            row, hist = run_plate_arm(a, task, p["image_size"], seed=s, **train_kwargs(p))
            if record is not None:
                record.add_history(a, s, hist, test_acc=row["test_char_acc"])
            rows.append(row)
        mine = [r for r in rows if r["arm"] == a]
        print(f"{a}: test character accuracy {report.mean_sd([r['test_char_acc'] for r in mine])}, plate accuracy "
              f"{report.mean_sd([r['test_plate_acc'] for r in mine])}", flush=True)
    return rows


def arm_table(rows):
    """One row per arm (:func:`lib.studies.plate_figures.arm_table`), described by :data:`PLATE_ARMS`."""
    return plate_figures.arm_table(rows, lambda a: PLATE_ARMS[parse_plate_arm(a)["name"]][1])


def negative_control_arm(rows) -> str:
    """The arm the negative control trains on shuffled plates: the frozen ``pretrained`` arm when the
    study trained it (its head on cached features: ~33 s a seed, where the scratch model ran 13-14
    epochs, ~2.1 min a seed, before early stopping gave up on shuffled labels; measured 2026-12-06), else
    ``scratch``. Either reads the same plates through the same heads, labels and evaluation."""
    trained = {r["arm"] for r in (rows.to_dict("records") if hasattr(rows, "to_dict") else rows)}
    return "pretrained" if "pretrained" in trained else "scratch"


def run_controls(rows, task, p: dict, seeds) -> tuple[list[float], list[float]]:
    """The controls' test character accuracies per seed: :func:`negative_control_arm` on shuffled
    plates (negative) and the scratch model on the true ones (positive: the scratch arm's own runs
    when it trained)."""
    from lib import report
    from lib.data import shuffled_labels_task

    kw = train_kwargs(p, weights="none")
    shuffled = shuffled_labels_task(task, seed=p["data_seed"])
    arm = negative_control_arm(rows)
    neg_kw = train_kwargs(p) if arm == "pretrained" else kw
    negative = [run_plate_arm(arm, shuffled, p["image_size"], seed=s, **neg_kw)[0]["test_char_acc"] for s in seeds]
    done = sorted((r for r in rows if r["arm"] == "scratch"), key=lambda r: r["seed"])
    positive = ([r["test_char_acc"] for r in done] if done else
                [run_plate_arm("scratch", task, p["image_size"], seed=s, **kw)[0]["test_char_acc"] for s in seeds])
    print(f"controls: {arm} on shuffled plates {report.mean_sd(negative)}, scratch on the true plates "
          f"{report.mean_sd(positive)} test character accuracy")
    return negative, positive


def controls(negative, positive, n_test: int, negative_arm: str = "scratch") -> list:
    """The positive and negative controls as contract claims (none when they did not run);
    ``negative_arm``: the arm that trained on shuffled plates (:func:`negative_control_arm`)."""
    from lib import claims as C

    if not negative:
        return []
    chance = 1 / len(ALPHABET)
    return [C.positive_control("plates.control.positive", "the scratch plate model on the true plates", positive,
                               chance, n_test),
            C.negative_control("plates.control.negative", {"pretrained": "the frozen glyph-pretrained plate model"}.get(
                negative_arm, "the scratch plate model"), negative, chance, n_test)]


def metrics(rows, plan_: Plan, acc, sweep) -> dict:
    """The record's metrics: per trained arm its test accuracies, the skipped arms, the budget, the
    noise sweep and the cost per arm."""
    trained = plan_.trained
    means = rows.groupby("arm", sort=False)[["test_char_acc", "test_plate_acc"]].mean() if trained else None
    return {
        "arms": {a: {"test_char_acc": means.loc[a, "test_char_acc"], "test_plate_acc": means.loc[a, "test_plate_acc"],
                     "test_char_acc_per_seed": acc[a]} for a in trained},
        "skipped": plan_.skipped, "optimizer_steps": plan_.steps, "seed_optimizer_steps": SEED_STEPS,
        "noise_sweep": ({f"{b} {k:g}": m for (b, k), m in sweep.groupby(["base", "noise_std"]).test_char_acc.mean().items()}
                        if len(sweep) else {}),
        "cost": rows.groupby("arm").agg(wall_s=("wall_s", "mean"), images_per_s=("images_per_s", "mean"),
                                        trainable_params=("trainable_params", "first")).to_dict(orient="index")
        if trained else {},
    }

