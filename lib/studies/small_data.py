"""The small-data study of seed 002 (``notebooks/small_data.ipynb``): the report's steps, each
called by one cell with the run's parameters ``p`` (as :func:`lib.params.collect` returns them).

The arms are specs of the arm language (:func:`lib.checks.split_arm`) trained by the one arm
runner (:func:`lib.transfer.run_image_arm`); the blog's findings are judged by
:func:`lib.results.judge_claim` through the claims contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib import backbones, lr_find, report, sources, train, transfer
from lib import claims as C
from lib import data as D
from lib import results
from lib.arms import Arm
from lib.checks import LR_FIND_CLAIM, arm_size, arm_weights, judges_range_test

# Both controls train this arm: on shuffled labels (negative) and the true ones (positive). Its rate is
# named in advance: the one params/small_data/simple_cnn.yaml picks on validation from its grid
# (1e-4, 3e-4, 1e-3). At the studies' 1e-3 the simple CNN sits at chance for epochs in some seeds
# (make all of 2026-12-04: the positive control inconclusive in vgg16_plateau and inception_cut).
CONTROL_ARM = "simple_cnn:scratch@3e-4"


@dataclass
class Plan:
    """What a run trains, decided before any training: each arm's parsed spec, the source weights'
    premise of each arm that loads them, the arms not trained (with why) and those trained."""

    specs: dict
    premises: dict
    skipped: dict
    trained: list[str]
    controls_skipped: dict = field(default_factory=dict)  # control arms (not among the arms) whose premise failed

    def pretrained_archs(self) -> list[str]:
        """The architectures whose weights a trained arm loads."""
        return sorted({kw["arch"] for a, kw in self.specs.items() if kw["policy"] != "scratch" and a in self.trained})

    def markdown(self) -> str:
        if not self.skipped:
            return ""
        return ("**Not trained** (a premise is known to fail; `run_untestable: true` trains them anyway, real weights, "
                "e.g. `make paper` on a GPU with `weights: imagenet`, would make them testable): "
                + "; ".join(f"`{a}` ({why})" for a, why in self.skipped.items()) + ".")


def plan(p: dict) -> Plan:
    """The run's :class:`Plan`; the weights every pre-trained arm loads are checked now (offline
    ``imagenet``, missing files)."""
    extra = [a for a in dict.fromkeys(control_arms(p)) if a not in p["arms"]] if p.get("controls", True) else []
    every = [*p["arms"], *extra]
    specs = {a: transfer.parse_arm(a) for a in every}
    weights = {a: arm_weights(a, p["weights"]) for a in every}  # an arm's own ~WEIGHTS, else the study's
    for a, kw in specs.items():
        if kw["policy"] != "scratch":
            backbones.check_weights(kw["arch"], arm_size(a, p["image_size"]), weights[a])
    premises = {a: [q] for a, kw in specs.items() if kw["policy"] != "scratch"
                and (q := sources.source_premise(kw["arch"], arm_size(a, p["image_size"]), weights[a])) is not None}
    skipped = C.not_trained(every, premises, force=p["run_untestable"])
    return Plan({a: specs[a] for a in p["arms"]}, {a: q for a, q in premises.items() if a in p["arms"]},
                {a: w for a, w in skipped.items() if a in p["arms"]}, [a for a in p["arms"] if a not in skipped],
                {a: w for a, w in skipped.items() if a in extra})


def weights_note(record, p: dict, plan_: Plan) -> None:
    """What the project's own source weights learned (``weights: source``), one line per
    architecture: weights that learned nothing on their source transfer nothing."""
    uses = {(kw["arch"], arm_size(a, p["image_size"])) for a, kw in plan_.specs.items()
            if kw["policy"] != "scratch" and a in plan_.trained and arm_weights(a, p["weights"]) == "source"}
    for arch, size in sorted(uses):
        report.source_weights_note(record, arch, size, "source",
                                   label=f"Source weights used by {arch} at {size} px (`notebooks/source_pretrain.ipynb`)")


def data_markdown(target, x, y, class_names) -> str:
    return (f"{len(y)} images, {x.shape[1]}x{x.shape[2]} px, raw pixels {x.min():.0f}-{x.max():.0f} (every model does "
            f"its own preprocessing inside); {target.sizes()}. Classes: {class_names}, majority rate "
            f"{np.bincount(y).max() / len(y):.3f}.")


def run_kwargs(p: dict) -> dict:
    keys = ("weights", "epochs", "batch_size", "learning_rate", "finetune_learning_rate", "head_epochs",
            "cache_features", "stop_stuck_after")
    return {k: p[k] for k in keys}


def tuning_seed(seeds) -> int:
    """The seed the learning-rate grid runs with: one after the compared seeds, so no compared run is
    the run validation picked (validation is used once: to choose the rate; the claims read test on
    fresh seeds)."""
    return max(seeds) + 1


def run_arms(arms, target, p: dict, seeds, record):
    """Every arm for every seed, each at its learning rate chosen on validation from ``lr_grid``
    (one run per rate with :func:`tuning_seed`, not one of the compared seeds) unless it names its
    own. Returns the rows, the pitfall checks (one per arm and seed) and the chosen rates; one line
    per arm."""
    rows, checks, chosen = [], [], {}
    for spec in arms:
        lr, scores, _ = transfer.choose_learning_rate(spec, p["lr_grid"], target, p["image_size"],
                                                      seed=tuning_seed(seeds), **run_kwargs(p))
        if lr is not None:
            chosen[spec] = {"chosen": lr, "validation by rate": scores, "tuning seed": tuning_seed(seeds)}
        for s in seeds:  # fresh seeds: the grid's run (chosen on validation) is not one of them
            row, hist, parts = transfer.run_image_arm(
                str(Arm.parse(spec).at(lr)) if lr is not None else spec, target, p["image_size"], seed=s, **run_kwargs(p))
            row["arm"] = spec
            record.add_history(spec, s, hist, test_acc=row["test_acc"])
            rows.append(row)
            checks.append(transfer.pitfall_checks(spec, parts, target, row))
        print(f"{spec}: test accuracy " + report.mean_sd([r["test_acc"] for r in rows if r["arm"] == spec])
              + (f" at learning rate {lr:g} (chosen on validation from {p['lr_grid']})" if lr is not None else ""))
    return pd.DataFrame(rows), pd.DataFrame(checks), chosen


LR_FIND_RANGE = (1e-7, 10.0)  # fastai's lr_find: start_lr, end_lr


def range_tests(arms, target, p: dict, seed: int, chosen: dict) -> dict:
    """A learning-rate range test (:func:`lib.lr_find.range_test`) per arm whose rate the grid chose:
    the arm's own model, freshly built with ``seed``, trained on the train split the arm trains on
    (its ``+train``, ``+resize`` and ``+div255`` applied: :func:`lib.transfer.arm_task`) for
    ``lr_find_steps`` steps at rates from 1e-7 to 10, fastai's ``lr_find`` defaults (the sweep reaches
    the blow-up, so the curve has its minimum inside it; measured 2026-12-07: from a thirtieth of the
    grid's lowest rate to thirty times its highest, the faces' loss was still falling at the last
    rate in 7 of 8 arms of ``small_data/methods``)."""
    out = {}
    lo, hi = LR_FIND_RANGE
    for spec in arms:
        if spec not in chosen:
            continue
        kw = transfer.parse_arm(spec)
        task, size = transfer.arm_task(spec, target, p["image_size"])
        train.set_seed(seed)
        model, _ = transfer.build_image_classifier(image_size=size, n_classes=target.n_classes,
                                                   weights=arm_weights(spec, p["weights"]), **kw)
        out[spec] = lr_find.range_test(model, task.x_train, task.y_train, start=lo, end=hi,
                                       steps=p["lr_find_steps"], batch_size=p["batch_size"], seed=seed)
        r = out[spec]
        print(f"{spec}: range test suggests {r['steep']:.1e} (steepest fall), {r['min_div10']:.1e} (minimum / 10); "
              f"the grid chose {chosen[spec]['chosen']:g}"
              + (f"; the loss blew up at {r['diverged_at']:.1e}" if r["diverged_at"] else ""))
    return out


def range_table(tests: dict, chosen: dict):
    """Per arm: the range test's two suggestions, the rate chosen on validation and how far apart (a
    factor, log10 shown); the literature's check: within a factor of 3."""
    rows = []
    for arm, r in tests.items():
        c = chosen[arm]["chosen"]
        rows.append({"arm": arm, "steepest fall": r["steep"], "minimum / 10": r["min_div10"], "chosen on validation": c,
                     "factor (steepest / chosen)": r["steep"] / c, "within 3x": 1 / 3 <= r["steep"] / c <= 3,
                     "loss blew up at": r["diverged_at"]})
    return pd.DataFrame(rows).set_index("arm") if rows else pd.DataFrame()


