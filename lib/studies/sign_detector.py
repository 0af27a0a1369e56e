"""Seed 001's own system, as a study: arms, checks before any kernel starts, a user's annotated
scenes, and the seed's claims judged through the claims contract (``notebooks/sign_detector.ipynb``).

This module imports no TensorFlow: the runner calls :func:`check` on the merged parameters before
a kernel starts (``lib.runner``), in well under a second. The detector itself is ``lib.detector``.

Arms use the sign study's words (``lib.studies.sign_claims.SIGN_ARMS``): on the source country the detector
starts from one of :data:`SOURCE_INITS`; on the target country from :data:`TARGET_ARMS`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib import claims as C
from lib.checks import VGG16_CUTS, check_cut, feature_map_sizes, freeze_until, table_arm  # noqa: F401 (its names)
from lib.datasets.signs import CLASS_NAMES, make_scenes

SOURCE = "seed 001"

SOURCE_INITS = {
    "scratch": "random weights, the whole detector trained on the source country (the seed's best)",
    "hed": "VGG16 convolutions from a published model (HED: ImageNet, then BSDS500 edges), the seed's "
           "'model zoo' question (it used MS COCO weights)",
    "signs": "VGG16 convolutions first trained to classify traffic-sign crops of the source country (the seed's "
             "'pretrained weights for traffic sign classification', which it found worst)",
    "imagenet": "keras' ImageNet VGG16 (needs internet or the cached file; the paper profile)",
}
TARGET_ARMS = {
    "zero_shot": "the source-country detector applied to the target country as it is",
    "scratch": "random weights, trained on the few target scenes only (the seed's comparison)",
    "finetune": "the source-country detector, every layer trained on the target scenes",
    "frozen": "the source-country detector with its VGG16 base frozen; extra layers and heads trained",
    "freeze_first:K": "the source-country detector with VGG16 blocks 1..K frozen, the rest trained",
    "compute_matched": "from scratch on the target scenes for as many optimizer steps as source training "
                       "and fine-tuning together (He et al. 2019)",
}
# the source-country detector that the target arms start from "learned" when its mAP@0.5 clears this
SOURCE_MAP_FLOOR = 0.25
FOLDER_LAYOUT = ("<folder>/<country>/ holding the images and either one COCO file annotations.json "
                 "or one Pascal VOC .xml file per image")


def claim_ids(p: dict) -> list[str]:
    """The claims a run with merged parameters ``p`` judges (:func:`claims`): its source and target
    arms decide which."""
    src, tgt = set(p["source_arms"]), set(p["target_arms"])
    out = ["sign_detector.seed.model_zoo_no_gain", "sign_detector.seed.scratch_fastest"] if "hed" in src else []
    out += ["sign_detector.seed.sign_weights_worst"] if "signs" in src else []
    out += ["sign_detector.seed.transfer_no_advantage"] if {"finetune", "scratch"} <= tgt else []
    out += ["sign_detector.seed.freezing_no_speedup"] if {"frozen", "finetune"} <= tgt else []
    out += ["sign_detector.literature.compute_matched"] if {"compute_matched", "finetune"} <= tgt else []
    return out


def check(p: dict) -> None:
    """Every problem of a merged parameter set, in one message, before any compute: arm names, the
    cut layer, one anchor-size list per feature map, the image size against the cut, the user's
    folder and its annotations. Raises ``ValueError``."""
    problems = []
    for key, known, what in (("source_arms", SOURCE_INITS, "source initialisation"),
                             ("target_arms", TARGET_ARMS, "target-country arm")):
        for arm in p.get(key, []):
            try:
                table_arm(arm, known, what)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
        if key == "target_arms":
            for arm in p.get(key, []):
                if arm.startswith("freeze_first:") and arm.partition(":")[2].isdigit() and not 1 <= int(arm[13:]) <= 5:
                    problems.append(f"target_arms: {arm!r}: VGG16 has blocks 1..5")
    if "scratch" not in p.get("source_arms", []) and p.get("target_arms"):
        problems.append("source_arms must include 'scratch': the target arms start from the source-country detector "
                        "trained from scratch (the seed's 'Belgium from scratch')")
    try:
        check_cut(p["cut"])
        maps = feature_map_sizes(p["image_size"], p["cut"], p["extra_levels"])
        if min(maps) < 2:
            problems.append(f"image_size {p['image_size']} is too small for a cut at {p['cut']!r} with "
                            f"{p['extra_levels']} extra levels: the maps would be {maps} (each must be at least 2)")
        if len(p["anchor_sizes"]) != len(maps):
            problems.append(f"anchor_sizes needs one list per feature map: {len(maps)} maps {maps} (the cut layer and "
                            f"{p['extra_levels']} extra), received {len(p['anchor_sizes'])}")
        bad = [s for level in p["anchor_sizes"] for s in (level if isinstance(level, list) else [level])
               if not isinstance(s, (int, float)) or not 0 < s <= 2 * p["image_size"]]
        if bad or not all(isinstance(level, list) and level for level in p["anchor_sizes"]):
            problems.append(f"anchor_sizes: each level a non-empty list of box sides in pixels (0 < side <= "
                            f"{2 * p['image_size']}); received {p['anchor_sizes']}")
    except ValueError as exc:
        problems.append(str(exc))
    if p.get("data") == "folder":
        try:
            for country in (p["source_country"], p["target_country"]):
                read_annotations(Path(p["folder"]) / country)
        except (ValueError, FileNotFoundError) as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("sign_detector:" + "".join(f"\n  - {p}" for p in problems))


# --------------------------------------------------------------------------- a user's scenes

@dataclass
class Annotated:
    """One image of a user's folder and its boxes (xyxy pixels of the original image, class names)."""

    path: Path
    boxes: list[tuple[float, float, float, float]]
    names: list[str]


