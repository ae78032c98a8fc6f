"""The embedded run store: one SQLite file of runs and their metrics.

WAL journal mode lets readers and one writer at a time work concurrently; other writers
wait (busy timeout) instead of failing. Every ``log`` call is one transaction: a writer
killed mid-call loses that call's rows and nothing before it (SQLite's atomic commit), so
the store is always readable and holds every committed row.

Schema::

    runs(run_id PK, name, source, format, config JSON, provenance JSON, created_utc, updated_utc)
    metrics(run_id, name, step, tokens, value, wall_time) PK (run_id, name, step)

A step logged twice for the same metric keeps the last value (a restarted run re-logs the
steps after its checkpoint); ``log`` counts such replacements.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from scalelab.errors import InputError

DEFAULT_PATH = "scalelab.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT,
    source TEXT,
    format TEXT,
    config TEXT,
    provenance TEXT,
    created_utc TEXT,
    updated_utc TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    step INTEGER NOT NULL,
    tokens REAL,
    value REAL,
    wall_time REAL,
    PRIMARY KEY (run_id, name, step)
) WITHOUT ROWID;
"""


def default_store_path() -> Path:
    """``$SCALELAB_DB`` if set, else ``./scalelab.db``."""
    return Path(os.environ.get("SCALELAB_DB", DEFAULT_PATH))


@dataclass(frozen=True)
class LogResult:
    """Rows a ``log`` call added, and rows it replaced (a step logged again)."""

    inserted: int
    replaced: int


@dataclass(frozen=True)
class Imported:
    """One run read from a log into the store."""

    run_id: str
    name: str
    points: int
    inserted: int
    replaced: int
    parse: str
    """What the reader saw (:meth:`scalelab.runs.logs.ParseReport.summary`)."""
    dropped: int = 0
    """Points stored by an earlier import past the log's last step, dropped because the log
    restarted before them (they belong to the stretch the restart abandoned)."""


