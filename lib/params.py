"""Notebook parameters: read the `parameters` cell, merge YAML overlays, validate before compute.

A notebook declares every parameter once, in its cell tagged ``parameters``, as a type-annotated
literal with a comment::

    epochs: int = 30  # training epochs per arm [min 1]
    data: str = "synthetic"  # where D1 and D2 come from [one of: synthetic, digits, csv]
    d1_csv: str = ""  # a user's CSV for D1 [path]

The optional bracket at the end of the comment states what values are allowed:
``[min 1]``, ``[> 0, max 1]``, ``[one of: a, b, c]``, ``[path]`` or ``[dir]`` (a non-empty value
must name an existing file or folder). No ``=`` in comments: papermill's own parser then gives up on
the line. papermill only warns about unknown parameters, so :func:`validate` is what stops
a typo from silently running the defaults.
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lib.checks import hint

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
RECORD_ENV = "TLLAB_RECORD"  # set by lib.runner: the run record a notebook writes to
OUTPUTS_ENV = "TLLAB_OUTPUTS"  # set by lib.runner: this run's outputs root (outputs/, outputs/smoke/, ...)

_SIMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}
_BOUND = re.compile(r"^(min|max|>|<)\s*(-?[0-9.eE+-]+)$")
_OPS = {"min": ">=", "max": "<=", ">": ">", "<": "<"}
_CONSTRAINT = re.compile(r"\[([^\[\]]*)\]\s*$")


class ParameterError(ValueError):
    """Raised when parameters are unknown, of the wrong type or outside their allowed values."""


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: name, annotated type, default value, help text and constraints."""

    name: str
    type_name: str
    default: Any
    help: str = ""
    bounds: tuple[tuple[str, float], ...] = ()
    choices: tuple[str, ...] = ()
    is_path: bool = False
    is_dir: bool = False

    def allowed(self) -> str:
        """Human-readable description of the allowed values."""
        parts = [self.type_name]
        if self.choices:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        parts += [f"{op} {value:g}" for op, value in self.bounds]
        if self.is_path:
            parts.append("an existing file (or empty)")
        if self.is_dir:
            parts.append("an existing folder (or empty)")
        return ", ".join(parts)


@dataclass
class NotebookParams:
    """The parameters cell of one notebook."""

    notebook: Path
    specs: dict[str, ParamSpec] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {name: spec.default for name, spec in self.specs.items()}


def resolve_notebook(notebook: str | Path) -> Path:
    """Accept ``d1_d2``, ``d1_d2.ipynb`` or a path; return the notebook's path."""
    path = Path(notebook)
    if path.suffix != ".ipynb":
        path = path.with_suffix(".ipynb")
    if not path.exists() and not path.is_absolute():
        path = NOTEBOOK_DIR / path.name
    if not path.exists():
        known = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
        raise FileNotFoundError(f"no notebook {str(notebook)!r}; known notebooks: {known}")
    return path


def _parse_constraint(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"bounds": (), "choices": (), "is_path": False, "is_dir": False}
    match = _CONSTRAINT.search(text)
    if not match:
        return out
    body = match.group(1).strip()
    if body == "path":
        out["is_path"] = True
    elif body == "dir":
        out["is_dir"] = True
    elif body.startswith("one of:"):
        out["choices"] = tuple(c.strip() for c in body[len("one of:"):].split(",") if c.strip())
    else:
        bounds = []
        for term in body.split(","):
            m = _BOUND.match(term.strip())
            if not m:
                return out  # an ordinary bracket in the help text, not a constraint
            bounds.append((_OPS[m.group(1)], float(m.group(2))))
        out["bounds"] = tuple(bounds)
    return out