def read_annotations(folder: Path) -> list[Annotated]:
    """A country's annotated images: COCO (``annotations.json``) or Pascal VOC (one ``.xml`` per
    image). Missing files, unknown categories and empty annotation sets are refused by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder; expected {FOLDER_LAYOUT}")
    coco = folder / "annotations.json"
    if coco.is_file():
        try:
            data = json.loads(coco.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{coco}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        cats = {c["id"]: c["name"] for c in data.get("categories", [])}
        by_image = {im["id"]: Annotated(folder / im["file_name"], [], []) for im in data.get("images", [])}
        for a in data.get("annotations", []):
            if a.get("image_id") not in by_image or a.get("category_id") not in cats:
                raise ValueError(f"{coco}: annotation {a.get('id')} names an unknown image or category")
            x, y, w, h = a["bbox"]
            by_image[a["image_id"]].boxes.append((x, y, x + w, y + h))
            by_image[a["image_id"]].names.append(cats[a["category_id"]])
        items = list(by_image.values())
    else:
        xmls = sorted(folder.glob("*.xml"))
        if not xmls:
            raise FileNotFoundError(f"{folder}: neither annotations.json nor Pascal VOC .xml files; expected {FOLDER_LAYOUT}")
        items = []
        for f in xmls:
            try:
                root = ET.parse(f).getroot()
            except ET.ParseError as exc:
                raise ValueError(f"{f}: not valid XML ({exc})") from None
            name = root.findtext("filename") or f.with_suffix(".jpg").name
            item = Annotated(folder / name, [], [])
            for obj in root.iter("object"):
                bb = obj.find("bndbox")
                item.boxes.append(tuple(float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")))
                item.names.append(obj.findtext("name"))
            items.append(item)
    missing = [str(i.path) for i in items if not i.path.is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: {len(missing)} annotated images are missing, e.g. {missing[:3]}")
    if not items or not any(i.boxes for i in items):
        raise ValueError(f"{folder}: no annotated boxes")
    return items


def load_folder(folder: Path, size: int, classes: list[str] | None = None) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """A country's scenes resized to ``size`` x ``size`` with their boxes scaled: images (uint8),
    per image ``(k, 5)`` boxes (xyxy pixels + class index), class names (``classes`` when given:
    the source country's, so one index means one sign in both countries)."""
    from PIL import Image

    items = read_annotations(folder)
    names = classes or sorted({n for i in items for n in i.names})
    unknown = sorted({n for i in items for n in i.names} - set(names))
    if unknown:
        raise ValueError(f"{folder}: classes {unknown} are not among the source country's {names}")
    images, boxes = np.empty((len(items), size, size, 3), "uint8"), []
    for k, item in enumerate(items):
        try:
            with Image.open(item.path) as im:
                w, h = im.size
                images[k] = np.asarray(im.convert("RGB").resize((size, size)))
        except Exception as exc:  # PIL raises many kinds for a corrupt file
            raise ValueError(f"{item.path}: cannot read the image ({type(exc).__name__}: {exc})") from None
        b = np.array([[x0 * size / w, y0 * size / h, x1 * size / w, y1 * size / h, names.index(n)]
                      for (x0, y0, x1, y1), n in zip(item.boxes, item.names)], "float32").reshape(-1, 5)
        boxes.append(b)
    return images, boxes, names


# --------------------------------------------------------------------------- claims

def detects(arm: str, values, n_test: int, floor: float) -> C.Premise:
    """``arm`` detects signs: the lower end of its mean mAP@0.5's 95% interval (seeds + the test
    boxes' sampling) above ``floor``; a detector below it learned too little to compare."""
    return C.above_chance(f"{arm} detects signs (mAP@0.5)", values, 0.0, n_test, margin=floor)


def loss_epochs(history: dict, level: float) -> tuple[float, bool]:
    """Epochs until the training loss first fell to ``level`` (1-based), or the epochs the run
    trained and censored when it never did (a censored time, never scored as a value)."""
    for e, v in enumerate(history["loss"], start=1):
        if v <= level:
            return float(e), False
    return float(len(history["loss"])), True


def claims(rows, history: dict, *, n_test_boxes: int, margin: float, loss_level: float, floor: float,
           classifier: dict | None, n_seeds: int, converged: dict[str, float], data: str = "stand-in") -> list[C.Claim]:
    """Seed 001's detector claims and the study's controls. ``rows``: a DataFrame with ``stage``
    (``source`` / ``target`` / ``positive`` / ``negative``), ``arm``, ``seed``, ``map50_A``, ``map50_B``,
    ``img_per_s`` and, where kept, ``matches_A`` / ``matches_B`` (:func:`lib.detection_map.match_table`:
    the mAP intervals' paired image bootstrap); ``history``: the record's, keyed ``<stage>/<arm>``;
    ``classifier``: the traffic-sign VGG16's test accuracy, chance and test size; ``converged``: per stage/arm,
    the fraction of runs that early stopping ended before the cap; ``data``: "stand-in" for the built-in
    scenes, "user" for a user's ``folder`` (shown beside each verdict)."""
    def vals(stage, arm, col):
        g = rows[(rows.stage == stage) & (rows.arm == arm)].sort_values("seed")
        return g[col].tolist()

    def has(stage, arm):
        return bool(len(vals(stage, arm, "seed")))

    def tvar(stage, arm, other, country):
        """The test-set term of ``stage/arm`` - ``stage/other`` on mAP@0.5: images drawn again, paired
        (:func:`lib.detection_map.map50_test_var`); ``None`` for rows without match tables."""
        col = f"matches_{country}"
        if col not in rows:
            return None
        a, b = vals(stage, arm, col), vals(stage, other, col)
        if not all(isinstance(t, dict) for t in (*a, *b)):
            return None
        return map50_test_var(a, b)

    from lib.detection_map import map50_test_var

    out = []
    seeds = C.enough_seeds(n_seeds)
    if has("positive", "finetune") and has("positive", "scratch"):
        out.append(C.judge(
            "sign_detector.control.positive", "control",
            "when the target country is drawn like the source (shift 0), the fine-tuned source detector beats "
            "a detector trained from scratch on the same few scenes: transfer must help",
            rule="greater", a=vals("positive", "finetune", "map50_B"), b=vals("positive", "scratch", "map50_B"),
            n_test=n_test_boxes, test_var=tvar("positive", "finetune", "scratch", "B"), measure="test mAP@0.5",
            comparator="positive/scratch", kind="control",
            expected=C.REPRODUCED))
    if has("negative", "scratch"):
        neg = vals("negative", "scratch", "map50_A")
        tables = vals("negative", "scratch", "matches_A") if "matches_A" in rows else []
        out.append(C.judge(
            "sign_detector.control.negative", "control",
            "trained from scratch on source scenes whose annotations belong to other scenes, the detector does not "
            f"detect the true test scenes' signs (mAP@0.5 no better than 0 by the detection floor {floor:g})",
            rule="no_better", a=neg, b=0.0, margin=floor, n_test=n_test_boxes, measure="test mAP@0.5 (source country)",
            comparator="0 (no detection)", kind="control", expected=C.REPRODUCED,
            test_var=map50_test_var(tables, None) if tables and all(isinstance(t, dict) for t in tables) else None))

    def conv(stage, *arms):
        frac = min(converged.get(f"{stage}/{a}", 0.0) for a in arms)
        return C.Premise("runs trained to convergence", frac >= 2 / 3, value=frac, threshold=2 / 3,
                         detail=f"{frac:.0%} of the compared runs stopped early on validation mAP before the epoch cap "
                                "(the seed trained for weeks: its claims are about converged detectors)")

    def no_better(name, stage, arm, other, hypothesis, premises, reported):
        """``stage/arm`` no better than ``stage/other`` on test mAP@0.5 of the stage's country."""
        country = "A" if stage == "source" else "B"
        return C.judge(f"sign_detector.seed.{name}", SOURCE, hypothesis, rule="no_better",
                       a=vals(stage, arm, f"map50_{country}"), b=vals(stage, other, f"map50_{country}"),
                       n_test=n_test_boxes, margin=margin, test_var=tvar(stage, arm, other, country),
                       measure=f"test mAP@0.5 ({'source' if stage == 'source' else 'target'} country)",
                       comparator=f"{stage}/{other}", premises=premises, seed_reported=reported, data=data)

    # the first (source-country) detector: model-zoo weights
    if has("source", "hed"):
        prem = [seeds, detects("scratch", vals("source", "scratch", "map50_A"), n_test_boxes, floor),
                detects("hed", vals("source", "hed", "map50_A"), n_test_boxes, floor), conv("source", "scratch", "hed")]
        out.append(no_better("model_zoo_no_gain", "source", "hed", "scratch",
                             f"pre-trained weights from a model zoo give the first detector no advantage (margin "
                             f"{margin:g}): HED-initialised no better than from scratch on the source country", prem,
                             "COCO-initialised SSD: loss never below 9; from scratch: 3 after 40 epochs"))
        fast_s = [loss_epochs(history["source/scratch"][str(s)], loss_level) for s in vals("source", "scratch", "seed")]
        fast_h = [loss_epochs(history["source/hed"][str(s)], loss_level) for s in vals("source", "hed", "seed")]
        out.append(C.judge_time_to_event(
            "sign_detector.seed.scratch_fastest", SOURCE,
            f"from scratch converges fastest: it reaches the multibox training loss {loss_level:g} in fewer epochs "
            "than the model-zoo initialisation", a=[e for e, _ in fast_s], a_reached=[not c for _, c in fast_s],
            b=[e for e, _ in fast_h], b_reached=[not c for _, c in fast_h], a_name="scratch", b_name="source/hed",
            unit="epochs", split="train", premises=[seeds], data=data,
            seed_reported="from scratch: loss 3 after 40 epochs; every other variant never below 9"))
    if has("source", "signs"):
        learned = C.source_learned({"source_test_acc": classifier["test_acc"], "chance": classifier["chance"],
                                    "n_test": classifier["n_test"]} if classifier else None,
                                   name="the traffic-sign VGG16 learned to classify signs")
        a = vals("source", "signs", "map50_A")
        others = [k for k in ("scratch", "hed") if has("source", k)]
        ivs = {k: C.rule_verdict("less", a, vals("source", k, "map50_A"), n_test_boxes,
                                 test_var=tvar("source", "signs", k, "A")) for k in others}
        own, p_own = C.every("less", [iv for _, iv in ivs.values()]) if ivs else (C.INCONCLUSIVE, None)
        out.append(C.judge(
            "sign_detector.seed.sign_weights_worst", SOURCE,
            "the detector on VGG16 weights pre-trained for traffic-sign classification performs worst (below every "
            "other initialisation)", rule="less than every other", verdict=own, p_value=p_own,
            power_design={"margin": None, "n_test": n_test_boxes, "seeds": len(a), "comparisons": max(1, len(others))},
            measure="test mAP@0.5 (source country)",
            comparator=" and ".join(f"source/{k}" for k in others),
            premises=[seeds, learned, *[detects(k, vals("source", k, "map50_A"), n_test_boxes, floor) for k in others],
                      conv("source", "signs", *others)],
            evidence="; ".join(f"signs - {k} {iv.text()} ({v})" for k, (v, iv) in ivs.items()),
            seed_reported="sign-classification VGG16: loss stagnated at 11, then over-fitted: the worst", data=data))
    # the target country with few scenes
    if has("target", "finetune") and has("target", "scratch"):
        prem = [seeds, detects("the source-country detector", vals("source", "scratch", "map50_A"), n_test_boxes,
                               SOURCE_MAP_FLOOR), conv("target", "finetune", "scratch")]
        out.append(no_better("transfer_no_advantage", "target", "finetune", "scratch",
                             f"transfer learning or fine-tuning gives the detector no advantage on the new country "
                             f"(margin {margin:g}): the fine-tuned source detector no better than one trained from "
                             "scratch on the few target scenes",
                             [*prem, detects("target/finetune", vals("target", "finetune", "map50_B"), n_test_boxes, floor)],
                             "'transfer learning or fine tuning on these detectors doesn't have any advantage at all'"))
    if has("target", "frozen") and has("target", "finetune"):
        f, t = vals("target", "frozen", "img_per_s"), vals("target", "finetune", "img_per_s")
        out.append(C.judge(
            "sign_detector.seed.freezing_no_speedup", SOURCE,
            "the asker expected freezing to speed up learning (no computation in the frozen layers) and found that "
            "transfer had no advantage at all; judged here as his finding, per computation: training images per "
            "second of the frozen arm no more than 10% above fine-tuning",
            rule="no_better", a=np.log(f).tolist(), b=np.log(t).tolist(), margin=float(np.log(1.10)),
            measure="log training throughput (images/s, measured)", split="train", comparator="target/finetune",
            premises=[seeds], data=data,
            evidence=f"images/s: frozen {np.mean(f):.1f}, fine-tuned {np.mean(t):.1f} (ratio {np.mean(f) / np.mean(t):.2f}x)",
            seed_reported="no speed-up from frozen layers"))
    if has("target", "compute_matched") and has("target", "finetune"):
        out.append(C.judge(
            "sign_detector.literature.compute_matched", "literature",
            f"from scratch catches up with fine-tuning when given the same compute (He et al. 2019; margin {margin:g})",
            rule="equivalent", a=vals("target", "compute_matched", "map50_B"), b=vals("target", "finetune", "map50_B"),
            n_test=n_test_boxes, margin=margin, test_var=tvar("target", "compute_matched", "finetune", "B"),
            measure="test mAP@0.5 (target country)", comparator="target/finetune",
            premises=[seeds, detects("target/finetune", vals("target", "finetune", "map50_B"), n_test_boxes, floor)],
            data=data))
    return C.gate_by_controls(out)


def folder_splits(folder: str, source: str, target: str, image_size: int, n_target: int, seed: int):
    """A user's two countries split 60/20/20 (a fixed permutation by ``seed``) into
    ``{"train", "val", "test"}`` of ``(images, boxes)``; the target's training split cut to its first
    ``n_target`` scenes. Returns ``(source splits, target splits, class names)``."""
    x_a, b_a, names = load_folder(Path(folder) / source, image_size)
    x_b, b_b, _ = load_folder(Path(folder) / target, image_size, classes=names)
    out = []
    for x, b, cap in ((x_a, b_a, None), (x_b, b_b, n_target)):
        order = np.random.default_rng(seed).permutation(len(x))
        cuts = [int(0.6 * len(x)), int(0.8 * len(x))]
        parts = np.split(order, cuts)
        split = {k: (x[idx], [b[i] for i in idx]) for k, idx in zip(("train", "val", "test"), parts)}
        if cap is not None:
            split["train"] = (split["train"][0][:cap], split["train"][1][:cap])
        if any(len(v[0]) < 2 for v in split.values()):
            raise ValueError(f"{folder}: too few scenes to split 60/20/20 (at least 2 per split); found {len(x)}")
        out.append(split)
    return out[0], out[1], names


# ---------------------------------------------------------------------------------------------
# The report's steps (notebooks/sign_detector.ipynb)

SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2, "control": 3}  # scene seed = 10 * data_seed + this