class RunStore:
    """A run store in one SQLite file (created on first use).

    Examples
    --------
    >>> import tempfile, os
    >>> store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.db"))
    >>> rid = store.add_run("demo", source="example")
    >>> store.log(rid, [(1, 1e6, "loss", 4.0, 0.0), (2, 2e6, "loss", 3.5, 1.0)])
    LogResult(inserted=2, replaced=0)
    >>> store.metrics(rid)["value"].tolist()
    [4.0, 3.5]
    """

    def __init__(self, path: str | os.PathLike | None = None, timeout_s: float = 60.0, *, create: bool = True):
        self.path = Path(path) if path is not None else default_store_path()
        if self.path.exists() and self.path.is_dir():
            raise InputError(f"run store {str(self.path)!r} is a directory; give a file path, e.g. runs.db")
        if not create and not self.path.exists():
            raise InputError(f"run store {str(self.path)!r} does not exist; runs are added with scalelab runs import "
                             "LOG (or scalelab ladder run PLAN)")
        if not self.path.parent.exists():
            raise InputError(f"run store folder {str(self.path.parent)!r} does not exist; create it first")
        try:
            self._con = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes in WAL mode
            self._con.execute("PRAGMA foreign_keys=ON")
            self._con.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{str(self.path)!r} is not a scalelab run store (SQLite said: {exc})") from None

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------- writing
    def add_run(self, name: str | None = None, *, run_id: str | None = None, source: str = "", format: str = "",
                config: dict | None = None, provenance: dict | None = None) -> str:
        """Create a run (or update one with that ``run_id``) and return its id."""
        run_id = run_id or uuid.uuid4().hex[:12]
        now = _now()
        with self._tx():
            self._con.execute(
                "INSERT INTO runs (run_id, name, source, format, config, provenance, created_utc, updated_utc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id) DO UPDATE SET name=excluded.name, "
                "source=excluded.source, format=excluded.format, config=excluded.config, "
                "provenance=excluded.provenance, updated_utc=excluded.updated_utc",
                (run_id, name or run_id, source, format, json.dumps(config or {}), json.dumps(provenance or {}), now, now),
            )
        return run_id

    def log(self, run_id: str, rows: Iterable[tuple]) -> LogResult:
        """Write metric rows ``(step, tokens, name, value, wall_time)`` in one transaction."""
        rows = list(rows)
        with self._tx():
            if self._con.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                raise InputError(f"no run {run_id!r} in {str(self.path)!r}; create it with add_run or scalelab runs import")
            before = self._con.execute("SELECT COUNT(*) FROM metrics WHERE run_id = ?", (run_id,)).fetchone()[0]
            self._con.executemany(
                "INSERT OR REPLACE INTO metrics (run_id, step, tokens, name, value, wall_time) VALUES (?, ?, ?, ?, ?, ?)",
                ((run_id, int(s), None if t is None else float(t), str(n), None if v is None else float(v),
                  None if w is None else float(w)) for s, t, n, v, w in rows),
            )
            after = self._con.execute("SELECT COUNT(*) FROM metrics WHERE run_id = ?", (run_id,)).fetchone()[0]
            self._con.execute("UPDATE runs SET updated_utc = ? WHERE run_id = ?", (_now(), run_id))
        inserted = after - before
        return LogResult(inserted=inserted, replaced=len(rows) - inserted)

    def import_log(self, path: str | os.PathLike, format: str = "auto", *, name: str | None = None,
                   run: str | None = None) -> list[Imported]:
        """Read a training log (any format :func:`scalelab.runs.logs.read_log` reads) into the
        store: every metric at every step. A log holding several runs (TensorBoard, MLflow)
        gives several, named ``name/<run>``. Importing the same log again updates its runs,
        however its path is spelt (the run id is derived from the file's absolute path and the
        run's name; a run stored under an id of the path as it was given, as earlier versions
        derived it, is updated in place); when the log has restarted since, the points stored
        past its last step, which the restart abandoned, are dropped.
        """
        from scalelab.runs.logs import read_log

        logs = read_log(path, format, run=run)
        done = []
        for log in logs:
            run_name = name if name and len(logs) == 1 else (f"{name}/{log.name}" if name else log.name)
            rid = self._log_run_id(path, log.name, single=len(logs) == 1)
            self.add_run(run_name, run_id=rid, source=str(path), format=log.report.format,
                         provenance={"parse": log.report.to_dict()})
            f = log.frame
            # NaN means "not logged at this step"; a logged NaN is stored as inf by the reader
            rows = [(int(s), None if t != t else float(t), m, float(v), None if w != w else float(w))
                    for m in log.metric_names
                    for s, t, v, w in zip(f["step"], f["tokens"], f[m], f["wall_time"]) if v == v]
            res = self.log(rid, rows)
            dropped = 0
            if log.report.restarts and len(f):  # an earlier import may hold the abandoned stretch
                with self._tx():
                    dropped = self._con.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?",
                                                (rid, int(f["step"].max()))).rowcount
            done.append(Imported(rid, run_name, len(rows), res.inserted, res.replaced, log.report.summary(), dropped))
        return done

    def _log_run_id(self, path, log_name: str, single: bool) -> str:
        """The id of a log's run: from the file's absolute path and the run's name, unless the
        store holds the run under an id an earlier version gave it (the path as given, and for
        a one-run log the file's stem as its name)."""
        def sha(key: str) -> str:
            return hashlib.sha1(key.encode()).hexdigest()[:12]

        rid = sha(f"{Path(path).resolve()}|{log_name}")
        older = [sha(f"{path}|{log_name}")] + ([sha(f"{path}|{Path(path).stem}")] if single else [])
        for cand in (rid, *older):
            if self._con.execute("SELECT 1 FROM runs WHERE run_id = ?", (cand,)).fetchone() is not None:
                return cand
        return rid

    def export(self, run_id: str, path: str | os.PathLike) -> int:
        """Write a run's curves (:meth:`curves`) to a .csv, .jsonl or .parquet file; returns the rows."""
        from scalelab.io import write_table

        frame = self.curves(run_id)
        write_table(frame, path)
        return len(frame)

    def delete_run(self, run_id: str) -> None:
        with self._tx():
            self._con.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            self._con.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    # -------------------------------------------------------------- reading
    def runs(self):
        """All runs with their metric counts, as a DataFrame."""
        import pandas as pd

        cur = self._con.execute(
            "SELECT r.run_id, r.name, r.source, r.format, r.created_utc, r.updated_utc, "
            "COUNT(m.step) AS n_points, COUNT(DISTINCT m.name) AS n_metrics, MAX(m.step) AS last_step "
            "FROM runs r LEFT JOIN metrics m ON m.run_id = r.run_id GROUP BY r.run_id ORDER BY r.created_utc")
        return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])

    def run(self, run_id: str) -> dict:
        row = self._con.execute("SELECT run_id, name, source, format, config, provenance, created_utc, updated_utc "
                                "FROM runs WHERE run_id = ? OR name = ? ORDER BY run_id = ? DESC LIMIT 1",
                                (run_id, run_id, run_id)).fetchone()
        if row is None:
            known = [f"{name} ({rid})" if name and name != rid else rid
                     for rid, name in self._con.execute("SELECT run_id, name FROM runs ORDER BY created_utc, rowid LIMIT 20")]
            total = self._con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            more = f" and {total - len(known)} more (scalelab runs list)" if total > len(known) else ""
            raise InputError(f"no run {run_id!r} in {str(self.path)!r}; runs (by name or id): "
                             f"{', '.join(known) or 'none'}{more}")
        keys = ("run_id", "name", "source", "format", "config", "provenance", "created_utc", "updated_utc")
        d = dict(zip(keys, row))
        d["config"], d["provenance"] = json.loads(d["config"] or "{}"), json.loads(d["provenance"] or "{}")
        names = self._con.execute("SELECT name, COUNT(*), MIN(step), MAX(step) FROM metrics WHERE run_id = ? "
                                  "GROUP BY name ORDER BY name", (d["run_id"],)).fetchall()
        d["metrics"] = {n: {"points": c, "first_step": a, "last_step": b} for n, c, a, b in names}
        return d

    def metrics(self, run_id: str, names: Iterable[str] | None = None):
        """A run's metrics in long form (step, tokens, name, value, wall_time), ordered by step."""
        import pandas as pd

        rid = self.run(run_id)["run_id"]
        sql = "SELECT step, tokens, name, value, wall_time FROM metrics WHERE run_id = ?"
        args: list = [rid]
        names = list(names or [])
        if names:
            sql += f" AND name IN ({','.join('?' * len(names))})"
            args += names
        cur = self._con.execute(sql + " ORDER BY name, step", args)
        out = pd.DataFrame(cur.fetchall(), columns=["step", "tokens", "name", "value", "wall_time"])
        # numbers stay numbers where the log had none (all NULL would read back as objects)
        return out.astype({"step": "int64", "tokens": float, "value": float, "wall_time": float})

    def curves(self, run_id: str):
        """A run's metrics in wide form: one row per step, one column per metric."""
        long = self.metrics(run_id)
        if long.empty:
            return long
        wide = long.pivot_table(index="step", columns="name", values="value", aggfunc="last")
        extra = long.groupby("step")[["tokens", "wall_time"]].last()
        return extra.join(wide).reset_index()

    # --------------------------------------------------------------- helpers
    def _tx(self):
        return _Transaction(self._con)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is in autocommit mode)."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        self.con.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
