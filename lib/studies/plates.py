"""Seed 000's plate study: the 7-character x 35-class multi-head model, its arms and runs on the
built-in plates of :mod:`lib.datasets.plates` (re-exported here under their names), the verdicts
and the checks before any kernel.

The alphabet has 35 symbols: the digits and the Latin capitals without ``O`` (too close to
``0`` on real plates). A plate is rendered wide (about 1:4) with one of several fonts, plate
colours and borders, then warped into a square image (the seed resized plates to 224x224), with
perspective, blur, lighting and, sometimes, a smudge over part of one character.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from lib.checks import ARCHS, arm_policy, hint, image_size_problem, raise_problems, weights_problem
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


HEADS = {"seed": "the seed's: global average pooling, then the 7 branches (every position sees the same pooled "
                 "features)",
         "columns": "average over the height only, keeping the plate's columns, then the 7 branches (each branch "
                    "can read where its character is; a named deviation at the 2-core scale)"}


def plate_head(feature_shape, n_chars: int = N_CHARS, n_symbols: int = len(ALPHABET), pool: str = "seed"):
    """The seed's head: GlobalAveragePooling -> Dropout 0.2 -> ``n_chars`` branches of [Dense 360
    -> BatchNorm -> ReLU -> Dropout 0.2 -> Dense ``n_symbols`` softmax] -> Concatenate -> Reshape
    ``(n_chars, n_symbols)``. ``pool="columns"`` averages the feature map over its height only and
    flattens the columns instead (:data:`HEADS`): a global pool leaves the branches to infer
    character positions from the base's border effects, which a frozen base cannot learn."""
    import keras

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
    from lib import transfer

    return transfer.build_image_classifier(arch, image_size, len(ALPHABET), policy=policy, weights=weights,
                                           head=partial(plate_head, pool=head))


# The study's arm names in the arm language of lib/transfer.py (arch:policy[+transform], the run's
# ``arch`` in front), and what each is: the seed's 2x2 (pretrained or scratch, with or without noise), the accepted answer's
# fixes and the silent-failure arm. ``+noise`` adds Gaussian noise of the study's ``noise_std``
# (0-255 pixel units) to training inputs; ``+noise:50`` sets the strength.
PLATE_ARMS = {
    "scratch": ("scratch", "random weights, every layer trained"),
    "pretrained": ("frozen", "source weights, base frozen (the seed's set-up)"),
    "finetune": ("finetune", "source weights, every layer trained from the start"),
    "two_stage": ("two_stage", "head on the frozen base first, then every layer at the fine-tune rate"),
    "pretrained_div255": ("frozen+div255",
                          "as pretrained, but pixels divided by 255 before the model (a preprocessing bug)"),
}


def plate_spec(arm: str, arch: str = "efficientnetb0") -> str:
    """A study arm in the arm language of ``arch``: ``pretrained+noise:50`` ->
    ``efficientnetb0:frozen+noise:50``. Unknown names and transforms are refused (no TensorFlow)."""

    from lib.checks import split_arm

    name, plus, rest = arm.partition("+")
    if name not in PLATE_ARMS:
        raise ValueError(f"unknown plate arm {arm!r}{hint(name, PLATE_ARMS, 1)} (known: {', '.join(PLATE_ARMS)}, each "
                         "optionally +noise[:STD])")
    if plus and rest.partition(":")[0] != "noise":
        raise ValueError(f"plate arm {arm!r}: only '+noise' or '+noise:STD' may follow the name")
    spec = f"{arch}:{PLATE_ARMS[name][0]}{plus}{rest}"
    try:
        split_arm(spec)
    except ValueError as exc:
        raise ValueError(f"plate arm {arm!r}: {str(exc).split(': ', 1)[1]}") from None
    return spec


def parse_plate_arm(arm: str) -> dict:
    """``pretrained+noise:50`` -> ``{"name": "pretrained", "policy": "frozen", "noise": 50.0}``;
    ``+noise`` alone gives ``noise: None`` (the study's strength); unknown names are refused."""
    from lib.checks import arm_policy, split_arm

    spec = plate_spec(arm)
    transforms = split_arm(spec)[1]
    return {"name": arm.partition("+")[0], "policy": arm_policy(spec),
            "noise": transforms["noise"] if "noise" in transforms else 0.0}


