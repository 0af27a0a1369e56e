"""TensorBoard logs of every published run, from its record's per-epoch histories. No TensorFlow.

Each arm and seed a report trained becomes one TensorBoard run,
``<outputs>/tensorboard/<notebook>/<experiment>/<arm>/seed_<seed>/``, with every per-epoch scalar
of its history (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``val_map50``,
``epoch_time_s``, ...) at its epoch (validation scalars at the epochs they were measured). The
runner writes them when a run is published (:func:`export`), whatever the Keras backend: the
events are written with TensorBoard's own writer, not ``keras.callbacks.TensorBoard`` (which
needs TensorFlow's summary ops), and the run's record is their one source, so the logs and the
report cannot disagree. A run that fails writes none and leaves the previous logs in place.
``make tensorboard`` serves them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

PER_RUN = ("steps_per_epoch", "passes_per_epoch", "best_epoch", "stopped_early", "stopped_stuck", "val_epoch",
           "img_per_s")  # one value per run, or bookkeeping: not a curve


def _run_dir(arm: str) -> str:
    """An arm name as a run folder: its ``/`` kept as TensorBoard's grouping, other odd characters safe."""
    return "/".join(re.sub(r"[^A-Za-z0-9_.:~@+=-]", "_", part) or "_" for part in arm.split("/"))


def write_scalars(logdir: Path, history: dict, start: float = 0.0) -> int:
    """One event file in ``logdir`` with every per-epoch scalar of ``history``; returns how many
    values were written. Wall times count the epochs' own ``epoch_time_s`` from ``start``."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    logdir.mkdir(parents=True, exist_ok=True)
    n_epochs = len(history.get("loss") or [])
    times = list(history.get("epoch_time_s") or [])
    clock = [start + sum(times[:i + 1]) for i in range(len(times))]
    val_epochs = [int(e) for e in history.get("val_epoch") or range(1, n_epochs + 1)]
    writer = EventFileWriter(str(logdir))
    n = 0
    for tag, values in history.items():
        if tag in PER_RUN or not isinstance(values, list) or not values:
            continue
        epochs = val_epochs if tag.startswith("val_") and len(values) == len(val_epochs) else range(1, len(values) + 1)
        for epoch, value in zip(epochs, values):
            wall = clock[epoch - 1] if 0 < epoch <= len(clock) else start + epoch
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))])
            writer.add_event(event_pb2.Event(step=int(epoch), wall_time=float(wall), summary=summary))
            n += 1
    writer.close()
    return n


def export(record: dict, root: Path) -> Path | None:
    """The record's histories as TensorBoard runs under ``root/tensorboard/<notebook>/<experiment>/``
    (written aside, then swapped in: a half-written set never replaces a good one). ``None`` when
    the record holds no history (the summary, a study that trained nothing)."""
    history = record.get("history") or {}
    if not history:
        return None
    dest = Path(root) / "tensorboard" / record["notebook"] / record["experiment"]
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    start = float(record.get("started_unix") or 0.0)
    for arm, by_seed in history.items():
        for seed, hist in by_seed.items():
            write_scalars(tmp / _run_dir(arm) / f"seed_{seed}", hist, start)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def read_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` of the event files in ``logdir``, read back with TensorBoard's
    own reader (what ``make tensorboard`` shows)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
