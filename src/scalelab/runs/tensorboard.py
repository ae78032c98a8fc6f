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
        points: dict[int, dict] = {}
        top: dict[str, int] = {}  # the highest step of each tag in the files before
        for f in files[d]:  # in the order they were written (their names start with the time)
            acc = EventAccumulator(str(f), size_guidance={"scalars": 0, "tensors": 0})
            try:
                acc.Reload()  # (within a file, a step that goes back purges the steps after it)
            except Exception as exc:  # corrupt record: tensorboard raises various types
                report.notes.append(f"{f.name}: stopped at a corrupt record ({type(exc).__name__})")
            tags = acc.Tags()
            purged: set[int] = set()
            within: set[int] = set()  # steps a restart inside this file abandoned
            for tag in tags.get("scalars", []):
                events = _current(acc.Scalars(tag), report, within)
                _purge(points, tag, events, top, purged)
                for ev in events:
                    report.lines += 1
                    _put(points, report, ev.step, tag, float(ev.value), ev.wall_time)
            for tag in tags.get("tensors", []):
                events = _current(acc.Tensors(tag), report, within)
                _purge(points, tag, events, top, purged)
                for ev in events:
                    value = tensor_util.make_ndarray(ev.tensor_proto)
                    report.lines += 1
                    if value.size != 1:
                        continue
                    _put(points, report, ev.step, tag, float(value.reshape(-1)[0]), ev.wall_time)
            if within:
                report.restarts += 1
                report.superseded += len(within)
            if purged:
                report.restarts += 1
                report.superseded += len(purged)
                for step in purged:
                    if set(points.get(step, {})) <= {"wall_time"}:
                        points.pop(step, None)  # nothing of that step is left
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


def _current(events: list, report: ParseReport, dropped: set[int]) -> list:
    """A tag's events of one file without those a restart within the file abandoned (a job
    that reopened the same file and logged again from an earlier step); their steps go to
    ``dropped``."""
    stale, starts = superseded([ev.step for ev in events])
    if not starts.size:
        return events
    report.lines += int(stale.sum())  # read, and left out
    dropped.update(int(ev.step) for ev, old in zip(events, stale) if old)
    return [ev for ev, old in zip(events, stale) if not old]


def _purge(points: dict, tag: str, events: list, top: dict[str, int], purged: set[int]) -> None:
    """A restarted job's new event file whose steps for ``tag`` start at or below those of
    the files before: the earlier values from that step on belong to the stretch the restart
    abandoned, and are dropped (as TensorBoard purges orphaned data); their steps go to
    ``purged``."""
    if not events:
        return
    first, last = int(events[0].step), max(int(ev.step) for ev in events)
    if first <= top.get(tag, -1):
        for step, row in points.items():
            if step >= first and tag in row:
                del row[tag]
                purged.add(step)
        top[tag] = last
    else:
        top[tag] = max(last, top.get(tag, -1))


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
