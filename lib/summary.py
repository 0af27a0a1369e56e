"""The summary report: every run record under an outputs root, turned into one table of the seed
documents' claims against our measurements, a list of runs that do not count, and a cost ledger.

It reads run records (``<root>/<notebook>/<experiment>.<hash>.json``) and nothing else. A run
counts only when its newest record is finished (``status: ok``, ``complete``) and its executed
notebook holds at least the figures its notebook promises (a report whose figures vanished, for
example under a non-inline matplotlib backend, counts as failed). :data:`EXPECTED` says which
verdicts each experiment provides, so a missing or failed run leaves those verdicts *open*
instead of silently dropping them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lib.results import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

OPEN = "open (no finished run)"

# experiment -> the verdicts it provides (what the summary expects, and says is open without it)
EXPECTED: dict[str, list[str]] = {
    "d1_d2/synthetic": ["seed 003: D1 layers transfer to D2 (frozen transfer beats the re-initialised control)"],
    "d1_d2/digits": ["seed 003 on digits: frozen transfer beats the re-initialised control"],
    "source_pretrain/default": ["source weights (shapes) learned their task"],
    "source_pretrain/glyphs": ["source weights (glyphs) learned their task"],
    "source_pretrain/simple_cnn": ["source weights (shapes, simple CNN) learned their task"],
    "source_pretrain/inception": ["source weights (shapes, InceptionV3 at 75 px) learned their task"],
    "small_data/simple_cnn": ["seed 002: the simple CNN learns the small target"],
    "small_data/vgg16_plateau": ["seed 002: VGG16 plateaus whatever is frozen"],
    "small_data/resnet50": ["seed 002: ResNet50 frozen over-fits; fine-tuned beats frozen"],
    "small_data/inception_cut": ["seed 002: InceptionV3 cut at mixed5 beats the frozen base",
                                 "seed 002: InceptionV3 all trained is no better than the cut",
                                 "seed 002: unfreezing mixed4..mixed5 beats the plain cut"],
    "cut_search/default": ["seed 002: a search over InceptionV3's cut blocks lands on the blog's mixed5"],
    "transferability/default": ["Yosinski: copied-then-fine-tuned layers beat training from scratch",
                                "Yosinski: frozen transfer drops with depth",
                                "LogME ranks the cuts as fine-tuning does"],
    "plates/h1_h4": ["seed 000: H1 EfficientNetB0 reads plates", "seed 000: H2 transfer fails to help",
                     "seed 000: H3 noise fails to help", "seed 000: H4 pretrained+noise is not best"],
    "plates/fixes": ["seed 000 answer: a trainable base beats the frozen one",
                     "seed 000 answer: the two-stage recipe beats the frozen base",
                     "pitfall: pixels /255 hurt a model that expects 0-255"],
    "plates/noise_sweep": ["seed 000: the noise was too strong (weaker noise beats it)"],
    "signs/country_shift": ["seed 001: from scratch beats transfer with few examples",
                            "seed 001: freezing gives no speed-up",
                            "seed 001: pre-trained initialisation does not help the first country"],
}


def find_records(root: str | Path) -> dict[str, list[dict]]:
    """``{"notebook/experiment": [records, newest first]}`` for every record directly under
    ``root/<notebook>/`` (not the ``smoke``, ``paper``, ``html`` or ``summary`` trees)."""
    root = Path(root)
    out: dict[str, list[dict]] = {}
    for path in sorted(root.glob("*/*.json")):
        if path.parent.name in ("smoke", "paper", "html", "summary", "bench", "source_weights"):
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
    import re

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


def _claims_of(key: str, rec: dict) -> list[dict]:
    """The verdicts of one finished run, as rows ``claim, seed_reported, verdict, evidence``."""
    m = rec.get("metrics") or {}
    nb = key.split("/")[0]
    rows = []
    if nb == "small_data":
        for c in m.get("claims", []):
            rows.append({"claim": f"seed 002: {c['arm']} {c['claim']}", "seed_reported": c.get("blog reported", ""),
                         "verdict": c["verdict"], "evidence": c["evidence"]})
    elif nb == "signs":
        for c in m.get("claims", []):
            rows.append({"claim": f"seed 001: {c['question']}", "seed_reported": c.get("seed reported", ""),
                         "verdict": c["verdict"], "evidence": c["evidence"]})
    elif nb == "plates":
        seed_found = {"H1": (True, "held"), "H2": (False, "failed"), "H3": (False, "failed"), "H4": (False, "failed")}
        for h in m.get("hypotheses", []):
            held, said = seed_found.get(h["hypothesis"], (None, "?"))
            ours = h["verdict"]
            if ours not in ("supported", "refuted"):
                verdict = INCONCLUSIVE
            else:
                verdict = REPRODUCED if (ours == "supported") == held else NOT_REPRODUCED
            rows.append({"claim": f"seed 000: {h['hypothesis']} {h.get('claim', '')}", "seed_reported": said,
                         "verdict": verdict, "evidence": f"{ours}: {h['evidence']}"})
        for c in m.get("claims", []):  # the candidate explanations (answer's fix, preprocessing, noise strength)
            rows.append({"claim": f"seed 000 ({c['seed reported']}): {c['question']}", "seed_reported": c["seed reported"],
                         "verdict": c["verdict"], "evidence": c["evidence"]})
    elif nb in ("cut_search", "transferability"):
        for c in m.get("claims", []):
            rows.append({"claim": f"{'seed 002' if nb == 'cut_search' else 'literature'}: {c['question']}", "seed_reported": c.get("seed reported", ""),
                         "verdict": c["verdict"], "evidence": c["evidence"]})
    elif nb == "d1_d2":
        v = (m.get("verdicts") or {}).get("frozen_vs_control", {}).get("test_accuracy")
        verdict = {"helped": REPRODUCED, "hurt": NOT_REPRODUCED}.get(v, INCONCLUSIVE)
        rows.append({"claim": f"seed 003 ({key.split('/')[1]}): frozen D1 layers help on D2 against a re-initialised control",
                     "seed_reported": "frozen transfer 0.876 on D2; the author credited the new layers",
                     "verdict": verdict, "evidence": f"frozen {m.get('frozen_test_acc', float('nan')):.3f} against "
                                                     f"control {m.get('control_test_acc', float('nan')):.3f}: {v}"})
    elif nb == "source_pretrain":
        for arch, v in (m.get("verdicts") or {}).items():
            acc = (m.get("source_test_acc") or {}).get(arch)
            rows.append({"claim": f"prerequisite: {arch} source weights ({key.split('/')[1]}) learned their task",
                         "seed_reported": "", "verdict": v,
                         "evidence": f"source test {acc:.3f} against chance {m.get('chance', float('nan')):.3f}"
                         if isinstance(acc, float) else str(acc)})
    return rows


def _cost_of(key: str, rec: dict) -> list[dict]:
    """Per-arm cost rows from the record's histories (epochs, training seconds per seed: the epochs'
    own time, without computing cached features) and its metrics (test accuracy; wall seconds per
    run, images per second and trainable parameters where the study keeps them)."""
    import numpy as np

    m = rec.get("metrics") or {}
    cost = m.get("cost") or {}
    acc = {}
    if "arms" in m:
        acc = {a: v.get("test_acc", v.get("test_char_acc")) for a, v in m["arms"].items()}
    elif "target_test_acc" in m:  # signs: "arm @ k" -> history "arm @ k/class"
        acc = {f"{name}/class": v for name, v in m["target_test_acc"].items()}
        acc |= {f"source:{i}": v.get("test_acc_A") for i, v in (m.get("source_models") or {}).items()}
    elif "frozen_test_acc" in m:  # d1_d2
        acc = {a[:-len("_test_acc")]: v for a, v in m.items() if a.endswith("_test_acc")}
    rows = []
    for arm, by_seed in (rec.get("history") or {}).items():
        seeds = list(by_seed.values())
        c = cost.get(arm) or cost.get(arm.split(" @ ")[0]) or {}
        train_s = [sum(h.get("epoch_time_s", [])) for h in seeds]
        rows.append({"run": key, "arm": arm, "test_acc": acc.get(arm), "epochs": max(len(h.get("loss", [])) for h in seeds),
                     "train_s": float(np.mean(train_s)) if train_s else None, "seeds": len(seeds),
                     "wall_s": c.get("wall_s"),  # the study's own wall time per run (feature extraction included)
                     "images_per_s": c.get("images_per_s"), "trainable_params": c.get("trainable_params")})
    return rows


def summarise(root: str | Path, min_figures: dict[str, int] | None = None) -> dict[str, Any]:
    # min_figures: notebook -> figures required when a record does not say what it promised
    """Everything the summary report shows: ``runs`` (one row per expected or found experiment,
    with whether it counts), ``claims`` (counted runs' verdicts plus open ones for the rest) and
    ``cost`` (per arm)."""
    found = find_records(root)
    min_figures = min_figures or {}
    runs, claims, cost = [], [], []
    for key in sorted(set(EXPECTED) | set(found)):
        recs = found.get(key, [])
        if not recs:
            runs.append({"run": key, "counts": False, "why": "missing: no record", "wall_s": None, "report": None})
        else:
            rec = recs[0]
            ok, why = run_status(rec, min_figures.get(key.split("/")[0], 1))
            report = rec.get("output")
            if not ok and report:  # a run that does not count has no finished report: its failed one, if any
                failed = Path(report).with_name(Path(report).stem + ".failed.ipynb")
                report = str(failed) if failed.exists() else None
            runs.append({"run": key, "counts": ok, "why": why, "wall_s": rec.get("wall_s"),
                         "report": report, "ended": rec.get("ended")})
            if ok:
                got = _claims_of(key, rec)
                claims += [{**c, "run": key, "report": rec.get("output")} for c in got]
                cost += _cost_of(key, rec)
                if got:
                    continue
        if not runs[-1]["counts"]:
            claims += [{"claim": c, "seed_reported": "", "verdict": OPEN, "evidence": runs[-1]["why"], "run": key,
                        "report": None} for c in EXPECTED.get(key, [])]
    return {"runs": runs, "claims": claims, "cost": cost}
