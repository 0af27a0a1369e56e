"""The project's own source pre-training (``notebooks/source_pretrain.ipynb``): the offline stand-in
for a model zoo. Each backbone trains from random weights on a generated source task (shapes, or
the plate glyphs); its base's weights are saved for the studies that transfer them, and whether
they learned their task becomes a prerequisite claim those studies check first."""

from __future__ import annotations

from lib import backbones, checks, images
from lib import claims as C
from lib import data as D
from lib.datasets.plates import make_glyphs


def load_task(p: dict):
    """The source task (:class:`lib.data.Task`, split 64/16/20) and its raw images and labels."""
    if p["source_task"] == "glyphs":
        x, y, names = make_glyphs(p["n_images"], p["image_size"], seed=p["data_seed"])
    else:
        x, y, names = images.source_shapes(p["n_images"], p["image_size"], p["n_classes"], seed=p["data_seed"],
                                           distractor=p["distractor"])
    return D.split_task(f"source {p['source_task']}", x, y, names, seed=p["data_seed"]), x, y


def data_markdown(task, x, p: dict) -> str:
    s = task.sizes()
    return (f"{len(x)} images of {task.n_classes} {p['source_task']} classes at {p['image_size']}x{p['image_size']} px, "
            f"raw 0-255 pixels (range {x.min()}-{x.max()}); {s['train']} train / {s['validation']} validation / "
            f"{s['test']} test. Each image holds one shape of its class"
            + (" and a smaller distractor of another" if p["distractor"] else "") + f"; chance is {1 / task.n_classes:.3f}.")


def learned(rows, task, p: dict) -> dict:
    """Per backbone, the premise "its source weights learned their task" (:func:`lib.claims.source_learned`)."""
    n_test, chance = task.sizes()["test"], 1 / task.n_classes
    return {a: C.source_learned({"source_test_acc": t, "chance": chance, "n_test": n_test},
                                name=f"{a} source weights ({p['source_task']}) learned their task")
            for a, t in zip(p["archs"], rows.test_acc)}


def prerequisite_claims(premises: dict, p: dict) -> list:
    """The premises as prerequisite claims (reproduced: learned), which the summary lists."""
    return [C.judge(checks.prerequisite_id(p["source_task"], a, p["image_size"]), "prerequisite", q.name,
                    rule="source_learned", verdict=C.REPRODUCED if q.held else C.NOT_REPRODUCED, evidence=q.detail,
                    kind="prerequisite", measure="source test accuracy") for a, q in premises.items()]


def verdict(q) -> str:
    return "learned" if q.held else "did not learn (skill below the premise's threshold)"


def metrics(rows, task, premises: dict) -> dict:
    archs = list(premises)  # in the order of the parameter archs
    return {"source_test_acc": dict(zip(archs, rows.test_acc)), "chance": 1 / task.n_classes,
            "n_test": task.sizes()["test"], "weights_files": dict(zip(archs, rows.weights_file)),
            "verdicts": {a: verdict(q) for a, q in premises.items()}}


def conclusion_lines(rows, task, premises: dict) -> list[str]:
    chance = 1 / task.n_classes
    return [f"- **{a}** reached {r.test_acc:.3f} source **test** accuracy (chance {chance:.3f}) in {r.wall_s / 60:.1f} "
            f"min ({r.epochs_run} epochs, best {r.best_epoch}, {r.images_per_s:.0f} images/s): {verdict(premises[a])} "
            f"({premises[a].detail}); its base's weights are in `{r.weights_file}`."
            for a, r in zip(list(premises), rows.itertuples())]


def weights_path(arch: str, p: dict):
    return backbones.source_weights_path(arch, p["image_size"], task=p["source_task"])
