"""The summary report: every run record under an outputs root, turned into one table of the seed
documents' claims against our measurements, a list of runs that do not count, and a cost ledger.

It reads run records (``<root>/<notebook>/<experiment>.<hash>.json``) and, of them, only the
claims contract (:mod:`lib.claims`: each record's ``claims``) and the cost fields. A run
counts when a record is finished (``status: ok``, ``complete``) and its executed
notebook holds at least the figures its notebook promises (a report whose figures vanished, for
example under a non-inline matplotlib backend, counts as failed). :func:`lib.registry.owed` says which
verdicts each experiment provides, so a missing or failed run leaves those verdicts *open*
instead of silently dropping them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.claims import (INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, OPEN, REPRODUCED, VERDICTS, VOCABULARY,  # noqa: F401
                        Claim, gate_by_controls)
from lib import claims as C

def read_record(path: Path) -> dict | None:
    """One record file, with its ``_path``; ``None`` when it cannot be read."""
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    rec["_path"] = str(path)
    return rec


def find_records(root: str | Path) -> dict[str, list[dict]]:
    """``{"notebook/experiment": [records, newest first]}`` for every record directly under
    ``root/<notebook>/`` (not the ``smoke``, ``paper``, ``html`` or ``summary`` trees)."""
    root = Path(root)
    out: dict[str, list[dict]] = {}
    for path in sorted(root.glob("*/*.json")):
        if path.parent.name in ("smoke", "paper", "html", "summary", "bench", "source_weights", "tensorboard"):
            continue
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            rec = {"status": "unreadable", "error": f"{type(exc).__name__}: {exc}"}
        rec["_path"] = str(path)
        key = f"{path.parent.name}/{rec.get('experiment') or path.name.split('.')[0]}"
        out.setdefault(key, []).append(rec)
    for recs in out.values():
        recs.sort(key=lambda r: r.get("started_unix") or 0, reverse=True)
    return out


def _short_error(error: str) -> str:
    """One line of a record's error: the exception and the cell it was raised in (papermill's
    message holds the whole traceback; the report that failed keeps it)."""

    names = re.findall(r"\b([A-Z]\w*(?:Error|Exception|Interrupt|Exit))\b", error)
    names = [n for n in names if n != "PapermillExecutionError"]
    cell = re.search(r'Exception encountered at "([^"]+)"', error)
    if names:
        return names[-1] + (f" in {cell.group(1)}" if cell else "")
    line = " ".join(str(error).split())
    return line[:150] + ("..." if len(line) > 150 else "")


def run_status(rec: dict, min_figures: int = 1) -> tuple[bool, str]:
    """Whether a record counts, and why not. The figures promised are the record's own
    ``figures_promised`` (written by the runner from the notebook's metadata) when it has it."""
    status = rec.get("status")
    if status != "ok" or not rec.get("complete"):
        return False, f"status {status!r}" + (f" ({_short_error(rec['error'])})" if rec.get("error") else "")
    notebook = Path(rec.get("output") or "")
    figures = rec.get("figures")
    if figures is None and notebook.exists():
        from lib.runner import count_figures

        figures = count_figures(notebook)
    want = max(min_figures, rec.get("figures_promised") or 0)
    if figures is None or figures < want:
        return False, f"{figures} figures; the notebook promises at least {want}"
    return True, "ok"


def _cost_of(key: str, rec: dict) -> list[dict]:
    """Per-arm cost rows from the record's histories (epochs, training seconds per seed: the epochs'
    own time, without computing cached features), the test accuracy recorded beside each history
    (mean over seeds) and the study's ``metrics.cost`` (wall seconds per run, images per second and
    trainable parameters where the study keeps them)."""

    cost = (rec.get("metrics") or {}).get("cost") or {}
    tested = rec.get("test_acc") or {}
    rows = []
    for arm, by_seed in (rec.get("history") or {}).items():
        seeds = list(by_seed.values())
        c = cost.get(arm) or cost.get(arm.split(" @ ")[0]) or {}
        train_s = [sum(h.get("epoch_time_s", [])) for h in seeds]
        acc = [v for v in (tested.get(arm) or {}).values() if v is not None]
        rows.append({"run": key, "arm": arm, "test_acc": float(np.mean(acc)) if acc else None,
                     "epochs": max(len(h.get("loss", [])) for h in seeds),
                     "train_s": float(np.mean(train_s)) if train_s else None, "seeds": len(seeds),
                     "wall_s": c.get("wall_s"),  # the study's own wall time per run (feature extraction included)
                     "images_per_s": c.get("images_per_s"), "trainable_params": c.get("trainable_params")})
    return rows


def _premise_text(c: dict) -> str:
    return "; ".join(f"{p['name']}: {'held' if p['held'] else 'FAILED'}" for p in c.get("premises") or [])


def _resolution_text(c: dict) -> str:
    """The margin claim's design check (:func:`lib.claims.resolution`), as the summary shows it."""
    got = next((p for p in c.get("premises") or [] if p["name"] == "design resolves the margin"), None)
    return "" if got is None else f"{'held' if got['held'] else 'FAILED'}: {got['detail']}"


def _claim_rows(key: str, rec: dict) -> list[dict]:
    """The contract claims of one counted run (:mod:`lib.claims`), as the summary's rows; the run's
    controls gate its claims (a failed control makes them not testable)."""

    rows = []
    raw = [c for c in rec.get("claims") or [] if isinstance(c, dict) and "id" in c]
    known = set(Claim.__dataclass_fields__)
    gated = gate_by_controls([Claim(**{k: v for k, v in c.items() if k in known}) for c in raw])
    for c in gated:
        c = c.as_dict()
        prereq = sorted({p["record"] for p in c.get("premises") or [] if p.get("record")})
        rows.append({"run": key, "id": c["id"], "kind": c.get("kind", "claim"), "source": c["source"],
                     "claim": f"{c['source']}: {c['hypothesis']}", "seed_reported": c.get("seed_reported", ""),
                     "verdict": c["verdict"], "interval_verdict": c.get("interval_verdict"),
                     "expected": c.get("expected"), "evidence": c.get("evidence", ""), "reason": c.get("reason", ""),
                     "premises": _premise_text(c), "prerequisites": prereq, "interval": c.get("interval"),
                     "rule": c.get("rule"), "margin": c.get("margin"), "report": rec.get("output"),
                     "p_value": C.claim_p_value(c), "quote": c.get("quote", ""), "said_by": c.get("said_by", ""),
                     "data": c.get("data", ""), "resolution": _resolution_text(c)})
    return rows


def _failed_report(rec: dict) -> str | None:
    report = rec.get("output")
    if not report:
        return None
    failed = Path(report).with_name(Path(report).stem + ".failed.ipynb")
    return str(failed) if failed.exists() else None


def owed_ids(key: str, root: str | Path, rec: dict | None = None) -> list[str]:
    """The claim ids experiment ``key`` ("<notebook>/<experiment>") owes: its study's ``claims``
    function (:mod:`lib.registry`) on the parameters the run used (``rec``'s), else on its parameter
    file with the profile of ``root`` (``.../smoke``, ``.../paper``). Empty for a study without
    claims or parameters that cannot be read (a record from before a parameter was added)."""
    from lib import registry

    notebook, _, experiment = key.partition("/")
    ids = registry.claims(notebook)
    if ids is None:
        return []
    p = (rec or {}).get("params")
    if not p:
        from lib import params as P

        folder = P.REPO_ROOT / "params" / notebook
        own, profile = folder / f"{experiment}.yaml", folder / "profiles" / f"{Path(root).name}.yaml"
        try:  # the file, then the profile the outputs root is named after (smoke, paper), as make runs it
            p = P.validate(P.load_overlays([own, *([profile] if profile.is_file() else [])]),
                           P.read_parameters(P.NOTEBOOK_DIR / f"{notebook}.ipynb").specs,
                           notebook=notebook) if own.is_file() else {}
        except Exception:  # an invalid file: make refuses that run; nothing to derive here
            p = {}
    try:
        return list(ids(p)) if p else []
    except (KeyError, TypeError):
        return []


def source_of(key: str, cid: str) -> str:
    """The source (and so the Holm family) of claim ``cid`` owed by experiment ``key``, known
    before any run: "prerequisite", "literature" (the literature said it), else the seed document
    of the experiment's study."""
    from lib import registry
    from lib.quotes import quote_for

    if cid.startswith("prerequisite."):
        return "prerequisite"
    _, said_by = quote_for(cid)
    seed = re.match(r"seed (\d{3})", registry.document(key.split("/")[0]))
    return "literature" if said_by == "literature" or cid.startswith("literature.") or not seed else f"seed {seed.group(1)}"


def family_sizes(root: str | Path, also: str | None = None) -> dict[str, int]:
    """The size of each Holm family the run plan of ``root`` names, before any data: every claim
    owed by every experiment ``make all`` runs (and ``also``, e.g. an extended one being run),
    grouped by :func:`source_of`; prerequisites are in no family."""
    from lib import registry

    sizes: dict[str, int] = {}
    for key in registry.experiments():
        if key.startswith("summary/") or (registry.extended(key) and key != also):
            continue
        for cid in owed_ids(key, root):
            fam = source_of(key, cid)
            if fam != "prerequisite":
                sizes[fam] = sizes.get(fam, 0) + 1
    return sizes


def open_row(key: str, cid: str, why: str) -> dict:
    """The summary's row for claim ``cid`` that no counted run of ``key`` provides: open, with the
    sentence it tests and who said it (:mod:`lib.quotes`)."""
    from lib.quotes import quote_for

    quote, said_by = quote_for(cid)
    kind = "prerequisite" if cid.startswith("prerequisite.") else "claim"
    source = source_of(key, cid)
    return {"run": key, "id": cid, "kind": kind, "source": source, "claim": f"{source}: {cid}", "seed_reported": "",
            "verdict": OPEN, "interval_verdict": None, "expected": None, "evidence": why, "reason": why, "premises": "",
            "prerequisites": [], "interval": None, "rule": None, "margin": None, "report": None, "p_value": None,
            "quote": quote, "said_by": said_by, "data": "", "resolution": ""}


def summarise(root: str | Path, min_figures: dict[str, int] | None = None) -> dict[str, Any]:
    # min_figures: notebook -> figures required when a record does not say what it promised
    """Everything the summary report shows: ``runs`` (one row per expected or found experiment,
    with whether it counts), ``claims`` (counted runs' contract claims, with the Holm-adjusted
    verdict beside each, plus open ones for the rest), ``controls`` (per study: passed of run)
    and ``cost`` (per arm).

    The run that counts is the newest one that finished and published its report: a failed or
    interrupted rerun after it leaves it counting (the published report is still the one on disk,
    and ``make`` considers it up to date) and is listed beside it in ``failed_after``."""

    from lib import registry

    found = find_records(root)
    keys = [k for k in registry.experiments() if not k.startswith("summary/")]
    min_figures = min_figures or {}
    runs, claims, cost = [], [], []
    for key in sorted(set(keys) | set(found)):
        recs = found.get(key, [])
        rec, got = None, []
        if not recs and registry.extended(key):
            # a literature study `make all` leaves out: listed as not run, its claims not owed
            runs.append({"run": key, "counts": False, "why": "not run: not part of `make all` (`make extended`)",
                         "wall_s": None, "report": None, "failed_after": 0, "extended": True})
            continue
        if not recs:
            runs.append({"run": key, "counts": False, "why": "missing: no record", "wall_s": None, "report": None,
                         "failed_after": 0})
        else:
            status = [(r, *run_status(r, min_figures.get(key.split("/")[0], 1))) for r in recs]
            good = next((i for i, (_, ok, _) in enumerate(status) if ok), None)
            if good is None:
                failed, _, why = status[0]
                runs.append({"run": key, "counts": False, "why": why, "wall_s": failed.get("wall_s"),
                             "report": _failed_report(failed), "ended": failed.get("ended"), "failed_after": 0})
            else:
                rec = status[good][0]
                later = [w for _, _, w in status[:good]]
                why = "ok" if not later else (f"ok; {len(later)} later attempt(s) did not finish ({later[0]}), "
                                              "the published report stands")
                runs.append({"run": key, "counts": True, "why": why, "wall_s": rec.get("wall_s"),
                             "report": rec.get("output"), "ended": rec.get("ended"), "failed_after": len(later),
                             "failed_report": _failed_report(status[0][0]) if later else None})
                got = _claim_rows(key, rec)
                claims += got
                cost += _cost_of(key, rec)
                if not got and owed_ids(key, root):
                    runs[-1]["why"] += "; its record holds no claims (written before the claims contract: rerun it)"
        judged = {c["id"] for c in claims if c["run"] == key}
        why = runs[-1]["why"] if rec is None or not got else "its run judged no such claim (an arm or a claim left out?)"
        claims += [open_row(key, cid, why) for cid in owed_ids(key, root, rec) if cid not in judged]
    # Holm within each family (a seed document's claims, the literature's), every owed claim in it
    # (not testable and open ones with p = 1), and within each report by the same families
    for c, (v, p) in zip(claims, C.holm_adjust(claims)):
        c["holm_verdict"], c["holm_p"] = v, p
    for run in {c["run"] for c in claims}:
        mine = [c for c in claims if c["run"] == run]
        for c, (v, _) in zip(mine, C.holm_adjust(mine)):
            c["report_holm_verdict"] = v
    return {"runs": runs, "claims": claims, "cost": cost, "controls": controls_table(claims)}


def claims_view(claims: pd.DataFrame, root: str | Path) -> pd.DataFrame:
    """The summary's table of every claim: who said it and the sentence it tests, the hypothesis
    (flagged when judged on the lab's stand-in data), the verdict, the verdict after Holm's
    adjustment over every judged claim of the summary (with the adjusted p-value), the margin and
    the design's resolution check, the rule or failed premise, the evidence and links."""
    def said(r) -> str:
        who = f"{r.source} ({r.said_by})" if r.said_by else r.source
        return who + (f": \u201c{r.quote}\u201d" if r.quote else "")

    def holm(r) -> str:
        if r.kind != "claim" or r.holm_p is None or (isinstance(r.holm_p, float) and np.isnan(r.holm_p)):
            return r.holm_verdict if r.kind == "claim" else ""
        return f"{r.holm_verdict} (p {r.p_value:.3g}, Holm {r.holm_p:.3g})"

    view = pd.DataFrame({
        "kind": claims.kind, "said": [said(r) for r in claims.itertuples()],
        "claim": [c + (" [on the lab's stand-in data]" if d == "stand-in" else "") for c, d in zip(claims.claim, claims.data)],
        "seed reported": claims.seed_reported, "verdict": claims.verdict,
        "after Holm (its family)": [holm(r) for r in claims.itertuples()],
        "margin": claims.margin, "design resolves the margin": claims.resolution,
        "rule or failed premise": claims.reason, "evidence": claims.evidence,
        "report": claims.report.map(lambda p: link(p, root)),
        "prerequisites": claims.prerequisites.map(lambda ps: ", ".join(link(p, root, ".ipynb") for p in ps))})
    return view


def controls_table(claims: list[dict]) -> list[dict]:
    """Per study (notebook): how many of its controls gave their known answer."""
    out: dict[str, dict] = {}
    for c in claims:
        if c["kind"] != "control":
            continue
        row = out.setdefault(c["run"].split("/")[0], {"study": c["run"].split("/")[0], "passed": 0, "run": 0, "failed": []})
        row["run"] += 1
        if c["verdict"] == c["expected"]:
            row["passed"] += 1
        else:
            row["failed"].append(f"{c['run']}: {c['claim']} ({c['verdict']}, must be {c['expected']})")
    return list(out.values())


def verdict_counts(claims: list[dict], adjusted: bool = True) -> dict[str, int]:
    """Claims (not controls, not prerequisites) per verdict, every verdict of the vocabulary listed:
    the verdicts after Holm's adjustment within their family (``holm_verdict``), or the unadjusted
    ones (``adjusted=False``)."""

    n = {v: 0 for v in VERDICTS}
    for c in claims:
        if c["kind"] == "claim":
            v = c.get("holm_verdict", c["verdict"]) if adjusted else c["verdict"]
            n[v] = n.get(v, 0) + 1
    return n


NUMERIC_COST = ("test_acc", "epochs", "train_s", "seeds", "wall_s", "images_per_s", "trainable_params")


def cost_frame(cost: list[dict]):
    """The cost ledger as a DataFrame whose numeric columns are floats (a study that keeps no images
    per second leaves NaN, not None, so rounding works on any subset of runs)."""

    frame = pd.DataFrame(cost, columns=["run", "arm", *NUMERIC_COST])
    for col in NUMERIC_COST:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def headline(s: dict[str, Any]) -> str:
    """The summary's first line: controls passed, then claims per verdict (not testable apart)."""
    ctl = s["controls"]
    passed, run = sum(c["passed"] for c in ctl), sum(c["run"] for c in ctl)
    n, raw = verdict_counts(s["claims"]), verdict_counts(s["claims"], adjusted=False)
    counts = ", ".join(f"**{n[v]}** {v} ({raw[v]} before Holm)" for v in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE))
    return (f"**Controls passed {passed}/{run}**" + (" (no run with controls counts)" if not run else "")
            + f". Claims after Holm's adjustment within each seed document's family: {counts}; "
            f"**{n[NOT_TESTABLE]}** not testable here; **{n[OPEN]}** open. "
            f"Runs counted: {sum(r['counts'] for r in s['runs'])} of {len(s['runs'])}.")


