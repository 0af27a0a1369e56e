"""Which source pre-training a report needs, read from its parameter files alone, and the make rules
that say so (no TensorFlow: ``make`` runs this before anything is built).

A report depends on exactly the weights its parameters name: ``params/<notebook>/<experiment>.yaml``
(plus a profile for smoke and paper runs) is merged with the notebook's defaults and validated
(types, bounds, the study's own checks); :func:`needs` lists the ``(arch, image_size, task)``
source weights its training will load, and the ``source_pretrain`` experiment that provides each
becomes its prerequisite. An experiment whose parameters are invalid gets no prerequisite but a
rule that prints every problem and fails, so ``make`` refuses it before building anything it
would need (a mistyped key no longer costs a 28-minute pre-training first).

``python -m lib.prereqs OUTPUTS`` prints the rules (the Makefile includes them).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lib import checks, params as P

PROFILES = {"": None, "smoke/": "smoke", "paper/": "paper"}
SOURCE_TASKS = {"source": "shapes", "source:glyphs": "glyphs"}


def needs(notebook: str, p: dict) -> set[tuple[str, int, str]]:
    """The source weights ``(arch, image_size, task)`` a run with merged parameters ``p`` loads (the
    study's ``needs`` in :data:`lib.registry.STUDIES`; a study that names none loads none)."""
    from lib import registry

    study_needs = registry.needs(notebook)
    return set(study_needs(p)) if study_needs is not None else set()


def small_data_needs(p: dict) -> set[tuple[str, int, str]]:
    """Each arm (and control arm) loads its own ``~WEIGHTS``, else the study's."""
    weights = str(p.get("weights", ""))
    arms = [*p["arms"], *[p[k] for k in ("control_arm", "positive_control_arm") if p.get(k)]]
    return {(a.split(":")[0].lower(), checks.arm_size(a, p["image_size"]), SOURCE_TASKS[w]) for a in arms
            if checks.arm_policy(a) != "scratch" and (w := checks.arm_weights(a, weights)) in SOURCE_TASKS}


def arch_needs(p: dict) -> set[tuple[str, int, str]]:
    """One architecture (``arch``) at ``image_size`` from the source its ``weights`` name (transferability,
    cut_search)."""
    task = SOURCE_TASKS.get(str(p.get("weights", "")))
    return {(p["arch"].lower(), p["image_size"], task)} if task else set()


def signs_needs(p: dict) -> set[tuple[str, int, str]]:
    """The shapes-trained ``arch`` when ``source_inits`` holds "source"."""
    return {(p["arch"].lower(), p["image_size"], "shapes")} if "source" in p.get("source_inits", []) else set()


def provides(p: dict) -> set[tuple[str, int, str]]:
    """The source weights a ``source_pretrain`` run with merged parameters ``p`` writes."""
    return {(a.lower(), p["image_size"], p["source_task"]) for a in p["archs"]}


def provider(arch: str, image_size: int, task: str, root: Path = P.REPO_ROOT) -> str | None:
    """The ``source_pretrain`` experiment (``"source_pretrain/<name>"``) whose default-scale parameters
    write ``arch``'s weights at ``image_size`` for ``task``, or ``None`` (what a missing-weights
    message tells the user to run)."""
    for f in sorted((root / "params" / "source_pretrain").glob("*.yaml")):
        try:
            p = merged(f, None, root)
        except (P.ParameterError, FileNotFoundError, KeyError):
            continue
        if (arch.lower(), image_size, task) in provides(p):
            return f"source_pretrain/{f.stem}"
    return None


def merged(yaml_file: Path, profile: str | None, root: Path = P.REPO_ROOT) -> dict:
    """An experiment's parameters as its run would see them: defaults, the file, the profile;
    validated with the study's own checks (``{}`` when the profile does not exist). Raises
    ``ParameterError`` / ``FileNotFoundError`` naming the files relative to ``root``."""
    notebook = yaml_file.parent.name
    files = [yaml_file]
    if profile:
        prof = yaml_file.parent / "profiles" / f"{profile}.yaml"
        if not prof.is_file():
            return {}
        files.append(prof)
    source = ", ".join(str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in files)
    values = P.validate(P.load_overlays(files), P.read_parameters(root / "notebooks" / f"{notebook}.ipynb").specs,
                        source=source, notebook=notebook)
    P.check_study(notebook, values, source=source)
    return values


def graph(profile: str | None, root: Path = P.REPO_ROOT) -> dict[str, dict]:
    """Every experiment of a profile (``None``: the default scale; ``"smoke"``, ``"paper"``: those that
    have that profile) as ``{"<notebook>/<experiment>": {"files": [parameter files], "deps": [the
    experiments whose source weights it loads], "error": why its parameters are invalid, or None}}``:
    what ``make`` runs, and what :mod:`lib.dask_run` submits."""
    experiments = sorted((root / "params").glob("*/*.yaml"))
    provided: dict[tuple, str] = {}
    out: dict[str, dict] = {}
    pending = []
    for f in experiments:
        stem = f"{f.parent.name}/{f.stem}"
        files = [f, *([f.parent / "profiles" / f"{profile}.yaml"] if profile else [])]
        try:
            p = merged(f, profile, root)
        except (P.ParameterError, FileNotFoundError, KeyError) as exc:
            out[stem] = {"files": files, "deps": [], "error": str(exc)}
            continue
        if not p:  # no such profile for this experiment
            continue
        if f.parent.name == "source_pretrain":
            for key in provides(p):
                provided.setdefault(key, stem)
        out[stem] = {"files": files, "deps": [], "error": None}
        pending.append((f.parent.name, stem, p))
    for notebook, stem, p in pending:
        out[stem]["deps"] = sorted({provided[k] for k in needs(notebook, p) if k in provided} - {stem})
    return out


def rules(outputs: str, root: Path = P.REPO_ROOT) -> str:
    """Make rules: each report's source pre-training prerequisites, or a failing check."""
    lines = [f"# generated by `python -m lib.prereqs {outputs}` from params/*/*.yaml: do not edit"]
    for prefix, profile in PROFILES.items():
        for stem, node in graph(profile, root).items():
            target = f"{outputs}/{prefix}{stem}.ipynb"
            if node["error"] is not None:
                message = node["error"].replace("'", "'\\''").replace("$", "$$").replace("\n", "\\n")
                lines += [f"{target}: {outputs}/.invalid/{prefix}{stem}",
                          f"{outputs}/.invalid/{prefix}{stem}:",
                          f"\t@printf '%b\\n' 'error: {message}' >&2; exit 2"]
            elif node["deps"]:
                lines.append(f"{target}: {' '.join(f'{outputs}/{prefix}{d}.ipynb' for d in node['deps'])}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m lib.prereqs OUTPUTS", file=sys.stderr)
        return 2
    sys.stdout.write(rules(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
