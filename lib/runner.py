"""Execute one notebook with papermill, safely: validate first, write partial files, rename on success.

Usage (the Makefile calls this; so can you)::

    python -m lib.runner NOTEBOOK OUTPUT.ipynb [PARAMS.yaml ...]

- Parameters from the YAML files (later files override earlier ones) are validated against the
  notebook's ``parameters`` cell before a kernel starts: unknown names, wrong types and values
  outside the declared constraints stop the run with exit code 2 and nothing written.
- The runner's own keys in those files (``distribution: data_parallel``, :mod:`lib.distribution`)
  are checked with them, kept out of the notebook's parameters and passed to the kernel in
  ``$TLLAB_DISTRIBUTION``; :func:`lib.report.begin` applies it.
- The notebook runs into ``OUTPUT.partial.ipynb``; its record into ``<stem>.<hash>.partial.json``.
- On success both are renamed: the record to ``<stem>.<hash>.json``, then the notebook to
  ``OUTPUT``. A run is a success only if every cell ran, the notebook marked its record complete
  and it produced at least the figures its metadata promises (``metadata.tllab.min_figures``).
- On failure or interruption the notebook (with papermill's error banner) is kept as
  ``<stem>.failed.ipynb`` and its record as ``<stem>.<hash>.failed.json``; an earlier good
  output is never touched, and the exit code is non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from lib import distribution
from lib import params as P
from lib import plan
from lib import records as R
from lib.params import OUTPUTS_ENV


def count_figures(nb_path: Path) -> int:
    """Number of image outputs (PNG, SVG, JPEG) in an executed notebook."""
    nb = json.loads(nb_path.read_text())
    n = 0
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            n += any(k in data for k in ("image/png", "image/svg+xml", "image/jpeg"))
    return n


# TensorFlow's C++ start-up lines that no log-level setting silences (TF >= 2.20 logs them through
# absl before its log level is read; the oneDNN notice appears whenever TF_ENABLE_ONEDNN_OPTS is set):
# the `tensorflow` package (CPU and GPU in one wheel) adds its CUDA notice on a machine without a GPU;
# they reach the cells' stderr on every run and say nothing about the study. Exactly these are dropped.
STARTUP_NOISE = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\n"
    r"|^I\d{4} [\d:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\..*\n?"
    r"|^I\d{4} [\d:.]+ +\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\.\n?"
    r"|^E\d{4} [\d:.]+ +\d+ cuda_platform\.cc:\d+\] failed call to cuInit: .*\n?", re.M)


def strip_startup_noise(nb_path: Path) -> int:
    """Drop :data:`STARTUP_NOISE` lines from an executed notebook's stream outputs (and outputs
    left empty by that); returns how many lines went."""
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=nbformat.NO_CONVERT)
    dropped = 0
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text, n = STARTUP_NOISE.subn("", out.text)
                dropped += n
                if n and not text:
                    continue
                out.text = text
            kept.append(out)
        if "outputs" in cell:
            cell.outputs = kept
    if dropped:
        nbformat.write(nb, str(nb_path))
    return dropped


def min_figures(nb_path: Path) -> int:
    nb = json.loads(nb_path.read_text())
    return int(nb.get("metadata", {}).get("tllab", {}).get("min_figures", 0))


def paths_for(output: Path, phash: str) -> dict[str, Path]:
    stem = output.name[: -len(".ipynb")] if output.name.endswith(".ipynb") else output.name
    d = output.parent
    return {
        "output": output,
        "partial": d / f"{stem}.partial.ipynb",
        "failed": d / f"{stem}.failed.ipynb",
        "record": d / f"{stem}.{phash}.json",
        "record_partial": d / f"{stem}.{phash}.partial.json",
        "record_failed": d / f"{stem}.{phash}.failed.json",
    }


class RunLocked(RuntimeError):
    """Another run of the same report holds its lock."""


def lock(output: Path):
    """Hold the lock of report ``output`` (``<dir>/.<stem>.lock``, an exclusive ``flock``) for one
    run, or raise :class:`RunLocked` naming the run that holds it: two runs of one report at once
    (two terminals, ``make all`` beside ``make dask``) would share partial files, and the second
    could fail after the first published and make would then delete the published report. The
    lock goes with the process (a killed run leaves no stale lock). Returns the open lock file;
    closing it releases the lock."""
    import fcntl

    path = output.parent / f".{output.name[: -len('.ipynb')]}.lock"
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise RunLocked(f"{output} is being run already ({holder}); wait for that run to end, then run make again "
                        "(nothing was changed)") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    f.flush()
    return f


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(notebook: str | Path, output: str | Path, param_files: list[str | Path],
        extra: dict[str, Any] | None = None, progress_bar: bool = True) -> Path:
    """Validate, execute and publish one notebook run; return the record's path."""
    nb_path = P.resolve_notebook(notebook)
    output = Path(output)
    overrides = P.load_overlays(list(param_files))
    overrides.update(extra or {})
    merged = P.validate(overrides, P.read_parameters(nb_path).specs,
                        source=", ".join(str(p) for p in param_files) or str(nb_path), notebook=nb_path.stem)
    P.check_study(nb_path.stem, merged, source=", ".join(str(p) for p in param_files) or str(nb_path))
    overrides, options = P.runner_options(overrides)  # validated above; the notebook gets its own only
    dist = options.get("distribution", "none")
    experiment = output.name[: -len(".ipynb")]
    paths = paths_for(output, R.params_hash(merged))
    output.parent.mkdir(parents=True, exist_ok=True)
    held = lock(output)  # one run of a report at a time: refused before any file is touched
    try:
        return _run_locked(nb_path, output, param_files, overrides, merged, dist, experiment, paths, progress_bar)
    finally:
        held.close()


