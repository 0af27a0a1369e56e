"""Checks of a study's parameters that need more than types and bounds, run before any kernel
starts (``lib.params.check_study``, called by the runner and by ``lib.prereqs`` for make): arm
names and their architectures, the image size against each architecture's minimum, layer names
where they are known without building a model, weights names or files, and a user's image folder.
Every problem is named in one message, the nearest known name suggested. No TensorFlow here:
``lib.backbones`` builds the models and its registry must agree with :data:`ARCHS` (tested).
"""

from __future__ import annotations

import math
from pathlib import Path

from lib.arms import (  # noqa: F401 (the arm grammar's names, read here as checks.*)
    POLICIES,
    POLICY_ARGS,
    positive_number,
    TRANSFORMS,
    arm_policy,
    arm_weights,
    split_arm,
)
from lib.names import hint  # noqa: F401 (the lab's one 'did you mean', read here as checks.hint)

# architecture -> smallest input side (pixels) it accepts; the registry in lib/backbones.py agrees
ARCHS = {"simple_cnn": 8, "vgg16": 32, "resnet50": 32, "inceptionv3": 75, "efficientnetb0": 32, "onet": 27,
         "plate_cnn": 16}
# architecture -> its named blocks, in order (what freeze_first:K counts and surgical:BLOCK names)
BLOCKS = {"simple_cnn": ["block1", "block2", "block3"], "vgg16": [f"block{i}" for i in range(1, 6)],
          "resnet50": [f"conv{i}" for i in range(1, 6)], "inceptionv3": [f"mixed{i}" for i in range(11)],
          "efficientnetb0": ["stem", *[f"block{i}" for i in range(1, 8)], "top"],
          "onet": [f"block{i}" for i in range(1, 5)], "plate_cnn": [f"block{i}" for i in range(1, 5)]}
# published weights that only one architecture can load
WEIGHTS_ARCH = {"hed": "vgg16", "mtcnn": "onet"}
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ARCH_TITLES = {"vgg16": "VGG16", "onet": "MTCNN O-Net (onet)"}
WEIGHT_NAMES = ("none", "imagenet", "hed", "mtcnn", "source", "source:glyphs")
INCEPTION_BLOCKS = [f"mixed{i}" for i in range(11)]


def table_arm(name: str, known: dict[str, str], what: str) -> str:
    """An arm of a study's own table of arms (``known``: name -> description, a parameterised one
    written ``kind:ARG``, e.g. ``freeze_first:K`` or ``surgical:BLOCK``): unknown names and missing or
    extra arguments are refused with the nearest names; an argument written ``K`` must be a whole
    number. Used by the sign study's and the sign detector's tables."""
    kind, _, arg = name.partition(":")
    heads = {k.partition(":")[0]: k for k in known}
    if kind not in heads or (":" in heads[kind]) != bool(arg):
        raise ValueError(f"unknown {what} {name!r}{hint(name, known)} (known: {', '.join(known)})")
    if heads[kind].endswith(":K") and not arg.isdigit():
        raise ValueError(f"{what} {name!r}: {kind} takes a whole number, e.g. '{kind}:2'")
    return name


def arch_name(arch: str) -> str:
    """The registry name of ``arch`` (``InceptionV3``, ``inception_v3`` -> ``inceptionv3``);
    an unknown one is refused with the nearest names."""
    key = str(arch).lower().replace("-", "").replace("_v3", "v3")
    if key in ARCHS:
        return key
    raise ValueError(f"unknown architecture {arch!r}{hint(str(arch).lower(), ARCHS)} (known: {', '.join(ARCHS)})")


def image_size_problem(arch: str, image_size: int) -> str | None:
    need = ARCHS[arch]
    if image_size < need:
        return f"image_size {image_size} is too small for {arch}: it needs at least {need}x{need} pixels"
    return None


# input transforms an arm may add after its policy, '+name[:value]' (lib/transfer.py run_image_arm)
def arm_size(spec: str, image_size: int) -> int:
    """The image side an arm's model sees: its ``+resize:N``, else the study's ``image_size``
    (its source weights must exist at that size)."""
    try:
        n = split_arm(spec)[1].get("resize")
    except ValueError:
        n = None
    return int(n) if n else int(image_size)