def plot_range_tests(tests: dict, chosen: dict):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tests), figsize=(4.5 * len(tests), 3.4), squeeze=False)
    for ax, (arm, r) in zip(axes[0], tests.items()):
        lr_find.plot(r, ax=ax, chosen=chosen[arm]["chosen"], title=arm)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_params(rows, title: str = ""):
    """Test accuracy (mean and sd over seeds) against trainable parameters (log scale), one point per
    arm: what each way of transferring buys per parameter it trains (frozen heads at the left, full
    fine-tuning at the right, LoRA's factors in between). ``None`` when no arm trained."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if rows is None or not len(rows):
        return None
    per = (pd.DataFrame(rows).groupby("arm", sort=False)
           .agg(params=("trainable_params", "first"), acc=("test_acc", "mean"), sd=("test_acc", "std")).reset_index())
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.scatterplot(data=per, x="params", y="acc", hue="arm", style="arm", s=80, ax=ax)
    ax.errorbar(per["params"], per["acc"], yerr=per["sd"].fillna(0), fmt="none", ecolor="grey", capsize=3, lw=1)
    ax.set_xscale("log")
    ax.legend(title="arm", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel("test accuracy (mean ± sd over seeds)")
    ax.set_title(f"{title}: accuracy against trainable parameters" if title else "accuracy against trainable parameters",
                 fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def control_arms(p: dict) -> tuple[str, str]:
    """The controls' arms ``(negative, positive)``: ``control_arm`` (else :data:`CONTROL_ARM`, the
    simple CNN) for both, unless ``positive_control_arm`` names another for the true labels (a study
    whose claims say an arm is stuck cannot ask that arm to prove the pipeline learns)."""
    neg = p.get("control_arm") or CONTROL_ARM
    return neg, p.get("positive_control_arm") or neg


@dataclass
class Controls:
    """What the controls measured: test accuracy per seed of ``arms[0]`` on shuffled labels
    (``negative``) and of ``arms[1]`` on the true ones (``positive``), and ``skipped``: why they did
    not run (a control arm whose own premise failed, e.g. source weights that learned nothing)."""

    arms: tuple[str, str]
    negative: list[float]
    positive: list[float]
    reused: str = ""  # the study's arm whose runs are the positive control, when they are
    skipped: str = ""


def run_controls(rows, target, p: dict, seeds, chosen: dict | None = None, plan_: Plan | None = None) -> Controls:
    """:func:`control_arms` trained through the study's own pipeline: the negative arm on shuffled
    training labels, the positive one on the true labels. A control arm that is one of the study's
    arms and names no rate trains at the rate the study chose for it on validation (``chosen``), so the
    controls test the very runs the claims judge; the positive control *is* the study's runs when the
    arm trained with the same weights and rate, and was not stopped early. A control is never
    stopped early (a slow start must not fail it). An arm whose premise failed (``plan_``'s skipped
    arms and control arms) is not run: the controls are skipped, naming why."""
    arms = control_arms(p)
    skipped = {**plan_.skipped, **plan_.controls_skipped} if plan_ is not None else {}
    why = "; ".join(f"{a}: {skipped[a]}" for a in dict.fromkeys(arms) if a in skipped)
    if why:
        print(f"controls not run ({why})")
        return Controls(arms, [], [], skipped=why)

    def at_rate(a):  # the study's validation-chosen rate for an arm that names none
        lr = (chosen or {}).get(a, {}).get("chosen") if transfer.arm_learning_rate(a) is None else None
        return a if lr is None else str(Arm.parse(a).at(lr))

    kw = {**run_kwargs(p), "stop_stuck_after": 0}
    shuffled = D.shuffled_labels_task(target, seed=p["data_seed"])
    negative = [transfer.run_image_arm(at_rate(arms[0]), shuffled, p["image_size"], seed=s, **kw)[0]["test_acc"]
                for s in seeds]
    pos = at_rate(arms[1])
    same = [a for a in (rows.arm.unique() if len(rows) else []) if transfer.parse_arm(a) == transfer.parse_arm(pos)
            and arm_weights(a, p["weights"]) == arm_weights(pos, p["weights"])
            and transfer.arm_learning_rate(at_rate(a)) == transfer.arm_learning_rate(pos)]
    done = rows[rows.arm == same[0]].sort_values("seed").test_acc.tolist() if same and not p["stop_stuck_after"] else []
    positive = done or [transfer.run_image_arm(pos, target, p["image_size"], seed=s, **kw)[0]["test_acc"] for s in seeds]
    print(f"controls: shuffled labels ({at_rate(arms[0])}) {report.mean_sd(negative)}, true labels ({pos}) "
          f"{report.mean_sd(positive)} test accuracy" + (f" (the study's own runs of {same[0]})" if done else ""))
    return Controls(arms, negative, positive, reused=same[0] if done else "")


def final_markdown(rows, arms, epochs: int) -> str:
    """Each arm's final and best validation accuracy, where the best epoch fell and what was lost after it."""
    g = rows.groupby("arm", sort=False)
    tr, va, best, at = g.train_acc.mean(), g.val_acc.mean(), g.best_val_acc.mean(), g.best_epoch.median()
    return ("Final accuracies (mean over seeds): " + "; ".join(
        f"**{a}** train {tr[a]:.3f}, validation {va[a]:.3f} (best {best[a]:.3f} at epoch {at[a]:.0f} of {epochs}, median "
        f"over seeds; then {best[a] - va[a]:.3f} lost by the last epoch)" for a in arms)
        + ". A train curve far above its validation curve is over-fitting; a best epoch well before the last means "
        "validation accuracy fell afterwards.")


