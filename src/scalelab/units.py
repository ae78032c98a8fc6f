"""Counts as people write them: ``70B``, ``2T``, ``500M``, ``8k`` (one table of suffixes for
command-line flags and table columns alike), and durations as people read them. No
third-party imports: the CLI loads it at start."""

from __future__ import annotations

COUNT_SUFFIXES = {"k": 3, "m": 6, "b": 9, "g": 9, "t": 12, "p": 15}  # powers of ten


def parse_count(text: str | float) -> float:
    """``70B`` -> 7e10 (k, M, B or G, T, P: thousand to quadrillion, any case; ``1.4e12``,
    ``70_000`` and ``1,000`` too); ValueError for anything else.

    >>> parse_count("70B"), parse_count("2t"), parse_count("1.4e12"), parse_count("8.2B"), parse_count("70_000")
    (70000000000.0, 2000000000000.0, 1400000000000.0, 8200000000.0, 70000.0)
    """
    if isinstance(text, (int, float)):
        return float(text)
    t = str(text).strip().replace(",", "")
    power = COUNT_SUFFIXES.get(t[-1:].lower()) if t[-1:].isalpha() else None
    if power is None:
        return float(t)
    mantissa = t[:-1].strip()
    if "e" in mantissa.lower():  # 1.5e3k: unusual, but a number
        return float(mantissa) * 10.0 ** power
    return float(f"{mantissa}e{power}")  # 8.2B is the double nearest 8.2e9, not 8.2 x 1e9


def duration(seconds: float) -> str:
    """Seconds in the unit a person reads them in: ``4.2 s``, ``95 s``, ``12 min``, ``5.5 h``, ``40 days``."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 3:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"