def run_plate_arm(arm: str, task, image_size: int, *, weights: str, epochs: int, head_epochs: int, batch_size: int,
                  learning_rate: float, finetune_learning_rate: float, noise_std: float, seed: int,
                  cache_features: bool = True, patience: int = 0, arch: str = "efficientnetb0", head: str = "seed"):
    """Train one plate arm with the shared arm runner (:func:`lib.transfer.run_image_arm`, the
    seven-character head); returns ``(row, history)`` with the plate metrics. ``task`` holds
    images and ``(n, 7)`` labels. A frozen arm without noise trains its head on cached features
    (``cache_features``); with noise the base runs every step, since the noise is redrawn per batch.
    ``patience``: early stopping on validation character accuracy (the row's ``stopped_early`` and
    ``best_epoch`` say whether the run converged before the epoch cap). ``arch``, ``head``: the base
    and the head's pooling (:data:`HEADS`)."""
    from lib import transfer

    spec = plate_spec(arm, arch)
    row, hist, parts = transfer.run_image_arm(
        spec, task, image_size, weights=weights, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        finetune_learning_rate=finetune_learning_rate, head_epochs=head_epochs, seed=seed,
        cache_features=cache_features, head=partial(plate_head, pool=head), noise_std=noise_std, patience=patience)
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


FACTORIAL = ["scratch", "scratch+noise", "pretrained", "pretrained+noise"]  # the seed's 2x2


SEED_STEPS = 6250  # the seed's optimizer steps: 10 epochs x 10,000 plates / batch 16
SOURCE = "seed 000"


def judge_hypotheses(acc: dict[str, list[float]], val_acc: dict[str, list[float]], *, n_test: int, margin: float,
                     premises: list, arm_premises: dict[str, list] | None = None,
                     chance: float = 1 / len(ALPHABET), outcomes: dict[str, list] | None = None,
                     arch: str = "efficientnetb0") -> list:
    """The seed's H1-H4, as the seed found them, from per-seed test character accuracies (``acc``)
    of the 2x2 arms ``scratch``, ``scratch+noise``, ``pretrained``, ``pretrained+noise`` (seeds in
    the same order); comparators are chosen on validation (``val_acc``), never on test:

    - H1 held: EfficientNetB0 reads plates: the arm best on validation, its test accuracy above
      chance by more than :data:`READS_MARGIN`;
    - H2 failed: transfer did not improve accuracy: pretrained no better than scratch (mean over noise);
    - H3 failed: noise did not improve accuracy: with noise no better than without (mean over pretraining);
    - H4 failed: pretrained+noise was not the best: no better than the best other arm on validation.

    ``outcomes``: per arm, one array per seed of each test plate's share of characters read right:
    the test-set term is then paired over plates, the seven characters of a plate one cluster
    (without them, ``n_test`` characters are taken as independent: too narrow).
    ``n_test``: test characters (plates x 7); ``premises``: those of every claim (enough seeds,
    the training budget against the seed's); ``arm_premises``: per arm (source weights learned).
    H2-H4 also need the compared arms to read plates (above chance by :data:`READS_MARGIN`).
    ``arch``: the base the arms used; H1 is about EfficientNet, so another base (the 2-core
    stand-in) leaves it not testable here, with that premise named."""
    from lib import claims as C

    missing = [a for a in FACTORIAL if a not in acc]
    seed_arch = C.Premise("the seed's architecture (H1 is about EfficientNet)", arch == "efficientnetb0",
                          detail="EfficientNetB0" if arch == "efficientnetb0" else
                          f"this run's base is {arch}, the 2-core stand-in; the paper profile trains EfficientNetB0")
    hyps = {"H1": "H1 held: EfficientNetB0 reads plates (the arm best on validation, test characters above chance "
                  f"+ {READS_MARGIN:g})",
            "H2": "H2 failed: transfer did not improve accuracy (pretrained no better than scratch, mean over noise)",
            "H3": "H3 failed: noise augmentation did not improve accuracy (noise no better than none, mean over pretraining)",
            "H4": "H4 failed: pretrained+noise was not the best arm (no better than the best other arm on validation)"}
    if missing:
        gone = C.Premise("every arm of the 2x2 trained", False, detail=f"not run: {missing}")
        return [C.judge(f"plates.{h}", SOURCE, text, rule="", verdict=C.INCONCLUSIVE, premises=[*premises, gone],
                        evidence="arms not run") for h, text in hyps.items()]
    a = {k: np.asarray(acc[k], dtype=float) for k in FACTORIAL}
    v = {k: float(np.mean(val_acc[k])) for k in FACTORIAL}
    ap = arm_premises or {}

    o = {k: C.per_seed_outcomes((outcomes or {}).get(k)) for k in FACTORIAL}
    o = o if all(x is not None for x in o.values()) else None  # every arm kept them, or none is paired

    def one(k):
        return o[k] if o else None

    def pair(x, y):
        return (x, y) if o else None

    def reads(*arms):
        return [C.above_chance(x, acc[x], chance, n_test, margin=READS_MARGIN, outcomes=one(x)) for x in arms]

    def of(*arms):
        return [*premises, *[p for x in arms for p in ap.get(x, [])], *reads(*arms)]

    best = max(FACTORIAL, key=v.get)
    rival = max([k for k in FACTORIAL if k != "pretrained+noise"], key=v.get)
    pre, scr = (a["pretrained"] + a["pretrained+noise"]) / 2, (a["scratch"] + a["scratch+noise"]) / 2
    noisy, clean = (a["scratch+noise"] + a["pretrained+noise"]) / 2, (a["scratch"] + a["pretrained"]) / 2
    if o:
        o_pre, o_scr = (o["pretrained"] + o["pretrained+noise"]) / 2, (o["scratch"] + o["scratch+noise"]) / 2
        o_noisy, o_clean = (o["scratch+noise"] + o["pretrained+noise"]) / 2, (o["scratch"] + o["pretrained"]) / 2
    else:
        o_pre = o_scr = o_noisy = o_clean = None
    said = {"H1": "held", "H2": "failed (frozen ImageNet model over-fitted, stagnated)", "H3": "failed (noise too strong)",
            "H4": "failed (from scratch without noise was best)"}
    return [
        C.judge("plates.H1", SOURCE, hyps["H1"], rule="above", a=a[best], b=chance + READS_MARGIN, n_test=n_test,
                outcomes=(one(best), None) if o else None, data="stand-in",
                comparator=f"chance {chance:.3f} + {READS_MARGIN:g}; arm {best} (best on validation)",
                premises=[*premises, seed_arch, *ap.get(best, [])], measure="test character accuracy",
                seed_reported=said["H1"]),
        C.judge("plates.H2", SOURCE, hyps["H2"], rule="no_better", a=pre, b=scr, n_test=n_test, margin=margin,
                outcomes=pair(o_pre, o_scr), data="stand-in",
                comparator="scratch arms", premises=of(*FACTORIAL), measure="test character accuracy",
                seed_reported=said["H2"]),
        C.judge("plates.H3", SOURCE, hyps["H3"], rule="no_better", a=noisy, b=clean, n_test=n_test, margin=margin,
                outcomes=pair(o_noisy, o_clean), data="stand-in",
                comparator="arms without noise", premises=of(*FACTORIAL), measure="test character accuracy",
                seed_reported=said["H3"]),
        C.judge("plates.H4", SOURCE, hyps["H4"], rule="no_better", a=a["pretrained+noise"], b=a[rival], n_test=n_test,
                outcomes=pair(one("pretrained+noise"), one(rival)), data="stand-in",
                margin=margin, comparator=f"{rival} (best other arm on validation)",
                premises=of("pretrained+noise", rival), measure="test character accuracy", seed_reported=said["H4"]),
    ]


