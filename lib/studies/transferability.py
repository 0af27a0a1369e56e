"""How transferable are features (Yosinski et al. 2014) on one backbone, block by block, with the
cheap estimates of :mod:`lib.scores` (LogME, H-score, the linear probe; re-exported here) judged
by their rank correlation with the realised transfer accuracy (estimators can rank wrongly): the
runs and the report's steps. The arms, claims, controls and checks are
:mod:`lib.studies.transferability_claims`'s (no TensorFlow), re-exported here.
"""

from __future__ import annotations

import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib import backbones, report, train, transfer
from lib.checks import hint
from lib.data import shuffled_labels_task, train_fraction
from lib.scores import ESTIMATES, h_score, linear_probe, logme  # noqa: F401 (the study's names for them)
from lib.studies import cut_search
from lib.studies.transferability_claims import (  # noqa: F401 (the notebook reads them as transferability.*)
    ANB_DROP,
    ANB_PLUS,
    LOGME_RANKS,
    LOGME_RANKS_FROZEN,
    LOGME_RANKS_PROBE,
    LOGME_TARGETS,
    YOSINSKI_ARMS,
    arm_problems,
    check,
    claim_ids,
    claims,
    control_arm,
    control_name,
    controls,
    positive_arm,
)


def cut_points(arch: str, image_size: int, cuts: list[str] | None = None) -> list[str]:
    """The depths of the curve: every block's output layer, then the base's own output when it is
    not one of them (the simple CNN's ``fc1``), so the deepest point copies the whole base; or the
    given ``cuts`` among them, in network order (a name that is not one is refused, with the
    nearest ones)."""
    outs = cut_search.block_outputs(arch, image_size)
    last = backbones.build_base(arch, image_size, "none").layers[-1].name
    every = outs + ([last] if last not in outs else [])
    bad = [c for c in cuts or [] if c not in every]
    if bad:
        raise ValueError(f"cuts {bad} are not depths of {arch}'s curve"
                         + "".join(f"; {c!r}{hint(c, every, 1).replace('; did', ': did')}" for c in bad)
                         + f" (depths: {', '.join(every)})")
    return [c for c in every if c in cuts] if cuts else every


def run_curve(task, cuts: list[str], arms: list[str], src: dict[str, list], seeds: list[int], *, record=None,
              **common) -> list[dict]:
    """Every arm of ``arms`` at every depth of ``cuts`` for every seed: per seed, B first (BnB
    copies from it), then AnB, AnB+ and BnB at each depth. Rows carry ``n`` (0 for B); histories
    go to ``record``; one line per seed is printed."""
    rows = []
    for s in seeds:
        Bw = None
        if "B" in arms:
            row, hist, parts = yosinski_arm("B", None, task, src=None, seed=s, **common)
            rows.append({**row, "n": 0})
            if record is not None:
                record.add_history("B", s, hist, test_acc=row["test_acc"])
            Bw = base_weights(parts.base)
        for n, cut in enumerate(cuts, 1):
            for kind in (k for k in ("AnB", "AnB+", "BnB") if k in arms):
                row, hist, _ = yosinski_arm(kind, cut, task, src=Bw if kind == "BnB" else src, seed=s, **common)
                rows.append({**row, "n": n})
                if record is not None:
                    record.add_history(f"{kind} n={n}", s, hist, test_acc=row["test_acc"])
        print(f"seed {s}: " + ", ".join(f"{r['arm']}{'' if r['n'] == 0 else ' n=' + str(r['n'])} {r['test_acc']:.3f}"
                                        for r in rows if r["seed"] == s))
    return rows


def copy_up_to(dst_base, src_weights: dict[str, list], cut: str) -> int:
    """Copy ``src_weights`` (layer name -> weights) into every layer of ``dst_base`` up to and
    including ``cut``; returns the index of the first layer after the cut."""
    names = [layer.name for layer in dst_base.layers]
    stop = names.index(cut) + 1
    for layer in dst_base.layers[:stop]:
        if layer.weights:
            layer.set_weights(src_weights[layer.name])
    return stop


def base_weights(base) -> dict[str, list]:
    return {layer.name: layer.get_weights() for layer in base.layers if layer.weights}


