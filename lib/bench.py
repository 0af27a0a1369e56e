"""``make bench``: measured performance ratios (never assumed), printed as a table.

1. Cached features: a frozen backbone trained end to end (its forward pass paid every epoch)
   against the same model trained on features computed once, same epochs and seed; reports the
   wall-time ratio (feature extraction included) and the test accuracy difference.
   Targets: 10x faster or better, accuracy within 1 point. Also printed: the ratio's ceiling,
   ``epochs * (train + validation) / (train + validation + test)`` backbone forward passes
   (end to end pays them for train and validation every epoch; the cached path once for all
   three splits), so a ratio below 10x at few epochs can be told from a slow cached path.
2. Input pipeline: steady-state training throughput through the project's tf.data pipeline
   (``lib.train.make_dataset``) as a fraction of ``fit`` on in-memory tensors. Target: 0.9 or better.
3. Concurrency (what ``make -j 2 THREADS=1`` buys): images per second of training of two runs at
   once with one TensorFlow thread each (all their images over the span from the first start to
   the last end), against one run alone with TensorFlow's default threads (and two at once with
   default threads). Each run is its own process, as under make; the timed steps start together
   (a barrier after warm-up). Target: above 1.
4. Graph reuse: seconds per model (build to the end of one epoch) when each seed builds and
   traces its own ResNet50 against seeds sharing one compiled model (``lib.train.ModelPool``),
   and whether both give the same losses. Target: above 1x with the same losses.
5. The feature cache (``lib/cache.py``): hits over lookups in the ledger of the outputs root's
   runs (after ``make all``: its hit ratio), and the forward-pass seconds the hits saved.
6. Detector validation: one epoch's validation of the sign detector as it runs now (one forward pass:
   multibox loss and mAP@0.5 from the same predictions, :class:`lib.detector.ValidationMAP`) against
   the earlier two passes (Keras' ``evaluate`` on ``validation_data``, then ``detect`` and the full
   COCOeval), timed alternately in one process, and what it buys a target-country epoch (40 training
   scenes at batch 8, 40 validation scenes) and a source one (120 training scenes); both paths must
   give the same loss and mAP. Target: above 1x with the same values.
7. Every study's arms, read from the run records (no compute): training seconds per seed and the
   speed-up against each study's slowest arm.

Usage: ``python -m lib.bench [--arch vgg16] [--image-size 32] [--epochs 10,30] [--out outputs/bench/bench.json]``
(10 epochs: the small-data study's default; 30: its paper profile).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def bench_cached(arch: str, image_size: int, epochs: int, n_images: int, seed: int = 0) -> dict:
    from lib import data as D, images, train, transfer

    x, y, names = images.target_faces(n_images, image_size, seed=0)
    task = D.split_task("faces", x, y, names, seed=0)
    out = {}
    for path in ("end_to_end", "cached"):
        train.set_seed(seed)
        model, parts = transfer.build_image_classifier(arch, image_size, 2, policy="frozen", weights="none")
        t0 = time.perf_counter()
        if path == "cached":
            transfer.fit_cached(parts, task, epochs=epochs, batch_size=32, seed=seed)
        else:
            train.fit(model, task, epochs=epochs, batch_size=32, seed=seed)
        out[path] = {"wall_s": time.perf_counter() - t0, "test_acc": train.accuracy(model, task.x_test, task.y_test)}
    sizes = task.sizes()
    ceiling = epochs * (sizes["train"] + sizes["validation"]) / sum(sizes.values())
    return {
        "what": f"{arch} frozen, {image_size} px, {len(task.y_train)} train images, {epochs} epochs",
        "epochs": epochs, "ceiling": ceiling,
        "end_to_end_s": out["end_to_end"]["wall_s"], "cached_s": out["cached"]["wall_s"],
        "speedup": out["end_to_end"]["wall_s"] / out["cached"]["wall_s"],
        "test_acc_end_to_end": out["end_to_end"]["test_acc"], "test_acc_cached": out["cached"]["test_acc"],
        "acc_diff_points": 100 * (out["cached"]["test_acc"] - out["end_to_end"]["test_acc"]),
    }


def bench_pipeline(image_size: int, epochs: int, n_images: int, seed: int = 0) -> dict:
    import keras
    import tensorflow as tf

    from lib import data as D, images, train, transfer

    x, y, names = images.target_faces(n_images, image_size, seed=0)
    task = D.split_task("faces", x, y, names, seed=0)
    rates = {}
    for path in ("in_memory", "pipeline"):
        train.set_seed(seed)
        model, _ = transfer.build_image_classifier("simple_cnn", image_size, 2, policy="scratch")
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        timer = train.EpochTimer()
        if path == "in_memory":
            model.fit(tf.constant(task.x_train), tf.constant(task.y_train), batch_size=32, epochs=epochs,
                      verbose=0, callbacks=[timer])
        else:
            model.fit(train.make_dataset(task.x_train, task.y_train, 32, shuffle=True, seed=seed), epochs=epochs,
                      verbose=0, callbacks=[timer])
        steady = timer.times[1:] or timer.times  # the first epoch pays for tracing
        rates[path] = len(task.y_train) / (sum(steady) / len(steady))
    return {"what": f"simple_cnn training, {image_size} px, steady-state epochs 2..{epochs}",
            "in_memory_img_s": rates["in_memory"], "pipeline_img_s": rates["pipeline"],
            "fraction": rates["pipeline"] / rates["in_memory"]}


def _concurrency_worker(arch: str, image_size: int, steps: int, barrier: str, n: int) -> None:
    """One process of :func:`bench_concurrency`: warm up, wait for the others, time ``steps`` batches
    of 16; prints the images and the wall-clock start and end as JSON on the last line."""
    import numpy as np

    from lib import train, transfer

    train.set_seed(0)
    model, _ = transfer.build_image_classifier(arch, image_size, 10, policy="scratch")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    xs = rng.uniform(0, 255, (16 * steps, image_size, image_size, 3)).astype("float32")
    ys = rng.integers(0, 10, 16 * steps)
    model.fit(xs[:48], ys[:48], batch_size=16, epochs=1, verbose=0)  # tracing and first steps
    Path(barrier, f"ready.{os.getpid()}").touch()
    while len(list(Path(barrier).glob("ready.*"))) < n:
        time.sleep(0.05)
    t0 = time.time()  # wall clock: comparable across the processes
    model.fit(xs, ys, batch_size=16, epochs=1, verbose=0)
    print(json.dumps({"images": 16 * steps, "start": t0, "end": time.time()}))


def bench_concurrency(arch: str = "efficientnetb0", image_size: int = 64, steps: int = 60) -> dict:
    """Training throughput of concurrent runs (separate processes) in three settings: one alone
    (default threads), two at once (default threads), two at once (one thread each)."""
    import subprocess
    import sys
    import tempfile

    from lib.records import THREAD_ENV

    def together(n: int, threads: int | None) -> float:
        """Images per second of ``n`` runs together: all their images over the span from the
        first start to the last end (a run that finishes early does not count its lone speed)."""
        env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
        env.update({k: str(threads) for k in THREAD_ENV if threads})
        with tempfile.TemporaryDirectory() as barrier:
            cmd = [sys.executable, "-m", "lib.bench", "--concurrency-worker", arch, str(image_size), str(steps), barrier, str(n)]
            procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                     for _ in range(n)]
            outs = [p.communicate()[0] for p in procs]
        if any(p.returncode for p in procs):
            raise RuntimeError(f"a concurrency worker failed: {outs}")
        runs = [json.loads(o.strip().splitlines()[-1]) for o in outs]
        return sum(r["images"] for r in runs) / (max(r["end"] for r in runs) - min(r["start"] for r in runs))

    alone = together(1, None)
    two_default = together(2, None)
    two_single = together(2, 1)
    return {"what": f"{arch} training, {image_size} px, batch 16, {steps} timed steps per run, {os.cpu_count()} cores",
            "alone_img_s": alone, "two_default_img_s": two_default, "two_one_thread_img_s": two_single,
            "ratio_two_default": two_default / alone, "ratio_two_one_thread": two_single / alone}


def bench_reuse(arch: str = "resnet50", image_size: int = 32, seeds: int = 3, n_images: int = 64) -> dict:
    """Seconds per model, from building it to the end of one training epoch, when every seed
    builds, compiles and traces its own model (rebuilt) against seeds sharing one compiled model
    through :class:`lib.train.ModelPool` (reused: the first seed builds it, the others copy their
    fresh weights in); the first seed is left out of both means (it pays the same trace). Also
    checks that both give the same losses."""
    import numpy as np

    from lib import data as D, train, transfer

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (n_images, image_size, image_size, 3)).astype("float32")
    y = np.arange(n_images) % 2
    task = D.split_task("noise", x, y, ["a", "b"], seed=0)
    out: dict[str, list] = {"rebuilt": [], "reused": []}
    losses: dict[str, list] = {"rebuilt": [], "reused": []}
    for path in out:
        pool = train.ModelPool(size=1 if path == "reused" else 0)
        for seed in range(seeds):
            t0 = time.perf_counter()
            train.set_seed(seed)
            model, parts = pool.take(arch, *transfer.build_image_classifier(arch, image_size, 2, policy="scratch"))
            hist = train.fit(model, task, epochs=1, batch_size=16, seed=seed)
            out[path].append(time.perf_counter() - t0)
            losses[path].append(hist["loss"])
    rebuilt, reused = (sum(out[k][1:]) / (seeds - 1) for k in ("rebuilt", "reused"))
    return {"what": f"{arch} from scratch, {image_size} px, one epoch of {len(task.y_train)} images, seeds 2..{seeds}",
            "rebuilt_s": rebuilt, "reused_s": reused, "saving_s": rebuilt - reused, "ratio": rebuilt / reused,
            "same_losses": losses["rebuilt"] == losses["reused"], "per_seed_s": out}


def bench_detector_validation(repeats: int = 5) -> dict:
    """Seconds per validation of the sign detector, the one-pass callback against the earlier two
    passes (medians over ``repeats``, alternated), and per training epoch of 40 scenes."""
    import numpy as np

    from lib import detector as D, train
    from lib.datasets import signs

    x, b = signs.make_scenes(80, 64, n_classes=4, seed=0)
    xv, bv = x[40:], b[40:]
    det = D.build_detector(64, 4, cut="block3_conv3", anchor_sizes=[[10, 14], [19, 26]], seed=0)
    D.compile_detector(det, 1e-3)
    yv = D.encode_all(det.anchors, bv)
    val_ds, train_ds = train.make_dataset(xv, yv, 256), train.make_dataset(x[:40], D.encode_all(det.anchors, b[:40]), 8)
    callback, values = D.ValidationMAP(det, xv, bv, yv), {}

    def two_passes():
        values["two"] = (float(det.model.evaluate(val_ds, verbose=0)), D.coco_map(bv, D.detect(det, xv), 4)["map50"])

    def one_pass():
        logs: dict = {}
        callback.on_epoch_end(0, logs)
        values["one"] = (logs["val_loss"], logs["val_map50"])

    def epoch():
        det.model.fit(train_ds, epochs=1, verbose=0)

    times: dict[str, list] = {"two": [], "one": [], "train": []}
    for f in (two_passes, one_pass, epoch):
        f()  # traced once before timing
    for _ in range(repeats):
        for k, f in (("two", two_passes), ("one", one_pass), ("train", epoch)):
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    two_passes(), one_pass()  # the values at the same weights
    med = {k: float(np.median(v)) for k, v in times.items()}
    same = bool(np.isclose(values["two"][0], values["one"][0], rtol=1e-5) and abs(values["two"][1] - values["one"][1]) < 1e-9)
    return {"what": "VGG16 to block3_conv3 SSD, 64 px, 40 validation scenes; a training epoch is 40 scenes at batch 8",
            "two_passes_s": med["two"], "one_pass_s": med["one"], "train_epoch_s": med["train"],
            "ratio": med["two"] / med["one"], "target_epoch_ratio": (med["train"] + med["two"]) / (med["train"] + med["one"]),
            "source_epoch_ratio": (3 * med["train"] + med["two"]) / (3 * med["train"] + med["one"]), "same_values": same}


def cache_summary(root: Path) -> dict:
    """The feature cache's ledger under the outputs ``root`` (what ``make all`` looked up)."""
    from lib import cache

    lines = cache.ledger(root / ".cache" / "features")
    return {**cache.hit_ratio(lines), "folder": str(root / ".cache" / "features")}


