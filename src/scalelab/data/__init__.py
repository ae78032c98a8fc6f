"""Public tables shipped with the package (see README.md in this folder for sources and licences)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from scalelab.errors import InputError, suggest

BUNDLED = {
    "chinchilla": "chinchilla_epoch.csv",
    "gadre": "gadre_overtrain.csv",
}


def bundled_path(name: str) -> Path:
    """Path of a bundled table: ``"chinchilla"`` or ``"gadre"``."""
    try:
        return Path(str(files(__name__) / BUNDLED[name]))
    except KeyError:
        raise InputError(f"no bundled table {name!r}{suggest(name, BUNDLED)}; bundled: {', '.join(BUNDLED)}") from None