def yosinski_arm(kind: str, cut: str | None, task, *, arch: str, image_size: int, src: dict[str, list] | None,
                 epochs: int, batch_size: int, learning_rate: float, seed: int, validation_freq: int | None = None):
    """Train one arm and return ``(row, history, parts)``. ``src``: the weights the first blocks
    are copied from (the source base for AnB/AnB+, the B network's base for BnB); ``cut``: the last
    copied layer (``None`` for B). Frozen prefixes train on their output, computed once
    (:func:`lib.transfer.fit_split`), which equals end-to-end training. Every arm trains its whole
    budget (Yosinski's protocol: no early stopping), and only the last epoch's validation accuracy
    is read (the depth chosen on validation), so validation runs once, after the last epoch
    (``validation_freq`` defaults to ``epochs``; training never reads it, so the run is the same)."""
    if kind not in YOSINSKI_ARMS:
        raise ValueError(f"unknown arm {kind!r}; known: {', '.join(YOSINSKI_ARMS)}")
    train.set_seed(seed)
    model, parts = transfer.build_image_classifier(arch, image_size, task.n_classes, policy="scratch")
    model, parts = transfer.POOL.take(("yosinski", arch, image_size, task.n_classes, kind, cut), model, parts)
    base = parts.base
    common = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                  validation_freq=validation_freq or epochs)
    if kind != "B":
        stop = copy_up_to(base, src, cut)
        if kind in ("AnB", "BnB"):
            if stop == len(base.layers):  # every layer copied: the whole base frozen
                transfer.set_trainable(base, None)
                parts.frozen = True
            else:
                transfer.set_trainable(base, stop)
                parts.frozen_until = cut
    if parts.frozen:
        hist = transfer.fit_cached(parts, task, **common)
    elif parts.frozen_until:
        hist = transfer.fit_split(parts, task, **common)
    else:
        hist = train.fit(model, task, **common)
    row = {"arm": kind, "cut": cut or "none", "seed": seed, "train_acc": hist["accuracy"][-1],
           "val_acc": hist["val_accuracy"][-1],  # test_correct per test image: the claims' paired intervals
           **train.test_scores(model.predict(task.x_test, batch_size=1024, verbose=0), task.y_test)}
    return row, hist, parts


def block_estimates(arch: str, image_size: int, weights: str, task, cuts: list[str], folds: int = 3) -> list[dict]:
    """LogME, H-score and the linear probe of the frozen ``weights`` base's output at every cut, on
    the target's train split (flattened; one forward pass for all cuts), with the time each took.
    ``weights='none'``: one draw of random weights (seeded 0), the baseline a probe is read against."""
    if weights in ("none", ""):
        keras.utils.set_random_seed(0)
    feats = cut_search.BlockFeatures(arch, image_size, weights, task, cuts, allow_random=True)
    out = []
    for c in cuts:
        f = feats[c].x_train.reshape(len(task.y_train), -1)
        t0 = time.perf_counter()
        lm = logme(f, task.y_train)
        t1 = time.perf_counter()
        hs = h_score(f, task.y_train)
        t2 = time.perf_counter()
        lp = linear_probe(f, task.y_train, folds=folds)
        out.append({"cut": c, "dims": f.shape[1], "logme": lm, "h_score": hs, "linear_probe": lp, "logme_s": t1 - t0,
                    "h_score_s": t2 - t1, "probe_s": time.perf_counter() - t2})
    return out


def conclusion_lines(per: dict, cuts: list[str], arms: list[str], val: dict) -> list[str]:
    """The report's conclusions in numbers: B, the best copied arm's depth (chosen on mean
    **validation** accuracy ``val[(arm, n)]``, its test accuracy shown), each curve by depth."""
    mean = {k: float(np.mean(v)) for k, v in per.items()}
    lines = []
    best_arm = "AnB+" if "AnB+" in arms else "AnB"
    best_n = max(range(1, len(cuts) + 1), key=lambda n: val[(best_arm, n)])
    head = (f"- best {best_arm} on validation at n={best_n} (`{cuts[best_n - 1]}`): test "
            f"{report.mean_sd(per[(best_arm, best_n)])}")
    lines.append((f"- B from scratch: test {report.mean_sd(per[('B', 0)])};" + head[1:] if ("B", 0) in per else head) + ".")
    for arm in ("AnB", "AnB+", "BnB"):
        if arm in arms:
            lines.append(f"- {arm} by depth: " + ", ".join(f"n={n} {mean[(arm, n)]:.3f}" for n in range(1, len(cuts) + 1)) + ".")
    return lines


# ---------------------------------------------------------------------------------------------
# The report's steps (notebooks/transferability.ipynb)

def depths_markdown(cuts: list[str], arms: list[str]) -> str:
    return (f"Depths of the curve (n = 1..{len(cuts)}): " + ", ".join(f"n={i} `{c}`" for i, c in enumerate(cuts, 1))
            + ". n = 0 is B, trained from scratch. Arms run: " + ", ".join(arms) + ".")