def study_ledger(root: Path) -> list[dict]:
    """Per study and arm, from the finished run records under ``root`` (no compute): seconds per
    run (the study's wall time per arm and seed where it keeps one, feature extraction included;
    else the epochs' own time) and the speed-up against the study's slowest arm."""
    from lib import summary

    rows = [{**r, "seconds": r.get("wall_s") or r.get("train_s")} for r in summary.summarise(root)["cost"]]
    rows = [r for r in rows if r["seconds"]]
    slowest: dict[str, float] = {}
    for r in rows:
        slowest[r["run"]] = max(slowest.get(r["run"], 0.0), r["seconds"])
    return [{**r, "speedup": slowest[r["run"]] / r["seconds"]} for r in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="vgg16")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--epochs", default="10,30", help="comma-separated epoch counts of the cached-features bench")
    ap.add_argument("--n-images", type=int, default=1350)
    ap.add_argument("--out", default="outputs/bench/bench.json")
    ap.add_argument("--concurrency-worker", nargs=5, metavar=("ARCH", "SIZE", "STEPS", "BARRIER", "N"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.concurrency_worker:
        arch, size, steps, barrier, n = args.concurrency_worker
        _concurrency_worker(arch, int(size), int(steps), barrier, int(n))
        return 0
    epoch_list = [int(e) for e in str(args.epochs).split(",") if e.strip()]
    cached = [bench_cached(args.arch, args.image_size, e, args.n_images) for e in epoch_list]
    pipe = bench_pipeline(args.image_size, max(epoch_list[0] // 2, 3), args.n_images)
    conc = bench_concurrency()
    reuse = bench_reuse()
    detval = bench_detector_validation()
    feat = cache_summary(Path(args.out).parent.parent)
    from lib import records

    rows = []
    for c in cached:
        rows += [
            (f"cached vs end to end, {c['epochs']} epochs (time ratio)", f"{c['speedup']:.1f}x", ">= 10x",
             c["speedup"] >= 10, f"ceiling {c['ceiling']:.1f}x, reached {c['speedup'] / c['ceiling']:.0%}; {c['what']}"),
            (f"cached minus end-to-end test accuracy, {c['epochs']} epochs", f"{c['acc_diff_points']:+.1f} points",
             "within 1 point", abs(c["acc_diff_points"]) <= 1,
             f"{c['test_acc_cached']:.3f} vs {c['test_acc_end_to_end']:.3f}"),
        ]
    rows.append(("pipeline throughput / in-memory fit", f"{pipe['fraction']:.2f}", ">= 0.9", pipe["fraction"] >= 0.9,
                 f"{pipe['pipeline_img_s']:.0f} vs {pipe['in_memory_img_s']:.0f} img/s; {pipe['what']}"))
    rows.append(("two runs at once, 1 thread each / one alone", f"{conc['ratio_two_one_thread']:.2f}x", "> 1",
                 conc["ratio_two_one_thread"] > 1,
                 f"together {conc['two_one_thread_img_s']:.0f} vs {conc['alone_img_s']:.0f} img/s "
                 f"(two at once, default threads: {conc['ratio_two_default']:.2f}x); {conc['what']}"))
    rows.append(("graph reuse: seconds per model, rebuilt / reused", f"{reuse['ratio']:.1f}x", "> 1",
                 reuse["ratio"] > 1 and reuse["same_losses"],
                 f"{reuse['rebuilt_s']:.1f} s vs {reuse['reused_s']:.1f} s, {reuse['saving_s']:.1f} s saved per model; "
                 f"same losses: {'yes' if reuse['same_losses'] else 'NO'}; {reuse['what']}"))
    rows.append(("detector validation: two passes / one", f"{detval['ratio']:.2f}x", "> 1",
                 detval["ratio"] > 1 and detval["same_values"],
                 f"{detval['two_passes_s']:.2f} s vs {detval['one_pass_s']:.2f} s; a target epoch "
                 f"{detval['target_epoch_ratio']:.2f}x, a source epoch {detval['source_epoch_ratio']:.2f}x faster; "
                 f"same loss and mAP: {'yes' if detval['same_values'] else 'NO'}; {detval['what']}"))
    if feat["lookups"]:
        rows.append(("feature cache hit ratio (this outputs root's runs)", f"{feat['ratio']:.2f}", "> 0", feat["ratio"] > 0,
                     f"{feat['hit']} hits, {feat['miss']} misses, {feat['skip']} too large, over {feat['runs']} run(s); "
                     f"{feat['saved_s']:.0f} s of forward passes saved; {feat['folder']}/ledger.jsonl"))
    else:
        rows.append(("feature cache hit ratio (this outputs root's runs)", "no lookups", "> 0", False,
                     f"run `make all` first: nothing in {feat['folder']}/ledger.jsonl"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'measured':>14}  {'target':>14}  met   details")
    for name, value, target, met, what in rows:
        print(f"{name:<{width}}  {value:>14}  {target:>14}  {'yes' if met else 'NO ':<4}  {what}")
    ledger = study_ledger(Path(args.out).parent.parent)
    if ledger:
        print("\nEvery study's arms, from the run records under the outputs root (seconds per run and seed; "
              "speed-up against the study's slowest arm):")
        for row in ledger:
            print(f"  {row['run']:<26} {row['arm']:<30} {row['seconds']:>9.1f} s  {row['speedup']:>7.1f}x"
                  + (f"  {row['images_per_s']:>7.0f} img/s" if row.get("images_per_s") else ""))
    result = {"cached_features": cached, "pipeline": pipe, "concurrency": conc, "graph_reuse": reuse,
              "detector_validation": detval, "feature_cache": feat,
              "studies": ledger, "hardware": records.hardware(),
              "versions": records.package_versions(), "when": records.now_iso()}
    records.write_json_atomic(Path(args.out), result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