def judge_explanations(acc: dict[str, list[float]], noise_std: float, *, n_test: int, premises: list,
                       arm_premises: dict[str, list] | None = None, planned=None,
                       outcomes: dict[str, list] | None = None) -> list:
    """The candidate explanations of the seed's failure that the arms in ``acc`` (per-seed test
    character accuracies, seeds in the same order) can test, each as a contract claim "A beats B"
    (paired 95% interval). ``planned``: the arms the study set out to run (default: those in
    ``acc``); a claim whose arm was planned but not trained (a premise known to fail before
    training) is not testable here; claims on arms not planned are left out.

    - the accepted answer: a trainable base (``finetune``, ``two_stage``) beats the frozen one;
    - preprocessing: feeding pixels /255 to a model that expects 0-255 hurts the frozen model;
    - the seed's own: the noise was too strong, i.e. for an arm run at two noise strengths or more
      (a sweep), the weakest beats the study's ``noise_std`` (against no noise when the study's
      is the weakest).

    Premises: ``premises`` (enough seeds, the budget), the arms' own, and the arm claimed better
    reads plates (above chance by :data:`READS_MARGIN`)."""
    from lib import claims as C

    chance = 1 / len(ALPHABET)
    ap = arm_premises or {}

    def claim(cid, question, who, better, worse, source=SOURCE):
        prem = [*premises, *ap.get(better, []), *ap.get(worse, [])]
        untrained = [x for x in (better, worse) if x not in acc]
        if untrained:
            return C.judge(f"plates.{cid}", source, question, rule="greater", verdict=C.INCONCLUSIVE, comparator=worse,
                           premises=[*prem, C.Premise("every arm trained", False, detail=f"not trained: {untrained}")],
                           evidence="not trained", seed_reported=who)
        pair = C.paired_outcomes((outcomes or {}).get(better), (outcomes or {}).get(worse))
        prem.append(C.above_chance(better, acc[better], chance, n_test, margin=READS_MARGIN,
                                   outcomes=C.per_seed_outcomes((outcomes or {}).get(better))))
        return C.judge(f"plates.{cid}", source, question, rule="greater", a=acc[better], b=acc[worse], n_test=n_test,
                       outcomes=pair, data="stand-in",
                       comparator=worse, premises=prem, measure="test character accuracy", seed_reported=who)

    planned = list(acc) if planned is None else list(planned)
    return [claim(*e) for e in explanations(planned, noise_std)]


