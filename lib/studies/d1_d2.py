"""Seed 003's claims, and the study's controls, judged through the claims contract.

The seed's author inferred that "most of the learning ... was only because of the additional
layers, not the layers that were transferred from the model trained on D1": the transferred layers
did not help. The accepted answer gave two measurable ways they could have helped, both against a
re-initialised control: (a) training is faster, (b) the end accuracy is better. Speed is counted in
optimizer steps to a target validation accuracy (every D2 arm sees the same data, so steps and
epochs agree up to a constant, but steps are what compare across data sizes).
"""

from __future__ import annotations

import numpy as np

from lib import claims as C

SOURCE = "seed 003"


# the claim ids this study records (lib.registry reads them through claim_ids)
NO_HELP, FASTER = "d1_d2.author.no_help", "d1_d2.answer.faster"


def steps_to_target(history: dict, target: float) -> tuple[float, bool]:
    """Optimizer steps until validation accuracy first reached ``target`` and whether it never did
    (then the steps the run trained: the time it was censored at, never scored as a value)."""
    spe = (history.get("steps_per_epoch") or [1.0])[0]
    for epoch, v in zip(history["val_epoch"], history["val_accuracy"]):
        if v >= target:
            return epoch * spe, False
    return len(history["loss"]) * spe, True


def arm_steps(history: dict, arm: str, target: float) -> tuple[list[float], list[bool]]:
    """Steps to ``target`` for each seed of ``arm`` (seed order) and whether each was censored."""
    by_seed = history[arm]
    out = [steps_to_target(by_seed[s], target) for s in sorted(by_seed, key=int)]
    return [s for s, _ in out], [c for _, c in out]


def claims(rows, history: dict, *, n_test: int, chance: float, d1_n_test: int, d1_chance: float, target: float,
           margin: float, control_n_test: dict[str, int] | None = None,
           control_chance: dict[str, float] | None = None, data: str = "stand-in") -> list[C.Claim]:
    """The study's controls and seed 003's claims. ``rows``: the run's per-arm, per-seed rows
    (a DataFrame with ``arm``, ``seed``, ``test_acc`` and, when kept, ``test_correct``); ``history``: the
    record's histories; ``data``: "stand-in" (generated or bundled data) or "user" (the user's CSV files)."""
    acc = {a: g.sort_values("seed").test_acc.tolist() for a, g in rows.groupby("arm")}
    cor = ({a: g.sort_values("seed").test_correct.tolist() for a, g in rows.groupby("arm")}
           if "test_correct" in rows else {})
    n_seeds = len(acc["frozen"])
    out = []
    control_n_test, control_chance = control_n_test or {}, control_chance or {}
    if "positive/frozen" in acc:
        out.append(C.judge(
            "d1_d2.control.positive", "control",
            "when D2 is drawn like D1 (its held-out part, same labels), the frozen D1 layers + new layers beat the "
            "re-initialised control: transfer must help", rule="greater", a=acc["positive/frozen"],
            b=acc["positive/control"], n_test=control_n_test.get("positive"), comparator="positive/control",
            outcomes=C.paired_outcomes(cor.get("positive/frozen"), cor.get("positive/control")),
            kind="control", expected=C.REPRODUCED))
    if "negative/frozen" in acc:
        for arm in ("frozen", "control"):
            out.append(C.negative_control(f"d1_d2.control.negative.{arm}", f"the {arm} arm on D2",
                                          acc[f"negative/{arm}"], control_chance.get("negative", chance),
                                          control_n_test.get("negative", n_test)))
    src = acc["source"]
    base = [C.enough_seeds(n_seeds),
            C.source_learned({"source_test_acc": float(np.mean(src)), "chance": d1_chance, "n_test": d1_n_test},
                             name="the source network learned D1"),
            C.above_chance("frozen", acc["frozen"], chance, n_test), C.above_chance("control", acc["control"], chance, n_test)]
    # where training ends is compared only between runs that ended there: early stopping, not the cap
    ended = [C.converged(a, history[a]) for a in ("frozen", "control") if a in history]
    out.append(C.judge(
        NO_HELP, SOURCE,
        "the transferred D1 layers did not help: frozen D1 layers + new layers end no better than a re-initialised "
        f"control on D2 (the author's inference; margin {margin:g})", rule="no_better", a=acc["frozen"],
        b=acc["control"], n_test=n_test, margin=margin, comparator="control", premises=[*base, *ended],
        outcomes=C.paired_outcomes(cor.get("frozen"), cor.get("control")), data=data,
        seed_reported="the author: the new layers did all the work (frozen transfer 0.876 on D2, no control run)"))
    steps_f, cens_f = arm_steps(history, "frozen", target)
    steps_c, cens_c = arm_steps(history, "control", target)
    out.append(C.judge_time_to_event(
        FASTER, SOURCE,
        "the transferred D1 layers speed up training: frozen D1 layers + new layers reach the target validation "
        f"accuracy {target:.3f} in fewer optimizer steps than the re-initialised control (the accepted answer's "
        "first measure)", a=steps_f, a_reached=[not c for c in cens_f], b=steps_c, b_reached=[not c for c in cens_c],
        a_name="frozen", b_name="control", split="validation", premises=base, data=data,
        seed_reported="not measured by the author; the answer's measure (a)"))
    return out


# --------------------------------------------------------------------------- checks before any kernel

def claim_ids(p: dict) -> list[str]:
    """The claims every run judges (the summary leaves any it does not find open)."""
    return [NO_HELP, FASTER]


def designs(p: dict) -> list:
    """The two claims' designs from the parameters alone (:class:`lib.power.Design`): D2's test split
    (20% of ``n_d2`` synthetic samples, of the 896 digits 5-9; a CSV's when read), the seeds."""
    from lib.checks import split_sizes
    from lib.power import Design

    n_d2 = {"synthetic": p.get("n_d2"), "digits": 896}.get(p.get("data"))  # digits: 896 images of 5-9
    n_test = split_sizes(int(n_d2))["test"] if n_d2 else None
    k = int(p["n_seeds"])
    return [Design(NO_HELP, "no_better", n_test, k, margin=p["margin"], family="seed 003", arms=("frozen", "control")),
            Design(FASTER, "sooner", None, k, family="seed 003", items=k, arms=("frozen", "control"))]


def check(p: dict) -> None:
    """The study's rules, checked on merged parameters before any kernel (``check`` in ``lib.registry.STUDIES``):
    with ``data: csv``, both files are read as the run would read them (pandas, no TensorFlow; the
    label column, numeric features without gaps, two classes or more, every class splittable, D1 and
    D2 with the same feature columns), so a file that does not fit is refused with its name."""
    from lib import data as D
    from lib.checks import raise_problems

    if p.get("data") != "csv":
        return
    if not p.get("d1_csv") or not p.get("d2_csv"):
        raise_problems("d1_d2", [f"data: 'csv' needs both d1_csv and d2_csv; received d1_csv={p.get('d1_csv')!r}, "
                                 f"d2_csv={p.get('d2_csv')!r}"])
    try:
        D.csv_tasks(p["d1_csv"], p["d2_csv"], p.get("label_column", "label"), seed=p.get("data_seed", 0))
    except (ValueError, FileNotFoundError) as exc:
        raise_problems("d1_d2", [str(exc)])
