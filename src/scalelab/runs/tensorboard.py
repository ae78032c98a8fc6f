"""TensorBoard event files, read with the tensorboard package (every point: no sampling).

TensorBoard's ``EventAccumulator`` keeps only 10,000 points per scalar tag unless told
otherwise; here ``size_guidance={"scalars": 0, "tensors": 0}`` keeps them all. Scalars
written as plain ``simple_value`` (PyTorch's SummaryWriter) and as scalar tensors
(TensorFlow 2's ``tf.summary.scalar``) are both read.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.logs import NONFINITE, MetricLog, ParseReport, finish, superseded


def _require():
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        from tensorboard.util import tensor_util
    except ImportError:
        raise InputError("reading TensorBoard logs needs the tensorboard package: pip install 'scalelab[tensorboard]'") from None
    return EventAccumulator, tensor_util


def read_tensorboard(path: str | Path) -> list[MetricLog]:
    """One :class:`MetricLog` per folder that holds event files (a run)."""
    EventAccumulator, tensor_util = _require()
    p = Path(path)
    if not p.exists():
        raise InputError(f"TensorBoard path {str(p)!r} does not exist")
    if p.is_file():
        dirs = [p.parent]
        files = {p.parent: [p]}
    else:
        files = {}
        for f in sorted(p.rglob("events.out.tfevents*")):
            files.setdefault(f.parent, []).append(f)
        dirs = sorted(files)
        if not dirs:
            raise InputError(f"no TensorBoard event files under {str(p)!r}")
    logs = []
    for d in dirs:
        report = ParseReport(source=str(d), format="tensorboard")
        series: dict[str, list] = {}  # tag -> (step, value, wall time), in the order written
        for f in files[d]:  # in the order they were written (their names start with the time)
            acc = EventAccumulator(str(f), size_guidance={"scalars": 0, "tensors": 0})
            try:
                acc.Reload()
            except Exception as exc:  # corrupt record: tensorboard raises various types
                report.notes.append(f"{f.name}: stopped at a corrupt record ({type(exc).__name__})")
            tags = acc.Tags()
            for tag in tags.get("scalars", []):
                series.setdefault(tag, []).extend((ev.step, float(ev.value), ev.wall_time) for ev in acc.Scalars(tag))
            for tag in tags.get("tensors", []):
                for ev in acc.Tensors(tag):
                    value = tensor_util.make_ndarray(ev.tensor_proto)
                    report.lines += value.size != 1  # read, not a scalar
                    if value.size == 1:
                        series.setdefault(tag, []).append((ev.step, float(value.reshape(-1)[0]), ev.wall_time))
        points: dict[int, dict] = {}
        dropped: set[int] = set()
        for tag, values in series.items():
            # a restarted job, in a new event file or the one it reopened, logs again from an
            # earlier step: what it abandoned is dropped, as TensorBoard purges orphaned data
            stale, starts = superseded([v[0] for v in values])
            report.restarts = max(report.restarts, int(starts.size))
            report.lines += int(stale.sum())
            dropped.update(int(v[0]) for v, old in zip(values, stale) if old)
            for (step, value, wall), old in zip(values, stale):
                if not old:
                    report.lines += 1
                    _put(points, report, step, tag, value, wall)
        report.superseded += len(dropped)  # steps a restart logged again, or abandoned for good
        if not points:
            report.notes.append("no scalar summaries")
            continue
        frame = pd.DataFrame.from_dict(points, orient="index").rename_axis("step").reset_index()
        frame = finish(frame, report)
        name = str(d.relative_to(p)) if p.is_dir() and d != p else d.name
        logs.append(MetricLog(frame, report, name=name))
    if not logs:
        raise InputError(f"no scalar summaries in the TensorBoard logs under {str(p)!r}")
    return logs


def _put(points: dict, report: ParseReport, step: int, tag: str, value: float, wall_time: float) -> None:
    if math.isnan(value):
        value = NONFINITE  # a NaN the run wrote, kept apart from "not logged" (see scalelab.runs.logs)
    row = points.setdefault(int(step), {})
    if tag in row:
        report.duplicates += 1  # the same step written twice (a restart): keep the last
    row[tag] = value
    row["wall_time"] = wall_time


class TensorBoardFollower:
    """A TensorBoard run read as it grows: each :meth:`poll` returns only the scalars written
    since the last one (event files are append-only; one loader per file keeps its place,
    and files that appear later are picked up). The first run (folder of event files) under
    ``path`` is followed, as ``scalelab watch`` follows one run."""

    def __init__(self, path: str | Path):
        _require()
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"TensorBoard path {str(self.path)!r} does not exist")
        self.report = ParseReport(source=str(self.path), format="tensorboard")
        self._loaders: dict[Path, object] = {}
        self.run_dir: Path | None = None

    def _files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        files = sorted(self.path.rglob("events.out.tfevents*"))
        if self.run_dir is None and files:
            self.run_dir = files[0].parent
        return [f for f in files if f.parent == self.run_dir]

    def poll(self) -> MetricLog | None:
        """The new points as a MetricLog (None when nothing new was written)."""
        from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
        from tensorboard.util import tensor_util

        points: dict[int, dict] = {}
        for f in self._files():
            if f not in self._loaders:
                self._loaders[f] = LegacyEventFileLoader(str(f))
            try:
                for ev in self._loaders[f].Load():
                    for v in ev.summary.value:
                        if v.HasField("simple_value"):
                            value = float(v.simple_value)
                        elif v.HasField("tensor"):
                            arr = tensor_util.make_ndarray(v.tensor)
                            if arr.size != 1:
                                continue
                            value = float(arr.reshape(-1)[0])
                        else:
                            continue
                        self.report.lines += 1
                        _put(points, self.report, ev.step, v.tag, value, ev.wall_time)
            except Exception as exc:  # a record still being written, or corrupt: try again next poll
                self.report.notes.append(f"{f.name}: {type(exc).__name__} while reading; retried next poll")
        if not points:
            return None
        frame = pd.DataFrame.from_dict(points, orient="index").rename_axis("step").reset_index()
        return MetricLog(finish(frame, self.report), self.report, name=(self.run_dir or self.path).name)