def explanations(planned: list[str], noise_std: float) -> list[tuple]:
    """The explanations :func:`judge_explanations` judges for the ``planned`` arms: ``(claim id
    suffix, question, who said it, arm claimed better, arm claimed worse, source)`` each."""
    out = []
    if "pretrained" in planned:
        for arm, what in (("finetune", "a trainable base beats the frozen one"),
                          ("two_stage", "the two-stage recipe (head, then every layer) beats the frozen base")):
            if arm in planned:
                out.append((f"answer.{arm}", what, "the accepted answer" if arm == "finetune" else
                            "the keras.io transfer-learning guide (not in seed 000)", arm, "pretrained",
                            SOURCE if arm == "finetune" else "literature"))
        if "pretrained_div255" in planned:
            out.append(("pitfall.div255", "pixels /255 fed to a model that expects 0-255 hurt the frozen model",
                        "Keras' EfficientNet preprocesses inside (not in seed 000)", "pretrained", "pretrained_div255",
                        "literature"))
    by_base: dict[str, dict[float, str]] = {}  # arm name -> noise std (0 = none) -> arm
    for arm in planned:
        spec = parse_plate_arm(arm)
        std = noise_std if spec["noise"] is None else spec["noise"]
        by_base.setdefault(spec["name"], {})[std] = arm
    for base, strengths in by_base.items():
        noisy = sorted(s for s in strengths if s > 0)
        study = strengths.get(noise_std)
        if not study or len(noisy) < 2:  # a sweep needs two strengths at least, the study's among them
            continue
        rival = strengths[noisy[0]] if noisy[0] != noise_std else strengths.get(0.0)
        if rival:
            out.append((f"noise_too_strong.{base}", f"the noise was too strong: weaker noise beats std {noise_std:g} "
                        f"({base})", "the seed's own explanation", rival, study, SOURCE))
    return out


def claim_ids(p: dict) -> list[str]:
    """The claims a run with merged parameters ``p`` judges: H1-H4 when it runs the whole 2x2, and
    the explanations its arms can test (:func:`explanations`)."""
    arms = all_arms(p["arms"], p["noise_sweep"])
    hyps = [f"plates.{h}" for h in ("H1", "H2", "H3", "H4")] if all(a in arms for a in FACTORIAL) else []
    return hyps + [f"plates.{e[0]}" for e in explanations(arms, p["noise_std"])]


# ---------------------------------------------------------------------------------------------
# The report's steps (notebooks/plates.ipynb): each cell calls one of these with the run's
# parameters ``p`` (as :func:`lib.params.collect` returns them).

def all_arms(arms, noise_sweep) -> list[str]:
    """The arms of a run: ``arms``, then ``pretrained+noise:STD`` for each strength of the sweep."""
    return list(dict.fromkeys([*arms, *(f"pretrained+noise:{s:g}" for s in noise_sweep)]))


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