EXAMPLE_ARGS = {"freeze_blocks": 2, "lora_rank": 4, "l2sp_alpha": 0.01, "lr_ratio": 100, "bss_eta": 0.001}


def arm_problems(spec: str, image_size: int) -> list[str]:
    """Problems of one image arm ``arch:policy[:args][+transform[:value]][@LR]`` (``lib.transfer.parse_arm``'s grammar)."""
    out = []
    try:
        body = split_arm(spec)[0]
    except ValueError as exc:
        out.append(str(exc))
        body = str(spec).partition("@")[0].partition("~")[0].split("+")[0]  # the rest of the arm is still checked
    parts = body.split(":")
    if len(parts) < 2:
        return out + [f"arm {spec!r}: an arm is 'arch:policy[:args]' (e.g. 'vgg16:frozen')"]
    try:
        arch = arch_name(parts[0])
    except ValueError as exc:
        return out + [f"arm {spec!r}: {exc}"]
    policy, args = parts[1], parts[2:]
    if policy not in POLICIES:
        return out + [f"arm {spec!r}: unknown policy {policy!r}{hint(policy, POLICIES)} (known: {', '.join(POLICIES)})"]
    if len(args) != len(POLICIES[policy].args):
        out.append(f"arm {spec!r}: policy {policy!r} takes {len(POLICIES[policy].args)} argument(s) after it; "
                   f"received {args}")
    else:
        rule = POLICIES[policy]
        for name, a in zip(rule.args, args):
            value = (float(a) if a.isdigit() else None) if name in rule.int_args else (
                positive_number(a) if name in rule.float_args else a)
            kind = "a whole number" if name in rule.int_args else "a positive number"
            if value is None or (name in rule.minimum and value < rule.minimum[name]):
                low = f" of at least {rule.minimum[name]:g}" if name in rule.minimum else ""
                out.append(f"arm {spec!r}: {policy} takes {kind}{low} as its {name}, e.g. "
                           f"'{arch}:{policy}:{EXAMPLE_ARGS.get(name, 2)}'; received {a!r}")
        if arch == "inceptionv3" and policy in ("cut", "cut_unfreeze") and args[0] not in INCEPTION_BLOCKS:
            out.append(f"arm {spec!r}: unknown layer {args[0]!r} for inceptionv3{hint(args[0], INCEPTION_BLOCKS)} "
                       f"(its blocks end at {', '.join(INCEPTION_BLOCKS)})")
    if "~" in str(spec).partition("@")[0]:
        own = arm_weights(spec)
        bad = (weights_problem(own, {arch}) if own else
               f"'~' must name weights ({', '.join(WEIGHT_NAMES)} or a .weights.h5 file)")
        if bad:
            out.append(f"arm {spec!r}: {bad}")
    size = image_size_problem(arch, arm_size(spec, image_size))
    return out + ([f"arm {spec!r}: {size}"] if size else [])


def weights_problem(weights: str, archs: set[str]) -> str | None:
    """A ``weights`` value that is neither a known name nor an existing file (checked whether or
    not an arm loads it: a typo should not wait for the day it is used)."""
    if weights in WEIGHT_NAMES:
        only = WEIGHTS_ARCH.get(weights)
        if only and archs - {only}:
            return f"weights {weights!r} are {_ARCH_TITLES[only]}'s; these arms use {sorted(archs - {only})}"
        return None
    if not (str(weights).endswith(".h5") or "/" in str(weights)):
        return (f"weights must be one of {', '.join(WEIGHT_NAMES)} or a .weights.h5 file{hint(weights, WEIGHT_NAMES)}; "
                f"received {weights!r}")
    if not Path(weights).is_file():
        return f"weights file {weights!r} does not exist"
    with open(weights, "rb") as f:  # Keras' .weights.h5 and .h5 files are HDF5: their signature, without h5py
        if f.read(8) != HDF5_SIGNATURE:
            return f"weights file {weights!r} is not an HDF5 file (a Keras .weights.h5 saved by save_weights)"
    return None


