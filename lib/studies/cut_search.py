"""Where to cut a pre-trained backbone, searched with keras-tuner (seed 002, part 2).

The blog found InceptionV3's best split point (``mixed5``, then ``mixed4``..``mixed5`` unfrozen) by
trial and error. :class:`CutHyperModel` makes that a search over three hyper-parameters:

- ``cut_at``: the block whose output feeds the new head (``mixed0``..``mixed10``);
- ``unfreeze_blocks``: how many blocks below the cut, the cut's own block included, train in the
  second phase (0: the cut stays frozen; it cannot exceed the cut's position);
- ``learning_rate``: the second phase's Adam learning rate (log scale).

Each trial trains in two phases inside :meth:`CutHyperModel.fit`: the new head alone on the frozen
cut, then either the unfrozen blocks and the head together or, with nothing unfrozen, the head
further at the searched learning rate. The base below the unfrozen blocks never changes, so its
output is a fixed function of the image: :class:`BlockFeatures` computes every candidate block's
output once (one forward pass for all blocks) and every trial trains on those arrays
(``lib.transfer.split_frozen_prefix``), which gives what end-to-end training gives without paying
the frozen part's forward pass per epoch and per trial.
"""

from __future__ import annotations

import time

import keras
import keras_tuner
import numpy as np

from lib import backbones, cache, sources, train, transfer
from lib.checks import CUT_SEARCH_CLAIM, hint
from lib.data import Task


def block_outputs(arch: str, image_size: int, cuts: list[str] | None = None) -> list[str]:
    """Where a cut may sit, in order: the output layer (the last layer) of every named block of
    ``arch`` (InceptionV3 ``mixed0``..``mixed10``, VGG16 ``block1_pool``..``block5_pool``), or the
    given ``cuts``, each checked against them (``'mixed_5'`` -> did you mean ``'mixed5'``)."""
    bb = backbones.get(arch)
    base = backbones.build_base(arch, image_size, "none")
    last: dict[str, str] = {}
    for layer in base.layers:
        block = bb.block_of(layer.name)
        if block:
            last[block] = layer.name
    outputs = [last[b] for b in bb.blocks(base)]
    for c in cuts or []:
        if c not in outputs:
            raise ValueError(f"cut {c!r} is not a block output of {bb.name}{hint(c, outputs)} "
                             f"(block outputs: {', '.join(outputs)})")
    return [b for b in outputs if b in cuts] if cuts else outputs


class BlockFeatures:
    """The frozen source base's output at each block for every split of ``task``, computed in one
    forward pass on first use and kept as numpy arrays across trials."""

    def __init__(self, arch: str, image_size: int, weights: str, task: Task, blocks: list[str],
                 allow_random: bool = False):
        # allow_random: one forward pass of one random draw (a baseline for probes), not a search
        if weights in ("none", "", None) and not allow_random:
            raise ValueError("the cut search reuses one base's block outputs in every trial, so it needs fixed weights "
                             "(source, imagenet or a .weights.h5 file); weights='none' draws new random ones at each build")
        self.arch, self.image_size, self.weights, self.task, self.blocks = arch, image_size, weights, task, blocks
        self._feats: dict[str, Task] | None = None
        self.wall_s = 0.0

    def _compute(self) -> None:
        t0 = time.perf_counter()
        full, base = backbones.build_backbone(self.arch, self.image_size, self.weights)
        probe = keras.Model(base.input, [base.get_layer(b).output for b in self.blocks])
        model = transfer.on_pixels(full, probe, "block_outputs")

        def run(x):  # content-addressed (lib/cache.py): another report on these weights and images reads them back
            out = cache.predict(model, x, batch_size=128)
            return out if isinstance(out, list) else [out]

        t = self.task
        splits = [run(t.x_train), run(t.x_val), run(t.x_test)]
        self._feats = {b: Task(f"{t.name} ({b})", splits[0][i], t.y_train, splits[1][i], t.y_val, splits[2][i],
                               t.y_test, t.class_names) for i, b in enumerate(self.blocks)}
        self.wall_s = time.perf_counter() - t0

    def __getitem__(self, block: str) -> Task:
        if self._feats is None:
            self._compute()
        return self._feats[block]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {b: tuple(self[b].x_train.shape[1:]) for b in self.blocks}


