"""Tables, figures and sentences for the executed reports (seaborn/matplotlib, pandas)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


METRIC_LABELS = {
    "accuracy": "train accuracy", "val_accuracy": "validation accuracy",
    "loss": "train loss", "val_loss": "validation loss", "val_map50": "validation mAP@0.5",
}


NOT_METRICS = ("val_epoch", "epoch_time_s", "steps_per_epoch", "passes_per_epoch", "best_epoch", "stopped_early", "stopped_stuck",
               "phase_epochs")


def begin(namespace: dict, notebook: str) -> tuple[dict, object, list[int]]:
    """A report's setup in one call, right after its parameters cell: the parameters validated as
    they stand in the kernel (:func:`lib.params.collect`: types, bounds, the study's rules), the run
    record opened, the runner's ``distribution`` applied (:mod:`lib.distribution`), the plotting theme
    set and the ``title`` shown. Returns ``(P, record, seeds)``,
    ``seeds`` being ``seed .. seed + n_seeds - 1`` (empty for a notebook without them)."""
    from IPython.display import Markdown, display

    from lib import params, records

    P = params.collect(namespace, notebook)
    record = records.open_record(notebook, P)
    seeds = list(range(P["seed"], P["seed"] + P["n_seeds"])) if {"seed", "n_seeds"} <= set(P) else []
    sns.set_theme(style="whitegrid", context="notebook")
    pd.set_option("display.precision", 3)
    import keras  # the backend the run trains on, in the record and the report's header

    from lib import distribution

    dist = distribution.from_env(P.get("batch_size"))  # the runner's `distribution`, before any model
    if dist is not None:
        record.data["distribution"] = dist
    hw = record.data.setdefault("hardware", {})
    hw["keras_backend"] = keras.backend.backend()
    hw["devices"] = _devices()
    record.save()
    header = f"Keras {keras.__version__} on {hw['keras_backend']}, {', '.join(hw['devices'])}"
    display(Markdown(f"# {P['title']}\n\n{header}" if P.get("title") else header))
    plan = power_plan(notebook, record, seeds)
    if plan is not None:
        display(Markdown(plan))
    return P, record, seeds


def power_plan(notebook: str, record, seeds: list[int]) -> str | None:
    """Open this run's power plan (:func:`lib.power.begin`) before any data, keep it in the record
    (``notes.power_plan``) and return it as Markdown: each Holm family's size over the whole run
    plan and its first-step level, the seed spread assumed (per claim, the larger of its arms' sd
    over seeds in the newest finished record of this experiment, else the prior; the share of test
    examples its arms answer differently from that record's interval, else the prior), and per claim
    whose design the study declares (``designs`` in :mod:`lib.registry`) or an earlier record of
    this experiment holds, its power at this run's seeds and the seeds that would reach 0.8.
    ``None`` for a notebook that judges no claims."""
    import os
    from pathlib import Path

    from lib import power, registry, summary
    from lib.params import OUTPUTS_ENV

    if registry.claims(notebook) is None:
        power.end()
        return None
    root = os.environ.get(OUTPUTS_ENV, "outputs")
    experiment = record.data.get("experiment") or "interactive"
    key = f"{notebook}/{experiment}"
    owed = summary.owed_ids(key, root, record.data)
    families = sorted({summary.source_of(key, c) for c in owed} - {"prerequisite"})
    if not families:  # prerequisites only (source pre-training): in no Holm family, nothing to plan
        power.end()
        return None
    sizes = summary.family_sizes(root, also=key)
    per_arm = power.earlier_spread(root, notebook, experiment)
    sd, where = ((max(max(per_arm.values()), 0.005), "the largest arm's sd over seeds in this experiment's last record")
                 if per_arm else (power.PRIOR_SEED_SD, f"prior {power.PRIOR_SEED_SD:g}: no earlier record of these arms"))
    declared = registry.designs(notebook)
    designs = declared(record.data["params"]) if declared else []
    if not designs:
        designs = power.earlier_designs(root, notebook, experiment, len(seeds))
    spreads = power.spreads_for(designs, per_arm, "its arms' sd over seeds in this experiment's last record")
    measured = power.earlier_disagreements(root, notebook, experiment)
    for d in designs:
        d.disagreement = measured.get(d.id, d.disagreement)
    power.begin(sizes, sd, where, experiment=key, spreads=spreads, disagreements=measured)
    rows = power.plan(designs, {**{d.id: (sd, where) for d in designs}, **spreads}, power.ALPHA, sizes)
    record.note("power_plan", {"family_sizes": sizes, "seed_sd": sd, "seed_sd_from": where, "seeds": len(seeds),
                               "alpha": power.ALPHA, "claims": owed, "planned": [r.as_dict() for r in rows]})
    lines = [f"**Power plan, before any data** ({len(seeds)} seed{'s' if len(seeds) != 1 else ''}; power asked at "
             "the margin, or at "
             f"{power.DEFAULT_EFFECT:g} above the comparator for an ordering claim without one, and at a true gap of 0 "
             "for \"no better than\"; t on seeds - 1 df). Each claim is judged in its source's Holm family, fixed by the "
             "run plan: " + "; ".join(f"{f}: {sizes.get(f, 0)} claims, first-step level "
                                      f"{power.ALPHA / max(1, sizes.get(f, 1)):.2g}" for f in families)
             + f". A claim whose planned power is below {power.MIN_POWER} is *not testable here (power)* whatever its "
             "outcome (the claims table shows each claim's row as judged)."]
    if rows:
        lines += ["", markdown_table(power.table(rows).round(3))]
    # the registry's minutes are the default scale's: no budget line under a profile (smoke, paper)
    minutes = registry.measured_minutes().get(key) if Path(root).name not in ("smoke", "paper") else None
    need = [r.seeds_for_target for r in rows if r.seeds_for_target]
    if minutes and seeds and rows:
        per_seed = minutes / len(seeds)
        lines += ["", f"**Budget.** This experiment takes about {minutes:.0f} min at {len(seeds)} seed(s) on the lab's "
                      f"2-core machine (the registry's measured minutes), about {per_seed:.1f} min a seed. "
                      + (f"The testable claims' target power 0.8 needs up to {max(need)} seeds: about "
                         f"{per_seed * max(need):.0f} min here (seeds scale by parameter: `n_seeds`). " if need else "")
                      + f"{sum(1 for r in rows if not r.seeds_for_target and r.rule in power.T_RULES)} claim(s) reach "
                        f"0.8 at no seed count up to {power.MAX_SEEDS}: their test set or margin, not the seeds, limits them."]
    missing = [c for c in owed if c not in {r.id for r in rows}]
    if missing:
        lines += ["", f"Planned as they are judged, from their design alone (not declared before data): "
                      f"{', '.join(missing)} (seed sd {sd:.3f}, {where})."]
    return "\n".join(lines)


def _devices() -> list[str]:
    """The devices the Keras backend trains on (``cpu:0``, ``gpu:0``, ...)."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return [f"{d.platform}:{d.id}" for d in jax.devices()]
        if backend == "torch":
            import torch

            return [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu:0"]
        import tensorflow as tf

        out, seen = [], {}
        for d in tf.config.list_physical_devices():
            kind = d.device_type.lower()
            out.append(f"{kind}:{seen.get(kind, 0)}")
            seen[kind] = seen.get(kind, 0) + 1
        return out
    except Exception:  # noqa: BLE001 (a device query is never a reason to stop a report)
        return ["unknown"]


def plot_examples(images, titles, n: int = 16, rows: int = 2) -> plt.Figure:
    """The first ``n`` images (raw 0-255 pixels) in ``rows`` rows, each titled by ``titles[i]``."""
    n = min(n, len(images))
    fig, axes = plt.subplots(rows, -(-n // rows), figsize=(11, 1.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, range(n)):
        ax.imshow(np.asarray(images[i]).astype("uint8")); ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def history_frame(history: dict[str, dict[str, dict[str, list[float]]]]) -> pd.DataFrame:
    """Long table (arm, seed, epoch, metric, value) from a record's ``history`` mapping. Validation
    metrics sit at the epochs ``val_epoch`` names when the history has it (validation every k
    epochs); :data:`NOT_METRICS` (``val_epoch``, ``epoch_time_s``, ...) are not metrics."""
    rows = []
    for arm, by_seed in history.items():
        for seed, metrics in by_seed.items():
            for metric, values in metrics.items():
                if metric in NOT_METRICS:
                    continue
                epochs = metrics.get("val_epoch") if metric.startswith("val_") else None
                epochs = epochs or range(1, len(values) + 1)
                rows += [(arm, int(seed), int(e), metric, float("nan") if v is None else float(v))  # None: NaN in JSON
                         for e, v in zip(epochs, values)]
    return pd.DataFrame(rows, columns=["arm", "seed", "epoch", "metric", "value"])


def plot_learning_curves(frame: pd.DataFrame, arms: Sequence[str],
                         metrics: Sequence[str] = ("val_accuracy", "accuracy"),
                         target: float | None = None, title: str = "", mark_best: bool = False) -> plt.Figure:
    """One panel per metric; a line per arm: mean over seeds with a band of +-1 standard deviation.
    ``mark_best``: a star on each arm's validation-accuracy curve at its best epoch (of the mean
    curve), so a curve that peaks and then falls (over-fitting) shows where it peaked."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    sub = frame[frame.arm.isin(arms)]
    palette = dict(zip(arms, sns.color_palette(n_colors=len(arms))))
    for ax, metric in zip(axes[0], metrics):
        sns.lineplot(data=sub[sub.metric == metric], x="epoch", y="value", hue="arm", hue_order=list(arms),
                     palette=palette, errorbar="sd", ax=ax)
        if mark_best and metric == "val_accuracy":
            for arm in arms:
                curve = sub[(sub.metric == metric) & (sub.arm == arm)].groupby("epoch").value.mean()
                if len(curve):
                    ax.plot(curve.idxmax(), curve.max(), marker="*", ms=12, color=palette[arm], mec="black", ls="none")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        if target is not None and metric == "val_accuracy":
            ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:.3f}")
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def mean_sd(values: Sequence[float], digits: int = 3) -> str:
    v = np.asarray(values, dtype=float)
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {sd:.{digits}f}"


def accuracy_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd over seeds of the final train / validation / test accuracy, one row per arm."""
    cols = {"train_acc": "train accuracy", "val_acc": "validation accuracy", "test_acc": "test accuracy"}
    out = rows.groupby("arm", sort=False).agg({c: mean_sd for c in cols}).rename(columns=cols)
    out.insert(0, "data set", rows.groupby("arm", sort=False)["dataset"].first())
    out.insert(1, "seeds", rows.groupby("arm", sort=False)["seed"].count())
    return out


RUN_KINDS = (("", "Default runs (make all)"), ("smoke/", "Smoke runs (make smoke, CI)"), ("paper/", "Paper scale (make paper)"))


def _page_row(root, rel, page_href: str) -> str:
    """One report's row on the front page: link, date, status, wall time, controls and verdicts."""
    import html
    from pathlib import Path

    from lib import summary

    parts = Path(rel).parts
    prefix, key = (parts[0], "/".join(parts[1:])) if parts[0] in ("smoke", "paper") else ("", "/".join(parts))
    if key.startswith("summary/"):  # find_records leaves the summary's own records out: read them here
        recs = [r for r in (summary.read_record(f) for f in sorted((Path(root) / prefix / "summary").glob(
            f"{key.split('/', 1)[1]}.*.json")) if not f.name.endswith((".partial.json", ".failed.json"))) if r]
        recs.sort(key=lambda r: r.get("started_unix") or 0, reverse=True)
    else:
        recs = summary.find_records(Path(root) / prefix).get(key, [])
    good = next((r for r in recs if r.get("status") == "ok"), None)
    rec = good or (recs[0] if recs else {})
    claims = [c for c in rec.get("claims") or [] if c.get("kind", "claim") == "claim"]
    controls = [c for c in rec.get("claims") or [] if c.get("kind") == "control"]
    counts = {}
    from lib import claims as C

    for c, (v, _) in zip(claims, C.holm_adjust(claims)):  # after Holm within the report's families
        counts[v] = counts.get(v, 0) + 1
    cells = [f'<a href="{html.escape(page_href)}">{html.escape(key)}</a>',
             html.escape((rec.get("ended") or "")[:16].replace("T", " ")),
             html.escape(rec.get("status", "no record") + ("" if good is rec else " (latest attempt)")),
             f"{rec['wall_s'] / 60:.1f} min" if rec.get("wall_s") else "",
             f"{sum(c['verdict'] == c.get('expected') for c in controls)}/{len(controls)}" if controls else "",
             html.escape(", ".join(f"{n} {v}" for v, n in sorted(counts.items())))]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _document_order(doc: str) -> tuple:
    """The front page's order: the summary, the seed documents (000 .. 003), the literature, then
    the prerequisites and anything else."""
    return (0 if doc == "the summary" else 1 if doc.startswith("seed ") else 2 if doc.startswith("the literature")
            else 3, doc)


def seed_answers(s: dict) -> dict[str, str]:
    """Per source (seed document, literature), one line of its claims' verdicts after Holm's
    adjustment within its family, e.g. "seed 002: 5 reproduced, 2 not reproduced, 1 inconclusive"."""
    from lib import claims as C

    counts: dict[str, dict[str, int]] = {}
    for c in s["claims"]:
        if c["kind"] == "claim":
            v = c.get("holm_verdict", c["verdict"])
            counts.setdefault(c["source"], {}).setdefault(v, 0)
            counts[c["source"]][v] += 1
    return {src: f"{src}: " + ", ".join(f"{n[v]} {v}" for v in C.VERDICTS if n.get(v)) + " (after Holm)"
            for src, n in counts.items()}


def write_html_index(outputs: str = "outputs") -> str:
    """Write ``<outputs>/html/index.html``, the lab's front page: per kind of run (default, smoke,
    paper) the summary's headline, then its reports grouped by the document whose claims they
    judge, each with its date, status, wall time, controls and verdict counts (from its record);
    links between reports are pointed at their HTML first. Returns the page's path."""
    import html
    import re
    from pathlib import Path

    from lib import registry, summary

    root = Path(outputs) / "html"
    root.mkdir(parents=True, exist_ok=True)
    pages = sorted(p for p in root.rglob("*.html") if p.name != "index.html")
    for page in pages:  # links between reports (the summary's) point at notebooks: point them at the HTML
        text = page.read_text(encoding="utf-8")
        linked = re.sub(r'href="(\.\./[^"#]+?)\.ipynb"', r'href="\1.html"', text)
        if linked != text:
            page.write_text(linked, encoding="utf-8")
    head = "<tr><th>report</th><th>finished</th><th>status</th><th>wall time</th><th>controls passed</th><th>claims</th></tr>"
    body = []
    for prefix, title in RUN_KINDS:
        mine = [p for p in pages if str(p.relative_to(root)).startswith(prefix) and
                (prefix or not str(p.relative_to(root)).startswith(("smoke/", "paper/")))]
        if not mine:
            continue
        body.append(f"<h2>{html.escape(title)}</h2>")
        data_root = Path(outputs) / prefix.rstrip("/") if prefix else Path(outputs)
        if (data_root / "summary").is_dir():
            line = summary.headline(summary.summarise(data_root))
            body.append("<p>" + re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(line)) + "</p>")
        groups: dict[str, list] = {"the summary": []}
        if not prefix:  # every seed document of the lab, run or not
            groups.update({d: [] for d in sorted({st.document for st in registry.STUDIES.values()})
                           if d.startswith("seed ")})
        for p in sorted(mine, key=lambda p: (p.parent.name != "summary", str(p))):
            groups.setdefault("the summary" if p.parent.name == "summary" else
                              registry.document(p.parent.name), []).append(p)
        answers = seed_answers(summary.summarise(data_root)) if (data_root / "summary").is_dir() else {}
        for group in sorted(groups, key=_document_order):
            members = groups[group]
            seed = group.split(":")[0]
            line = f"<p>{html.escape(answers[seed])}</p>" if seed in answers else ""
            if not members:
                body.append(f"<h3>{html.escape(group)}</h3>{line}<p>No report has run yet"
                            + (f": <code>make seed-{seed[5:]}</code>." if seed.startswith("seed ") else ".") + "</p>")
                continue
            rows = "".join(_page_row(outputs, p.relative_to(root).with_suffix(""), str(p.relative_to(root)))
                           for p in members)
            body.append(f"<h3>{html.escape(group)}</h3>{line}<table>{head}{rows}</table>")
    index = root / "index.html"
    index.write_text("<!doctype html><meta charset='utf-8'><title>Transfer-learning lab</title>"
                     "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse;"
                     "width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}</style>"
                     "<h1>Transfer-learning lab: did transfer learning help, and which way of doing it?</h1>"
                     "<p>Every report below is an executed notebook; the summary gathers their claims into verdicts "
                     "(reproduced, not reproduced, inconclusive, not testable here, open).</p>\n"
                     + "\n".join(body) + "\n", encoding="utf-8")
    return str(index)


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (cells may hold Markdown links); ``|`` in cells escaped."""
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def claims_table(claims) -> pd.DataFrame:
    """The claims a report judged (:class:`lib.claims.Claim` or their dicts), one row each: kind,
    who said it and the sentence it tests, the hypothesis, the verdict (and after Holm's adjustment
    over this report's judged claims), the rule or failed premise, the p-value, the evidence and
    the premises (the margin claims' design check among them). Claims judged on the lab's generated
    data say so."""
    from lib import claims as C

    dicts = [c.as_dict() if hasattr(c, "as_dict") else c for c in claims]
    adjusted = C.holm_adjust(dicts)
    forest = claims_forest(dicts, adjusted)
    if forest is not None:
        plt.show()
    rows = []
    for c, (holm_v, holm_p) in zip(dicts, adjusted):
        p = C.claim_p_value(c) if c["kind"] == "claim" else None
        rows.append({"kind": c["kind"], "source": c["source"] + (f" ({c['said_by']})" if c.get("said_by") else ""),
                     "quote": f"“{c['quote']}”" if c.get("quote") else "",
                     "hypothesis": c["hypothesis"] + (" [on the lab's stand-in data]" if c.get("data") == "stand-in" else ""),
                     "verdict": c["verdict"] + (f" (must be {c['expected']})" if c["kind"] == "control" else ""),
                     "after Holm (this report, per family)": holm_v if c["kind"] == "claim" else "",
                     "p": "" if p is None else f"{p:.3g}" + ("" if holm_p is None else f" (Holm {holm_p:.3g})"),
                     "the interval alone": c.get("interval_verdict"),
                     "planned power": _power_text(c.get("power")), "why": c["reason"], "evidence": c["evidence"],
                     "premises": "; ".join(f"{p['name']}: {'held' if p['held'] else 'FAILED'} ({p['detail']})"
                                           for p in c.get("premises") or [])})
    return pd.DataFrame(rows)


def _power_text(row: dict | None) -> str:
    if not row:
        return ""
    pw = row.get("power")
    got = f"{pw:.2f}" if isinstance(pw, float) and pw == pw else "n/a"
    return f"{got} at level {row['level']:.2g}" + ("" if row.get("testable") else " (not testable: power)")


def claims_forest(dicts: list[dict], adjusted: list | None = None):
    """This report's claims as forest plots, one per source document (:func:`lib.summary.plot_forest`),
    coloured by the verdict after Holm within the report's families; the last figure, or ``None``
    when no claim has an interval."""
    from lib import claims as C
    from lib import summary

    adjusted = adjusted if adjusted is not None else C.holm_adjust(dicts)
    frame = pd.DataFrame([{"kind": c["kind"], "source": c["source"], "interval": c.get("interval"),
                           "margin": c.get("margin"), "verdict": c["verdict"], "holm_verdict": v,
                           "quote": c.get("quote", ""), "claim": f"{c['source']}: {c['hypothesis']}"}
                          for c, (v, _) in zip(dicts, adjusted)])
    fig = None
    for source in sorted(set(frame.source[frame.kind == "claim"])) if len(frame) else []:
        fig = summary.plot_forest(frame, source) or fig
    return fig


def claims_markdown(claims) -> str:
    """One line per judged claim for a report's conclusions."""
    lines = []
    for c in claims:
        c = c.as_dict() if hasattr(c, "as_dict") else c
        tag = "control" if c["kind"] == "control" else c["source"]
        ok = "" if c["kind"] != "control" else (" — passed" if c["verdict"] == c["expected"] else " — **FAILED**")
        said = f" (\u201c{c['quote']}\u201d, {c.get('said_by') or 'source'})" if c.get("quote") else ""
        stand_in = " [on the lab's stand-in data]" if c.get("data") == "stand-in" else ""
        lines.append(f"- *{tag}*: {c['hypothesis']}{said}{stand_in}: **{c['verdict']}**{ok} ({c['evidence']}"
                     + (f"; {c['reason']}" if c["verdict"] == "not testable here" else "") + ").")
    return "\n".join(lines)


def plot_first_filters(base, title: str = "") -> plt.Figure:
    """The first convolution's kernels as RGB images (each scaled to its own range): what a
    pre-trained base looks for before anything is trained (edges, colour blobs), or noise."""
    conv = next(layer for layer in base.layers if len(layer.get_weights()) and layer.get_weights()[0].ndim == 4)
    k = conv.get_weights()[0]  # (h, w, 3, filters)
    n = min(k.shape[-1], 64)
    cols = 16
    fig, axes = plt.subplots(-(-n // cols), cols, figsize=(cols * 0.55, 0.6 * -(-n // cols)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            f = k[..., i]
            f = (f - f.min()) / (np.ptp(f) + 1e-12)
            ax.imshow(f[..., ::-1] if base.name.startswith("vgg") else f)  # VGG's kernels read BGR
    fig.suptitle(title or f"{conv.name}: first-layer filters", fontsize=9)
    fig.tight_layout()
    return fig


def source_weights_note(record, arch: str, image_size: int, weights: str, label: str = "Source weights used") -> dict | None:
    """For ``weights: source``: note the source record's quality in ``record`` and show it in one
    line (its source test accuracy against chance and the verdict), or say that no record names
    the weights. Returns the quality (``sources.source_weights_quality``) or ``None``. For
    published weights (``hed``, ``imagenet``): their provenance in one line and the first-layer
    filters (the per-block probe is the report's own: :func:`lib.studies.transferability.weights_card`
    or its estimates)."""
    from IPython.display import Markdown, display

    from lib import backbones, sources

    if weights in ("hed", "imagenet"):
        line = backbones.HED_PROVENANCE if weights == "hed" else f"{arch} ImageNet classification weights"
        record.note("source_weights", {"weights": weights, "provenance": line})
        display(Markdown(f"**{label}**: {line}."))
        plot_first_filters(backbones.build_base(arch, image_size, weights), f"{arch} `{weights}`: first-layer filters")
        plt.show()
        return None
    if weights != "source":
        return None
    q = sources.source_weights_quality(arch, image_size)
    record.note("source_weights", q)
    display(Markdown(f"**{label}**: {arch} at {image_size} px, this project's source task, source **test** accuracy "
                     f"{q['source_test_acc']:.3f} against chance {q['chance']:.3f} ({q['verdict']})." if q else
                     f"**{label}**: no source record names these weights."))
    return q