def folder_problem(key: str, folder: str, split: bool = False) -> str | None:
    """A user's image folder (one subfolder per class): every file must decode (PIL, no model);
    ``split``: the study splits it 64/16/20 stratified, so every class must be splittable."""
    if not folder:
        return None
    import numpy as np

    from lib.data import split_problem
    from lib.images import check_image_folder

    try:
        found = check_image_folder(folder)
    except (ValueError, FileNotFoundError) as exc:
        return f"{key}: {exc}"
    names = list(found)
    problem = split_problem(np.repeat(np.arange(len(names)), [len(found[n]) for n in names]), names) if split else None
    return f"{key}: {folder}: {problem}" if problem else None


def raise_problems(study: str, problems: list[str | None]) -> None:
    problems = [p for p in problems if p]
    if problems:
        raise ValueError(f"{study}:" + "".join(f"\n  - {p}" for p in problems))


def small_data(p: dict) -> None:
    problems = [q for arm in p["arms"] for q in arm_problems(arm, p["image_size"])]
    if p.get("lr_find") and not p.get("lr_grid"):
        problems.append("lr_find: the range test is read against the rate the grid chooses; give lr_grid too")
    for key in ("control_arm", "positive_control_arm"):
        if p.get(key):
            problems += [f"{key}: {q}" for q in arm_problems(p[key], p["image_size"])]
    kinds = {k.split(" ")[0] for k in CLAIMS}
    problems += [f"blog_claims: {a!r}: {c!r} must name one of the arms and a claim of {list(CLAIMS)}"
                 for a, c in (p.get("blog_claims") or {}).items() if a not in p["arms"] or c.split(" ")[0] not in kinds]
    if p["reference_arm"] and p["reference_arm"] not in p["arms"]:
        problems.append(f"reference_arm {p['reference_arm']!r} is not one of the arms{hint(p['reference_arm'], p['arms'])}")
    archs = {arch_name(a.split(":")[0]) for a in p["arms"]  # the archs that load the study's weights
             if not arm_problems(a, p["image_size"]) and arm_policy(a) != "scratch" and arm_weights(a) is None}
    raise_problems("small_data", [*problems, weights_problem(p["weights"], archs),
                                  folder_problem("image_dir", p["image_dir"], split=True)])


def one_arch(study: str, p: dict, extra: list[str | None] = ()) -> None:
    try:
        arch = arch_name(p["arch"])
    except ValueError as exc:
        raise_problems(study, [f"arch: {exc}", *extra])
        return
    raise_problems(study, [image_size_problem(arch, p["image_size"]), *extra])


def source_pretrain(p: dict) -> None:
    problems = []
    for arch in p["archs"]:
        try:
            problems.append(image_size_problem(arch_name(arch), p["image_size"]))
        except ValueError as exc:
            problems.append(f"archs: {exc}")
    classes = 35 if p["source_task"] == "glyphs" else p["n_classes"]  # the plate alphabet
    if p["n_images"] < 7 * classes:  # the stratified split needs every class in validation and test
        problems.append(f"n_images: {p['n_images']} is too few for {classes} {p['source_task']} classes: use at least "
                        f"{7 * classes}")
    raise_problems("source_pretrain", problems)


def cut_search(p: dict) -> None:
    bad = [c for c in [*p["cuts"], p["reference_cut"]] if str(p["arch"]).lower().startswith("inception")
           and c not in INCEPTION_BLOCKS]
    more = []
    if p["cuts"] and p["reference_cut"] not in p["cuts"]:
        more.append(f"reference_cut {p['reference_cut']!r} is not among the candidate cuts {p['cuts']}")
    if not p["lr_min"] < p["lr_max"]:
        more.append(f"lr_min must be below lr_max; received lr_min={p['lr_min']}, lr_max={p['lr_max']}")
    one_arch("cut_search", p, [weights_problem(p["weights"], set()), folder_problem("image_dir", p["image_dir"], split=True),
                                *[f"cut {c!r} is not an InceptionV3 block{hint(c, INCEPTION_BLOCKS)}" for c in bad],
                                *more])


