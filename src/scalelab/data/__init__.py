"""Public tables shipped with the package (see README.md in this folder for sources and licences)."""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from scalelab.errors import InputError, suggest

BUNDLED = {
    "chinchilla": "chinchilla_epoch.csv",
    "gadre": "gadre_overtrain.csv",
    "accelerators": "accelerators.csv",
    "known_runs": "known_runs_public.csv",
    "austen": "austen.txt.xz",
    "epoch_models": "epoch_ml_systems_2024-11.csv",
    "epoch_benchmarks": "epoch_benchmarks_2024-11.csv",
    "c4_repeats": "muennighoff_c4_repeats.csv",
    "monkeys": "monkeys_pythia_math_counts.csv",
    "step_measurements": "step_measurements.csv",
    "documented_hours": "documented_hours.csv",
}
DEFAULT_FIT = "chinchilla_fit.json"  # the Chinchilla law fitted to chinchilla_epoch.csv (see README.md)


@lru_cache(maxsize=None)
def rows(name: str) -> tuple[dict[str, str], ...]:
    """The rows of a bundled CSV table as dicts of strings (no pandas: the planner starts fast)."""
    with bundled_path(name).open(encoding="utf-8", newline="") as fh:
        return tuple(csv.DictReader(fh))


def default_fit_path() -> Path:
    return Path(str(files(__name__) / DEFAULT_FIT))


def bundled_path(name: str) -> Path:
    """Path of a bundled table: ``"chinchilla"`` or ``"gadre"``."""
    try:
        return Path(str(files(__name__) / BUNDLED[name]))
    except KeyError:
        raise InputError(f"no bundled table {name!r}{suggest(name, BUNDLED)}; bundled: {', '.join(BUNDLED)}") from None
