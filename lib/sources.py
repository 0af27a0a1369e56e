"""Whether a transfer arm's weights are worth transferring: the premise every transferring claim
rests on, read from the run that made them (this project's source pre-training record) or from
what the weights are (published, a user's file).

Judging, not engine: it reads run records and builds a :class:`lib.claims.Premise`, which is why it
lives apart from :mod:`lib.backbones` (the engine never imports records or claims;
``tests/test_checks.py`` holds the layering).
"""

from __future__ import annotations

from pathlib import Path

from lib import claims
from lib.backbones import (HED_PROVENANCE, MTCNN_PROVENANCE, get, source_task_of, source_weights_dir,
                           source_weights_path)
from lib.records import load_records


def source_weights_quality(arch: str, image_size: int, task: str = "shapes") -> dict | None:
    """What this project's source weights for ``arch`` at ``image_size`` learned, from the newest
    finished ``source_pretrain`` record that wrote them: ``{"source_test_acc", "chance", "n_test",
    "verdict", "record"}``; ``None`` when no record names the file (weights made elsewhere)."""
    path = source_weights_path(arch, image_size, task=task).resolve()
    runs = load_records(source_weights_dir().parent / "source_pretrain")
    for rec in sorted(runs, key=lambda r: r.get("started_unix") or 0, reverse=True):
        m = rec.get("metrics", {})
        written = m.get("weights_files", {}).get(get(arch).name)
        if written and Path(written).resolve() == path:
            return {"source_test_acc": m["source_test_acc"][get(arch).name], "chance": m.get("chance"),
                    "n_test": m.get("n_test"), "verdict": m.get("verdicts", {}).get(get(arch).name),
                    "record": rec["_path"]}
    return None


def source_premise(arch: str, image_size: int, weights: str):
    """The premise a transfer arm of ``arch`` rests on: its weights learned something worth
    transferring (:func:`lib.claims.source_learned` on this project's source record for
    ``weights: source[:task]``); ``None`` for ``weights: none``. Published ImageNet weights hold it
    by construction; a user's weights file is recorded as not checked (held)."""
    if weights in ("none", ""):
        return None
    if weights.startswith("source"):
        task = source_task_of(weights)
        return claims.source_learned(source_weights_quality(arch, image_size, task),
                                     name=f"{get(arch).name} source weights ({task}, {image_size} px) learned their task")
    if weights == "imagenet":
        return claims.Premise("published ImageNet weights", True, detail=f"{get(arch).name} ImageNet weights")
    if weights == "hed":
        return claims.Premise("published weights (HED)", True, detail=HED_PROVENANCE)
    if weights == "mtcnn":
        return claims.Premise("published weights (MTCNN O-Net)", True, detail=MTCNN_PROVENANCE)
    return claims.Premise("weights file", True, detail=f"{weights}: a user's file, not checked here")