# --------------------------------------------------------------------------- the detector's VGG16 geometry
# (facts with no TensorFlow: lib.detector builds on them, lib.studies.sign_detector checks with them)

VGG16_CUTS = [f"block{b}_{k}" for b in range(2, 6) for k in ("conv1", "conv2", "conv3", "pool")
              if not (b == 2 and k == "conv3")]


def feature_map_sizes(image_size: int, cut: str, extra_levels: int) -> list[int]:
    """Side of each level's map: VGG16 halves the size at every pool up to ``cut``, then each extra
    level (3x3 stride 2, 'same' padding) halves it again, rounding up."""
    block = int(cut[5])
    size = image_size
    for _ in range(block - 1 + (1 if cut.endswith("_pool") else 0)):
        size //= 2
    sizes = [size]
    for _ in range(extra_levels):
        sizes.append(-(-sizes[-1] // 2))
    return sizes


def check_cut(cut: str) -> str:
    """``cut`` if the detector can stand on that VGG16 layer, else a ``ValueError`` naming the nearest."""
    if cut not in VGG16_CUTS:
        raise ValueError(f"cut {cut!r} is not a VGG16 layer the detector can stand on{hint(cut, VGG16_CUTS)} (block2_conv1 .. "
                         f"block5_pool; SSD's own is 'block4_conv3', conv4_3)")
    return cut


def freeze_until(arm: str, cut: str) -> str | None:
    """The base layer up to which an arm freezes (``None``: nothing; ``"all"``: the whole base)."""
    kind, _, k = arm.partition(":")
    if kind == "frozen":
        return "all"
    if kind == "freeze_first":
        return "all" if int(k) >= int(cut[5]) else f"block{int(k)}_pool"
    return None


# ---------------------------------------------------------------------------------------------
# The claims each study's run judges, from its merged parameters (lib.registry: the summary leaves
# any it does not find open). The ids are the ones the study's code records.

CUT_SEARCH_CLAIM = "seed002.cut_search.agrees"


def prerequisite_id(task: str, arch: str, image_size: int) -> str:
    """The id of source pre-training's claim that ``arch``'s weights learned ``task`` at ``image_size``."""
    return f"prerequisite.{task}.{arch}.{image_size}"


# the range test's claim (Smith 2017; fastai's lr_find), judged where a literature report runs range tests
LR_FIND_CLAIM = "literature.lr_find.within_3x"


def judges_range_test(p: dict) -> bool:
    """Whether a small-data run judges :data:`LR_FIND_CLAIM`: range tests beside a learning-rate grid,
    in a report of the literature's claims."""
    return bool(p.get("lr_find") and p.get("lr_grid") and p.get("claims_source") == "literature")


def small_data_claims(p: dict) -> list[str]:
    ids = [claim_id(c, a, p.get("claims_source", "seed 002")) for a, c in (p.get("blog_claims") or {}).items()]
    return ids + ([LR_FIND_CLAIM] if judges_range_test(p) else [])


def split_sizes(n: int, test_fraction: float = 0.2, val_fraction: float = 0.2) -> dict[str, int]:
    """The sizes :func:`lib.data.split_task` gives ``n`` examples (scikit-learn's ``train_test_split``
    rounds a fractional test size up), known before any data."""
    test = math.ceil(test_fraction * n)
    val = math.ceil(val_fraction * (n - test))
    return {"train": n - test - val, "validation": val, "test": test}


# the rule, the split and whether the comparator is another arm on the same examples, per claim kind
_DESIGN = {"learns": ("above", False), "stuck": ("no_better", True), "overfits": ("greater", True),
           "beats": ("greater", True), "no_better_than": ("no_better", True)}


def small_data_designs(p: dict) -> list:
    """Each blog claim's design from the parameters alone (:class:`lib.power.Design`): the test split
    of the built-in faces (64/16/20 of ``n_images``, plus ``extra_test_images``; a user's folder is
    counted when read, so its claims are planned as they are judged)."""
    from lib.power import Design

    if p.get("image_dir"):
        return []
    n_test = split_sizes(int(p["n_images"]))["test"] + int(p.get("extra_test_images") or 0)
    source = p.get("claims_source", "seed 002")
    out = []
    for arm, claim in (p.get("blog_claims") or {}).items():
        kind, _, other = claim.partition(" ")
        rule, paired = _DESIGN[kind]
        margin = STUCK_MARGIN if kind == "stuck" else p.get("margin") if kind == "no_better_than" else None
        out.append(Design(claim_id(claim, arm, source), rule, n_test, int(p["n_seeds"]), margin=margin, family=source,
                          paired=paired, arms=(arm, *([other] if other else []))))
    return out


def source_pretrain_claims(p: dict) -> list[str]:
    return [prerequisite_id(p["source_task"], a, p["image_size"]) for a in p["archs"]]


def cut_search_claims(p: dict) -> list[str]:
    return [CUT_SEARCH_CLAIM]


def cut_search_designs(p: dict) -> list:
    """The search's claim: its pick no better than the blog's cut by the margin, on the built-in test
    split (64/16/20 of ``n_images`` plus ``extra_test_images``; a user's folder: planned when judged)."""
    from lib.power import Design

    if p.get("image_dir"):
        return []
    n = split_sizes(int(p["n_images"]))["test"] + int(p.get("extra_test_images") or 0)
    return [Design(CUT_SEARCH_CLAIM, "no_better", n, int(p["n_seeds"]), margin=p["margin"], family="seed 002")]


# ---------------------------------------------------------------------------------------------
# "Stuck at chance": one definition, read by the training loop's early stop (lib.train), the pitfall
# checks (lib.transfer) and the seed-002 claim rules (lib.results)

STUCK_MARGIN = 0.05
STUCK_LOSS_FRACTION = 0.02


def stuck_at_chance(val_acc: float, majority: float, val_loss: float | None = None, n_classes: int = 2) -> bool:
    """Whether an arm learned nothing: validation accuracy no more than :data:`STUCK_MARGIN`
    above the majority rate, or (when ``val_loss`` is given) validation loss within
    :data:`STUCK_LOSS_FRACTION` of ``log(n_classes)``."""
    if val_acc <= majority + STUCK_MARGIN:
        return True
    chance_loss = math.log(n_classes)
    return val_loss is not None and abs(val_loss - chance_loss) < STUCK_LOSS_FRACTION * chance_loss


# ---------------------------------------------------------------------------------------------
# Seed 002's claim language (lib.results judges it): the kinds a small_data run's blog_claims may
# name, their thresholds, and the id a judged claim records

LEARNS_MARGIN = 0.10
OVERFIT_GAP = 0.15
CLAIMS = {
    "learns": f"test accuracy above the test majority rate + {LEARNS_MARGIN} (95% interval over seeds and "
              "test examples wholly above it; validation chose the rate and epoch, so it is not read again)",
    "stuck": f"test accuracy no better than label-independent predictions at the arm's own class rates + "
             f"{STUCK_MARGIN} (one-sided 90% interval): the same for a model stuck on any class",
    "overfits": f"train accuracy above test accuracy by more than {OVERFIT_GAP} (95% interval of the gap "
                f"minus {OVERFIT_GAP}, paired by seed, wholly above 0)",
    "beats OTHER": "test accuracy above OTHER's (paired 95% interval of the difference above 0)",
    "no_better_than OTHER": "test accuracy not above OTHER's by more than the margin (one-sided 90% interval "
                            "of the difference below +margin)",
}


def claim_id(claim: str, arm: str, source: str = "seed 002") -> str:
    """The id :func:`lib.results.judge_claim` records for ``claim`` ("kind [OTHER]") about ``arm``."""
    kind, _, other = claim.partition(" ")
    return f"{source.replace(' ', '')}.{arm}.{kind}" + (f".{other}" if other else "")