def unfreeze_from(blocks: list[str], cut: str, unfreeze: int) -> str | None:
    """The block after which layers train: ``unfreeze`` blocks up to and including ``cut``
    (``None`` when nothing is unfrozen); refused when that reaches below the first block."""
    i = blocks.index(cut)
    if unfreeze <= 0:
        return None
    if unfreeze > i:
        raise ValueError(f"cannot unfreeze {unfreeze} blocks up to {cut}: only {i} clean block(s) lie below it")
    return blocks[i - unfreeze]


def build_cut(features: BlockFeatures, cut: str, unfreeze: int, *, seed: int, dropout: float = 0.3):
    """``(model, parts)``: the classifier cut at ``cut`` on the source weights, with ``unfreeze``
    blocks up to the cut trainable (``lib.transfer`` policies ``cut`` / ``cut_unfreeze``)."""
    split = unfreeze_from(features.blocks, cut, unfreeze)
    train.set_seed(seed)
    return transfer.build_image_classifier(
        features.arch, features.image_size, features.task.n_classes, weights=features.weights, dropout=dropout,
        policy="cut_unfreeze" if split else "cut", cut_at=cut, unfreeze_from=split or "")


def fit_cut(features: BlockFeatures, parts, learning_rate: float, *, head_learning_rate: float, head_epochs: int,
            epochs: int, batch_size: int, seed: int) -> dict:
    """Two phases on cached block outputs: the new head on the frozen cut for ``head_epochs`` at
    ``head_learning_rate``; then ``epochs`` more at ``learning_rate`` of the unfrozen blocks with
    the head (or the head alone when nothing is unfrozen). Returns the two phases' history joined."""
    cut = parts.cut_at
    common = dict(batch_size=batch_size, seed=seed)
    hist = train.fit(parts.head, features[cut], epochs=head_epochs, learning_rate=head_learning_rate, **common)
    if parts.frozen_until:
        _, suffix = transfer.split_frozen_prefix(parts)
        more = train.fit(suffix, features[parts.frozen_until], epochs=epochs, learning_rate=learning_rate, **common)
    else:
        more = train.fit(parts.head, features[cut], epochs=epochs, learning_rate=learning_rate, **common)
    return train.join_phases(hist, more)


def train_cut(features: BlockFeatures, cut: str, unfreeze: int, learning_rate: float, *, seed: int, **fit_kw):
    """:func:`build_cut` then :func:`fit_cut`: ``(model, history)``, the model on raw pixels."""
    model, parts = build_cut(features, cut, unfreeze, seed=seed)
    return model, fit_cut(features, parts, learning_rate, seed=seed, **fit_kw)


