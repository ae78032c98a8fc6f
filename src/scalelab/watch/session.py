"""Running a watch: over a finished log (``once``) or following a live one (``live``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.logs import PRINTED_NOTE, ROLE_COLUMNS, ParseReport, detect_format, json_document, read_log
from scalelab.watch import detectors as det
from scalelab.watch.monitor import Monitor, WatchSettings
from scalelab.watch.stream import LineParser
from scalelab.watch.tail import Tailer

TAILABLE = ("jsonl", "csv", "tsv", "text", "megatron", "wandb")


@dataclass
class Outcome:
    """One watched run: its monitor (curve, alerts, status), what the reader saw, the alerts raised."""

    monitor: Monitor
    report: dict
    alerts: list[det.Alert]


def watch_once(source: str, settings: WatchSettings, *, fmt: str = "auto", run: str | None = None,
               roles: dict | None = None, on_alert: Callable[[det.Alert, str], None] | None = None) -> list[Outcome]:
    """Analyse a finished log; one outcome per run in it.

    ``roles`` names the step, tokens and time columns (``step_col``, ``tokens_col``,
    ``time_col``) where the reader's guesses do not fit, and ``tokens_per_step`` counts the
    tokens of a log that does not.
    """
    roles, per_step = _split_roles(roles)
    logs = read_log(source, fmt, run=run, **roles)
    outcomes = []
    for log in logs:  # each run finds its own loss name when none is given
        mon = Monitor(settings.for_metrics(log.metric_names, log.report.source), name=log.name or str(source))
        alerts = []
        for part in log.stretches or [log.frame]:  # a restarted run replayed as it was logged
            alerts += mon.update(count_tokens(part, per_step, log.report.source, log.report))
        branched = log.frame["branched_from"].notna().to_numpy() if "branched_from" in log.frame else None
        gaps = det.gaps(log.frame["step"].to_numpy(), log.frame["wall_time"].to_numpy(float),
                        minutes=settings.stall_minutes, branched=branched)
        mon.alerts += gaps
        alerts += gaps
        b = mon.budget_alert()
        if b is not None:
            alerts.append(b)
        if on_alert:
            for a in alerts:
                on_alert(a, mon.name)
        outcomes.append(Outcome(mon, log.report.to_dict(), alerts))
    return outcomes


def watch_live(source: str, settings: WatchSettings, *, fmt: str = "auto", run: str | None = None,
               roles: dict | None = None, interval_s: float = 5.0, duration_s: float | None = None,
               on_alert: Callable[[det.Alert, str], None] | None = None,
               on_tick: Callable[[Monitor, dict], None] | None = None, clock: Callable[[], float] = time.time,
               sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Follow a growing log (JSONL, CSV, a printed text log, a TensorBoard folder, or ``run`` of an
    MLflow store: the newest when None) until ``duration_s`` or Ctrl-C."""
    if not 0.01 <= interval_s <= 3600:
        raise InputError(f"--interval {interval_s:g}: give a value in [0.01, 3600] seconds")
    fmt = detect_format(source) if fmt == "auto" else fmt
    if fmt not in TAILABLE:
        return _poll_store(source, settings, fmt=fmt, run=run, interval_s=interval_s, duration_s=duration_s,
                           on_alert=on_alert, on_tick=on_tick, clock=clock, sleep=sleep,
                           per_step=_split_roles(roles)[1])
    if fmt in ("jsonl", "wandb") and json_document(source):
        raise InputError(f"{source!r} is one JSON object over many lines (a trainer_state.json?), rewritten rather "
                         "than appended: read it with --once, or follow the run's JSON-lines or text log")
    roles, per_step = _split_roles(roles)
    tailer = Tailer(source)
    parser = LineParser(fmt, str(source), **roles)
    mon: Monitor | None = None
    pending: list = []
    start = clock()
    try:
        while True:
            now = clock()
            frame = parser.parse(tailer.poll())
            new: list[det.Alert] = []
            if frame is not None:
                frame = count_tokens(frame, per_step, str(source), parser.report)
                if mon is None:
                    names = [c for c in frame.columns if c not in ROLE_COLUMNS]
                    mon = Monitor(settings.for_metrics(names, str(source)), name=str(source))
                new += mon.update(frame, now_wall=now)
            elif mon is not None:
                stalled = mon.check_stall(now)
                if stalled:
                    new.append(stalled)
            if mon is not None:
                b = mon.budget_alert()
                if b:
                    new.append(b)
                for a in new:
                    pending.append(a)
                    if on_alert:
                        on_alert(a, mon.name)
                if on_tick:
                    on_tick(mon, _tail_report(tailer, parser))
            if duration_s is not None and now - start >= duration_s:
                break
            sleep(interval_s)
    except KeyboardInterrupt:
        pass
    finally:
        tailer.close()
    if mon is None:
        raise InputError(f"no metric rows appeared in {source!r}" + (f" within {duration_s:g} s" if duration_s else ""))
    return Outcome(mon, _tail_report(tailer, parser), pending)