def arm_table(rows, blog_reported: dict):
    """One row per arm: what the blog reported, accuracies per split (mean ± sd), best epoch,
    parameters, speed, cached features, epochs run and how many seeds stopped stuck."""
    table = rows.groupby("arm", sort=False).agg(
        train=("train_acc", report.mean_sd), validation=("val_acc", report.mean_sd), test=("test_acc", report.mean_sd),
        best_epoch=("best_epoch", "median"), trainable=("trainable_params", "first"), frozen=("frozen_params", "first"),
        images_per_s=("images_per_s", "mean"), cached=("cached_features", "first"),
        epochs_run=("epochs_run", lambda e: ", ".join(str(int(v)) for v in e)),
        stopped_stuck=("stopped_stuck", lambda e: sum(v > 0 for v in e)))
    table.insert(0, "blog reported", [blog_reported.get(a, "not run") for a in table.index])
    return table.rename(columns={"train": "train accuracy", "validation": "validation accuracy", "test": "test accuracy"})


def per_seed(rows) -> dict[str, list[float]]:
    """``{arm: [test accuracy per seed, seeds in order]}``."""
    return rows.sort_values("seed").groupby("arm").test_acc.apply(list).to_dict() if len(rows) else {}


def comparisons(rows, arms, reference: str, n_test: int):
    """Every trained arm against ``reference`` on test accuracy, 95% interval paired by seed and, when
    the rows keep each test example's outcome (``test_correct``), over the test examples too (the
    claims' own test term; without them two independent binomials, wider)."""
    acc = per_seed(rows)
    correct = (rows.sort_values("seed").groupby("arm")["test_correct"].apply(list).to_dict()
               if "test_correct" in rows else {})
    return pd.DataFrame([{"arm": a, "vs": reference, "test acc difference, paired 95% interval":
                          C.paired_interval(acc[a], acc[reference], n_test,
                                            outcomes=C.paired_outcomes(correct.get(a), correct.get(reference))).text()}
                         for a in arms if a != reference and reference in arms])


