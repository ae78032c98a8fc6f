"""scalelab: forecast a large training run from pilot runs, with honest intervals."""

from scalelab.errors import (
    ExtrapolationWarning,
    IdentifiabilityWarning,
    ScalelabError,
)
from scalelab.fitting import Fit
from scalelab.laws import ChinchillaLaw, ComputeLaw
from scalelab.runs import Runs, read_runs
from scalelab.version import __version__

__all__ = [
    "ChinchillaLaw",
    "ComputeLaw",
    "ExtrapolationWarning",
    "Fit",
    "IdentifiabilityWarning",
    "Runs",
    "ScalelabError",
    "__version__",
    "read_runs",
]
