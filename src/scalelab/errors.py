"""One exception hierarchy and the named warnings.

Every user error is a :class:`ScalelabError` whose message is one line that names the
input, the value, the rule and the fix. The CLI turns it into exit code 2 without a
traceback. ``assert`` is kept for internal invariants only.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ScalelabError(Exception):
    """Base class of every error caused by user input."""


class InputError(ScalelabError):
    """A runs table, a column or a value that cannot be used."""


class FitError(ScalelabError):
    """Fitting settings that cannot work (too few runs, a bad --fix or --tie)."""


class FitFileError(ScalelabError):
    """A fit.json that is unreadable, from another law or from an incompatible version."""


class MissingDependencyError(ScalelabError):
    """An optional dependency (an extra such as ``scalelab[train]``) is not installed."""


class NotFittedError(ScalelabError, AttributeError):
    """An estimator used before ``fit`` was called."""


class ScalelabWarning(UserWarning):
    """Base class of the warnings scalelab raises about doubtful results."""


class ExtrapolationWarning(ScalelabWarning):
    """A prediction far outside the range of the runs the law was fitted on."""


class IdentifiabilityWarning(ScalelabWarning):
    """The data do not pin down some parameter (wide interval, bound hit, rival optimum)."""


class ConvergenceWarning(ScalelabWarning):
    """The optimiser stopped before it met its tolerance."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