def stuck_arms(checks) -> list[str]:
    return sorted(set(checks[checks.stuck_at_chance].arm)) if len(checks) else []


def pitfall_markdown(checks) -> str:
    stuck = stuck_arms(checks)
    bad_bn = sorted(set(checks[checks.frozen_bn_inference == False].arm))  # noqa: E712 (None: nothing frozen)
    return (("Stuck at chance in at least one seed: " + ", ".join(f"**{a}**" for a in stuck) if stuck
             else "No arm is stuck at chance.") + " " +
            ("Frozen BN layers NOT in inference mode: " + ", ".join(bad_bn) if bad_bn
             else "Every frozen BN layer ran in inference mode."))


def diagnose(arms, target, image_size: int, seed: int):
    """At initialisation, for each architecture of ``arms`` built from random weights: the gradient
    norm reaching each block and each block's activation spread on one batch of 64."""
    frames = []
    for spec in arms:
        kw = transfer.parse_arm(spec)
        train.set_seed(seed)
        model, parts = transfer.build_image_classifier(image_size=image_size, n_classes=target.n_classes,
                                                       weights="none", **{**kw, "policy": "scratch"})
        d = train.block_diagnostics(model, parts.base, backbones.get(kw["arch"]).block_of,
                                    target.x_train[:64], target.y_train[:64])
        frames.append(pd.DataFrame(d).assign(arm=kw["arch"] + " (random init)"))
    return pd.concat(frames).drop_duplicates(["arm", "block"])