def estimates(arch: str, image_size: int, weights: str, task, cuts: list[str], folds: int):
    """:func:`block_estimates` per depth ``n`` on task A's weights, with ``probe_random``: the same
    linear probe on one draw of random weights of the architecture (the floor the weights must beat)."""
    est = pd.DataFrame(block_estimates(arch, image_size, weights, task, cuts, folds=folds))
    est.insert(0, "n", range(1, len(cuts) + 1))
    est["probe_random"] = [r["linear_probe"] for r in block_estimates(arch, image_size, "none", task, cuts, folds=folds)]
    return est


def negative_runs(task, arms: list[str], cuts: list[str], src, seeds, data_seed: int, **common) -> list[float]:
    """The negative control: :func:`control_arm` trained on shuffled labels, test accuracy per seed."""
    arm, cut = control_arm(arms, cuts)
    shuffled = shuffled_labels_task(task, seed=data_seed)
    out = [yosinski_arm(arm, cut, shuffled, src=src, seed=s, **common)[0]["test_acc"] for s in seeds]
    print(f"negative control ({control_name(arm, len(cuts))} on shuffled labels): test accuracy " + report.mean_sd(out))
    return out


def plot_curve(rows, cuts: list[str], arms: list[str], majority: float, title: str):
    """Test accuracy against the blocks copied, one line per arm, starting at B (n = 0), with B's
    band (mean ± sd) and the majority rate."""
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(9, 4.5))
    curves = [a for a in ("AnB", "AnB+", "BnB") if a in arms]
    b = rows[rows.arm == "B"]
    curve = pd.concat([rows[rows.arm != "B"], *[b.assign(arm=a) for a in curves]])  # curves start at B (n = 0)
    sns.lineplot(data=curve, x="n", y="test_acc", hue="arm", hue_order=curves, style="arm", markers=True,
                 errorbar="sd", ax=ax)
    if len(b):
        sd = b.test_acc.std(ddof=1) if len(b) > 1 else 0.0
        ax.axhspan(b.test_acc.mean() - sd, b.test_acc.mean() + sd, color="grey", alpha=0.2,
                   label=f"B from scratch {b.test_acc.mean():.3f}")
    ax.axhline(majority, color="black", ls=":", lw=1, label="majority rate")
    ax.set_xticks(range(len(cuts) + 1), ["0 (B)"] + [f"{i}\n{c}" for i, c in enumerate(cuts, 1)])
    ax.set_xlabel("blocks copied (n)"); ax.set_ylabel("test accuracy"); ax.legend(fontsize=8); ax.set_title(title)
    fig.tight_layout()
    return fig


REALISED = {"AnB+": "AnB+ test accuracy", "AnB": "AnB test accuracy",
            "linear_probe": "linear probe (cross-validated on train)"}


def rank_correlations(est, rows):
    """The panel: Spearman's rho between each estimate (:data:`lib.scores.ESTIMATES`: LogME, H-score,
    the linear probe) and each accuracy it could predict over the cuts: the transfer arms' mean test
    accuracy (AnB+ fine-tuned, AnB frozen, where they ran) with a 95% bootstrap interval over seeds and
    test images (:func:`rank_interval`), and the linear probe's own cross-validated accuracy (fixed,
    no interval); with the exact permutation test's one-sided p-value (rho above 0)."""
    from scipy.stats import spearmanr

    from lib.intervals import spearman_p

    real = rows[rows.arm != "B"].groupby(["arm", "n"]).test_acc.mean().unstack(0)
    out = []
    for e in (x for x in ESTIMATES if x in est):
        for target, label in REALISED.items():
            if target == e or (target != "linear_probe" and target not in real):
                continue
            y = est[target].to_numpy() if target == "linear_probe" else real.loc[est.n, target].to_numpy()
            rho = float(spearmanr(est[e], y).statistic) if len(est) > 1 else float("nan")
            iv = rank_interval(est, rows, e, target) if target != "linear_probe" else None
            out.append({"estimate": e, "realised": label, "target": target, "cuts": len(est), "spearman_rho": rho,
                        "low": iv[0] if iv else float("nan"), "high": iv[1] if iv else float("nan"),
                        "p_above_0": spearman_p(rho, len(est))[0]})
    return pd.DataFrame(out)