def mismatched(scenes: tuple, seed: int) -> tuple:
    """The negative control's scenes: every image keeps its pixels but gets the boxes of another image
    (a random derangement, seeded), so nothing in an image says where its signs are or what they are.
    A detector trained on them must not detect the true test scenes' signs."""
    x, boxes = scenes[0], list(scenes[1])
    n = len(boxes)
    if n < 2:
        raise ValueError("the negative control needs at least two scenes to exchange annotations")
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if not (perm == np.arange(n)).any():
            break
    return (x, [boxes[j] for j in perm], *scenes[2:])


def negative_runs(runs, source_splits: dict, tests: dict, seeds, record) -> list[dict]:
    """The negative control, once per seed: a detector from scratch trained (and early-stopped) on
    :func:`mismatched` source scenes, scored on the true test scenes; rows under stage "negative",
    histories to ``record``."""
    rows = []
    for s in seeds:
        row, hist = runs.source("scratch", s, mismatched(source_splits["val"], s), tests,
                                scenes=mismatched(source_splits["train"], s), stage="negative")
        rows.append(row)
        record.add_history("negative/scratch", s, hist)
    return rows


def built_in_splits(p: dict):
    """The built-in scenes: ``(source splits, target splits, positive control's splits, class names)``,
    each split ``(images, boxes)`` drawn with its own seed so every training seed sees the same scenes.
    The positive control's "new" country is drawn exactly like the source (shift 0), with the
    source's validation and test scenes."""

    def draw(country, n, split, shift=p["shift"]):
        return make_scenes(n, p["image_size"], country=country, shift=shift, n_classes=p["n_classes"],
                           max_signs=p["max_signs"], seed=10 * p["data_seed"] + SPLIT_SEEDS[split],
                           reference=p["source_country"])

    src, tgt = p["source_country"], p["target_country"]
    a = {"train": draw(src, p["n_source"], "train"), "val": draw(src, p["n_val"], "val"),
         "test": draw(src, p["n_test"], "test")}
    b = {"train": draw(tgt, p["n_target"], "control"), "val": draw(tgt, p["n_val"], "val"),
         "test": draw(tgt, p["n_test"], "test")}
    positive = {"train": draw(tgt, p["n_target"], "control", 0.0), "val": a["val"], "test": a["test"]}
    return a, b, positive, CLASS_NAMES[:p["n_classes"]]