def plot_diagnosis(diag):
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
    for ax, col, label in ((axes[0], "grad_norm", "gradient norm at init (log)"),
                           (axes[1], "activation_std", "activation std at init (log)")):
        sns.barplot(data=diag, x="block", y=col, hue="arm", ax=ax)
        ax.set_yscale("log"); ax.set_ylabel(label); ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig


def diagnosis_markdown(diag) -> str:
    ratio = diag.groupby("arm").grad_norm.agg(lambda g: g.iloc[0] / g.iloc[-1])
    return ("Gradient norm of the first block over the last, at initialisation: "
            + ", ".join(f"{a} {r:.2g}" for a, r in ratio.items()) + ". Far below 1 means the lower blocks barely move.")


def curve_has_minimum(test: dict) -> bool:
    """Whether a range test's smoothed loss turned up before the sweep ended: it blew up
    (``diverged_at``), or its minimum lies before the last few (5) rates."""
    smooth = [v for v in test["smooth"] if np.isfinite(v)]
    return bool(test.get("diverged_at")) or (len(smooth) > 5 and int(np.argmin(smooth)) < len(smooth) - 5)


def range_test_claim(tests: dict, chosen: dict):
    """The literature's claim that the learning-rate range test's suggestion lies within a factor of
    3 of the rate validation chooses (Smith 2017; fastai's ``lr_find``), judged over the arms: each
    arm's distance ``|log10(steepest-fall rate / chosen rate)|`` (one range test per arm, the first
    seed), the 95% t interval of their mean against ``log10(3)``: reproduced when it lies wholly below,
    not reproduced when wholly above. Needs 3 arms with both rates, and every curve with its minimum
    inside the sweep (:func:`curve_has_minimum`; a premise added on 2026-12-07 after a run whose
    narrow sweep left 7 of 8 curves still falling at its end)."""
    import math

    arms = [a for a in tests if a in chosen]
    dist = [abs(math.log10(tests[a]["steep"] / chosen[a]["chosen"])) for a in arms]
    enough = C.Premise("at least 3 arms with a range test and a validation-chosen rate", len(dist) >= 3,
                       value=float(len(dist)), threshold=3.0, detail=f"{len(dist)} arms")
    # the method's own precondition: a curve still falling at its last rate has no minimum, and its
    # suggestions are readings of where the sweep happened to start and stop
    open_ended = [a for a in arms if not curve_has_minimum(tests[a])]
    valley = C.Premise("every range test's smoothed loss reached its minimum inside the sweep", not open_ended,
                       detail=(f"still falling at the last rate: {', '.join(open_ended)}" if open_ended
                               else f"{len(arms)} of {len(arms)} arms"))
    if len(dist) < 2:
        return C.judge(LR_FIND_CLAIM, "literature", "the range test's suggestion lies within 3x of the chosen rate",
                       rule="less", verdict=C.NOT_TESTABLE, premises=[enough, valley])
    _, iv = C.rule_verdict("less", dist, math.log10(3))
    return C.judge(LR_FIND_CLAIM, "literature", "the range test's suggestion lies within 3x of the chosen rate",
                   rule="less", a=dist, b=math.log10(3), measure="|log10(suggested / validation-chosen rate)|",
                   comparator="log10(3) = 0.477", premises=[enough, valley],
                   evidence=(f"|log10(steepest-fall rate / chosen rate)| over {len(dist)} arms (one range test each), "
                             f"mean {np.mean(dist):.3f} against log10(3) = 0.477: A - B "
                             + iv.text().replace("over seeds", "over arms")))


