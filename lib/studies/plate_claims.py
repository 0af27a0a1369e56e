"""Seed 000's plate study without TensorFlow: its arms in the arm language, the claims they judge
(H1-H4 and the candidate explanations), the training budget premise and the checks before any
kernel. ``make``'s prerequisite pass and the registry import this module in milliseconds;
:mod:`lib.studies.plates` (models, runs, the report's steps) re-exports its names.
"""

from __future__ import annotations

import numpy as np

from lib.checks import arm_policy, hint, one_arch, split_arm, weights_problem
from lib.datasets.plates import ALPHABET
from lib.studies.plate_figures import READS_MARGIN

HEADS = {"seed": "the seed's: global average pooling, then the 7 branches (every position sees the same pooled "
                 "features)",
         "columns": "average over the height only, keeping the plate's columns, then the 7 branches (each branch "
                    "can read where its character is; a named deviation at the 2-core scale)"}


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
    spec = plate_spec(arm)
    transforms = split_arm(spec)[1]
    return {"name": arm.partition("+")[0], "policy": arm_policy(spec),
            "noise": transforms["noise"] if "noise" in transforms else 0.0}


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

    H2-H4 need the best of their compared arms on validation to read plates (above chance by
    :data:`READS_MARGIN`), not every one of them: an arm left at chance is what the seed reported.

    ``outcomes``: per arm, one array per seed of each test plate's share of characters read right:
    the test-set term is then paired over plates, the seven characters of a plate one cluster
    (without them, ``n_test`` characters are taken as independent: too narrow).
    ``n_test``: test characters (plates x 7); ``premises``: those of every claim (enough seeds,
    the training budget against the seed's); ``arm_premises``: per arm (source weights learned).
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
        """The best of ``arms`` on validation reads plates: a "no better than" between arms that all sit
        at chance says nothing, but an arm at chance beside one that reads plates is a finding (the
        seed's frozen model "stagnated")."""
        x = max(arms, key=v.get)
        return [C.above_chance(x, acc[x], chance, n_test, margin=READS_MARGIN, outcomes=one(x))]

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


def designs(p: dict) -> list:
    """Each claim's design from the parameters alone (:class:`lib.power.Design`): ``n_test`` built-in
    test plates, each one cluster of seven characters (a user's plates are counted when read, so
    their claims are planned as they are judged). H1 is "above" a fixed chance line; the others
    compare two arms (or two pairs of arms) on the same plates."""
    from lib.power import Design

    if p.get("plate_dir"):
        return []
    n, k = int(p["n_test"]), int(p["n_seeds"])
    arms = all_arms(p["arms"], p["noise_sweep"])
    out = []
    if all(a in arms for a in FACTORIAL):
        out.append(Design("plates.H1", "above", n, k, family=SOURCE, paired=False, arms=tuple(FACTORIAL)))
        out += [Design(f"plates.{h}", "no_better", n, k, margin=p["margin"], family=SOURCE, arms=tuple(FACTORIAL))
                for h in ("H2", "H3", "H4")]
    out += [Design(f"plates.{cid}", "greater", n, k, family=source, arms=(better, worse))
            for cid, _, _, better, worse, source in explanations(arms, p["noise_std"])]
    return out


def all_arms(arms, noise_sweep) -> list[str]:
    """The arms of a run: ``arms``, then ``pretrained+noise:STD`` for each strength of the sweep."""
    return list(dict.fromkeys([*arms, *(f"pretrained+noise:{s:g}" for s in noise_sweep)]))


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
    if p["head"] not in HEADS:
        problems.append(f"head: unknown plate head {p['head']!r}{hint(p['head'], HEADS, 1)} (known: {', '.join(HEADS)})")
    one_arch("plates", p, [*problems, weights_problem(p["weights"], {str(p["arch"]).lower()})])
