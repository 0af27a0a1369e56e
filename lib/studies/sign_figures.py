"""The sign study's figures and prose (:mod:`lib.studies.signs` re-exports them for its notebook):
the two countries side by side, accuracy against examples per class, convergence, the surgical
sweep, the shift sweep, and the closing lines. Plotting libraries are imported where they draw."""

from __future__ import annotations

import numpy as np


def plot_countries(src, tgt, source_country: str, target_country: str, most: int = 12):
    """The first training example of each class in both countries, one row each."""
    import matplotlib.pyplot as plt

    show = min(src.n_classes, most)
    fig, axes = plt.subplots(2, show, figsize=(1.1 * show, 2.8), squeeze=False)
    for row, (task, label) in enumerate([(src, source_country), (tgt, target_country)]):
        for c in range(show):
            ax = axes[row, c]
            ax.imshow(task.x_train[np.flatnonzero(task.y_train == c)[0]].astype("uint8")); ax.axis("off")
            if row == 0:
                ax.set_title(task.class_names[c].replace("_", " "), fontsize=6)
        axes[row, 0].text(-0.3, 0.5, label, transform=axes[row, 0].transAxes, ha="right", va="center")
    fig.suptitle(f"The same classes in the source country {source_country} (top) and the target {target_country} (bottom)")
    fig.tight_layout()
    return fig


def plot_sizes(rows, p: dict, n_classes: int):
    """Test accuracy of each arm against the target examples per class, on both countries."""
    import seaborn as sns

    sizes, tc, sc = p["target_sizes"], p["target_country"], p["source_country"]
    long = rows.melt(id_vars=["arm", "size", "seed"], value_vars=["test_acc_B", "test_acc_A"], var_name="split",
                     value_name="accuracy")
    long["split"] = long.split.map({"test_acc_B": f"country {tc} test (target, out-of-distribution)",
                                    "test_acc_A": f"country {sc} test (source, in-distribution)"})
    g = sns.relplot(data=long, x="size", y="accuracy", hue="arm", hue_order=p["arms"], col="split", kind="line",
                    marker="o", errorbar="sd", height=3.8, aspect=1.25, facet_kws={"sharey": True})
    for ax in g.axes.flat:
        ax.set_xscale("log", base=2); ax.set_xticks(sizes, [str(k) for k in sizes])
        ax.axhline(1 / n_classes, color="grey", ls=":", lw=1)
    g.set_axis_labels("target training examples per class", "test accuracy")
    g.figure.suptitle(f"Test accuracy of each arm against the number of {tc} examples (mean ± sd, {p['n_seeds']} seeds)",
                      y=1.03)
    return g


def plot_convergence(history: dict, p: dict):
    """Validation accuracy per epoch of every trained target arm, one panel per size."""
    import seaborn as sns

    from lib import report

    curves = report.history_frame({a: h for a, h in history.items() if " @ " in a})
    curves = curves[curves.metric == "val_accuracy"].copy()
    curves["size"] = curves.arm.str.split(" @ ").str[1]
    curves["arm"] = curves.arm.str.split(" @ ").str[0]
    g = sns.relplot(data=curves, x="epoch", y="value", hue="arm", hue_order=[a for a in p["arms"] if a != "zero_shot"],
                    col="size", kind="line", errorbar="sd", height=3.3, aspect=1.1, facet_kws={"sharex": False})
    for ax in g.axes.flat:
        ax.axhline(p["target_accuracy"], color="grey", ls="--", lw=1)
    g.set_axis_labels("epoch", "validation accuracy")
    g.figure.suptitle(f"Convergence on country {p['target_country']}: validation accuracy per epoch "
                      f"(dashed: target {p['target_accuracy']})", y=1.04)
    return g


def plot_surgical(surgical, p: dict):
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(8, 3.5))
    sns.barplot(data=surgical, x="trained", y="test_acc_B", errorbar="sd", ax=ax, color="tab:blue")
    ax.axhline(surgical[surgical.arm == "finetune"].test_acc_B.mean(), color="tab:red", ls="--", lw=1,
               label="all layers (mean)")
    ax.set_ylabel(f"country {p['target_country']} test accuracy"); ax.set_xlabel("what trains (besides the head)")
    ax.legend()
    ax.set_title(f"Surgical fine-tuning at {p['surgical_size']} examples per class (mean ± sd, {p['n_seeds']} seeds)")
    fig.tight_layout()
    return fig


def surgical_markdown(s: dict) -> str:
    low, high = s["ci"]
    how = "not distinguishable" if low <= 0 <= high else "better" if low > 0 else "worse"
    return (f"Best single block on **validation**: **{s['best_block']}**, test {s['best_block_acc']:.3f} against "
            f"{s['finetune_acc']:.3f} with every layer trained (difference {s['text']}: {how}).")


def plot_shift(shift_rows, p: dict, n_classes: int):
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=shift_rows, x="shift", y="test_acc_B", hue="arm", hue_order=p["shift_arms"], marker="o",
                 errorbar="sd", ax=ax)
    ax.axhline(1 / n_classes, color="grey", ls=":", lw=1)
    ax.set_xlabel(f"shift of country {p['target_country']} from {p['source_country']} (0: the same distribution)")
    ax.set_ylabel("target test accuracy")
    ax.set_title(f"Transfer against shift at {p['shift_size']} examples per class (mean ± sd, {p['n_seeds']} seeds)")
    fig.tight_layout()
    return fig


def conclusion_lines(rows, p: dict, caught, surgical: dict) -> list[str]:
    """The conclusions in words: per size the best arm on validation with its test accuracy, where
    scratch caught up, and the best single block."""
    sizes, arms, margin, comp = p["target_sizes"], p["arms"], p["margin"], p["comparator_arm"]
    means = rows.groupby(["size", "arm"]).test_acc_B.mean()
    val = rows.groupby(["size", "arm"]).val_acc.mean()
    lines = []
    for k in sizes:
        best = val[k].drop("zero_shot", errors="ignore").idxmax()  # chosen on validation
        lines.append(f"- **{k} examples per class**: best arm on validation **{best}** ({means[(k, best)]:.3f} on "
                     f"{p['target_country']} test); " + ", ".join(f"{a} {means[(k, a)]:.3f}" for a in arms if a != best))
    if "scratch" in arms:  # signs/methods trains no scratch target arm: nothing to say about catching up
        lines.append(f"- From scratch is within {margin:g} of {comp} from {min(caught)} examples per class on." if caught
                     else f"- From scratch is not shown to be within {margin:g} of {comp} up to {max(sizes)} examples per class.")
    if surgical:
        lines.append(f"- Surgical fine-tuning at {p['surgical_size']}/class: {surgical['best_block']} (best on validation) "
                     f"alone {surgical['best_block_acc']:.3f} against all layers {surgical['finetune_acc']:.3f}.")
    return lines