def claims(rows, target, p: dict, plan_: Plan, controls: Controls | None, range_tests: dict | None = None,
           chosen: dict | None = None) -> list:
    """The controls (``None``: not asked for), then the blog's findings (``blog_claims``) judged by
    :func:`lib.results.judge_claim`, the controls gating them (skipped controls gate them too); and
    where the run judges it (:func:`lib.checks.judges_range_test`), :func:`range_test_claim` from
    ``range_tests`` and the ``chosen`` rates."""
    n_test, n_val = target.sizes()["test"], target.sizes()["validation"]
    cols = ["train_acc", "val_acc", "test_acc"] + [c for c in ("test_correct", "val_correct", "stopped_stuck") if c in rows]
    per_arm = {a: rows[rows.arm == a].sort_values("seed")[cols].to_dict(orient="list")
               for a in plan_.trained}
    majority = D.majority_rate(target.y_val)
    test_majority = D.majority_rate(target.y_test)  # the controls are read on test
    if controls is None:
        gates = []
    elif controls.skipped:
        gates = [C.judge("seed002.control.positive", "control", "the controls' arms on the true and shuffled labels",
                         rule="", verdict=C.NOT_TESTABLE, kind="control", expected=C.REPRODUCED,
                         premises=[C.Premise("the controls' arms trained", False, detail=controls.skipped)])]
    else:
        name = {a: "the simple CNN" if a == CONTROL_ARM else f"`{a}`" for a in controls.arms}
        gates = [C.positive_control("seed002.control.positive", f"{name[controls.arms[1]]} on the true labels",
                                    controls.positive, test_majority, n_test),
                 C.negative_control("seed002.control.negative", name[controls.arms[0]], controls.negative,
                                    test_majority, n_test)]
    judged = [results.judge_claim(c, a, per_arm, majority, n_val=n_val, n_test=n_test, margin=p["margin"],
                                  premises=plan_.premises, skipped=plan_.skipped,
                                  seed_reported=p["blog_reported"].get(a, ""), y_val=target.y_val, y_test=target.y_test,
                                  data="user" if p.get("image_dir") else "stand-in",
                                  source=p.get("claims_source", "seed 002"))
              for a, c in p["blog_claims"].items()]
    if judges_range_test(p):
        judged.append(range_test_claim(range_tests or {}, chosen or {}))
    return C.gate_by_controls(gates + judged)


def metrics(rows, p: dict, plan_: Plan, checks, chosen: dict, reference: str, pairs) -> dict:
    """The record's metrics: per trained arm its accuracies (test per seed), whether it is stuck and
    what the blog reported; the skipped arms, chosen learning rates, comparisons and cost."""
    arms, acc, stuck = plan_.trained, per_seed(rows), stuck_arms(checks)
    means = rows.groupby("arm", sort=False)[["train_acc", "val_acc", "test_acc"]].mean() if arms else None
    return {
        "arms": {a: {"train_acc": means.loc[a, "train_acc"], "val_acc": means.loc[a, "val_acc"],
                     "test_acc": means.loc[a, "test_acc"], "test_acc_per_seed": acc[a], "stuck_at_chance": a in stuck,
                     "blog_reported": p["blog_reported"].get(a)} for a in arms},
        "skipped": plan_.skipped, "learning_rates": chosen, "reference_arm": reference,
        "comparisons": pairs.to_dict(orient="records"),
        "cost": rows.groupby("arm").agg(wall_s=("wall_s", "mean"), images_per_s=("images_per_s", "mean"),
                                        trainable_params=("trainable_params", "first")).to_dict(orient="index")
        if arms else {},
    }


def conclusion_lines(rows, p: dict, plan_: Plan, checks, pairs) -> list[str]:
    stuck = stuck_arms(checks)
    means = rows.groupby("arm", sort=False)[["train_acc", "val_acc", "test_acc"]].mean() if plan_.trained else None
    blog = p["blog_reported"]
    said = "papers" if p.get("claims_source") == "literature" else "blog"
    lines = [f"- **{a}**: train {means.loc[a, 'train_acc']:.3f}, validation {means.loc[a, 'val_acc']:.3f}, test "
             f"{means.loc[a, 'test_acc']:.3f}" + (f" ({said}: {blog[a]})" if a in blog else "")
             + (" — at chance on validation in a seed (the pitfall check; the verdict is the claims table's)"
                if a in stuck else "") for a in plan_.trained]
    lines += [f"- **{a}**: not trained ({why})." for a, why in plan_.skipped.items()]
    lines += [f"- {r['arm']} against {r['vs']} on test accuracy: {r['test acc difference, paired 95% interval']}."
              for r in pairs.to_dict(orient="records")]
    return lines + domain_lines(means, p, plan_) + size_lines(means, plan_) + architecture_lines(means, plan_)


