"""Functional forms of scaling laws. Pure numpy, no I/O."""

from __future__ import annotations

from scalelab.errors import FitError, suggest
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN, Allocation, Law, PowerTerm
from scalelab.laws.chinchilla import ChinchillaLaw
from scalelab.laws.compute import ComputeLaw
from scalelab.laws.data_constrained import DataConstrainedLaw

LAWS: dict[str, type[Law]] = {cls.name: cls for cls in (ChinchillaLaw, ComputeLaw, DataConstrainedLaw)}


def get_law(name: str | type[Law]) -> type[Law]:
    """The law class for a name (``"chinchilla"``, ``"compute"``, ``"data-constrained"``) or the class itself."""
    if isinstance(name, type) and issubclass(name, Law):
        return name
    try:
        return LAWS[str(name).lower()]
    except KeyError:
        raise FitError(
            f"unknown law {name!r}{suggest(str(name), LAWS)}; choose one of {', '.join(LAWS)}"
        ) from None


__all__ = ["FLOPS_PER_PARAM_TOKEN", "LAWS", "Allocation", "ChinchillaLaw", "ComputeLaw", "DataConstrainedLaw", "Law", "PowerTerm", "get_law"]
