"""Every study of the lab, declared once: what ``params``, ``prereqs``, ``summary``, ``report`` and
``plan`` used to keep as five tables keyed by the notebook's name. No TensorFlow here (``make``
reads it before anything is built; the functions it names are imported only when called).

A study is its notebook (``notebooks/<name>.ipynb``), its module(s) under ``lib/studies/`` and its
parameter files (``params/<name>/<experiment>.yaml``); this table says, for each:

- ``document``: the source its claims come from (the reports' front page groups by it);
- ``check``: ``"module:function"`` run on the merged parameters before any kernel (raises
  ``ValueError`` naming every problem; the module must not import TensorFlow);
- ``needs``: ``"module:function"`` giving the source weights ``(arch, image_size, task)`` a run
  with those parameters loads (``make``'s prerequisites: :mod:`lib.prereqs`);
- ``claims``: ``"module:function"`` giving the ids of the claims a run with those parameters
  judges, the same ids the study's code records (the summary shows each as *open* while no
  finished run provides it, and when a finished run did not judge it);
- ``designs``: ``"module:function"`` giving each claim's design (:class:`lib.power.Design`: rule,
  margin, seeds, test examples) from the merged parameters, before any data: the power plan at the
  top of each report (a study without it is planned from an earlier record, and each claim as it is
  judged);
- per experiment, the minutes it took at the default scale on the project's 2-core machine
  (``make all``'s progress: :mod:`lib.plan`);
- ``extended``: the study (``True``) or those of its experiments (a tuple of names) answer the
  literature, not a seed document, and are left out of ``make all`` to keep it within its 90
  minutes on 2 cores; ``make extended`` runs them (the Makefile's ``EXTENDED_NOTEBOOKS`` and
  ``EXTENDED_EXPERIMENTS`` list the same: ``tests/test_registry.py``), and the summary lists them
  as not run instead of leaving their claims open.

Adding a study is its package, its notebook, its parameter files and one entry here;
``tests/test_registry.py`` fails when a notebook or parameter file has no entry, or an entry
names a check that does not exist.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Study:
    document: str
    check: str | None = None
    needs: str | None = None
    claims: str | None = None
    designs: str | None = None  # "module:function": params -> [lib.power.Design], the claims' designs before data
    minutes: dict[str, float] = field(default_factory=dict)  # experiment -> minutes at the default scale
    extended: bool | tuple[str, ...] = False  # not in `make all` (`make extended`): the literature's, no seed claim


# minutes: `make all` on a fresh clone of 596869e, 2026-12-04 (88.3 min in all, environment included,
# with tests and smoke runs on the cores for about 20 minutes of it, so on the high side); d1_d2 scaled
# by its measured one-seed speed-up (2026-12-04: synthetic 73 -> 46 s, digits 54 -> 29 s); domain and
# onet measured alone on 2026-12-06; source_pretrain default and inception (the recipes that learn) measured
# with make on 2026-12-06, partly sharing the cores; vgg16: 18.0 min for 14 epochs, 8 of them (its epoch cap
# now) scaled; small_data architecture measured with make on 2026-12-06; resnet50 (its arms now train on
# weights that learned) and the plate_cnn glyph pre-training measured 2026-12-06 with lib.runner, resnet50
# sharing the cores about half its time; plates/h1_h4 (the single plate report since 2026-12-06) measured
# with lib.runner on 2026-12-06 while CI shared the cores for about 40 of its 64 minutes.
# small_data/inception_cut measured with lib.runner on 2026-12-06 (its arms train on the 75 px weights
# that learned; unit tests shared the cores for about 8 of its 22 minutes; the fine-tuned InceptionV3 is
# 16 of them: 5 runs of ~190 s); cut_search/default measured alone with lib.runner on 2026-12-06, its tuner seeded (20 trials
# on block outputs computed once, 149 s of trial training; the two finalists over 3 seeds most of the rest);
# small_data/resnet50 re-measured alone on 2026-12-06 at 11.7 min (35.7 before, half of it sharing the
# cores) after its negative control moved to the frozen base and the two-stage arm left its default arms:
# the same verdicts, numbers and chosen rates as before for every claim it judges.
# 2026-12-06, later: small_data/data_size measured alone with lib.runner at 21.8 min (the 3.0 above was
# an estimate), before the frozen arms' second forward pass over validation and test went (33 s -> 7.5 s
# a frozen VGG16 run, ten of them: about 4 min less, not re-measured whole); plates/h1_h4 measured alone
# with lib.runner at 46.2 min (min_delta_se 1, the negative control through the frozen pretrained arm at
# ~33 s a seed where the scratch one took ~2.1 min, the arms scored on cached features): its first run
# alone (the 63.7 above shared the cores). small_data/methods (make extended) measured alone with make: 10.3 min;
# 15.3 on 2026-12-07 with BSS, one-cycle and a range test per arm added. transferability/default measured
# with make on 2026-12-07 (2nd session) at 17.8 min, short unit tests beside it for about a minute.
# signs/country_shift at 3 seeds took 11.6 min alone with make (2026-12-07; the 4.7 above was stale); at
# 5 seeds 29.9 min sharing the cores with sign_detector: 19.4 is the 3-seed time scaled by 5/3. signs/methods
# at 3 seeds 8.6 min alone: 14.3 scaled.
STUDIES: dict[str, Study] = {
    "d1_d2": Study("seed 003: D1 -> D2", check="lib.studies.d1_d2:check", claims="lib.studies.d1_d2:claim_ids",
                   designs="lib.studies.d1_d2:designs",
                   minutes={"synthetic": 3.5, "digits": 3.2}),
    "source_pretrain": Study("prerequisites: the lab's own source weights", check="lib.checks:source_pretrain",
                             claims="lib.checks:source_pretrain_claims",
                             minutes={"default": 13.8, "glyphs": 1.8, "simple_cnn": 0.5, "onet": 0.7, "inception": 13.2,
                                      "vgg16": 11.0}),
    "small_data": Study("seed 002: transfer with a small data set", check="lib.checks:small_data",
                        needs="lib.prereqs:small_data_needs", claims="lib.checks:small_data_claims",
                        designs="lib.checks:small_data_designs",
                        minutes={"simple_cnn": 1.8, "vgg16_plateau": 10.5, "domain": 1.8, "data_size": 18.0,
                                 "architecture": 4.1, "resnet50": 11.7, "inception_cut": 21.7, "methods": 15.3},
                        extended=("methods",)),
    "cut_search": Study("seed 002: transfer with a small data set", check="lib.checks:cut_search",
                        needs="lib.prereqs:arch_needs", claims="lib.checks:cut_search_claims",
                        designs="lib.checks:cut_search_designs", minutes={"default": 8.2}),
    "transferability": Study("the literature: how transferable are features", check="lib.studies.transferability_claims:check",
                             needs="lib.prereqs:arch_needs", claims="lib.studies.transferability_claims:claim_ids",
                             minutes={"default": 17.8, "vgg16_hed": 11.3}, extended=True),
    "plates": Study("seed 000: license plates", check="lib.studies.plate_claims:check", needs="lib.studies.plate_claims:needs",
                    claims="lib.studies.plate_claims:claim_ids", designs="lib.studies.plate_claims:designs",
                    minutes={"h1_h4": 46.2}),
    "signs": Study("seed 001: traffic signs across a country shift", check="lib.studies.sign_claims:check",
                   needs="lib.prereqs:signs_needs", claims="lib.studies.sign_claims:claim_ids",
                   designs="lib.studies.sign_claims:designs",
                   minutes={"country_shift": 19.4, "methods": 14.3}, extended=("methods",)),
    "sign_detector": Study("seed 001: traffic signs across a country shift", check="lib.studies.sign_detector:check",
                           claims="lib.studies.sign_detector:claim_ids", minutes={"country_shift": 18.1}),
    "summary": Study("the summary", minutes={"default": 0.1}),
}


def experiments() -> list[str]:
    """``"<notebook>/<experiment>"`` for every declared experiment."""
    return [f"{name}/{exp}" for name, s in STUDIES.items() for exp in s.minutes]


def extended(key: str) -> bool:
    """Whether ``"<notebook>/<experiment>"`` (or a whole ``"<notebook>"``) is left out of ``make all``
    (``make extended`` runs it)."""
    notebook, _, experiment = key.partition("/")
    study = STUDIES.get(notebook)
    if not study or not study.extended:
        return False
    return study.extended is True or experiment in study.extended


def measured_minutes() -> dict[str, float]:
    """``{"<notebook>/<experiment>": minutes}`` measured at the default scale."""
    return {f"{name}/{exp}": m for name, s in STUDIES.items() for exp, m in s.minutes.items() if m is not None}


def document(notebook: str) -> str:
    """The source a notebook's claims come from (its own name when it is not declared)."""
    study = STUDIES.get(notebook)
    return study.document if study else notebook