def parse_parameters_source(source: str, notebook: Path | str = "<cell>") -> dict[str, ParamSpec]:
    """Parse the source of a parameters cell into :class:`ParamSpec` objects, in order."""
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    specs: dict[str, ParamSpec] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            raise ParameterError(
                f"{notebook}: line {node.lineno} of the parameters cell is not `name: type = literal`"
            )
        name = node.target.id
        try:
            default = ast.literal_eval(node.value) if node.value is not None else None
        except ValueError as exc:
            raise ParameterError(f"{notebook}: parameter {name!r} must default to a literal") from exc
        help_text = comments.get(node.lineno, "")
        specs[name] = ParamSpec(
            name=name,
            type_name=ast.unparse(node.annotation),
            default=default,
            help=help_text,
            **_parse_constraint(help_text),
        )
    return specs


def read_parameters(notebook: str | Path) -> NotebookParams:
    """Read the cell tagged ``parameters`` of a notebook."""
    path = resolve_notebook(notebook)
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    source = "".join(cells[0]["source"])
    return NotebookParams(path, parse_parameters_source(source, path))


def _type_ok(value: Any, type_name: str) -> bool:
    base, _, inner = type_name.partition("[")
    allowed = _SIMPLE_TYPES.get(base)
    if allowed is None:
        return True  # an annotation we do not check
    if isinstance(value, bool) and bool not in allowed:
        return False
    if not isinstance(value, allowed):
        return False
    if base == "list" and inner:
        return all(_type_ok(v, inner.rstrip("]")) for v in value)
    return True


def _check_value(spec: ParamSpec, value: Any, root: Path) -> str | None:
    if not _type_ok(value, spec.type_name):
        return f"expected {spec.type_name}, received {value!r} ({type(value).__name__})"
    if spec.choices and value not in spec.choices:
        return f"received {value!r}; allowed: {', '.join(spec.choices)}{hint(value, spec.choices, 1)}"
    ops = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__}
    for op, bound in spec.bounds:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if not ops[op](float(v), bound):
                return f"received {value!r}; must be {op} {bound:g}"
    if (spec.is_path or spec.is_dir) and value:
        path = Path(value)
        if not path.is_absolute():
            path = root / path
        if spec.is_path and not path.is_file():
            return f"received {value!r}; no such file ({path})"
        if spec.is_dir and not path.is_dir():
            return f"received {value!r}; no such folder ({path})"
    return None


# parameters renamed so that one name has one meaning in every notebook: old name -> new name (`seed`
# only ever means a random seed; `controls` is every study's switch for its positive and negative controls)
RENAMED = {"seed_claims": "blog_claims", "seed_reported": "blog_reported", "negative_control": "controls"}
# renamed in one notebook only: `epochs` is every compared arm's epochs (both stages together) wherever a
# study trains one kind of arm, a study with a source and a target stage, or a second phase, names it;
# `learning_rate` is every arm's rate (its head's included), a rate for the head alone is `head_learning_rate`
RENAMED_IN = {"signs": {"epochs": "target_epochs", "learning_rate": "head_learning_rate"},
              "sign_detector": {"epochs": "source_epochs"},
              "cut_search": {"epochs": "finetune_epochs"}}

# keys any parameter file may hold that are the runner's, not the notebook's: validated here with the
# notebook's parameters, left out of the merged parameters (and their hash), passed to the kernel by
# lib.runner (see runner_options)
RUNNER_KEYS = {"distribution": "none or data_parallel: Keras' DataParallel over every local device, JAX only "
                               "(lib/distribution.py)"}


