"""Reading and writing scalelab's own files: fit.json, plan.json, tables, and atomic writes.

Every file scalelab writes goes through :func:`atomic_path`: it is written under a
temporary name beside its place and renamed there only when complete, so a reader (or a
rerun after a crash or a full disk) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from scalelab.errors import FitFileError, InputError

if TYPE_CHECKING:
    import pandas as pd

    from scalelab.fitting import Fit
    from scalelab.planning import Plan

TABLE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block
    ends normally, removed when it raises.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(p) as tmp:
    ...     _ = tmp.write_text("done")
    >>> p.read_text(), sorted(x.name for x in p.parent.iterdir())
    ('done', ['out.txt'])
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist; create it first")
    fd, name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_writable(path: str | Path | None) -> None:
    """Refuse at once a file that could not be written (its folder missing, or a folder
    itself), before the work whose result it would hold is done."""
    if path is None:
        return
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist; create it first")
    if path.is_dir():
        raise InputError(f"cannot write {str(path)!r}: it is a folder; give a file name")


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write a text file so that it is either complete or absent."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV, JSON lines or Parquet, by the file's extension, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"cannot write a table to {str(path)!r}: use a .csv, .jsonl or .parquet file")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True)
    return path


def write_json(path: str | Path, data) -> Path:
    """Write JSON (NaN allowed, as Python's json reads it back), atomically."""
    return atomic_write_text(path, json.dumps(data, indent=1, allow_nan=True) + "\n")


def save_fit(fit: Fit, path: str | Path) -> Path:
    """Write a fitted :class:`~scalelab.fitting.Fit` as JSON, atomically."""
    return write_json(path, fit.to_dict())


def load_fit(path: str | Path) -> Fit:
    """Read a fit.json written by :func:`save_fit` or ``scalelab fit --out``."""
    from scalelab.fitting import Fit

    path = Path(path)
    if not path.exists():
        raise FitFileError(f"fit file {str(path)!r} does not exist; create one with scalelab fit RUNS --out {path}")
    instead = _not_a_fit(path)
    if instead:
        raise FitFileError(f"{str(path)!r} is {instead}")
    if _is_ladder_plan(path):
        raise FitFileError(f"{str(path)!r} is a ladder plan, not a fit: fit its rungs with scalelab ladder fit "
                           f"{path} --out fit.json, and give fit.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FitFileError(f"fit file {str(path)!r} is not valid JSON ({exc}); recreate it with scalelab fit") from None
    return Fit.from_dict(data, source=repr(str(path)))


def load_plan(path: str | Path) -> Plan:
    """Read the JSON of ``scalelab plan --json`` as a :class:`~scalelab.planning.Plan`."""
    from scalelab.planning import Plan

    if _is_ladder_plan(Path(path)):
        raise InputError(f"{str(path)!r} is a ladder plan (scalelab ladder design); --plan takes what scalelab plan "
                         f"--out writes. To judge the ladder's target against its forecast, give --fit fit.json from "
                         f"scalelab ladder fit {path} --out fit.json (it carries the target's size and tokens)")
    return Plan.from_dict(load_json(path, "plan"), source=f"plan {str(path)!r}")


LOG_SUFFIXES = (".log", ".txt", ".out", ".err")
FIT_HOWTO = "a fit file is what scalelab fit RUNS --out fit.json writes"


def _not_a_fit(path: Path) -> str | None:
    """What ``path`` is, said with what to do, when it is plainly not a fit file: a folder,
    a training log, or a table of runs still to be fitted; None when it may be one.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "runs.csv").write_text("run_id,params,tokens,loss\\na,1e6,2e7,3.1\\n")
    >>> _not_a_fit(d / "runs.csv").split(":")[0]
    'a table of runs, not a fit'
    >>> _not_a_fit(d) is None, _not_a_fit(d / "fit.json") is None
    (False, True)
    """
    name, suffix = path.name.lower(), path.suffix.lower()
    log_use = "watch it with scalelab watch LOG --fit fit.json, or give it to scalelab report fit.json --log LOG"
    if path.is_dir():
        if any(path.rglob("events.out.tfevents*")) or (path / "mlflow.db").exists() or any(path.glob("*/meta.yaml")):
            return f"a folder of training logs, not a fit file: {log_use}; {FIT_HOWTO}"
        return f"a folder, not a fit file: {FIT_HOWTO}"
    if name.startswith("events.out.tfevents") or suffix in LOG_SUFFIXES:
        return f"a training log, not a fit file: {log_use}; {FIT_HOWTO}"
    if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq", ".json"):
        return None
    columns = _columns(path, suffix)
    if columns is None:
        return None
    lower = {str(c).strip().lower() for c in columns}
    if lower & {"params", "n", "parameters", "model_size", "num_params"} and lower & {"tokens", "d", "data", "num_tokens"}:
        return f"a table of runs, not a fit: fit it first (scalelab fit {path} --out fit.json) and give fit.json"
    if lower & {"step", "steps", "iter", "iteration", "global_step", "_step", "trainer/global_step"}:
        return f"a training log, not a fit file: {log_use}; {FIT_HOWTO}"
    return f"a table, not a fit file (columns: {', '.join(map(str, list(columns)[:8]))}); {FIT_HOWTO}"


def _columns(path: Path, suffix: str) -> list | None:
    """The column names of a table, from its first line (or Parquet schema); None when the
    file is a single JSON document (a fit file may be one) or cannot be read."""
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
            second = fh.readline()
    except (OSError, ValueError, ImportError):
        return None
    if suffix in (".csv", ".tsv"):
        sep = "\t" if suffix == ".tsv" else (";" if ";" in first and "," not in first else ",")
        return [c.strip().strip('"') for c in first.rstrip("\r\n").split(sep)]
    try:  # JSON lines: the first record's keys, when the file holds more than one record
        record = json.loads(first)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or not second.strip():
        return None
    return list(record)


def _is_ladder_plan(path: Path) -> bool:
    """A TOML ladder plan (``scalelab ladder design --out``), by its suffix and a look at its text."""
    if path.suffix.lower() != ".toml" or not path.is_file():
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return False
    return "[[rung]]" in head or head.startswith("# scalelab ladder plan")


def load_json(path: str | Path, what: str = "file"):
    """Read a JSON document; errors name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {str(path)!r} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {str(path)!r} is not valid JSON ({exc})") from None
