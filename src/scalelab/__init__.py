"""scalelab: forecast a large training run from pilot runs, with honest intervals.

The names below are imported on first use, so that ``import scalelab`` (and the CLI)
does not pay for pandas and scipy when a command does not need them.
"""

from __future__ import annotations

import importlib

from scalelab.version import __version__ as __version__  # re-exported

_LAZY = {
    "ChinchillaLaw": "scalelab.laws",
    "ComputeLaw": "scalelab.laws",
    "ExtrapolationWarning": "scalelab.errors",
    "IdentifiabilityWarning": "scalelab.errors",
    "ScalelabError": "scalelab.errors",
    "Fit": "scalelab.fitting",
    "Runs": "scalelab.runs",
    "read_runs": "scalelab.runs",
    "ModelConfig": "scalelab.planning",
    "get_accelerator": "scalelab.planning",
    "get_preset": "scalelab.planning",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'scalelab' has no attribute {name!r}")
