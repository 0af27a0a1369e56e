"""The plate study's tables, figures and prose (:mod:`lib.studies.plates` re-exports them for its
notebook): the arm table, accuracy by plate position, confusions, per-seed values, the noise sweep
and the diagnosis lines. Plotting libraries are imported where they draw."""

from __future__ import annotations

from lib.datasets.plates import ALPHABET


READS_MARGIN = 0.10  # an arm "reads plates" when its character accuracy beats chance by more than this


def near_chance(accuracies, chance: float | None = None) -> bool:
    """Whether every given mean character accuracy sits within :data:`READS_MARGIN` of chance
    (1/35 by default): such arms do not test a claim about reading plates."""
    import numpy as np

    chance = 1 / len(ALPHABET) if chance is None else chance
    return max(float(np.mean(a)) for a in accuracies) <= chance + READS_MARGIN


def arm_table(rows, describe):
    """One row per arm: what it is (``describe(arm)``), its noise, train / validation / test accuracies (mean ± sd),
    parameters, input range, speed and whether features were cached."""
    from lib import report

    table = rows.groupby("arm", sort=False).agg(
        noise=("noise_std", "first"), train_char=("train_char_acc", report.mean_sd),
        val_char=("val_char_acc", report.mean_sd), test_char=("test_char_acc", report.mean_sd),
        test_plate=("test_plate_acc", report.mean_sd), trainable=("trainable_params", "first"),
        frozen=("frozen_params", "first"), input_max=("input_max", "first"), images_per_s=("images_per_s", "mean"),
        cached=("cached_features", "first"))
    table.insert(0, "what", [describe(a) for a in table.index])
    return table


def plot_positions(rows, arms):
    """Test character accuracy by plate position, per arm."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    pos = pd.DataFrame([{"arm": r.arm, "position": k + 1, "accuracy": v} for r in rows.itertuples()
                        for k, v in enumerate(r.test_char_acc_by_position)])
    fig, ax = plt.subplots(figsize=(11, 3.6))
    sns.barplot(data=pos[pos.arm.isin(arms)], x="position", y="accuracy", hue="arm", errorbar="sd", ax=ax)
    ax.set_title("test character accuracy by position (mean, sd over seeds)"); ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    return fig


def confusions(rows, top: int = 3):
    """Each arm's ``top`` most confused (true, read as) symbol pairs, counted over its seeds."""
    import pandas as pd

    pairs: dict = {}
    for r in rows.itertuples():
        for t, pred, c in r.confused_pairs:
            pairs[(r.arm, t, pred)] = pairs.get((r.arm, t, pred), 0) + c
    frame = pd.DataFrame([{"arm": a, "true": t, "read as": pred, "count (all seeds)": c}
                          for (a, t, pred), c in pairs.items()], columns=["arm", "true", "read as", "count (all seeds)"])
    return frame.sort_values(["arm", "count (all seeds)"], ascending=[True, False]).groupby("arm").head(top)


def per_seed(rows, column: str) -> dict[str, list[float]]:
    """``{arm: [value per seed, seeds in order]}``."""
    return rows.sort_values("seed").groupby("arm")[column].apply(list).to_dict() if len(rows) else {}


def noise_sweep_rows(rows):
    """The rows of arms run at two noise strengths or more (with ``base``: the arm's name), else empty."""
    if not len(rows):
        return rows
    rows = rows.assign(base=[a.partition("+")[0] for a in rows.arm])  # the arm's name without its noise
    swept = [b for b, g in rows.groupby("base") if g.noise_std[g.noise_std > 0].nunique() >= 2]
    return rows[rows.base.isin(swept)]


def plot_noise_sweep(sweep):
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(6, 3.4))
    sns.pointplot(data=sweep, x="noise_std", y="test_char_acc", hue="base", errorbar="sd", ax=ax)
    ax.axhline(1 / len(ALPHABET), color="grey", ls=":", label="chance")
    ax.set_xlabel("Gaussian noise std (0-255 pixel units; 0 = no noise)"); ax.set_ylabel("test character accuracy")
    ax.set_title("test character accuracy against noise strength (mean, sd over seeds)"); ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def diagnosis_lines(acc, sweep, plan_, task, n_test: int) -> list[str]:
    """The diagnosis in words: negative transfer (pretrained against scratch), the noise strengths,
    what the source weights knew, and the data against the seed's 10,000 plates."""
    from lib import claims as C

    lines = []
    if "pretrained" in acc and "scratch" in acc:
        iv = C.paired_interval(acc["pretrained"], acc["scratch"], n_test)
        lines.append("- **Negative transfer** (frozen source features worse than learning from scratch): pretrained - "
                     f"scratch {iv.text()}" + ("; both arms sit near chance, so this difference says nothing about "
                                               "transfer." if near_chance([acc["pretrained"], acc["scratch"]]) else "."))
    if len(sweep):
        by_noise = sweep.groupby(["base", "noise_std"]).test_char_acc.agg(["mean", "std"]).fillna(0)
        lines += [f"- **Noise strength** ({b}, test character accuracy by noise std in 0-255 units): " + ", ".join(
            f"{k:g}: {m:.3f} ± {s:.3f}" for k, (m, s) in by_noise.loc[b].iterrows()) + "." for b in sweep.base.unique()]
    if plan_.source is not None:
        lines.append(f"- **What the source weights knew**: {plan_.source.text()}.")
    lines.append(f"- **Too little data**: {task.sizes()['train']} training plates here against the seed's 10,000; "
                 "rerun at the paper profile to see whether the ranking holds.")
    return lines
