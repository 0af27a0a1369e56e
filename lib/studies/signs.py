"""Seed 001's sign study: the runs on the built-in signs of :mod:`lib.datasets.signs` and the report's
steps; the data, the figures (:mod:`lib.studies.sign_figures`) and the arms, verdicts and checks
(:mod:`lib.studies.sign_claims`, no TensorFlow) are re-exported here under their names, as the
notebook reads them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib import backbones, train, transfer
from lib.arms import Arm
from lib.datasets.signs import (  # noqa: F401 (the study's names for its data)
    CLASSES,
    CLASS_NAMES,
    COUNTRIES,
    FAMILY_SHAPE,
    MAX_CLASSES,
    Style,
    check_country,
    check_n_classes,
    load_country_folders,
    make_scene,
    make_scenes,
    make_signs,
    style_of,
    take_per_class,
)
from lib.studies.sign_claims import (  # noqa: F401 (the notebook reads them as signs.*)
    NO_ADVANTAGE_ARMS,
    METHOD_ARMS,
    SIGN_ARMS,
    catch_up,
    check,
    check_arm,
    claim_ids,
    claims,
    controls,
)
from lib.studies.sign_figures import (  # noqa: F401 (the notebook reads them as signs.*)
    conclusion_lines,
    plot_convergence,
    plot_countries,
    plot_shift,
    plot_sizes,
    plot_surgical,
    surgical_markdown,
)

def arm_spec(name: str, arch: str, train_learning_rate: float) -> tuple[str | None, bool]:
    """``(spec for lib.transfer.run_image_arm, starts from the country-A model)`` of a study arm.
    Every arm that trains convolutions does so at ``train_learning_rate``; ``frozen`` trains its
    head at the study's head learning rate; ``lp_ft`` is the two-stage recipe."""
    kind, _, arg = check_arm(name).partition(":")
    lr = float(train_learning_rate)
    arm, from_source = {
        "zero_shot": (None, True),
        "scratch": (Arm(arch, "scratch", lr=lr), False),
        "compute_matched": (Arm(arch, "scratch", lr=lr), False),
        "finetune": (Arm(arch, "finetune", lr=lr), True),
        "frozen": (Arm(arch, "frozen"), True),
        "freeze_first": (Arm(arch, "freeze_first", (arg,), lr=lr), True),
        "lp_ft": (Arm(arch, "two_stage"), True),
        "surgical": (Arm(arch, "surgical", (arg,), lr=lr), True),
        **{m: (Arm(arch, m, (arg,), lr=lr), True) for m in METHOD_ARMS},  # the literature's methods
    }[kind]
    return (None if arm is None else str(arm)), from_source