def counts_by_study(s: dict[str, Any]) -> list[dict]:
    """Per study (notebook): its controls (passed of run), then its claims per verdict after Holm's
    adjustment within their family, and how many were decisive before it."""

    ctl = {c["study"]: f"{c['passed']}/{c['run']}" for c in s["controls"]}
    out: dict[str, dict] = {}
    for c in s["claims"]:
        if c["kind"] != "claim":
            continue
        study = c["run"].split("/")[0]
        row = out.setdefault(study, {"study": study, "controls passed": ctl.get(study, "none"), **{v: 0 for v in VERDICTS},
                                     "decisive before Holm": 0})
        row[c.get("holm_verdict", c["verdict"])] += 1  # after Holm, within the claim's family
        row["decisive before Holm"] += c["verdict"] in (REPRODUCED, NOT_REPRODUCED)
    return sorted(out.values(), key=lambda r: r["study"])


def outputs_root(given: str = "") -> Path:
    """The outputs root the summary reads: ``given``, else the runner's (``TLLAB_OUTPUTS``), else
    ``outputs``; refused when it is not a folder."""
    import os

    from lib.params import OUTPUTS_ENV

    root = Path(given or os.environ.get(OUTPUTS_ENV, "outputs"))
    if not root.is_dir():
        raise FileNotFoundError(f"outputs root not found: {root}")
    return root


