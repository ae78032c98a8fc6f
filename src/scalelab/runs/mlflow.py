"""MLflow runs, read through the mlflow client from a tracking store (SQLite file, a
``sqlite:///`` / ``http(s)://`` URI, or an ``mlruns`` folder). Every point of every metric
is read with ``get_metric_history``, which returns the full history."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.logs import MetricLog, ParseReport, finish


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


def read_mlflow(path: str | Path, run: str | None = None) -> list[MetricLog]:
    """One :class:`MetricLog` per run in the store (or the run named/identified by ``run``)."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise InputError("reading MLflow runs needs the mlflow client: pip install 'scalelab[mlflow]'") from None
    uri = tracking_uri(path)
    client = MlflowClient(tracking_uri=uri)
    try:
        experiments = client.search_experiments()
        runs = client.search_runs([e.experiment_id for e in experiments], max_results=5000)
    except Exception as exc:  # the client raises its own types for unreadable stores
        raise InputError(f"cannot read the MLflow store {uri!r}: {str(exc).splitlines()[0][:200]}") from None
    if run is not None:
        runs = [r for r in runs if run in (r.info.run_id, r.info.run_name)]
        if not runs:
            raise InputError(f"no MLflow run with id or name {run!r} in {uri!r}")
    logs = []
    for r in runs:
        report = ParseReport(source=f"{uri}#{r.info.run_id}", format="mlflow")
        points: dict[int, dict] = {}
        for key in r.data.metrics:
            for m in client.get_metric_history(r.info.run_id, key):
                report.lines += 1
                row = points.setdefault(int(m.step), {})
                if key in row:
                    report.duplicates += 1
                row[key] = float(m.value)
                row["wall_time"] = m.timestamp / 1000.0
        if not points:
            continue
        frame = pd.DataFrame.from_dict(points, orient="index").rename_axis("step").reset_index()
        logs.append(MetricLog(finish(frame, report), report, name=r.info.run_name or r.info.run_id))
    if not logs:
        raise InputError(f"no metrics in the MLflow store {uri!r}" + (f" for run {run!r}" if run else ""))
    return logs
