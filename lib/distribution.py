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

Keras 3.15 splits every batch evenly or stops with JAX's ``IndivisibleError`` (it does not pad), so
a study's last, partial batch (a split's size modulo its batch size, ``predict``'s 1024 included)
would stop a run midway. :class:`EvenOrReplicated` is ``DataParallel`` that lays a batch whose rows do
not split evenly over the devices replicated instead: every device computes that whole batch, the
same numbers, without the speed-up, for the one odd batch of a pass. The batch size itself must be
divisible by the device count (else no batch would be split): :func:`apply` checks it. One machine
(one process) only: across processes a replicated batch would need the same rows on every machine.
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
        import jax

        if jax.process_count() > 1:
            found.append(f"distribution data_parallel runs on one machine (JAX runs {jax.process_count()} processes "
                         "here): a batch that does not split evenly is replicated, which needs the same rows everywhere")
        if batch_size and batch_size % len(devices):
            found.append(f"distribution data_parallel splits each batch over {len(devices)} devices "
                         f"({', '.join(devices)}): batch_size {batch_size} is not divisible by {len(devices)}")
    if found:
        raise ValueError("; ".join(found))
    keras.distribution.set_distribution(even_or_replicated(devices) if devices else None)
    return {"distribution": name, "devices": devices}


def even_or_replicated(devices: list[str]):
    """:class:`EvenOrReplicated` over ``devices`` (the class is made on first use: Keras is
    imported only in a kernel)."""
    global EvenOrReplicated
    import keras

    if EvenOrReplicated is None:
        class EvenOrReplicated(keras.distribution.DataParallel):
            """``DataParallel`` that replicates a batch whose first axis does not split evenly over
            the devices (Keras would stop with ``IndivisibleError``): see the module's docstring."""

            def get_data_layout(self, data_shape):
                n = int(self.device_mesh.devices.size)
                if data_shape and data_shape[0] is not None and data_shape[0] % n:
                    return keras.distribution.TensorLayout([None] * len(data_shape), self.device_mesh)
                return super().get_data_layout(data_shape)
        _layout_each_batch()
    return EvenOrReplicated(devices=devices)


EvenOrReplicated = None


def _layout_each_batch() -> None:
    """Keras' JAX trainer lays out every batch of a pass with the layouts of its first batch
    (``keras/src/backend/jax/trainer.py``, ``_get_distributed_iterator``), so an odd last batch
    would get the first batch's split. Its ``_distribute_data`` is wrapped (once) to ask the
    distribution for each batch's layout when :class:`EvenOrReplicated` is set: a private Keras
    function, checked by ``tests/test_distribution.py`` (which trains across an odd last batch)."""
    from keras.src.backend.jax import trainer
    from keras.src.distribution import distribution_lib

    original = trainer._distribute_data
    if getattr(original, "_tllab", False):
        return

    def distribute_data(data, layouts=None):
        if isinstance(distribution_lib.distribution(), EvenOrReplicated):
            layouts = None  # each batch's own layout: replicated when it does not split evenly
        return original(data, layouts)

    distribute_data._tllab = True
    trainer._distribute_data = distribute_data


def from_env(batch_size: int | None = None) -> dict | None:
    """:func:`apply` the distribution the runner passed in ``$TLLAB_DISTRIBUTION``; ``None`` (and
    nothing changed) outside the runner."""
    name = os.environ.get(ENV, "")
    return apply(name, batch_size) if name else None