def logme_ranks(corr) -> dict:
    """LogME's rows of the panel as the claims read them: ``{target: (rho, interval or None)}``."""
    sub = corr[corr.estimate == "logme"]
    return {r.target: (r.spearman_rho, None if np.isnan(r.low) else (r.low, r.high)) for r in sub.itertuples()}


def outcomes(rows) -> dict | None:
    """``{(arm, n): [per-test-image correctness, one array per seed]}`` (B at n = 0), or ``None`` for
    rows that kept none: what pairs the claims' test-set terms over the images the arms share."""
    if "test_correct" not in rows:
        return None
    return {(a, n): g.sort_values("seed").test_correct.tolist() for (a, n), g in rows.groupby(["arm", "n"])}


def rank_interval(est, rows, estimate: str, realised: str, confidence: float = 0.95) -> tuple[float, float] | None:
    """The bootstrap interval of Spearman's rho between ``estimate`` (per cut, fixed before training)
    and ``realised``'s test accuracy per cut, over training seeds and test images
    (:func:`lib.intervals.spearman_interval`); ``None`` without per-image outcomes or with fewer than 3 cuts."""
    from lib.intervals import spearman_interval

    cor = outcomes(rows)
    if cor is None or len(est) < 3 or any((realised, n) not in cor for n in est.n):
        return None
    _, low, high = spearman_interval(est[estimate].tolist(), [np.stack(cor[(realised, n)]) for n in est.n],
                                     confidence=confidence)
    return low, high


def rho_of(corr, estimate: str, realised: str) -> float:
    return float(corr[(corr.estimate == estimate) & (corr.target == realised)].spearman_rho.iloc[0])


def plot_estimates(est, rows, corr):
    """The panel as figures: each estimate (columns) against each transfer arm's test accuracy that
    ran (rows: AnB+ fine-tuned, AnB frozen), one point per cut, mean over seeds with its sd."""
    shown = [e for e in ESTIMATES if e in est]
    arms = [a for a in ("AnB+", "AnB") if a in set(rows.arm)]
    fig, axes = plt.subplots(len(arms), len(shown), figsize=(5.5 * len(shown), 3.8 * len(arms)), squeeze=False)
    for i, arm in enumerate(arms):
        g = rows[rows.arm == arm].groupby("n").test_acc
        mean, sd = g.mean(), g.std(ddof=1).fillna(0.0)
        for ax, estimate in zip(axes[i], shown):
            ax.errorbar(est[estimate], mean.loc[est.n], yerr=sd.loc[est.n], fmt="o", ms=7, capsize=3)
            for _, r in est.iterrows():
                ax.annotate(r.cut, (r[estimate], mean.loc[r.n]), fontsize=8, xytext=(4, 4), textcoords="offset points")
            ax.set_xlabel(estimate + " (before training)"); ax.set_ylabel(f"{arm} test accuracy (mean ± sd)")
            ax.set_title(f"{estimate} vs {arm}: rho {rho_of(corr, estimate, arm):+.2f} over {len(est)} cuts", fontsize=10)
    fig.tight_layout()
    return fig


CARD_TRAIN = 864  # the card probes at most this many training images (the blog's amount: 64% of 1,350)


def weights_card(arch: str, image_size: int, weights: str, task, folds: int = 3) -> pd.DataFrame:
    """What published weights know before any training, on the study's own target: their
    provenance in one line, the first-layer filters, and a linear probe (and LogME) per block of
    the frozen base against the same architecture with random weights, on at most
    :data:`CARD_TRAIN` training images (a class-stratified subset: the probe of VGG16's first
    block has 16,384 features, and on four times the blog's faces it ran for over ten minutes)."""
    from IPython.display import Markdown, display


    line = backbones.HED_PROVENANCE if weights == "hed" else f"{arch} weights `{weights}`"
    display(Markdown(f"**Weights used**: {line}."))
    report.plot_first_filters(backbones.build_base(arch, image_size, weights), f"{arch} `{weights}`: first-layer filters")
    plt.show()

    cuts = cut_points(arch, image_size)
    task = train_fraction(task, min(1.0, CARD_TRAIN / len(task.y_train)))
    rows = []
    for w in (weights, "none"):
        for r in block_estimates(arch, image_size, w, task, cuts, folds=folds):
            rows.append({"weights": w if w != "none" else "random", "block": r["cut"], "dims": r["dims"],
                         "linear probe (train, cross-validated)": r["linear_probe"], "LogME": r["logme"]})
    return pd.DataFrame(rows).pivot_table(index="block", columns="weights", sort=False,
                                          values=["linear probe (train, cross-validated)", "LogME"])

# --------------------------------------------------------------------------- checks before any kernel


