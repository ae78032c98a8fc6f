"""MLflow runs, read through the mlflow client from a tracking store (SQLite file, a
``sqlite:///`` / ``http(s)://`` URI, or an ``mlruns`` folder). Every point of every metric
is read with ``get_metric_history``, which returns the full history; a run followed as it
grows (:class:`MlflowFollower`) reads each metric's history in pages from where the last
poll stopped. A NaN the run logged is kept as a logged NaN (see :mod:`scalelab.runs.logs`)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.logs import NONFINITE, MetricLog, ParseReport, finish, superseded


def tracking_uri(path: str | Path) -> str:
    text = str(path)
    if "://" in text or text.startswith("sqlite:"):
        return text
    p = Path(path)
    if p.is_dir() and (p / "mlflow.db").exists():
        p = p / "mlflow.db"
    if p.is_file():
        return f"sqlite:///{p.resolve()}"
    if p.is_dir():
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # reading an existing folder store
        return p.resolve().as_uri()
    raise InputError(f"MLflow store {text!r} does not exist; give a mlflow.db file, an mlruns folder or a URI")


def _client(path: str | Path):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise InputError("reading MLflow runs needs the mlflow client: pip install 'scalelab[mlflow]'") from None
    uri = tracking_uri(path)
    return uri, MlflowClient(tracking_uri=uri)


def _runs(client, uri: str, run: str | None) -> list:
    """The store's runs, newest first (the client's order), or the one with id or name ``run``."""
    try:
        experiments = client.search_experiments()
        runs = client.search_runs([e.experiment_id for e in experiments], max_results=5000)
    except Exception as exc:  # the client raises its own types for unreadable stores
        raise InputError(f"cannot read the MLflow store {uri!r}: {str(exc).splitlines()[0][:200]}") from None
    if run is not None:
        runs = [r for r in runs if run in (r.info.run_id, r.info.run_name)]
        if not runs:
            raise InputError(f"no MLflow run with id or name {run!r} in {uri!r}")
    return runs


def _put(points: dict, report: ParseReport, key: str, m) -> None:
    report.lines += 1
    row = points.setdefault(int(m.step), {})
    if key in row:
        report.duplicates += 1  # the same step logged twice: keep the last
    value = float(m.value)
    row[key] = NONFINITE if value != value else value  # a NaN the run logged, not a missing point
    row["wall_time"] = m.timestamp / 1000.0


def _frame(points: dict, report: ParseReport) -> pd.DataFrame:
    return finish(pd.DataFrame.from_dict(points, orient="index").rename_axis("step").reset_index(), report)


def read_mlflow(path: str | Path, run: str | None = None) -> list[MetricLog]:
    """One :class:`MetricLog` per run in the store (or the run named/identified by ``run``)."""
    uri, client = _client(path)
    logs = []
    for r in _runs(client, uri, run):
        report = ParseReport(source=f"{uri}#{r.info.run_id}", format="mlflow")
        points: dict[int, dict] = {}
        for key in r.data.metrics:
            history = client.get_metric_history(r.info.run_id, key)  # in the order logged
            stale, starts = superseded([m.step for m in history])  # a run resumed into the same MLflow run
            report.restarts = max(report.restarts, int(starts.size))
            report.superseded += int(stale.sum())
            for m, old in zip(history, stale):
                if not old:
                    _put(points, report, key, m)
        if points:
            logs.append(MetricLog(_frame(points, report), report, name=r.info.run_name or r.info.run_id))
    if not logs:
        raise InputError(f"no metrics in the MLflow store {uri!r}" + (f" for run {run!r}" if run else ""))
    return logs


class MlflowFollower:
    """An MLflow run read as it grows: each :meth:`poll` returns only the points logged since
    the last one. The tracking store pages a metric's history in a fixed order (time, step,
    value) by offset, so the follower keeps, per metric, how many points it has read and asks
    for the pages after them; metrics that appear later are picked up. A point logged with an
    older timestamp than one already read would shift that order and is not guaranteed to be
    seen (training loops log in time order). Follows ``run`` (an id or name), or the newest run."""

    PAGE = 50_000

    def __init__(self, path: str | Path, run: str | None = None):
        self.uri, self._client = _client(path)
        self._run_name = run
        self.run_id: str | None = None
        self.name: str | None = None
        self.report = ParseReport(source=self.uri, format="mlflow")
        self._read: dict[str, int] = {}

    def _find_run(self) -> bool:
        """Find the run to follow once; an empty store is waited for, a missing named run refused."""
        if self.run_id is None:
            runs = _runs(self._client, self.uri, self._run_name)
            if not runs:
                return False
            self.run_id, self.name = runs[0].info.run_id, runs[0].info.run_name or runs[0].info.run_id
            self.report.source = f"{self.uri}#{self.run_id}"
        return True

    def _after(self, key: str, offset: int) -> list:
        """The points of ``key`` after the first ``offset``, a page at a time. The client only
        returns whole histories, so the pages come from its tracking store (the same call the
        client makes); a client without one is read whole and cut."""
        from mlflow.utils.search_utils import SearchUtils

        store = getattr(getattr(self._client, "_tracking_client", None), "store", None)
        if store is None:
            return list(self._client.get_metric_history(self.run_id, key))[offset:]
        out: list = []
        while True:
            token = SearchUtils.create_page_token(offset + len(out)) if offset + len(out) else None
            page = store.get_metric_history(self.run_id, key, max_results=self.PAGE, page_token=token)
            out.extend(page)
            if len(page) < self.PAGE:
                return out

    def poll(self) -> MetricLog | None:
        """The new points as a MetricLog (None when nothing new was logged)."""
        if not self._find_run():
            return None
        points: dict[int, dict] = {}
        for key in self._client.get_run(self.run_id).data.metrics:
            new = self._after(key, self._read.get(key, 0))
            for m in new:
                _put(points, self.report, key, m)
            self._read[key] = self._read.get(key, 0) + len(new)
        if not points:
            return None
        return MetricLog(_frame(points, self.report), self.report, name=self.name)
