"""Progress and cost of a `make all`: which report runs (n of N), time spent, time left.

``make all`` asks make which reports it will run (``make -n``), writes the plan with each report's
expected wall time to ``$(OUTPUTS)/.plan.json`` (:func:`write_plan`), and the runner prints one
line as each report starts and ends (:func:`started`, :func:`ended`). Expected times come from the
newest finished record of the same experiment under the outputs root when there is one, else from
:func:`measured` (``minutes`` in :data:`lib.registry.STUDIES`: measured on this project's 2-core
machine at the default scale).
No TensorFlow here.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

PLAN_ENV = "TLLAB_PLAN"
DEFAULT_MINUTES = 5.0


def measured() -> dict[str, float]:
    """Minutes per ``<notebook>/<experiment>`` measured at the default scale (the registry's)."""
    from lib import registry

    return registry.measured_minutes()


def expected_minutes(outputs: Path, experiment: str) -> tuple[float, str]:
    """``(minutes, where the number comes from)`` for ``<notebook>/<experiment>`` under ``outputs``."""
    from lib.power import earlier_record

    notebook, _, name = experiment.partition("/")
    best = earlier_record(outputs, notebook, name)
    if best.get("wall_s"):
        return best["wall_s"] / 60, "its last record"
    table = measured()
    if experiment in table:
        return table[experiment], "measured"
    return DEFAULT_MINUTES, "a guess"


def runner_targets(dry_run: str) -> list[str]:
    """The executed notebooks a ``make -n`` transcript would write, in make's order."""
    return re.findall(r"-m lib\.runner \S+ (\S+\.ipynb)", dry_run)


def write_plan(outputs: str, dry_run: str) -> Path:
    root = Path(outputs)
    steps = []
    for target in runner_targets(dry_run):
        rel = (Path(target).resolve().relative_to(root.resolve()) if Path(target).is_absolute()
               else Path(target).relative_to(outputs))
        experiment = str(rel.with_suffix(""))
        minutes, origin = expected_minutes(root, experiment)
        steps.append({"target": target, "experiment": experiment, "minutes": round(minutes, 1), "from": origin})
    plan = {"started_unix": time.time(), "steps": steps, "log": str(root / ".plan.log")}
    root.mkdir(parents=True, exist_ok=True)
    Path(plan["log"]).write_text("")
    path = root / ".plan.json"
    path.write_text(json.dumps(plan, indent=1))
    total = sum(s["minutes"] for s in steps)
    print(f"make all: {len(steps)} reports to run, about {total:.0f} min expected "
          f"({sum(s['from'] != 'a guess' for s in steps)} of them timed before)", file=sys.stderr)
    return path


def _load() -> dict | None:
    path = os.environ.get(PLAN_ENV)
    if not path or not Path(path).is_file():
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _event(plan: dict, kind: str, target: str) -> list[dict]:
    log = Path(plan["log"])
    with log.open("a") as f:
        f.write(json.dumps({"event": kind, "target": str(target), "t": time.time()}) + "\n")
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def status_line(plan: dict, events: list[dict], target: str, kind: str) -> str:
    """``[n/N] target ...; elapsed, about M min left`` from the plan and the events so far."""
    steps = {s["target"]: s for s in plan["steps"]}
    started = [e["target"] for e in events if e["event"] == "start"]
    done = {e["target"] for e in events if e["event"] == "end"}
    n = started.index(str(target)) + 1 if str(target) in started else len(started)
    elapsed = (time.time() - plan["started_unix"]) / 60
    left = sum(s["minutes"] for t, s in steps.items() if t not in done and t not in started)
    left += sum(max(steps[t]["minutes"] - (time.time() - next(e["t"] for e in events if e["target"] == t
                                                              and e["event"] == "start")) / 60, 0)
                for t in started if t not in done and t in steps)
    own = steps.get(str(target), {})
    what = f"starts (about {own.get('minutes', '?')} min, {own.get('from', 'not planned')})" if kind == "start" else "ended"
    return f"[{n}/{len(steps)}] {target} {what}; {elapsed:.0f} min elapsed, about {left:.0f} min left"


def started(target: str | Path) -> None:
    plan = _load()
    if plan is not None:
        print(status_line(plan, _event(plan, "start", str(target)), str(target), "start"), file=sys.stderr, flush=True)


def ended(target: str | Path) -> None:
    plan = _load()
    if plan is not None:
        print(status_line(plan, _event(plan, "end", str(target)), str(target), "end"), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: make -n ... | python -m lib.plan OUTPUTS", file=sys.stderr)
        return 2
    print(write_plan(args[0], sys.stdin.read()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