def _run_locked(nb_path: Path, output: Path, param_files, overrides: dict, merged: dict, dist: str, experiment: str,
                paths: dict[str, Path], progress_bar: bool) -> Path:
    """:func:`run` under the report's lock: execute into partial files, publish on success."""
    for stale in ("partial", "record_partial"):
        paths[stale].unlink(missing_ok=True)

    import papermill as pm  # heavy import: only once the parameters are known to be good

    record = R.Record(paths["record_partial"],
                      R.new_record(nb_path.stem, experiment, merged, output=str(output)))
    record.data["param_files"] = [str(p) for p in param_files]
    record.data["distribution"] = {"distribution": dist}  # the kernel adds the devices (lib.report.begin)
    record.save()

    env_backup = {k: os.environ.get(k) for k in (R.RECORD_ENV, "MPLBACKEND", "PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL",
                                                  "TF_ENABLE_ONEDNN_OPTS", OUTPUTS_ENV, distribution.ENV)}
    # <root>/<notebook>/<experiment>.ipynb: files shared between studies (source weights) live in <root>
    os.environ[OUTPUTS_ENV] = str(output.resolve().parent.parent)
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # see the Makefile: 4x faster training here
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow C++ log lines off; Python errors still raise
    os.environ[R.RECORD_ENV] = str(paths["record_partial"].resolve())
    os.environ[distribution.ENV] = dist
    os.environ.pop("MPLBACKEND", None)  # a non-inline backend silently drops figures
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(P.REPO_ROOT), env_backup["PYTHONPATH"]]))
    plan.started(output)
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    error: str | None = None
    status = "failed"
    try:
        pm.execute_notebook(str(nb_path), str(paths["partial"]), parameters=overrides,
                            cwd=str(P.REPO_ROOT), kernel_name="python3", progress_bar=progress_bar,
                            # what the cells print also reaches the terminal as it happens
                            stdout_file=sys.stderr if progress_bar else None)
        strip_startup_noise(paths["partial"])
        record = R.Record.load(paths["record_partial"])
        n_fig, want = count_figures(paths["partial"]), min_figures(nb_path)
        record.data["figures"], record.data["figures_promised"] = n_fig, want
        record.save()
        if not record.data.get("complete"):
            error = "the notebook finished without marking its record complete (Record.complete())"
        elif n_fig < want:
            error = f"the executed notebook has {n_fig} figures, fewer than the {want} it promises"
        else:
            status = "ok"
    except KeyboardInterrupt as exc:
        status, error = "interrupted", f"interrupted ({exc})"
    except Exception as exc:  # papermill's PapermillExecutionError and kernel failures
        error = f"{type(exc).__name__}: {exc}"
    finally:
        plan.ended(output)
        signal.signal(signal.SIGTERM, old_term)
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    if paths["record_partial"].exists():
        record = R.Record.load(paths["record_partial"])
    if status == "ok":
        record.finish("ok")
        try:  # TensorBoard's view of the same histories (lib/tensorboard_logs.py); never a reason to lose a run
            from lib import tensorboard_logs

            tensorboard_logs.export(record.data, output.resolve().parent.parent)
        except Exception as exc:  # noqa: BLE001
            print(f"warning: no TensorBoard logs for {output}: {type(exc).__name__}: {exc}", file=sys.stderr)
        os.replace(paths["record_partial"], paths["record"])
        os.replace(paths["partial"], paths["output"])  # last: this is make's target
        paths["failed"].unlink(missing_ok=True)
        return paths["record"]

    record.finish(status, error=error)
    os.replace(paths["record_partial"], paths["record_failed"])
    if paths["partial"].exists():
        os.replace(paths["partial"], paths["failed"])
    raise RunFailed(f"{nb_path.name} -> {output}: {status}: {error}\n"
                    f"  kept the failed notebook as {paths['failed']} and its record as {paths['record_failed']}")


class RunFailed(RuntimeError):
    """A notebook run failed, was interrupted, or came back without its figures or results."""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.runner", description=__doc__.split("\n")[0])
    ap.add_argument("notebook", help="notebook name or path (notebooks/<name>.ipynb)")
    ap.add_argument("output", help="executed notebook to write, e.g. outputs/d1_d2/synthetic.ipynb")
    ap.add_argument("params", nargs="*", help="YAML parameter files, later ones override earlier ones")
    ap.add_argument("--no-progress", action="store_true", help="hide papermill's progress bar")
    args = ap.parse_args(argv)
    try:
        record = run(args.notebook, args.output, args.params, progress_bar=not args.no_progress)
    except (P.ParameterError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} and {record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
