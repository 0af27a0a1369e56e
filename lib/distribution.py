"""Many devices for one run: ``distribution: data_parallel`` in a parameter file.

A parameter file of any notebook may say ``distribution: data_parallel`` (default ``none``). It is
the runner's key, not the notebook's: :func:`lib.params.validate` checks it with :func:`problems`
before a kernel starts (no Keras import), :mod:`lib.runner` passes it to the kernel as
``$TLLAB_DISTRIBUTION``, and :func:`lib.report.begin` (every notebook's first call) applies it with
:func:`from_env`, before any model is built.

``data_parallel`` is ``keras.distribution.DataParallel`` over every local device
(``keras.distribution.list_devices()``: the GPUs, else the CPU): the weights are replicated and
each batch is split along its first axis, one equal slice per device, so the result is the
single-device training up to float round-off (``tests/test_distribution.py``). It runs on JAX only.

The split must be even for *every* batch Keras sees (Keras 3.15 does not pad): the batch size must
be divisible by the device count, and so must the last, partial batch of each pass (the training,
validation and test sizes modulo their batch sizes) and the batches of ``predict`` and ``evaluate``;
otherwise JAX stops with ``IndivisibleError``. :func:`apply` checks the batch size it is given; the
data sizes are each study's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

NAMES = ("none", "data_parallel")
ENV = "TLLAB_DISTRIBUTION"  # set by lib.runner from the parameter files; read by from_env in the kernel
JAX_ONLY = ("keras.distribution.DataParallel runs on JAX only (Keras' TensorFlow support is still in "
            "development): run with KERAS_BACKEND=jax, or distribution: none")


def configured_backend() -> str:
    """The Keras backend a kernel started now would get, without importing Keras: the running
    Keras's when it is imported, else ``$KERAS_BACKEND``, else ``backend`` in Keras' config file
    (``$KERAS_HOME/keras.json``, ``~/.keras/keras.json``), else ``tensorflow``."""
    if "keras" in sys.modules:
        return sys.modules["keras"].config.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    config = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "keras.json"
    try:
        return str(json.loads(config.read_text()).get("backend") or "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def problems(name: str, backend: str | None = None) -> list[str]:
    """Why ``name`` cannot run on ``backend`` (default :func:`configured_backend`); ``[]`` when it
    can. The check made before any compute."""
    from lib.names import hint

    if name not in NAMES:
        return [f"unknown distribution {name!r}{hint(name, NAMES)} (known: {', '.join(NAMES)})"]
    backend = backend or configured_backend()
    if name == "data_parallel" and backend != "jax":
        return [f"{JAX_ONLY} (the backend here is {backend})"]
    return []


def apply(name: str, batch_size: int | None = None) -> dict:
    """Set Keras' global distribution: ``DataParallel`` over every local device for
    ``data_parallel``, none for ``none``. Call it before any model is built. ``batch_size``, when
    given, must be divisible by the device count. Raises ``ValueError`` naming every problem.
    Returns what the run record keeps: ``{"distribution": name, "devices": [...]}``, the devices
    each batch is split across (``[]`` for ``none``)."""
    import keras

    found = problems(name, keras.config.backend())
    devices: list[str] = []
    if not found and name == "data_parallel":
        devices = list(keras.distribution.list_devices())
        if batch_size and batch_size % len(devices):
            found.append(f"distribution data_parallel splits each batch over {len(devices)} devices "
                         f"({', '.join(devices)}): batch_size {batch_size} is not divisible by {len(devices)}")
    if found:
        raise ValueError("; ".join(found))
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices) if devices else None)
    return {"distribution": name, "devices": devices}


def from_env(batch_size: int | None = None) -> dict | None:
    """:func:`apply` the distribution the runner passed in ``$TLLAB_DISTRIBUTION``; ``None`` (and
    nothing changed) outside the runner."""
    name = os.environ.get(ENV, "")
    return apply(name, batch_size) if name else None
