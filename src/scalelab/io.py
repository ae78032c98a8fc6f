"""Reading and writing scalelab's own files: fit.json, tables, atomic writes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from scalelab.errors import FitFileError, InputError
from scalelab.fitting import Fit


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write a file so that it is either complete or absent (temp file + rename)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_fit(fit: Fit, path: str | Path) -> Path:
    """Write a fitted :class:`Fit` as JSON, atomically."""
    return atomic_write_text(path, json.dumps(fit.to_dict(), indent=1, allow_nan=True) + "\n")


def load_fit(path: str | Path) -> Fit:
    """Read a fit.json written by :func:`save_fit` or ``scalelab fit --out``."""
    path = Path(path)
    if not path.is_file():
        raise FitFileError(f"fit file {str(path)!r} does not exist; create one with scalelab fit RUNS --out {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FitFileError(f"fit file {str(path)!r} is not valid JSON ({exc}); recreate it with scalelab fit") from None
    return Fit.from_dict(data, source=repr(str(path)))


def load_json(path: str | Path, what: str = "file") -> dict:
    """Read a JSON document; errors name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {str(path)!r} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {str(path)!r} is not valid JSON ({exc})") from None