def load_splits(p: dict):
    """:func:`built_in_splits` (``data: built_in``) or the user's folders (:func:`folder_splits`, no
    positive control)."""
    if p["data"] == "built_in":
        return built_in_splits(p)
    a, b, names = folder_splits(p["folder"], p["source_country"], p["target_country"], p["image_size"],
                                p["n_target"], p["data_seed"])
    return a, b, None, names


def converged(rows, history: dict, seeds) -> dict[str, float]:
    """Per stage/arm, the fraction of seeds whose run ended by early stopping (it converged)."""
    out = {}
    for st, a in rows[["stage", "arm"]].drop_duplicates().itertuples(index=False):
        key = f"{st}/{a}"
        if key in history:
            out[key] = float(np.mean([history[key][str(s)]["stopped_early"][0] for s in seeds]))
    return out


def against_seed(rows) -> str:
    """The seed's reported numbers beside this run's, as a Markdown table."""
    mean = rows.groupby(["stage", "arm"]).mean(numeric_only=True)

    def get(st, a, k):
        return f"{mean.loc[(st, a), k]:.3f}" if (st, a) in mean.index else "not run"

    said = [("source", "scratch", "map50_A", "source country, from scratch", "loss 3 after 40 epochs, the fastest"),
            ("source", "hed", "map50_A", "source country, model-zoo weights", "loss never below 9"),
            ("source", "signs", "map50_A", "source country, traffic-sign VGG16", "stagnated at 11: the worst"),
            ("target", "finetune", "map50_B", "target country, fine-tuned", "no advantage"),
            ("target", "scratch", "map50_B", "target country, from scratch", "(the comparison)")]
    return "\n".join(["| | seed 001 reported | this run (test mAP@0.5 / final train loss) |", "|---|---|---|"]
                     + [f"| {what} | {seed} | {get(st, a, k)} / {get(st, a, 'final_loss')} |"
                        for st, a, k, what, seed in said])


def metrics(rows) -> dict:
    mean = rows.groupby(["stage", "arm"]).mean(numeric_only=True)
    return {f"{st}_{a.replace(':', '_')}_{k}": mean.loc[(st, a), k] for st, a in mean.index for k in ("map50_A", "map50_B")}
