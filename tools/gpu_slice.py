"""One paper-scale slice of the lab on a GPU machine without TensorFlow (issue 28; docs/scale.md).

The device this project borrows has JAX and no TensorFlow, no papermill and no registry: this
script calls ``lib`` directly under ``KERAS_BACKEND=jax`` (``tools/gpu_slice.sh`` installs the
carried wheels first). The slice: seed 002's ResNet50 question at a size the 2-core machine cannot
afford. ResNet50 is pre-trained on the lab's shapes at 64 px (the recipe measured on an H200 in
RESEARCH.md section 4: 20,000 images, batch 128, Adam 1e-3, learned by epoch 4), then the built-in
faces are learned frozen and fine-tuned from those weights, several seeds each, and "fine-tuning
beats the frozen base" is judged by the claims contract. Writes ``gpu_slice.json`` (numbers,
minutes per phase, device, versions) to ``--out``.

``--smoke``: tiny sizes, to test the script on a CPU before spending GPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KERAS_BACKEND", "jax")

PAPER = dict(image_size=64, n_source=20000, source_epochs=6, source_batch=128, n_faces=1350, extra_test=1500,
             epochs=20, batch=32, seeds=3, finetune_lr=3e-4, frozen_lr=1e-3)
SMOKE = dict(image_size=32, n_source=400, source_epochs=1, source_batch=32, n_faces=120, extra_test=60,
             epochs=1, batch=16, seeds=2, finetune_lr=3e-4, frozen_lr=1e-3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "outputs/gpu"), help="folder for gpu_slice.json and weights")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (a CPU check of the script)")
    args = ap.parse_args(argv)
    cfg = SMOKE if args.smoke else PAPER
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import keras

    from lib import claims as C
    from lib import data as D
    from lib import images, transfer
    from lib.studies import source_pretrain

    result = {"config": cfg, "backend": keras.backend.backend(), "keras": keras.__version__,
              "devices": [str(d) for d in keras.distribution.list_devices()], "python": platform.python_version(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S"), "minutes": {}, "status": "running"}
    stamp = out / "gpu_slice.json"
    partial = out / "gpu_slice.partial.json"

    def save():
        partial.write_text(json.dumps(result, indent=1))

    size = cfg["image_size"]
    t = time.time()
    src, _, _ = source_pretrain.load_task({"source_task": "shapes", "n_images": cfg["n_source"], "image_size": size,
                                           "n_classes": 20, "distractor": True, "data_seed": 0})
    weights = out / f"resnet50_{size}px.weights.h5"
    row, hist = transfer.pretrain_source("resnet50", src, size, epochs=cfg["source_epochs"], batch_size=cfg["source_batch"],
                                         learning_rate=1e-3, seed=0, out_path=weights, patience=2)
    result["source"] = {"test_acc": row["test_acc"], "val_accuracy": hist["val_accuracy"], "images_per_s": row["images_per_s"]}
    result["minutes"]["source_pretrain"] = (time.time() - t) / 60
    save()

    target, _, _, _ = images.target_task("", size, n_images=cfg["n_faces"], difficulty=1.0, seed=0, extra_test=cfg["extra_test"])
    runs = {}
    for arm, lr in (("resnet50:frozen", cfg["frozen_lr"]), ("resnet50:finetune", cfg["finetune_lr"])):
        t = time.time()
        runs[arm] = [transfer.run_image_arm(f"{arm}@{lr:g}", target, size, weights=str(weights), epochs=cfg["epochs"],
                                            batch_size=cfg["batch"], learning_rate=lr, finetune_learning_rate=lr,
                                            head_epochs=0, seed=s)[0] for s in range(cfg["seeds"])]
        result["minutes"][arm] = (time.time() - t) / 60
        result[arm] = {"test_acc_per_seed": [r["test_acc"] for r in runs[arm]],
                       "images_per_s": [r["images_per_s"] for r in runs[arm]]}
        save()
    # the same claim, id and rule as small_data/resnet50's (lib/studies/small_data.py), at this scale
    fin, fro = runs["resnet50:finetune"], runs["resnet50:frozen"]
    n_test = len(target.y_test)
    claim = C.judge("seed002.resnet50:finetune.beats.resnet50:frozen", "seed 002", "resnet50:finetune beats resnet50:frozen",
                    rule="greater", a=[r["test_acc"] for r in fin], b=[r["test_acc"] for r in fro], n_test=n_test,
                    outcomes=([r["test_correct"] for r in fin], [r["test_correct"] for r in fro]),
                    comparator="resnet50:frozen",
                    premises=[C.enough_seeds(cfg["seeds"]),
                              C.source_learned({"source_test_acc": row["test_acc"], "chance": 1 / 20,
                                                "n_test": len(src.y_test)}, "resnet50 source weights learned their task")])
    result["claim"] = {"verdict": claim.verdict, "evidence": claim.evidence, "reason": claim.reason,
                       "quote": claim.quote, "interval": claim.interval}
    result["status"] = "ok"
    result["ended"] = time.strftime("%Y-%m-%d %H:%M:%S")
    save()
    os.replace(partial, stamp)  # only a finished slice leaves gpu_slice.json
    print(json.dumps({k: result[k] for k in ("claim", "minutes", "devices")}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