def steps_of(p: dict) -> int | None:
    """The run's optimizer steps at most (the epoch cap), for the budget premise (``None`` for a
    user's plates: no seed budget)."""
    return p["epochs"] * -(-p["n_train"] // p["batch_size"]) if not p["plate_dir"] else None


def budget_premise(p: dict):
    """The seed's training budget (at least half its 6,250 optimizer steps) as a premise known
    before training, only where the run sets ``seed_budget`` (the ``paper`` profile: the seed's
    regime); ``None`` elsewhere. At the default scale the premises are the arms' own, measured:
    converged (:func:`trained_premises`) and reading plates above chance."""
    from lib import claims as C

    return C.budget(steps_of(p), SEED_STEPS) if p["seed_budget"] else None


def plan(p: dict) -> Plan:
    """The run's :class:`Plan`. The source weights' premise is read only when an arm that loads them
    can train (else ``make`` did not pre-train them first); their file is then checked now."""
    from lib import backbones, sources
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
    from lib import claims as C

    out = {a: list(v) for a, v in plan_.arm_premises.items()}
    for arm, g in (rows.groupby("arm", sort=False) if len(rows) else []):
        hists = [{k: [r[k]] for k in ("stopped_early", "best_epoch") if k in r and r[k] == r[k]}
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
            "cache_features", "patience", "arch", "head")
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


def run_controls(rows, task, p: dict, seeds) -> tuple[list[float], list[float]]:
    """The controls' test character accuracies per seed: the scratch model on shuffled plates
    (negative) and on the true ones (positive: the scratch arm's own runs when it trained)."""
    from lib import report
    from lib.data import shuffled_labels_task

    kw = train_kwargs(p, weights="none")
    shuffled = shuffled_labels_task(task, seed=p["data_seed"])
    negative = [run_plate_arm("scratch", shuffled, p["image_size"], seed=s, **kw)[0]["test_char_acc"] for s in seeds]
    done = sorted((r for r in rows if r["arm"] == "scratch"), key=lambda r: r["seed"])
    positive = ([r["test_char_acc"] for r in done] if done else
                [run_plate_arm("scratch", task, p["image_size"], seed=s, **kw)[0]["test_char_acc"] for s in seeds])
    print(f"controls (scratch): shuffled plates {report.mean_sd(negative)}, true plates {report.mean_sd(positive)} "
          "test character accuracy")
    return negative, positive


def controls(negative, positive, n_test: int) -> list:
    """The positive and negative controls as contract claims (none when they did not run)."""
    from lib import claims as C

    if not negative:
        return []
    chance = 1 / len(ALPHABET)
    return [C.positive_control("plates.control.positive", "the scratch plate model on the true plates", positive,
                               chance, n_test),
            C.negative_control("plates.control.negative", "the scratch plate model", negative, chance, n_test)]


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


# --------------------------------------------------------------------------- checks before any kernel

def needs(p: dict) -> set[tuple[str, int, str]]:
    """The source weights a run loads (``make``'s prerequisites, :mod:`lib.prereqs`): the glyph-trained
    ``arch`` when a pre-trained arm will train (no seed budget premise fails, or ``run_untestable``)."""
    from lib.prereqs import SOURCE_TASKS

    task = SOURCE_TASKS.get(str(p.get("weights", "")))
    budget = budget_premise(p)
    trains = p["run_untestable"] or budget is None or budget.held  # else no arm trains
    pretrained = any(arm_policy(plate_spec(a)) != "scratch" for a in all_arms(p["arms"], p["noise_sweep"]))
    return {(p["arch"].lower(), p["image_size"], task)} if task and trains and pretrained else set()


def check(p: dict) -> None:
    """The study's rules, checked on merged parameters before any kernel (``check`` in ``lib.registry.STUDIES``): every
    problem in one ``ValueError``."""
    problems = []
    for arm in p["arms"]:
        try:
            parse_plate_arm(arm)
        except ValueError as exc:
            problems.append(f"arms: {exc}")
    arms = p["arms"] + [f"pretrained+noise:{s:g}" for s in p["noise_sweep"]]
    if "two_stage" in arms and p["head_epochs"] >= p["epochs"]:
        problems.append(f"head_epochs: two_stage needs head_epochs < epochs; received head_epochs={p['head_epochs']}, "
                        f"epochs={p['epochs']}")
    if p["plate_csv"] and not p["plate_dir"]:
        problems.append("plate_csv: needs plate_dir (the folder its file names are relative to)")
    if p["arch"] not in ARCHS:
        problems.append(f"arch: unknown architecture {p['arch']!r}{hint(p['arch'], ARCHS, 1)} (known: {', '.join(ARCHS)})")
    if p["head"] not in HEADS:
        problems.append(f"head: unknown plate head {p['head']!r}{hint(p['head'], HEADS, 1)} (known: {', '.join(HEADS)})")
    arch = p["arch"] if p["arch"] in ARCHS else "efficientnetb0"
    raise_problems("plates", [*problems, image_size_problem(arch, p["image_size"]),
                      weights_problem(p["weights"], {arch})])
