"""A content-addressed cache of frozen networks' outputs, shared between seeds, arms and reports.

A frozen backbone (or a frozen prefix, or every block's output at once) maps each split of a
data set to features the arms then train on. The same model on the same images gives the same
features, so :func:`predict` keys them by what determines them and nothing else:

- the model: its architecture (``get_config``, with layer names replaced by their position, so
  two builds of one architecture match) and the bytes of every variable (weights, BatchNorm
  statistics): a different weights file, seed or fine-tuned layer is a different key;
- the input: the array's dtype, shape and bytes (data parameters, image size, split and
  augmentation all end up there);
- the code: TensorFlow and Keras versions, the prediction batch size, and the text of the modules
  whose custom layers run inside the models (``lib/backbones.py``, ``lib/transfer.py``).

Entries live under ``<outputs root>/.cache/features/<key>.npz`` (``$TLLAB_CACHE`` names another
folder; ``TLLAB_CACHE=off`` turns the cache off), written to a temporary file and renamed, so an
interrupted run leaves no half entry and two runs at once cannot corrupt one; an unreadable entry
is computed again. Every lookup appends one line to ``ledger.jsonl`` beside them (hit, miss, or
skip for outputs over ``MAX_ENTRY_BYTES`` or models without a config), which ``make bench``
reads for the hit ratio of a ``make all``. Entries over ``MAX_TOTAL_BYTES`` in all are dropped,
least recently used first. ``make clean`` removes the cache with the rest of ``outputs/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from lib.params import OUTPUTS_ENV, REPO_ROOT

CACHE_ENV = "TLLAB_CACHE"
MAX_ENTRY_BYTES = 400 * 2**20
MAX_TOTAL_BYTES = 6 * 2**30
CODE_FILES = ("lib/backbones.py", "lib/transfer.py")


def root() -> Path | None:
    """The cache folder, or ``None`` when the cache is off."""
    where = os.environ.get(CACHE_ENV, "")
    if where.lower() in ("off", "0", "no", "false"):
        return None
    if where:
        return Path(where)
    return Path(os.environ.get(OUTPUTS_ENV) or REPO_ROOT / "outputs") / ".cache" / "features"


def _code_version() -> str:
    import importlib

    import keras

    backend = keras.backend.backend()  # features computed under another backend (or its version) are other features
    version = getattr(importlib.import_module(backend), "__version__", "?")
    h = hashlib.sha256(f"{backend} {version} keras {keras.__version__}".encode())
    for f in CODE_FILES:
        h.update((REPO_ROOT / f).read_bytes())
    return h.hexdigest()


def model_fingerprint(model) -> str | None:
    """A hash of ``model``'s architecture and every variable's value; ``None`` when its config
    cannot be had (then nothing is cached for it)."""
    try:
        config = json.dumps(model.get_config(), sort_keys=True, default=str)
    except Exception:  # a layer without get_config: no safe key
        return None
    from lib.models import walk_layers  # here: the ledger side of this module loads without TensorFlow

    names = {layer.name: i for i, layer in enumerate(walk_layers(model))}
    config = re.sub(r'"([^"\\]*)"', lambda m: f'"#{names[m.group(1)]}"' if m.group(1) in names else m.group(0), config)
    h = hashlib.sha256(config.encode())
    for v in model.variables:
        a = np.ascontiguousarray(np.asarray(v))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _key(fingerprint: str, x: np.ndarray, batch_size: int) -> str:
    a = np.ascontiguousarray(x)
    h = hashlib.sha256(f"{_code_version()} {fingerprint} {a.dtype} {a.shape} batch {batch_size}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:40]


def _log(folder: Path, event: str, key: str, model_name: str, nbytes: int, compute_s: float) -> None:
    from lib.params import RECORD_ENV

    line = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "event": event, "key": key, "model": model_name,
            "bytes": int(nbytes), "compute_s": round(float(compute_s), 3),
            "run": _run_name(os.environ.get(RECORD_ENV, ""))}
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ledger.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")


def _run_name(record_path: str) -> str:
    """``outputs/small_data/vgg16_plateau.<hash>.partial.json`` -> ``small_data/vgg16_plateau``."""
    if not record_path:
        return "interactive"
    p = Path(record_path)
    return f"{p.parent.name}/{p.name.split('.')[0]}"


def _evict(folder: Path) -> None:
    entries = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in entries)
    while entries and total > MAX_TOTAL_BYTES:
        p = entries.pop(0)
        total -= p.stat().st_size
        p.unlink(missing_ok=True)


def predict(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray | list[np.ndarray]:
    """``model.predict(x, batch_size)``, from the cache when this model (architecture and
    weights) has seen these exact inputs before; else computed and stored."""
    folder = root()
    fp = model_fingerprint(model) if folder is not None else None
    if fp is None:
        return model.predict(x, batch_size=batch_size, verbose=0)
    key = _key(fp, x, batch_size)
    path = folder / f"{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                outs = [z[f"o{i}"] for i in range(int(z["n"]))]
                compute_s = float(z["compute_s"])
            os.utime(path)  # recently used: kept longest
            _log(folder, "hit", key, model.name, sum(o.nbytes for o in outs), compute_s)
            return outs if len(outs) > 1 else outs[0]
        except Exception:  # unreadable (truncated, foreign): compute again and replace it
            path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    out = model.predict(x, batch_size=batch_size, verbose=0)
    compute_s = time.perf_counter() - t0
    outs = out if isinstance(out, list) else [out]
    nbytes = sum(o.nbytes for o in outs)
    if nbytes > MAX_ENTRY_BYTES:
        _log(folder, "skip", key, model.name, nbytes, compute_s)
        return out
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.{os.getpid()}.tmp.npz"
    np.savez(tmp, n=len(outs), compute_s=compute_s, **{f"o{i}": o for i, o in enumerate(outs)})
    os.replace(tmp, path)
    _log(folder, "miss", key, model.name, nbytes, compute_s)
    _evict(folder)
    return out


def ledger(folder: Path | None = None) -> list[dict]:
    """Every lookup recorded under ``folder`` (default: this run's cache folder)."""
    folder = folder or root()
    path = folder / "ledger.jsonl" if folder else None
    if not path or not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def hit_ratio(lines: list[dict]) -> dict:
    """Hits over lookups, and the compute seconds the hits saved (each hit's stored compute time)."""
    n = {e: sum(1 for l in lines if l["event"] == e) for e in ("hit", "miss", "skip")}
    looked = sum(n.values())
    return {**n, "lookups": looked, "ratio": n["hit"] / looked if looked else float("nan"),
            "saved_s": sum(l["compute_s"] for l in lines if l["event"] == "hit"),
            "runs": len({l["run"] for l in lines})}