class CutHyperModel(keras_tuner.HyperModel):
    """keras-tuner's view of :func:`train_cut`: ``build`` chooses the configuration and builds the
    classifier (after ``keras.backend.clear_session()``, so graphs do not pile up over trials);
    ``fit`` trains it in two phases on cached block outputs and returns the final validation
    accuracy and loss. Every trial's configuration, history and wall time are kept in ``log``."""

    def __init__(self, features: BlockFeatures, *, max_unfreeze: int, lr_range: tuple[float, float],
                 head_learning_rate: float, head_epochs: int, epochs: int, batch_size: int, seed: int):
        super().__init__(name="cut_search")
        self.features, self.max_unfreeze, self.lr_range = features, max_unfreeze, lr_range
        self.fit_kw = dict(head_learning_rate=head_learning_rate, head_epochs=head_epochs, epochs=epochs,
                           batch_size=batch_size, seed=seed)
        self.log: list[dict] = []

    def config(self, hp) -> tuple[str, int, float]:
        cut = hp.Choice("cut_at", self.features.blocks)
        k = hp.Int("unfreeze_blocks", 0, self.max_unfreeze)
        lr = hp.Float("learning_rate", *self.lr_range, sampling="log")
        return cut, min(k, self.features.blocks.index(cut)), lr  # no clean block below mixed0

    def build(self, hp):
        keras.backend.clear_session()
        cut, k, _ = self.config(hp)
        model, self._parts = build_cut(self.features, cut, k, seed=self.fit_kw["seed"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        # keras-tuner's callbacks (checkpoints of the best epoch) are not used: the trials table
        # keeps every configuration, and the chosen one is retrained over several seeds afterwards
        cut, k, lr = self.config(hp)
        t0 = time.perf_counter()
        hist = fit_cut(self.features, self._parts, lr, **self.fit_kw)
        self.log.append({"cut_at": cut, "unfreeze_blocks": k, "learning_rate": lr,
                         "val_acc": hist["val_accuracy"][-1], "best_val_acc": max(hist["val_accuracy"]),
                         "train_acc": hist["accuracy"][-1], "wall_s": time.perf_counter() - t0, "history": hist})
        return {"val_accuracy": hist["val_accuracy"][-1], "val_loss": hist["val_loss"][-1]}


ORACLES = ("bayesian", "random")
# keras-tuner draws a random seed when given 0 (``seed or random.randint(1, 10000)`` in its Oracle), so
# the study's default seed 0 made every search a different one: the tuner gets seed + TUNER_SEED_OFFSET
TUNER_SEED_OFFSET = 1


def make_tuner(hypermodel: CutHyperModel, *, oracle: str, max_trials: int, seed: int, directory: str,
               project_name: str = "cut_search"):
    """A keras-tuner tuner on final validation accuracy, ``overwrite=True`` (a rerun starts a new
    search), seeded with ``seed + TUNER_SEED_OFFSET`` (never 0, which keras-tuner replaces by a random
    seed: the same ``seed`` gives the same search). Distributed: set ``KERASTUNER_TUNER_ID`` (``chief`` / ``tuner0``...),
    ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` and run the same notebook on each machine."""
    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {ORACLES}; received {oracle!r}")
    objective = keras_tuner.Objective("val_accuracy", direction="max")
    cls = keras_tuner.BayesianOptimization if oracle == "bayesian" else keras_tuner.RandomSearch
    return cls(hypermodel, objective=objective, max_trials=max_trials, seed=seed + TUNER_SEED_OFFSET, overwrite=True,
               directory=directory, project_name=project_name)


def trials_table(log: list[dict], oracle=None, blocks: list[str] | None = None):
    """One row per trial, best first (``history`` left out). With ``oracle`` (keras-tuner's), the
    rows are every completed trial the oracle knows, this process's or not (a distributed chief
    runs none itself), with this process's extra columns (train accuracy, wall time) where it ran
    the trial; ``blocks`` turns the searched ``unfreeze_blocks`` into the effective one. A
    distributed worker's oracle knows no trials: its rows are its own ``log``. Tested across a
    chief and a worker process on one machine."""
    import pandas as pd

    rows = [{k: v for k, v in t.items() if k != "history"} for t in log]
    try:  # a distributed worker's oracle is a client of the chief's: it lists no trials, use the log
        known = oracle.trials if oracle is not None else None
    except AttributeError:
        known = None
    if known is not None:
        mine = {(r["cut_at"], r["unfreeze_blocks"], round(r["learning_rate"], 12)): r for r in rows}
        rows = []
        for trial in known.values():
            if trial.score is None:
                continue
            hp = trial.hyperparameters.values
            k = min(hp["unfreeze_blocks"], blocks.index(hp["cut_at"])) if blocks else hp["unfreeze_blocks"]
            key = (hp["cut_at"], k, round(hp["learning_rate"], 12))
            rows.append({"cut_at": hp["cut_at"], "unfreeze_blocks": k, "learning_rate": hp["learning_rate"],
                         "val_acc": float(trial.score), **{c: v for c, v in mine.get(key, {}).items()
                                                           if c not in ("cut_at", "unfreeze_blocks", "learning_rate", "val_acc")},
                         "trial": trial.trial_id})
    else:
        rows = [r | {"trial": i} for i, r in enumerate(rows)]
    if not rows:
        raise RuntimeError("the search finished without a completed trial")
    frame = pd.DataFrame(rows)
    order = ["val_acc", "best_val_acc"] if "best_val_acc" in frame else ["val_acc"]
    return frame.sort_values(order, ascending=False).reset_index(drop=True)


def config_name(cfg) -> str:
    """``(cut, unfrozen blocks, learning rate)`` as one label: ``mixed5 + 1 unfrozen @ 1e-04``."""
    cut, k, lr = cfg
    return f"{cut} + {k} unfrozen @ {lr:.0e}"


BLOG_SAID = "mixed5 by trial and error; mixed4..mixed5 unfrozen about 0.98"


def claims(acc: dict[str, list[float]] | None, ref: tuple, chosen: tuple | None, *, n_test: int, majority: float,
           n_seeds: int, source=None, negative: list[float] | None = None, margin: float = 0.05,
           data: str = "stand-in", correct: dict[str, list] | None = None) -> list:
    """The cut search's controls and its claim, gated by the controls. ``acc``: test accuracy per
    seed of the retrained ``"search"`` and ``"blog"`` configurations (``None``: the search did not run,
    its premise ``source`` failed). Controls: the blog's configuration beats chance on the true
    labels (positive) and not on shuffled ones (``negative``).

    The claim: the blog's hand-picked configuration is as good as where a search lands, i.e. the
    search's validation pick is no better on test than the blog's by ``margin`` (one-sided, paired
    over seeds, with its p-value for Holm): reproduced when the 90% interval's upper end is below the
    margin, not reproduced when its lower end is above it. Whether the search picked the blog's own
    cut is evidence, not the verdict: one search's pick is one draw, and a different cut that scores
    the same is no finding against the blog. ``data``: "stand-in" (built-in faces) or "user";
    ``correct``: :func:`outcomes` (per-image correctness per seed), which pairs the test-set term over
    the images both configurations were scored on (without it: two independent binomial terms)."""
    from lib import claims as C

    hypothesis = (f"the blog's hand-picked cut ({ref[0]}, {ref[1]} block(s) unfrozen) is as good as where a search "
                  f"lands (the search's pick no better on test by {margin:g})")
    if acc is None:
        return [C.judge(CUT_SEARCH_CLAIM, "seed 002", hypothesis, rule="", verdict=C.INCONCLUSIVE,
                        premises=[source] if source else [], evidence="not run", seed_reported=BLOG_SAID)]
    where = (f"the search also cut at {ref[0]}" if chosen[0] == ref[0] else f"the search cut at {chosen[0]}")
    premises = [C.enough_seeds(n_seeds), *([source] if source else []),
                C.above_chance("the blog's configuration", acc["blog"], majority, n_test)]
    claim = C.judge(CUT_SEARCH_CLAIM, "seed 002", hypothesis, rule="no_better", a=acc["search"],
                    b=acc["blog"], n_test=n_test, margin=margin, premises=premises, data=data,
                    outcomes=C.paired_outcomes((correct or {}).get("search"), (correct or {}).get("blog")),
                    comparator=f"the blog's {config_name(ref)}", seed_reported=BLOG_SAID)
    claim.evidence = f"{where} ({config_name(chosen)}); " + claim.evidence
    controls = [C.positive_control("seed002.cut_search.control.positive", "the blog's configuration on the true labels",
                                   acc["blog"], majority, n_test)]
    if negative:
        controls.append(C.negative_control("seed002.cut_search.control.negative", "the blog's configuration", negative,
                                           majority, n_test))
    return C.gate_by_controls([*controls, claim])


# ---------------------------------------------------------------------------------------------
# The report's steps (notebooks/cut_search.ipynb): each cell calls one of these with the run's
# parameters ``p`` (as :func:`lib.params.collect` returns them).

def prepare(p: dict):
    """Before any data or training: the candidate cuts (block outputs, each checked), the blog's
    configuration checked against them, the weights checked (offline imagenet, missing source
    weights) and their premise. Returns ``(blocks, reference, source premise, skip)``: ``skip``
    when the source weights are known not to have learned their task (and ``run_untestable`` is off)."""
    backbones.check_image_size(p["arch"], p["image_size"])  # an unknown architecture or a too-small input stops here
    blocks = block_outputs(p["arch"], p["image_size"], p["cuts"])
    if p["reference_cut"] not in blocks:
        raise ValueError(f"reference_cut {p['reference_cut']!r} is not among the candidate cuts {blocks}")
    unfreeze_from(blocks, p["reference_cut"], p["reference_unfreeze"])  # refuses unfreezing below the first block
    backbones.check_weights(p["arch"], p["image_size"], p["weights"])
    src = sources.source_premise(p["arch"], p["image_size"], p["weights"])
    ref = (p["reference_cut"], p["reference_unfreeze"], p["reference_learning_rate"])
    return blocks, ref, src, bool(src is not None and not src.held and not p["run_untestable"])


def skip_markdown(src) -> str:
    return (f"**Not run**: {src.text()}. A search over the cuts of weights that learned nothing cannot say where learned "
            "features should be cut, so this report's claim is *not testable here*; real weights (`weights: imagenet`, "
            "e.g. `make paper` on a GPU) make it testable, and `run_untestable: true` runs it anyway.")


def features_table(features: BlockFeatures):
    import pandas as pd

    shapes = features.shapes()
    return pd.DataFrame({"block": list(shapes), "output shape": [str(s) for s in shapes.values()],
                         "values per image": [int(np.prod(s)) for s in shapes.values()]}).set_index("block").T


def fit_kwargs(p: dict) -> dict:
    return {"epochs": p["finetune_epochs"], **{k: p[k] for k in ("head_learning_rate", "head_epochs", "batch_size")}}


def search(features: BlockFeatures, p: dict, blocks: list[str]):
    """Run the keras-tuner search (``trial_budget`` trials of ``oracle``) and return every trial,
    best first (:func:`trials_table`); one line on what it cost."""
    import tempfile

    hypermodel = CutHyperModel(features, max_unfreeze=p["max_unfreeze"], lr_range=(p["lr_min"], p["lr_max"]),
                               seed=p["seed"], **fit_kwargs(p))
    tuner = make_tuner(hypermodel, oracle=p["oracle"], max_trials=p["trial_budget"], seed=p["seed"],
                       directory=p["tuner_dir"] or tempfile.mkdtemp(prefix="cut_search_"))
    tuner.search(verbose=0)
    trials = trials_table(hypermodel.log, tuner.oracle, blocks)  # every trial, from any worker
    print(f"{len(trials)} trials (budget {p['trial_budget']}); {len(hypermodel.log)} run by this process, "
          f"{sum(t['wall_s'] for t in hypermodel.log):.0f} s of training")
    return trials


def plot_trials(trials, blocks: list[str], majority: float):
    """Every trial's final validation accuracy by cut block, and against the learning rate."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    sns.stripplot(data=trials, x="cut_at", y="val_acc", hue="unfreeze_blocks", order=blocks, dodge=True, size=8,
                  palette="viridis", ax=axes[0])
    axes[0].axhline(majority, color="grey", ls="--", lw=1, label="majority rate")
    axes[0].set_ylabel("final validation accuracy"); axes[0].set_title("every trial, by cut block")
    axes[0].tick_params(axis="x", rotation=45); axes[0].legend(title="unfrozen blocks", fontsize=8)
    sns.scatterplot(data=trials, x="learning_rate", y="val_acc", hue="cut_at", style="unfreeze_blocks", s=70, ax=axes[1])
    axes[1].set_xscale("log"); axes[1].set_ylabel("final validation accuracy")
    axes[1].set_title("against the learning rate"); axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def choice(trials, blocks: list[str]) -> tuple[tuple, str]:
    """The search's choice (the trial best on validation) as ``(cut, unfrozen blocks, learning rate)``
    and a sentence with the best validation accuracy per cut block."""
    best = trials.iloc[0]
    chosen = (best.cut_at, int(best.unfreeze_blocks), float(best.learning_rate))
    per_cut = trials.groupby("cut_at").val_acc.max().reindex(blocks)
    return chosen, (f"The search's choice: cut at **{chosen[0]}**, {chosen[1]} block(s) unfrozen, learning rate "
                    f"{chosen[2]:.1e} (validation {best.val_acc:.3f}). Best validation per cut block: "
                    + ", ".join(f"{b} {v:.3f}" if v == v else f"{b} not tried" for b, v in per_cut.items()) + ".")


def retrain(features: BlockFeatures, configs: dict, p: dict, seeds, record, target):
    """Each configuration (``{who: (cut, unfrozen, rate)}``) retrained from the source weights with
    every seed and scored once on test (accuracy and the per-image ``test_correct``): rows,
    histories to ``record``; one line per configuration."""
    import pandas as pd

    from lib import report

    rows = []
    for who, cfg in configs.items():
        for s in seeds:
            model, hist = train_cut(features, *cfg, seed=s, **fit_kwargs(p))
            scored = train.test_scores(model.predict(target.x_test, batch_size=1024, verbose=0), target.y_test)
            record.add_history(f"{who}: {config_name(cfg)}", s, hist, test_acc=scored["test_acc"])
            rows.append({"configuration": who, "cut_at": cfg[0], "unfreeze_blocks": cfg[1], "learning_rate": cfg[2],
                         "seed": s, "train_acc": hist["accuracy"][-1], "val_acc": hist["val_accuracy"][-1],
                         **scored})  # test_correct: per test image, for the claim's paired interval
        print(f"{who} ({config_name(cfg)}): test accuracy "
              + report.mean_sd([r["test_acc"] for r in rows if r["configuration"] == who]))
    return pd.DataFrame(rows)


def negative_runs(p: dict, target, blocks: list[str], ref: tuple, seeds) -> list[float]:
    """The negative control: the blog's configuration on the same block outputs (read back from the
    feature cache) with shuffled training labels, scored on the true test labels."""
    from lib import report
    from lib.data import shuffled_labels_task

    shuffled = BlockFeatures(p["arch"], p["image_size"], p["weights"], shuffled_labels_task(target, seed=p["data_seed"]),
                             blocks)
    out = [train.accuracy(train_cut(shuffled, *ref, seed=s, **fit_kwargs(p))[0], target.x_test, target.y_test)
           for s in seeds]
    print("negative control (the blog's configuration, shuffled labels): test accuracy " + report.mean_sd(out))
    return out


def config_table(rows):
    from lib import report

    return rows.groupby("configuration", sort=False).agg(
        cut=("cut_at", "first"), unfrozen=("unfreeze_blocks", "first"), learning_rate=("learning_rate", "first"),
        train=("train_acc", report.mean_sd), validation=("val_acc", report.mean_sd), test=("test_acc", report.mean_sd))


def per_seed(rows) -> dict[str, list[float]]:
    return {w: g.sort_values("seed").test_acc.tolist() for w, g in rows.groupby("configuration", sort=False)}


def outcomes(rows) -> dict[str, list] | None:
    """``{configuration: [per-test-image correctness, one array per seed]}``, or ``None`` for rows
    that kept none: what pairs the claim's test-set term over the images both configurations share."""
    if "test_correct" not in rows:
        return None
    return {w: g.sort_values("seed").test_correct.tolist() for w, g in rows.groupby("configuration", sort=False)}


def metrics(trials, chosen: tuple, ref: tuple, acc: dict, p: dict, feature_pass_s: float) -> dict:
    return {
        "chosen": {"cut_at": chosen[0], "unfreeze_blocks": chosen[1], "learning_rate": chosen[2],
                   "search_val_acc": float(trials.iloc[0].val_acc)},
        "reference": {"cut_at": ref[0], "unfreeze_blocks": ref[1], "learning_rate": ref[2]},
        "agrees_with_reference": bool(chosen[0] == ref[0]),
        "arms": {w: {"test_acc": float(np.mean(v)), "test_acc_per_seed": v} for w, v in acc.items()},
        "trials": trials.to_dict(orient="records"), "trial_budget": p["trial_budget"], "feature_pass_s": feature_pass_s,
    }