def plot_verdicts(claims: pd.DataFrame):
    """Counted claims per source document, coloured by verdict after Holm's adjustment within the
    document's family (the unadjusted verdict where no adjusted one is given)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    claims = claims.assign(shown=claims["holm_verdict"].fillna(claims["verdict"]) if "holm_verdict" in claims
                           else claims["verdict"])
    fig, ax = plt.subplots(figsize=(8, 3.4))
    sns.countplot(data=claims, y="source", hue="shown", hue_order=list(VOCABULARY), ax=ax,
                  palette=["tab:green", "tab:red", "tab:grey", "tab:orange", "lightgrey"])
    ax.set_xlabel("claims"); ax.set_ylabel(""); ax.set_title("Verdicts per source document (after Holm, per family)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_cost(cost: pd.DataFrame):
    """Test accuracy against training seconds per seed (log), every arm of every counted run."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(8, 4.5))
    pts = cost.dropna(subset=["test_acc", "train_s"])
    pts = pts[pts.train_s > 0]
    sns.scatterplot(data=pts, x="train_s", y="test_acc", hue="run", style="run", s=60, ax=ax)
    ax.set_xscale("log"); ax.set_xlabel("training seconds per seed (log)"); ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy against compute, every arm of every counted run")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


# the verdicts at a glance (forest plots, one card per claim) live beside the summary's rules
from lib.verdict_views import VERDICT_COLOURS, claim_cards, link, plot_forest  # noqa: E402,F401