SOURCE_NAMES = {"mtcnn": "real faces (MTCNN O-Net)", "source": "the lab's shapes", "none": "no source (random)",
                "hed": "edges (HED)", "imagenet": "ImageNet"}


def domain_lines(means, p: dict, plan_: Plan) -> list[str]:
    """Seed 002's explanation (2) in words, when one architecture ran with one policy from two
    sources or more (arms ``arch:policy~WEIGHTS``): test accuracy by source, and what the
    explanation predicts (a source nearer the target transfers better)."""
    groups: dict = {}
    for a in plan_.trained:
        kw = plan_.specs[a]
        if kw["policy"] != "scratch":
            groups.setdefault((kw["arch"], kw["policy"]), []).append(a)
    out = []
    for (arch, policy), arms in groups.items():
        sources = {arm_weights(a, p["weights"]): a for a in arms}
        if len(sources) < 2:
            continue
        by = ", ".join(f"{SOURCE_NAMES.get(w, w)} {means.loc[a, 'test_acc']:.3f}" for w, a in sources.items())
        out.append(f"- **Explanation (2), the domain** ({arch}, {policy}, test accuracy by source of its weights): {by}. "
                   "If the distance between source and target held transfer back, weights from a source nearer the "
                   "target (faces) would beat those from a distant one (shapes) by more than the margin; the blog "
                   "concluded it did not (\"it's not the similarity (2)\"): the claim below judges that.")
    return out


def size_lines(means, plan_: Plan) -> list[str]:
    """Seed 002's explanation (1) in words, when one arm ran on two amounts of training data or more
    (``+train:F``): test accuracy by amount, per arm, and what the explanation predicts (more data
    lifts the arm the blog saw stuck; an arm that learns shows what more data buys)."""
    from lib.checks import split_arm

    groups: dict = {}
    for a in plan_.trained:
        core, transforms, _ = split_arm(a)
        groups.setdefault(core, {})[transforms.get("train") or 1.0] = a
    out = []
    for core, by_size in groups.items():
        if len(by_size) < 2:
            continue
        low = min(by_size)
        by = ", ".join(f"x{f / low:g} {means.loc[a, 'test_acc']:.3f}" for f, a in sorted(by_size.items()))
        out.append(f"- **Explanation (1), the data size** ({core}, test accuracy by training data, x1 the blog's "
                   f"amount): {by}.")
    if out:
        out.append("  If too little data held an arm back, more training faces would lift it by more than the margin; "
                   "the blog reasoned they would not for the frozen VGG16 (few trainable parameters): the claim below "
                   "judges that.")
    return out


def architecture_lines(means, plan_: Plan) -> list[str]:
    """Seed 002's explanation (3) in words, when two architectures or more ran under one policy (not
    scratch): test accuracy by architecture, and what the explanation predicts."""
    groups: dict = {}
    for a in plan_.trained:
        kw = plan_.specs[a]
        if kw["policy"] != "scratch":
            groups.setdefault(kw["policy"], {}).setdefault(kw["arch"], a)
    out = []
    for policy, by_arch in groups.items():
        if len(by_arch) < 2:
            continue
        by = ", ".join(f"{arch} {means.loc[a, 'test_acc']:.3f}" for arch, a in by_arch.items())
        out.append(f"- **Explanation (3), the architecture** ({policy}, test accuracy by architecture, each on its "
                   f"arm's weights): {by}. If the architecture decided the outcome, architectures on sources of "
                   "comparable skill would differ by more than the margin on the same faces and budget; the blog "
                   "concluded it did (\"it must be the architecture (3)\") and found Inception best: the claim below "
                   "judges InceptionV3 against VGG16.")
    return out


def weights_label(p: dict) -> str:
    """The run's weights for the conclusions' heading: the study's, or each arm's own (``~WEIGHTS``)."""
    own = {a: arm_weights(a) for a in p["arms"] if arm_weights(a)}
    return ("weights per arm: " + ", ".join(f"`{a}`" for a in own) if own else f"weights `{p['weights']}`")
