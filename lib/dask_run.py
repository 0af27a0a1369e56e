"""Run the study's reports as Dask futures: the same plan as ``make``, on one machine or many.

``make all`` is the one-machine path. This is the path for more: every report is one
:mod:`lib.runner` call (the same validation, partial files and atomic publish), submitted as a
Dask future that waits for the futures of the source pre-training its parameters name
(:func:`lib.prereqs.graph`, what ``make`` reads too); a failed report fails only the reports that
need it, and the summary runs last over whatever finished, as with ``make -k``. Outputs and
records land where ``make`` puts them, so ``make`` sees them as up to date afterwards.

Usage::

    python -m lib.dask_run                      # make all's reports on a LocalCluster (one report at a time)
    python -m lib.dask_run --extended           # and the literature's studies make all leaves out
    python -m lib.dask_run --workers 2          # two reports at once
    python -m lib.dask_run --profile smoke      # the smoke runs
    python -m lib.dask_run --scheduler tcp://host:8786   # any Dask cluster
    python -m lib.dask_run --only small_data/domain      # one report and what it needs

A cluster is Dask's business, not this lab's: start a scheduler and workers by hand
(``dask scheduler`` / ``dask worker tcp://host:8786``), on SLURM or PBS with ``dask-jobqueue``
(``SLURMCluster(...).scale(n)``), or on Kubernetes with ``dask-kubernetes``, and pass its address.
Every worker needs this repository at the same path with its ``.venv`` (a shared file system), as
each report runs there and writes its outputs to the shared ``--outputs`` folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from lib import params as P
from lib import prereqs, registry

PREFIX = {None: "", "smoke": "smoke/", "paper": "paper/"}


def argv_of(stem: str, files: list[Path], outputs: str, profile: str | None) -> list[str]:
    """The runner's arguments for one report, as the Makefile's pattern rules build them."""
    notebook = stem.split("/")[0]
    return [f"notebooks/{notebook}.ipynb", f"{outputs}/{PREFIX[profile]}{stem}.ipynb",
            *[str(f.relative_to(P.REPO_ROOT)) if f.is_relative_to(P.REPO_ROOT) else str(f) for f in files]]


def up_to_date(output: Path, files: list[Path]) -> bool:
    """Make's rule: the executed notebook exists and is newer than its parameter files, its notebook
    and every module of ``lib/``."""
    if not output.is_file():
        return False
    notebook = P.NOTEBOOK_DIR / f"{output.parent.name}.ipynb"
    inputs = [*files, notebook, *P.REPO_ROOT.glob("lib/*.py"), *P.REPO_ROOT.glob("lib/*/*.py")]
    return output.stat().st_mtime >= max(f.stat().st_mtime for f in inputs if f.exists())


def run_one(argv: list[str], *needed: str) -> str:
    """One report through :mod:`lib.runner` in a child process (TensorFlow stays out of the worker);
    ``needed``: the results of the reports it waits for (Dask passes them once they succeeded).
    Returns the output path; a failure raises with the runner's last lines."""
    res = subprocess.run([sys.executable, "-m", "lib.runner", "--no-progress", *argv], cwd=P.REPO_ROOT,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(P.REPO_ROOT)})
    if res.returncode != 0:
        raise RuntimeError(f"{argv[1]} failed (exit {res.returncode}):\n" + res.stderr[-2000:])
    return argv[1]


def _published(path: str) -> str:
    """The future of a report that is up to date: its output, as make would leave it."""
    return path


def refuse(message: str, *needed: str) -> str:
    """The future of a report whose parameters are invalid: fails at once, naming every problem."""
    raise ValueError(message)


def select(graph: dict[str, dict], only: list[str]) -> dict[str, dict]:
    """The reports named in ``only`` and every report they need (all of them when ``only`` is empty)."""
    if not only:
        return graph
    unknown = [k for k in only if k not in graph]
    if unknown:
        raise SystemExit(f"error: unknown report(s) {unknown}; known: {', '.join(sorted(graph))}")
    keep, todo = set(), list(only)
    while todo:
        k = todo.pop()
        if k not in keep:
            keep.add(k)
            todo += graph[k]["deps"]
    return {k: v for k, v in graph.items() if k in keep}