def compute_matched_epochs(source_epochs: int, n_source: int, epochs: int, n_target: int,
                           batch_size: int) -> int:
    """Epochs on the target that give as many optimiser steps as ``source_epochs`` on the source
    plus ``epochs`` of fine-tuning on the target (He et al. 2019: compare at equal compute)."""
    steps = lambda n: -(-n // batch_size)  # noqa: E731 - batches per epoch
    return -(-(source_epochs * steps(n_source) + epochs * steps(n_target)) // steps(n_target))


def evaluate_domains(model, tasks: dict) -> dict[str, float]:
    """Test accuracy of ``model`` on each named task's test split."""
    return {f"test_acc_{k}": train.accuracy(model, t.x_test, t.y_test) for k, t in tasks.items()}


# --------------------------------------------------------------------------- the study's runs

def built_in_task(country: str, shift: float, n_train: int, name: str, *, image_size: int, n_classes: int,
                  val_per_class: int, test_per_class: int, data_seed: int, reference: str):
    """A task of the built-in generator: train / validation / test drawn with their own seeds
    (``1000 * data_seed + split``), so every size and shift shares validation and test draws."""
    from lib.data import Task

    (xt, yt, names), (xv, yv, _), (xs, ys, _) = [
        make_signs(n, image_size, country=country, shift=shift, n_classes=n_classes, seed=1000 * data_seed + k,
                   reference=reference)
        for k, n in enumerate((n_train, val_per_class, test_per_class))]
    return Task(name, xt.astype("float32"), yt, xv.astype("float32"), yv, xs.astype("float32"), ys, names)


def with_train(task, k: int, name: str | None = None):
    """``task`` with only the first ``k`` training examples of each class (nested sizes)."""
    from lib.data import Task

    xt, yt = take_per_class(task.x_train, task.y_train, k)
    return Task(name or f"{task.name}, {k}/class", xt, yt, task.x_val, task.y_val, task.x_test, task.y_test,
                task.class_names)


def convergence(hist: dict, n_train: int, target: float) -> tuple[int | None, int | None]:
    """Epochs (and training images) until validation accuracy first reached ``target``."""
    hit = [e for e, v in zip(hist["val_epoch"], hist["val_accuracy"]) if v >= target]
    return (hit[0], hit[0] * n_train) if hit else (None, None)


def epochs_text(values) -> str:
    """Per-seed epochs to target as one cell: ``3, never, 5``."""
    return ", ".join("never" if v is None or v != v else f"{v:.0f}" for v in values)


@dataclass
class SignRuns:
    """The settings every run of the sign study shares, and its two kinds of run: a source model
    on the source country (:meth:`source`), and a target arm on a target task (:meth:`target`),
    which starts from the source model of its seed saved in ``source_files``."""

    arch: str
    image_size: int
    source_task: object
    target_accuracy: float
    epochs: int
    source_epochs: int
    batch_size: int
    learning_rate: float
    train_learning_rate: float
    head_epochs: int
    source_files: dict = None  # seed -> the source model's .weights.h5

    def fit_kwargs(self, seed: int) -> dict:
        return dict(batch_size=self.batch_size, learning_rate=self.learning_rate,
                    finetune_learning_rate=self.train_learning_rate, head_epochs=self.head_epochs, seed=seed)

    def source(self, init: str, seed: int, out_file=None):
        """A country-A model from ``init`` (scratch or pre-trained weights): ``(row, history, parts)``,
        its weights saved to ``out_file`` when given (then the target arms of ``seed`` start from it)."""
        spec = str(Arm(self.arch, "scratch" if init == "scratch" else "finetune", lr=self.train_learning_rate))
        row, hist, parts = transfer.run_image_arm(spec, self.source_task, self.image_size,
                                                  weights="none" if init == "scratch" else init,
                                                  epochs=self.source_epochs, **self.fit_kwargs(seed))
        if out_file is not None:
            parts.model.save_weights(out_file)
            self.source_files = {**(self.source_files or {}), seed: out_file}
        return row, hist, parts

    def target(self, name: str, task, seed: int, size: int, shift: float):
        """One target arm (:data:`SIGN_ARMS`) on ``task``: ``(row, history)``; the row holds both
        countries' test accuracy, convergence and cost; ``zero_shot`` trains nothing (history None)."""
        spec, from_source = arm_spec(name, self.arch, self.train_learning_rate)
        base = {"arm": name, "size": size, "seed": seed, "shift": shift}
        domains = {"A": self.source_task, "B": task}
        if spec is None:  # zero-shot: the source model as it is
            model, _ = transfer.build_image_classifier(self.arch, self.image_size, task.n_classes, policy="frozen")
            model.load_weights(self.source_files[seed])
            val = train.accuracy(model, task.x_val, task.y_val)
            hit = 0 if val >= self.target_accuracy else None
            return {**base, "val_acc": val, "best_val_acc": val, "epochs_to_target": hit, "images_to_target": hit,
                    "wall_s": 0.0, "epochs": 0, "trainable_params": 0, **evaluate_domains(model, domains)}, None
        n_epochs, vfreq = self.epochs, 1
        if name == "compute_matched":
            n_epochs = compute_matched_epochs(self.source_epochs, len(self.source_task.y_train), self.epochs,
                                              len(task.y_train), self.batch_size)
            vfreq = max(1, n_epochs // self.epochs)
            n_epochs = -(-n_epochs // vfreq) * vfreq  # validate at the last epoch too
        row, hist, parts = transfer.run_image_arm(spec, task, self.image_size, weights="none", epochs=n_epochs,
                                                  init_weights=str(self.source_files[seed]) if from_source else None,
                                                  validation_freq=vfreq, **self.fit_kwargs(seed))
        ep, imgs = convergence(hist, len(task.y_train), self.target_accuracy)
        return {**base, "val_acc": row["val_acc"], "best_val_acc": row["best_val_acc"], "epochs_to_target": ep,
                "images_to_target": imgs, "wall_s": row["wall_s"], "epochs": n_epochs,
                "trainable_params": row["trainable_params"], "test_acc_B": row["test_acc"],  # the runner's own test pass
                "correct_B": row["test_correct"],
                **evaluate_domains(parts.model, {"A": self.source_task})}, hist


# --------------------------------------------------------------------------- the report's steps
# (notebooks/signs.ipynb: each cell calls one of these with the run's parameters ``p``)

def prepare(p: dict) -> list[str]:
    """Before any data or training: every pre-trained initialisation's weights can be had (offline
    ``imagenet`` or missing source weights fail now). Returns the architecture's block names."""
    for init in p["source_inits"]:
        if init != "scratch":
            backbones.check_weights(p["arch"], p["image_size"], init)
    return backbones.get(p["arch"]).blocks(backbones.build_backbone(p["arch"], p["image_size"], "none")[1])


def task_kwargs(p: dict) -> dict:
    return dict(image_size=p["image_size"], n_classes=p["n_classes"], val_per_class=p["val_per_class"],
                test_per_class=p["test_per_class"], data_seed=p["data_seed"], reference=p["source_country"])


def largest_size(p: dict) -> int:
    """The most target examples per class any part of the run takes."""
    return max([*p["target_sizes"], p["surgical_size"], p["shift_size"]])


def load_tasks(p: dict):
    """``(source task, target task, note)``: the built-in countries (the target drawn at ``shift``,
    :func:`largest_size` examples per class to take nested sizes from), or ``sign_dir``'s folders;
    ``note`` says when a folder's smallest class holds fewer examples than a size asks (else "")."""
    from lib.data import split_task

    src_c, tgt_c, k = p["source_country"], p["target_country"], largest_size(p)
    if p["sign_dir"]:
        loaded = load_country_folders(p["sign_dir"], [src_c, tgt_c], p["image_size"])
        src, tgt = (split_task(c, *loaded[c], seed=p["data_seed"]) for c in (src_c, tgt_c))
        have = int(np.bincount(tgt.y_train).min())
        note = (f"**Note:** {tgt_c} has only {have} training images in its smallest class; sizes above {have} per "
                f"class use what there is.") if have < k else ""
        return src, tgt, note
    src = built_in_task(src_c, 1.0, p["source_per_class"], f"country {src_c}", **task_kwargs(p))
    tgt = built_in_task(tgt_c, p["shift"], k, f"country {tgt_c} (shift {p['shift']:g})", **task_kwargs(p))
    return src, tgt, ""


def data_markdown(src, tgt, p: dict) -> str:
    n = src.n_classes
    return (f"{n} classes, {p['image_size']}x{p['image_size']} px raw pixels (every model preprocesses inside). "
            f"Source country {p['source_country']}: {src.sizes()}. Target country {p['target_country']}: a pool of "
            f"{tgt.sizes()['train']} training images ({largest_size(p)} per class), of which each size takes the first k "
            f"per class, and validation {tgt.sizes()['validation']}, test {tgt.sizes()['test']}. Chance is {1 / n:.3f}.")


def runs(p: dict, src) -> "SignRuns":
    """The run's :class:`SignRuns` from its parameters."""
    keys = ("arch", "image_size", "target_accuracy", "source_epochs", "batch_size", "train_learning_rate", "head_epochs")
    return SignRuns(source_task=src, epochs=p["target_epochs"], learning_rate=p["head_learning_rate"],
                    **{k: p[k] for k in keys})


def run_sources(runs_: "SignRuns", p: dict, seeds, domains: dict, record, work: Path):
    """Every source initialisation for every seed: rows of validation and both countries' test
    accuracy, epochs to target and wall time; the ``transfer_from`` models saved under ``work`` for
    the target arms. One line per initialisation."""
    import pandas as pd

    from lib import report

    out = []
    for init in p["source_inits"]:
        for s in seeds:
            keep = work / f"source_{s}.weights.h5" if init == p["transfer_from"] else None
            row, hist, parts = runs_.source(init, s, out_file=keep)
            tested = {"test_acc_A": row["test_acc"], "correct_A": row["test_correct"],  # the runner's own test pass
                      **evaluate_domains(parts.model, {k: t for k, t in domains.items() if k != "A"})}
            record.add_history(f"source:{init}", s, hist, test_acc=tested["test_acc_A"])
            ep, _ = convergence(hist, len(runs_.source_task.y_train), runs_.target_accuracy)
            out.append({"init": init, "seed": s, "val_acc": row["val_acc"], "epochs_to_target": ep,
                        "wall_s": row["wall_s"], **tested})
        print(f"source model ({init}): {p['source_country']} test "
              + report.mean_sd([r["test_acc_A"] for r in out if r["init"] == init]))
    return pd.DataFrame(out)


def run_targets(runs_: "SignRuns", tgt, p: dict, seeds, record) -> list[dict]:
    """Every arm of ``arms`` at every target size for every seed (histories to ``record``, named
    ``arm @ k/class``); one line per arm and size."""
    from lib import report

    rows = []
    for k in p["target_sizes"]:
        task = with_train(tgt, k)
        for name in p["arms"]:
            for s in seeds:
                row, hist = runs_.target(name, task, s, k, p["shift"])
                rows.append(row)
                if hist is not None:
                    record.add_history(f"{name} @ {k}/class", s, hist, test_acc=row["test_acc_B"])
            got = [r["test_acc_B"] for r in rows if r["arm"] == name and r["size"] == k]
            print(f"{k:>3}/class  {name:<16} {p['target_country']} test {report.mean_sd(got)}")
    return rows


def _runs_at(runs_: "SignRuns", rows, names, task, seeds, size: int, shift: float) -> list[dict]:
    """The rows of ``names`` at ``size`` and ``shift``: those already in ``rows``, the rest run now."""
    out = []
    for name in names:
        done = [r for r in rows if r["arm"] == name and r["size"] == size and np.isclose(r["shift"], shift)]
        out += done or [runs_.target(name, task, s, size, shift)[0] for s in seeds]
    return out


def surgical_sweep(runs_: "SignRuns", tgt, rows, p: dict, blocks: list[str], seeds, n_test: int):
    """At ``surgical_size`` per class, each block trained alone with the head, against the head
    alone (``frozen``) and every layer (``finetune``), reusing runs already made. Returns the rows
    (``trained``: what trained) and a summary: the best single block chosen on validation, its test
    accuracy against every layer trained, with the paired interval."""
    import pandas as pd

    from lib import claims as C

    k = p["surgical_size"]
    names = [f"surgical:{b}" for b in blocks] + ["frozen", "finetune"]
    out = pd.DataFrame(_runs_at(runs_, rows.to_dict(orient="records"), names, with_train(tgt, k), seeds, k, p["shift"]))
    out["trained"] = out.arm.map(lambda a: a.split(":")[1] if a.startswith("surgical:") else
                                 {"frozen": "head only", "finetune": "all layers"}[a])
    best = out.groupby("trained", sort=False).best_val_acc.mean()[list(blocks)].idxmax()  # on validation
    full = out[out.arm == "finetune"].sort_values("seed").test_acc_B.tolist()
    one = out[out.arm == f"surgical:{best}"].sort_values("seed").test_acc_B.tolist()
    iv = C.paired_interval(one, full, n_test)
    return out, {"best_block": best, "best_block_acc": float(np.mean(one)), "finetune_acc": float(np.mean(full)),
                 "diff": iv.diff, "ci": [iv.low, iv.high], "text": iv.text(),
                 "by_block": out.groupby("trained", sort=False).test_acc_B.mean().to_dict()}


def shift_sweep(runs_: "SignRuns", rows, p: dict, seeds, shifts):
    """At ``shift_size`` per class, the arms of ``shift_arms`` on targets drawn at each shift of
    ``shifts`` (reusing the main runs at the run's own shift). One line per shift."""
    import pandas as pd

    k, out = p["shift_size"], []
    for sh in shifts:
        task = with_train(built_in_task(p["target_country"], sh, k, f"{p['target_country']} shift {sh:g}",
                                        **task_kwargs(p)), k)
        done = rows.to_dict(orient="records") if np.isclose(sh, p["shift"]) else []
        out += _runs_at(runs_, done, p["shift_arms"], task, seeds, k, sh)
        print(f"shift {sh:g}: " + ", ".join(
            f"{a} {np.mean([r['test_acc_B'] for r in out if r['arm'] == a and r['shift'] == sh]):.3f}"
            for a in p["shift_arms"]))
    return pd.DataFrame(out)


def metrics(rows, src_rows, shift_rows, p: dict, caught, surgical: dict, controls_: list) -> dict:
    """The record's metrics: each arm's country-B test accuracy per size (mean and per seed) and its
    country-A test accuracy, the source models, where scratch caught up, the sweeps, the controls
    and the cost per arm."""
    sizes, arms = p["target_sizes"], p["arms"]

    def at(a, k):
        return rows[(rows.arm == a) & (rows["size"] == k)]

    return {
        "target_test_acc": {f"{a} @ {k}": float(at(a, k).test_acc_B.mean()) for k in sizes for a in arms},
        "target_test_acc_per_seed": {f"{a} @ {k}": at(a, k).sort_values("seed").test_acc_B.tolist()
                                     for k in sizes for a in arms},
        "source_test_acc_of_target_arms": {f"{a} @ {k}": float(at(a, k).test_acc_A.mean()) for k in sizes for a in arms},
        "source_models": src_rows.groupby("init").agg(test_acc_A=("test_acc_A", "mean"),
                                                      test_acc_B=("test_acc_B", "mean")).to_dict(orient="index"),
        "scratch_catches_up_at": min(caught) if caught else None, "comparator_arm": p["comparator_arm"],
        "surgical": {k: v for k, v in surgical.items() if k != "text"},
        "shift_sweep": (shift_rows.groupby(["shift", "arm"]).test_acc_B.mean().unstack().to_dict()
                        if len(shift_rows) else {}),
        "controls": [c.as_dict() for c in controls_],
        "cost": rows.groupby("arm").agg(wall_s=("wall_s", "mean"),
                                        trainable_params=("trainable_params", "first")).to_dict(orient="index"),
    }