def _tail_report(tailer: Tailer, parser: LineParser) -> dict:
    r = parser.report.to_dict()
    r.update(bytes_read=tailer.stats.bytes_read, rotations=tailer.stats.rotations,
             truncations=tailer.stats.truncations, pending_partial_line=bool(tailer.pending.strip()))
    return r


def _split_roles(roles: dict | None) -> tuple[dict, float | None]:
    roles = dict(roles or {})
    per_step = roles.pop("tokens_per_step", None)
    if per_step is not None and not (math.isfinite(per_step) and per_step > 0):
        raise InputError(f"--tokens-per-step {per_step:g}: give the tokens one optimizer step trains on, above 0")
    return roles, per_step


def count_tokens(frame: pd.DataFrame, per_step: float | None, source: str,
                 report: ParseReport | None = None) -> pd.DataFrame:
    """Tokens as step x ``per_step`` for a log that does not count them (refused for one that
    does). Tokens the reader worked out from what a printed log says of its steps (see
    :class:`~scalelab.runs.logs.PrintedTokens`, noted in ``report``) give way to ``per_step``."""
    if per_step is None:
        return frame
    printed = report is not None and any(n.startswith(PRINTED_NOTE) for n in report.notes)
    if frame["tokens"].notna().any() and not printed:
        raise InputError(f"{source} counts its tokens already; --tokens-per-step is for a log that does not")
    if printed:
        report.notes = [n for n in report.notes if not n.startswith(PRINTED_NOTE)] + [
            f"{PRINTED_NOTE}step x {per_step:,.0f} (--tokens-per-step)"]
    return frame.assign(tokens=frame["step"].to_numpy(float) * per_step)


def _poll_store(source, settings, *, fmt, run, interval_s, duration_s, on_alert, on_tick, clock, sleep,
                per_step=None) -> Outcome:
    """TensorBoard folders and MLflow stores, read incrementally (only what was written since
    the last poll), feeding the steps not seen yet."""
    mon = None
    pending: list = []
    report: dict = {}
    start = clock()
    if fmt == "tensorboard":
        from scalelab.runs.tensorboard import TensorBoardFollower

        follower = TensorBoardFollower(source)
    else:  # mlflow
        from scalelab.runs.mlflow import MlflowFollower

        follower = MlflowFollower(source, run=run)
    try:
        while True:
            now = clock()
            log = follower.poll()  # None: nothing new
            frame = None
            if log is not None:
                report = log.report.to_dict()
                frame = count_tokens(log.frame, per_step, log.report.source)
                if mon is None:
                    mon = Monitor(settings.for_metrics(log.metric_names, log.report.source), name=log.name or str(source))
                elif mon.steps:
                    frame = frame[frame["step"] > mon.steps[-1]]
            if mon is not None:
                if frame is not None and len(frame):
                    new = mon.update(frame, now_wall=now)
                else:
                    new = [] if mon.check_stall(now) is None else [mon.alerts[-1]]
                for a in new:
                    pending.append(a)
                    if on_alert:
                        on_alert(a, mon.name)
                if on_tick:
                    on_tick(mon, report)
            if duration_s is not None and now - start >= duration_s:
                break
            sleep(interval_s)
    except KeyboardInterrupt:
        pass
    return Outcome(mon, report, pending)


def fraction_within(tokens: np.ndarray, loss: np.ndarray, final_tokens: float, beta: float, truth: float,
                    tol: float = 0.01) -> float | None:
    """The share of training from which the projected final loss stays within ``tol`` of ``truth``."""
    from scalelab.watch.forecast import project_final

    ok_from = None
    for i in range(len(tokens)):
        p = project_final(tokens[: i + 1], loss[: i + 1], final_tokens, beta)
        good = p is not None and math.isfinite(p) and abs(p / truth - 1) <= tol
        if good and ok_from is None:
            ok_from = i
        elif not good:
            ok_from = None
    return None if ok_from is None else float(tokens[ok_from] / final_tokens)