def resolve(target: str | None) -> Callable[..., Any] | None:
    """The function a ``"module:function"`` entry names (imported now), or ``None``."""
    if not target:
        return None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def check(notebook: str) -> Callable[[dict], None] | None:
    """The study's own check of merged parameters, or ``None``."""
    study = STUDIES.get(notebook)
    return resolve(study.check) if study else None


def claims(notebook: str) -> Callable[[dict], list[str]] | None:
    """The study's claim ids from merged parameters, or ``None`` (it judges no claim)."""
    study = STUDIES.get(notebook)
    return resolve(study.claims) if study else None


def designs(notebook: str) -> Callable[[dict], list] | None:
    """The study's claim designs from merged parameters (:class:`lib.power.Design`), or ``None``."""
    study = STUDIES.get(notebook)
    return resolve(study.designs) if study else None


def needs(notebook: str) -> Callable[[dict], set] | None:
    """The study's source-weights prerequisites from merged parameters, or ``None`` (it loads none)."""
    study = STUDIES.get(notebook)
    return resolve(study.needs) if study else None


def seed_reports(seed: str, outputs: str = "outputs") -> list[str]:
    """The reports ``make seed-<seed>`` runs (``seed`` "000".."003"): every experiment of the studies
    whose document is that seed, except those left to ``make literature``, as
    ``<outputs>/<notebook>/<experiment>.ipynb``; their source pre-training comes with them through
    make's prerequisites (:mod:`lib.prereqs`)."""
    doc = f"seed {seed}"
    return [f"{outputs}/{key}.ipynb" for key in experiments()
            if document(key.split("/")[0]).startswith(doc + ":") and not extended(key)]


if __name__ == "__main__":  # python -m lib.registry reports SEED [OUTPUTS]: make's seed targets
    import sys

    if len(sys.argv) < 3 or sys.argv[1] != "reports" or not seed_reports(sys.argv[2]):
        docs = sorted({s.document.split(":")[0][5:] for s in STUDIES.values() if s.document.startswith("seed ")})
        sys.exit(f"usage: python -m lib.registry reports SEED [OUTPUTS] (SEED one of {', '.join(docs)})")
    print(" ".join(seed_reports(sys.argv[2], *sys.argv[3:4])))
