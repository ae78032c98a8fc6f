"""One exception hierarchy and the named warnings.

Every user error is a :class:`ScalelabError` whose message is one line that names the
input, the value, the rule and the fix. The CLI turns it into exit code 2 without a
traceback. ``assert`` is kept for internal invariants only.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class ScalelabError(Exception):
    """Base class of every error caused by user input."""


class InputError(ScalelabError):
    """A runs table, a column or a value that cannot be used."""


class FitError(ScalelabError):
    """Fitting settings that cannot work (too few runs, a bad --fix or --tie)."""


class FitFileError(ScalelabError):
    """A fit.json that is unreadable, from another law or from an incompatible version."""


class RunHalted(ScalelabError):
    """A training run stopped itself on an alert it was told to stop on (NaN, divergence)."""


class MissingDependencyError(ScalelabError):
    """An optional dependency (an extra such as ``scalelab[train]``) is not installed."""


class NotFittedError(ScalelabError, AttributeError):
    """An estimator used before ``fit`` was called."""


class ScalelabWarning(UserWarning):
    """Base class of the warnings scalelab raises about doubtful results."""


class ExtrapolationWarning(ScalelabWarning):
    """A prediction far outside the range of the runs the law was fitted on."""


class AllocationWarning(ExtrapolationWarning):
    """A compute-optimal split of N and D far outside the fitted runs' tokens per parameter."""


class IdentifiabilityWarning(ScalelabWarning):
    """The data do not pin down some parameter (wide interval, bound hit, rival optimum)."""


class PlanWarning(ScalelabWarning):
    """A plan that may not work as given: no layout fits, data repeated beyond ~4 epochs."""


class CorpusWarning(ScalelabWarning):
    """Part of a corpus was left out: files in a corpus folder that are not text."""


class OutlierWarning(ScalelabWarning):
    """Runs far off the fitted law (diverged, broken, or from another setup)."""


class ConvergenceWarning(ScalelabWarning):
    """The optimiser stopped before it met its tolerance."""


class NotForecastableWarning(ScalelabWarning):
    """The pilots do not pin a task: its metric stays within noise of chance, or the link
    from task loss to metric is too loosely determined to forecast with."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


@contextmanager
def recording_warnings() -> Iterator[list[str]]:
    """Collect the messages of the warnings raised inside, and raise them again on leaving.

    How scalelab handles warnings, everywhere: the code that notices something doubtful
    raises a named warning (:class:`ScalelabWarning` subclasses); a result that keeps its
    warnings (a ``Forecast``, a ``Plan``) records their messages with this context manager
    and passes the warnings on, so that the caller (the CLI prints each once, on stderr)
    still sees them.

    >>> with warnings.catch_warnings(record=True) as outer:
    ...     warnings.simplefilter("always")
    ...     with recording_warnings() as seen:
    ...         warnings.warn("far out", ExtrapolationWarning)
    >>> seen, [str(w.message) for w in outer]
    (['far out'], ['far out'])
    """
    seen: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield seen
    for w in caught:
        seen.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
