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
- per experiment, the verdicts it owes (the summary shows them as *open* while no finished run
  provides them) and the minutes it took at the default scale on the project's 2-core machine
  (``make all``'s progress: :mod:`lib.plan`).

Adding a study is its package, its notebook, its parameter files and one entry here;
``tests/test_registry.py`` fails when a notebook or parameter file has no entry, or an entry
names a check that does not exist.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Experiment:
    owes: tuple[str, ...] = ()  # the verdicts its run provides, "<source>: <finding>"
    minutes: float | None = None  # measured at the default scale (None: not yet measured)


@dataclass(frozen=True)
class Study:
    document: str
    check: str | None = None
    needs: str | None = None
    experiments: dict[str, Experiment] = field(default_factory=dict)


def _e(minutes: float | None, *owes: str) -> Experiment:
    return Experiment(tuple(owes), minutes)


# minutes: `make all` on a fresh clone of 596869e, 2026-12-04 (88.3 min in all, environment included,
# with tests and smoke runs on the cores for about 20 minutes of it, so on the high side); d1_d2 scaled
# by its measured one-seed speed-up (2026-12-04: synthetic 73 -> 46 s, digits 54 -> 29 s); domain and
# onet measured alone on 2026-12-06
STUDIES: dict[str, Study] = {
    "d1_d2": Study("seed 003: D1 -> D2", "lib.studies.d1_d2:check", None, {
        "synthetic": _e(3.5, "seed 003: the transferred D1 layers did not help (frozen + new layers no better than "
                             "the control)",
                        "seed 003: the transferred D1 layers speed up training (steps to target, the answer's measure)"),
        "digits": _e(3.2, "seed 003 on digits: the transferred D1 layers did not help",
                     "seed 003 on digits: the transferred D1 layers speed up training"),
    }),
    "source_pretrain": Study("prerequisites: the lab's own source weights", "lib.checks:source_pretrain", None, {
        "default": _e(2.9, "prerequisite: source weights (shapes) learned their task"),
        "glyphs": _e(3.4, "prerequisite: source weights (glyphs) learned their task"),
        "simple_cnn": _e(0.5, "prerequisite: source weights (shapes, simple CNN) learned their task"),
        "onet": _e(0.7, "prerequisite: source weights (shapes, MTCNN O-Net trunk) learned their task"),
        "inception": _e(5.1, "prerequisite: source weights (shapes, InceptionV3 at 75 px) learned their task"),
    }),
    "small_data": Study("seed 002: transfer with a small data set", "lib.checks:small_data",
                        "lib.prereqs:small_data_needs", {
        "simple_cnn": _e(1.8, "seed 002: the simple CNN learns the small target"),
        "vgg16_plateau": _e(10.5, "seed 002: VGG16 plateaus whatever is frozen"),
        "domain": _e(1.8, "seed 002: it is not the similarity: face-trained O-Net convolutions are no better than "
                          "shape-trained ones"),
        "resnet50": _e(1.8, "seed 002: ResNet50 frozen over-fits; fine-tuned beats frozen"),
        "inception_cut": _e(5.8, "seed 002: InceptionV3 cut at mixed5 beats the frozen base",
                            "seed 002: InceptionV3 all trained is no better than the cut",
                            "seed 002: unfreezing mixed4..mixed5 beats the plain cut"),
    }),
    "cut_search": Study("seed 002: transfer with a small data set", "lib.checks:cut_search", "lib.prereqs:arch_needs", {
        "default": _e(0.2, "seed 002: the blog's mixed5 is as good as where a search over InceptionV3's cut blocks "
                           "lands"),
    }),
    "transferability": Study("the literature: how transferable are features", "lib.studies.transferability:check",
                             "lib.prereqs:arch_needs", {
        "default": _e(7.7, "literature: copied-then-fine-tuned layers beat training from scratch",
                      "literature: frozen transfer drops with depth", "literature: LogME ranks the cuts as fine-tuning does"),
        "vgg16_hed": _e(11.3, "literature on HED VGG16: copied-then-fine-tuned layers beat training from scratch",
                        "literature on HED VGG16: frozen transfer drops with depth",
                        "literature on HED VGG16: LogME ranks the cuts as frozen transfer does"),
    }),
    "plates": Study("seed 000: license plates", "lib.studies.plates:check", "lib.prereqs:plates_needs", {
        "h1_h4": _e(0.2, "seed 000: H1 held: EfficientNetB0 reads plates", "seed 000: H2 failed: transfer did not help",
                    "seed 000: H3 failed: noise did not help", "seed 000: H4 failed: pretrained+noise was not best"),
        "fixes": _e(0.2, "seed 000 answer: a trainable base beats the frozen one",
                    "literature (keras.io guide): the two-stage recipe beats the frozen base",
                    "literature (Keras docs): pixels /255 hurt a model that expects 0-255"),
        "noise_sweep": _e(0.2, "seed 000: the noise was too strong (weaker noise beats it)"),
    }),
    "signs": Study("seed 001: traffic signs across a country shift", "lib.studies.signs:check", "lib.prereqs:signs_needs", {
        "country_shift": _e(4.7, "seed 001: transfer has no advantage over scratch with few examples",
                            "seed 001: from scratch converges fastest", "seed 001: freezing gives no speed-up",
                            "seed 001: pre-trained initialisation does not help the first country"),
    }),
    "sign_detector": Study("seed 001: traffic signs across a country shift", "lib.studies.sign_detector:check", None, {
        "country_shift": _e(18.1, "seed 001 detector: model-zoo weights give the first detector no advantage",
                            "seed 001 detector: from scratch converges fastest (epochs to a loss level)",
                            "seed 001 detector: traffic-sign VGG16 weights are the worst start",
                            "seed 001 detector: fine-tuning gives no advantage on the new country",
                            "seed 001 detector: freezing gives no speed-up"),
    }),
    "summary": Study("the summary", None, None, {"default": _e(0.1)}),
}


def experiments() -> dict[str, Experiment]:
    """``{"<notebook>/<experiment>": Experiment}`` for every declared experiment."""
    return {f"{name}/{exp}": e for name, s in STUDIES.items() for exp, e in s.experiments.items()}


def owed() -> dict[str, list[str]]:
    """``{"<notebook>/<experiment>": [verdicts it owes]}``, the summary's expected verdicts (studies
    only: the summary owes none)."""
    return {k: list(e.owes) for k, e in experiments().items() if e.owes}


def measured_minutes() -> dict[str, float]:
    """``{"<notebook>/<experiment>": minutes}`` for every experiment measured at the default scale."""
    return {k: e.minutes for k, e in experiments().items() if e.minutes is not None}


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


def needs(notebook: str) -> Callable[[dict], set] | None:
    """The study's source-weights prerequisites from merged parameters, or ``None`` (it loads none)."""
    study = STUDIES.get(notebook)
    return resolve(study.needs) if study else None
