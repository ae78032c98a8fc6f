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
    if not path.is_file():
        raise FitFileError(f"fit file {str(path)!r} does not exist; create one with scalelab fit RUNS --out {path}")
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