def runner_options(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split parameter-file ``values`` into the notebook's and the runner's (:data:`RUNNER_KEYS`)."""
    return ({k: v for k, v in values.items() if k not in RUNNER_KEYS},
            {k: v for k, v in values.items() if k in RUNNER_KEYS})


def _runner_problems(options: dict[str, Any]) -> list[str]:
    from lib import distribution

    name = options.get("distribution", "none")
    if not isinstance(name, str):
        return [f"parameter 'distribution': expected str, received {name!r}; allowed: {RUNNER_KEYS['distribution']}"]
    return [f"parameter 'distribution': {p}" for p in distribution.problems(name)]


def validate(
    values: dict[str, Any], specs: dict[str, ParamSpec], *, root: Path | None = None, source: str = "",
    notebook: str = "",
) -> dict[str, Any]:
    """Check ``values`` against ``specs``; return defaults overlaid with ``values``.

    Raises :class:`ParameterError` listing every problem at once: unknown names (with the nearest
    declared names), wrong types and values outside the declared constraints. Relative paths are
    resolved against ``root`` (default: the repository root). ``notebook``: its name, for the names
    renamed in that notebook only (:data:`RENAMED_IN`). The runner's keys (:data:`RUNNER_KEYS`,
    ``distribution``) are checked too and left out of the result.
    """
    root = root or REPO_ROOT
    values, options = runner_options(values)
    problems = _runner_problems(options)
    for old, new in {**RENAMED, **RENAMED_IN.get(Path(notebook).stem if notebook else "", {})}.items():
        # accepted for one release, with a message saying the new name
        if old in values and new in specs and old not in specs:
            if new in values:
                problems.append(f"parameter {old!r} is the old name of {new!r}; give only {new!r}")
            else:
                print(f"note: parameter {old!r} is now {new!r}{f' (in {source})' if source else ''}; "
                      "the old name is accepted until the next release", file=sys.stderr)
            values.setdefault(new, values.pop(old))
    for key in values:
        if key not in specs:
            problems.append(f"unknown parameter {key!r}{hint(key, [*specs, *RUNNER_KEYS], 3)} "
                            f"(declared: {', '.join(specs)}; for the runner: {', '.join(RUNNER_KEYS)})")
    merged = {name: spec.default for name, spec in specs.items()}
    merged.update({k: v for k, v in values.items() if k in specs})
    for name, spec in specs.items():
        error = _check_value(spec, merged[name], root)
        if error:
            problems.append(f"parameter {name!r}: {error}; allowed: {spec.allowed()}")
    if problems:
        where = f" in {source}" if source else ""
        raise ParameterError(f"invalid parameters{where}:\n  - " + "\n  - ".join(problems))
    return merged


def check_study(notebook: str, merged: dict[str, Any], source: str = "") -> None:
    """Run the study's own checks (``check`` in :data:`lib.registry.STUDIES`: arm and layer names, a
    folder's annotations; no TensorFlow) on merged parameters; a problem becomes a
    :class:`ParameterError` naming the parameter files."""
    from lib import registry

    study_check = registry.check(Path(notebook).stem)
    if study_check is None:
        return
    try:
        study_check(merged)
    except (ValueError, FileNotFoundError) as exc:
        where = f" in {source}" if source else ""
        raise ParameterError(f"invalid parameters{where}: {exc}") from None


def load_overlays(paths: list[str | Path]) -> dict[str, Any]:
    """Load YAML parameter files in order; later files override earlier ones key by key."""
    merged: dict[str, Any] = {}
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"parameter file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:  # name the file, line and column, not PyYAML's "<unicode string>"
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ParameterError(f"{where}: not valid YAML: {what}") from None
        if not isinstance(data, dict):
            raise ParameterError(f"{path}: a parameter file must be a mapping of name: value")
        merged.update(data)
    return merged


def collect(namespace: dict[str, Any], notebook: str | Path) -> dict[str, Any]:
    """Validate the declared parameters as they stand in a running notebook's namespace.

    Use right after the parameters cell: ``P = params.collect(globals(), "d1_d2")``. It catches
    a bad value typed by hand in JupyterLab, where no runner checked it.
    """
    nbp = read_parameters(notebook)
    missing = [n for n in nbp.specs if n not in namespace]
    if missing:
        raise ParameterError(f"{nbp.notebook.name}: parameters not defined yet: {missing}")
    merged = validate({n: namespace[n] for n in nbp.specs}, nbp.specs, source=nbp.notebook.name,
                      notebook=nbp.notebook.stem)
    check_study(nbp.notebook.stem, merged, source=nbp.notebook.name)  # the study's own rules, as the runner checks them
    return merged