def core(graph: dict[str, dict], extended: bool = False) -> dict[str, dict]:
    """The reports ``make all`` runs: without the studies the registry marks ``extended`` (literature
    studies, ``make extended``) unless ``extended``; a report named with ``--only`` is always kept."""
    if extended:
        return graph
    return {k: v for k, v in graph.items() if not registry.extended(k)}


def submit_all(client, graph: dict[str, dict], outputs: str, profile: str | None, force: bool = False) -> dict:
    """One future per report (the summary excepted), each waiting for the futures of its ``deps``."""
    futures: dict = {}
    done = set()
    pending = [k for k in graph if not k.startswith("summary/")]
    while pending:
        ready = [k for k in pending if all(d in done or d not in graph for d in graph[k]["deps"])]
        if not ready:
            raise RuntimeError(f"circular prerequisites among {pending}")
        for k in ready:
            node = graph[k]
            deps = [futures[d] for d in node["deps"] if d in futures]
            output = Path(outputs) / f"{PREFIX[profile]}{k}.ipynb"
            if node["error"] is not None:
                futures[k] = client.submit(refuse, f"{k}: {node['error']}", *deps, key=f"report-{k}", pure=False)
            elif not force and up_to_date(output, node["files"]):
                futures[k] = client.submit(_published, str(output), key=f"report-{k}", pure=False)
            else:
                futures[k] = client.submit(run_one, argv_of(k, node["files"], outputs, profile), *deps,
                                           key=f"report-{k}", pure=False)
            done.add(k)
            pending.remove(k)
    return futures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.dask_run", description=__doc__.split("\n")[0])
    ap.add_argument("--profile", choices=["smoke", "paper"], default=None, help="default: the default scale")
    ap.add_argument("--outputs", default="outputs", help="outputs root, as make's OUTPUTS (default: outputs)")
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler's address; default: a LocalCluster")
    ap.add_argument("--workers", type=int, default=1, help="LocalCluster workers, i.e. reports at once (default 1)")
    ap.add_argument("--only", nargs="*", default=[], help="these reports (<notebook>/<experiment>) and what they need")
    ap.add_argument("--force", action="store_true", help="rerun reports that are up to date")
    ap.add_argument("--extended", action="store_true",
                    help="also the literature's studies that make all leaves out (make extended's)")
    args = ap.parse_args(argv)

    from dask.distributed import Client, LocalCluster, wait

    # make smoke runs every notebook; the default scale (make all) leaves the extended studies out
    plan = select(core(prereqs.graph(args.profile), args.extended or bool(args.only) or args.profile == "smoke"),
                  args.only)
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                     dashboard_address=None))
    t0 = time.time()
    with client:
        futures = submit_all(client, plan, args.outputs, args.profile, args.force)
        print(f"{len(futures)} report(s) submitted to {client.scheduler_info().get('address')}", flush=True)
        wait(list(futures.values()))
        failed = {k: f.exception() for k, f in futures.items() if f.status != "finished"}
        summary = next((k for k in plan if k.startswith("summary/")), None)
        if summary:  # last, over whatever finished (make -k's way)
            try:
                client.submit(run_one, argv_of(summary, plan[summary]["files"], args.outputs, args.profile),
                              key=f"report-{summary}", pure=False).result()
            except Exception as exc:  # noqa: BLE001
                failed[summary] = exc
    for k in sorted(futures):
        print(f"{'FAILED' if k in failed else 'ok    '} {k}" + (f": {str(failed[k]).splitlines()[0]}" if k in failed else ""))
    print(f"{len(futures) - len(set(failed) & set(futures))} of {len(futures)} report(s) ok in "
          f"{(time.time() - t0) / 60:.1f} min" + (f"; failed: {', '.join(sorted(failed))}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
