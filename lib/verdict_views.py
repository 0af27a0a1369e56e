"""The verdicts at a glance: a forest plot per source document and one card per claim, read from
the summary's claim rows (:func:`lib.summary.summarise`). No TensorFlow here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.claims import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, OPEN, REPRODUCED


VERDICT_COLOURS = {REPRODUCED: "tab:green", NOT_REPRODUCED: "tab:red", INCONCLUSIVE: "tab:grey",
                   NOT_TESTABLE: "tab:orange", OPEN: "lightgrey"}


def _short(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def plot_forest(claims: pd.DataFrame, source: str):
    """One seed document's claims as a forest plot: one row per claim with an interval, the effect
    (A - B, or A - threshold) with its interval, the margin (dashed) and zero (solid) drawn, the
    marker coloured by the verdict after Holm's adjustment within the family, the label the quoted
    sentence shortened. ``None`` when no claim of ``source`` has an interval."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    def finite(x) -> bool:  # a record's bounds may be None (an unbounded interval read back from JSON)
        try:
            return x is not None and bool(np.isfinite(float(x)))
        except (TypeError, ValueError):
            return False

    rows = [r for r in claims[(claims.kind == "claim") & (claims.source == source)].itertuples()
            if isinstance(r.interval, dict) and finite(r.interval.get("low")) and finite(r.interval.get("high"))
            and finite(r.interval.get("diff"))]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.4))
    for i, r in enumerate(rows):
        iv, v = r.interval, (r.holm_verdict if isinstance(r.holm_verdict, str) else r.verdict)
        colour = VERDICT_COLOURS.get(v, "black")
        ax.plot([iv["low"], iv["high"]], [i, i], color=colour, lw=2)
        ax.plot(iv["diff"], i, "o", color=colour, mec="black", ms=7)
        if finite(r.margin):
            ax.plot([r.margin, r.margin], [i - 0.35, i + 0.35], color="black", ls="--", lw=1)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_short(r.quote or r.claim) for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("effect: A - B (or A - threshold), with its interval; dashed: the claim's margin")
    ax.set_title(f"{source}: every claim with an interval, coloured by its verdict after Holm")
    ax.legend(handles=[Line2D([], [], marker="o", color=c, ls="-", label=v) for v, c in VERDICT_COLOURS.items()
                       if v != OPEN], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def claim_cards(claims: pd.DataFrame, root: str | Path) -> str:
    """Every claim as a card a reader takes in at a glance, grouped by seed document (in order: seed
    000 .. 003, the literature, prerequisites) and then by study: the verdict after Holm's adjustment
    within its family and the unadjusted one, the quoted sentence and who said it, the effect and
    its interval in one line, the premises that failed (or that all held), links to the report and
    the prerequisite runs. Controls get one line per study. Markdown, no table: nothing wider than
    the page."""
    def order(src: str) -> tuple:
        return (0 if src.startswith("seed ") else 1 if src == "literature" else 2, src)

    lines = []
    for source in sorted(set(claims.source), key=order):
        mine = claims[claims.source == source]
        lines.append(f"### {source}")
        for run in sorted(set(mine.run)):
            rows = mine[mine.run == run]
            controls = rows[rows.kind == "control"]
            lines.append(f"**{run}**" + (f" (controls passed {int((controls.verdict == controls.expected).sum())}/"
                                         f"{len(controls)})" if len(controls) else ""))
            for r in rows[rows.kind != "control"].itertuples():
                after = r.holm_verdict if isinstance(r.holm_verdict, str) else r.verdict
                p = "" if r.p_value is None or (isinstance(r.p_value, float) and np.isnan(r.p_value)) else (
                    f"; p {r.p_value:.3g}" + ("" if r.holm_p is None or (isinstance(r.holm_p, float) and np.isnan(r.holm_p))
                                              else f", Holm {r.holm_p:.3g}"))
                said = f"\u201c{r.quote}\u201d ({r.said_by or r.source})" if r.quote else r.claim
                failed = [x for x in str(r.premises or "").split("; ") if x.endswith("FAILED")]
                prem = ("premises failed: " + ", ".join(x.rsplit(":", 1)[0] for x in failed) + f" ({r.reason})"
                        if failed else "premises held" if r.premises else "")
                links = " ".join(x for x in [link(r.report, root), *(link(q, root, ".ipynb") for q in r.prerequisites or [])]
                                 if x)
                head = (f"**{after}** after Holm (before it: {r.verdict}{p})" if after != r.verdict else
                        f"**{after}**" + (f" ({p[2:]})" if p else ""))
                hyp = str(r.claim).split(": ", 1)[-1] if r.quote and r.verdict != OPEN else ""
                lines.append(f"- {head}: {said}" + (f" \u2014 *{hyp}*" if hyp else "")
                             + (" [on the lab's stand-in data]" if r.data == "stand-in" else "")
                             + (f"  \n  {r.evidence}" if r.evidence else "")
                             + (f"  \n  {prem}" if prem else "") + (f"  \n  {links}" if links else ""))
            lines.append("")
    return "\n".join(lines)



def link(path: Any, root: str | Path, suffix: str = "") -> str:
    """A Markdown link from the summary report (``<root>/summary/``) to another report or record
    under the same root (a record links to its report: ``suffix=".ipynb"``)."""
    if not isinstance(path, str) or not path:
        return ""
    p, root = Path(path).resolve(), Path(root).resolve()
    if suffix:
        p = p.with_name(p.name.split(".")[0] + suffix)
    rel = p.relative_to(root) if p.is_relative_to(root) else p
    return f"[{rel.with_suffix('')}](../{rel.as_posix()})"
