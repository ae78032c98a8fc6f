"""Readers for tables of runs: CSV, TSV, JSONL (or a JSON array of rows) and Parquet, chosen by file
extension."""

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
            df = _read_json(path)
        else:
            df = pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read {str(path)!r} as {fmt}: {first}; check the file or pass --format") from None
    if df.empty:
        raise InputError(f"{str(path)!r} holds no rows; a runs table needs one row per run")
    return df


def _read_json(path: Path) -> pd.DataFrame:
    """JSON lines; or one JSON document: an array of row objects, an object of equal-length
    columns, or evalplus's ``eval_results.json`` (``{"eval": {task_id: [sample, ...]}}``, a row
    per sample with its ``task_id``)."""
    import json

    with path.open("rb") as fh:
        first = fh.readline().strip()
    if first[:1] == b"{":
        try:
            json.loads(first)
            return pd.read_json(path, lines=True)  # an object a line
        except ValueError:
            pass
    elif first[:1] != b"[":
        return pd.read_json(path, lines=True)  # says what is wrong
    doc = json.loads(path.read_bytes())
    if isinstance(doc, list):
        if not all(isinstance(r, dict) for r in doc):
            raise ValueError("a JSON array whose items are not all objects (rows)")
        return pd.DataFrame.from_records(doc)
    evals = doc.get("eval") if isinstance(doc, dict) else None
    if isinstance(evals, dict) and all(isinstance(v, list) for v in evals.values()):
        return pd.DataFrame.from_records([{"task_id": task, **sample} for task, samples in evals.items()
                                          for sample in samples if isinstance(sample, dict)])
    if isinstance(doc, dict) and doc and all(isinstance(v, list) for v in doc.values()) \
            and len({len(v) for v in doc.values()}) == 1:
        return pd.DataFrame(doc)
    keys = ", ".join(map(str, list(doc)[:8])) if isinstance(doc, dict) else type(doc).__name__
    raise ValueError(f"one JSON object (keys: {keys}), not a table: give a row per line (JSON lines), an array of "
                     "row objects, or columns of equal length")


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
