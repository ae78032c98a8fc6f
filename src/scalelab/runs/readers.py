"""Readers for tables of runs: CSV, TSV, JSONL and Parquet, chosen by file extension."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.table import Runs

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def read_table(path: str | Path, format: str | None = None) -> pd.DataFrame:
    """Read a table file into a DataFrame; errors name the file and the fix."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"runs file {str(path)!r} does not exist; give the path to a CSV, JSONL or Parquet table")
    if path.is_dir():
        raise InputError(f"runs file {str(path)!r} is a directory; give the path to a CSV, JSONL or Parquet table")
    fmt = format or FORMATS.get(path.suffix.lower())
    if fmt not in set(FORMATS.values()):
        raise InputError(
            f"cannot tell the format of {str(path)!r} (extension {path.suffix or 'none'!r}); "
            f"use one of {', '.join(sorted(FORMATS))} or pass --format csv|tsv|jsonl|parquet"
        )
    try:
        if fmt == "csv":
            sep, decimal = _dialect(path)
            df = pd.read_csv(path, sep=sep, decimal=decimal)
        elif fmt == "tsv":
            df = pd.read_csv(path, sep="\t")
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True)
        else:
            df = pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read {str(path)!r} as {fmt}: {first}; check the file or pass --format") from None
    if df.empty:
        raise InputError(f"{str(path)!r} holds no rows; a runs table needs one row per run")
    return df


def _dialect(path: Path) -> tuple[str, str]:
    """A CSV's separator and decimal mark: ',' and '.', or ';' (a header with semicolons and
    no commas, as spreadsheets write where ',' is the decimal mark) with ',' when its numbers
    are written 3,5.

    >>> import tempfile, os
    >>> p = Path(tempfile.mkdtemp()) / "runs.csv"
    >>> _ = p.write_text("run_id;params;loss\\na;1e8;3,5\\n")
    >>> _dialect(p)
    (';', ',')
    """
    import re

    with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
        lines = [fh.readline() for _ in range(50)]
    header, body = lines[0], "".join(lines[1:])
    if ";" not in header or "," in header:
        return ",", "."
    comma = re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", body, re.M)
    point = re.search(r"(^|;)\s*-?\d+\.\d+\s*(;|$)", body, re.M)
    return ";", "," if comma and not point else "."


def read_runs(path: str | Path, *, format: str | None = None, **options) -> Runs:
    """Read and validate a table of runs.

    Parameters
    ----------
    path : CSV, TSV, JSONL or Parquet file, or a ladder's plan (``.toml``: its finished rungs).
    format : override the format implied by the extension.
    **options : passed to :meth:`Runs.from_frame` (column mapping, ``where``, ``all_steps``).

    Examples
    --------
    >>> from scalelab.data import bundled_path
    >>> runs = read_runs(bundled_path("chinchilla"), where="epoch_excluded == 0")
    >>> len(runs)
    240
    """
    path = Path(path)
    if format is None and path.suffix.lower() == ".toml" and path.is_file():
        # a ladder's plan: its finished rungs (loss in bits per byte, N their total parameters)
        from scalelab.ladder.fit import ladder_runs

        df = ladder_runs(path).frame
    else:
        df = read_table(path, format)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Runs.from_frame(df, source=str(path), sha256=digest, **options)
