"""Run records: one JSON file beside every executed notebook.

A record holds what a summary needs without opening the notebook: parameters, seeds, package
versions, git commit, hardware, start/end/wall time, status, final metrics and per-epoch history.

The runner (:mod:`lib.runner`) creates the record and sets ``TLLAB_RECORD`` to its path; the
notebook then calls :func:`open_record` and adds its results. Outside the runner (JupyterLab),
:func:`open_record` starts a fresh record under ``outputs/interactive/``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from lib.params import RECORD_ENV, REPO_ROOT  # noqa: F401 (RECORD_ENV: the runner reads it here)

PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "keras-tuner", "numpy", "scikit-learn",
            "scipy", "pandas", "seaborn", "matplotlib", "papermill")
STATUSES = ("running", "ok", "failed", "interrupted")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def params_hash(params: dict[str, Any]) -> str:
    """Short stable hash of a parameter set (names the record, so reruns never collide)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_state(root: Path = REPO_ROOT) -> dict[str, Any]:
    """Commit hash and whether the tree had uncommitted changes (None outside a git checkout)."""
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def hardware() -> dict[str, Any]:
    """CPU description and core count; the GPUs TensorFlow sees, if it is already imported."""
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        # TensorFlow's thread pools when set (the Makefile's THREADS); unset means one per core
        "threads": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
        "gpus": [],
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["processor"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        for dev in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(dev)
            info["gpus"].append(details.get("device_name", dev.name))
    return info


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON through a temporary file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(_finite(data), fh, indent=1, default=_json_default, allow_nan=False)
    os.replace(tmp, path)


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite number as ``None``: strict JSON (jq, browsers) has no
    NaN or Infinity, and a one-seed confidence interval is infinite. NumPy values become Python's."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy arrays and scalars
        return _finite(obj.tolist())
    return obj


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def new_record(notebook: str, experiment: str, params: dict[str, Any], output: str = "") -> dict[str, Any]:
    """A fresh record with the environment filled in and status ``running``."""
    return {
        "notebook": notebook,
        "experiment": experiment,
        "output": output,
        "params": params,
        "params_hash": params_hash(params),
        "status": "running",
        "started": now_iso(),
        "started_unix": time.time(),
        "ended": None,
        "wall_s": None,
        "versions": package_versions(),
        "git": git_state(),
        "hardware": hardware(),
        "seeds": [],
        "metrics": {},
        "history": {},
        "test_acc": {},
        "notes": {},
        "claims": [],
    }


class Record:
    """A run record backed by a JSON file; every change is written through atomically."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = Path(path)
        self.data = data

    @classmethod
    def load(cls, path: str | Path) -> "Record":
        path = Path(path)
        return cls(path, json.loads(path.read_text()))

    def save(self) -> None:
        write_json_atomic(self.path, self.data)

    def add_history(self, arm: str, seed: int, history: dict[str, list[float]],
                    test_acc: float | None = None) -> None:
        """Per-epoch history (``loss``, ``accuracy``, ``val_...``) of one arm and seed, and the
        test accuracy the run ended with (the headline metric of that arm: the summary's cost ledger
        reads it under the same arm name, whatever the study)."""
        self.data["history"].setdefault(arm, {})[str(seed)] = {
            k: [float(v) for v in vals] for k, vals in history.items()
        }
        if test_acc is not None:
            self.data.setdefault("test_acc", {}).setdefault(arm, {})[str(seed)] = float(test_acc)
        if seed not in self.data["seeds"]:
            self.data["seeds"].append(seed)
        self.save()

    def add_claim(self, claim: Any) -> None:
        """One judged claim of the claims contract (:class:`lib.claims.Claim` or its dict); a claim
        with the same id replaces the earlier one. The summary reads these and nothing else."""
        data = claim.as_dict() if hasattr(claim, "as_dict") else dict(claim)
        for key in ("id", "source", "hypothesis", "verdict", "kind"):
            if key not in data:
                raise ValueError(f"a claim needs {key!r}; received {sorted(data)}")
        claims = [c for c in self.data.setdefault("claims", []) if c["id"] != data["id"]]
        self.data["claims"] = [*claims, data]
        self.save()

    def add_claims(self, claims: Any) -> None:
        for c in claims:
            self.add_claim(c)

    def set_metrics(self, metrics: dict[str, Any]) -> None:
        self.data["metrics"].update(metrics)
        self.save()

    def note(self, key: str, value: Any) -> None:
        self.data["notes"][key] = value
        self.save()

    def complete(self) -> None:
        """Called by a notebook's last cell: every result is in. The runner then publishes the
        run; outside the runner the record is closed as ``ok`` here."""
        self.data["complete"] = True
        if os.environ.get(RECORD_ENV) == str(self.path.resolve()):
            self.save()
        else:
            self.finish("ok")

    def finish(self, status: str = "ok", error: str | None = None) -> None:
        """Close the record: end time, wall time and final status."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; received {status!r}")
        self.data["status"] = status
        self.data["ended"] = now_iso()
        self.data["wall_s"] = round(time.time() - self.data["started_unix"], 2)
        if error:
            self.data["error"] = error
        self.save()


def open_record(notebook: str, params: dict[str, Any]) -> Record:
    """The record of this run: the runner's (``$TLLAB_RECORD``) or a new interactive one."""
    env_path = os.environ.get(RECORD_ENV)
    if env_path and Path(env_path).exists():
        rec = Record.load(env_path)
        if rec.data["params"] != json.loads(json.dumps(params, default=str)):
            raise RuntimeError(
                f"the notebook's parameters differ from those the runner validated ({env_path}); "
                "was the parameters cell edited after validation?"
            )
        return rec
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = REPO_ROOT / "outputs" / "interactive" / f"{notebook}.{params_hash(params)}.{stamp}.json"
    rec = Record(path, new_record(notebook, "interactive", params))
    rec.save()
    return rec


def load_records(root: str | Path, include_unfinished: bool = False) -> list[dict[str, Any]]:
    """Every record under ``root`` (finished ones with status ``ok`` unless asked otherwise)."""
    out = []
    for path in sorted(Path(root).rglob("*.json")):
        if path.name.endswith((".partial.json", ".tmp")):
            if not include_unfinished:
                continue
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            continue
        if not isinstance(data, dict) or "status" not in data or "params" not in data:
            continue
        if data["status"] != "ok" and not include_unfinished:
            continue
        data["_path"] = str(path)
        out.append(data)
    return out
