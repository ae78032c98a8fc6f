"""What a fit says about one run: its loss with intervals, typed for the rooms that use it.

A :class:`Forecast` is built by one function, :meth:`scalelab.fitting.Fit.forecast`, and
crosses rooms as it is: ``plan`` puts it in a :class:`~scalelab.planning.Plan`, the ladder
in its ``LadderForecast``, ``watch`` compares a run with it, the report draws it. It
round-trips through JSON (:meth:`Forecast.to_dict` / :meth:`Forecast.from_dict`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Interval:
    """A central prediction interval: ``level`` of the probability lies in ``[lo, hi]``."""

    level: float
    lo: float
    hi: float

    def __contains__(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def to_dict(self) -> dict:
        return {"level": self.level, "lo": self.lo, "hi": self.hi}

    @classmethod
    def from_dict(cls, d: dict) -> Interval:
        return cls(float(d["level"]), float(d["lo"]), float(d["hi"]))


@dataclass(frozen=True)
class Forecast:
    """The loss of one run (given by ``params``/``tokens``, or ``flops``), with its intervals.

    Attributes
    ----------
    loss : the fitted law's point prediction.
    intervals : one :class:`Interval` per level (none when the fit has no bootstrap).
    extrapolation : how far the run lies beyond the fitted runs (1 = inside; 10 = ten times
        beyond the largest, or below the smallest, value of some input).
    params, tokens, flops : the run.
    law : what made the forecast (e.g. ``"fit fit.json"``).
    warnings : the messages of the warnings raised while forecasting (extrapolation ...).
    tokens_exponent : the law's exponent of D (beta): the shape ``a + b D^-beta`` a run's
        curve takes in tokens, with which ``scalelab watch`` projects a run's final loss
        (None for a law without D).
    """

    loss: float
    intervals: tuple[Interval, ...] = ()
    extrapolation: float = 1.0
    params: float | None = None
    tokens: float | None = None
    flops: float | None = None
    law: str = ""
    warnings: tuple[str, ...] = field(default=(), compare=False)
    tokens_exponent: float | None = None

    def interval(self, level: float) -> Interval | None:
        """The interval at ``level`` (0.8 or 0.95 by default), or None."""
        return next((iv for iv in self.intervals if math.isclose(iv.level, level)), None)

    def to_dict(self) -> dict:
        return {"loss": self.loss, "intervals": [iv.to_dict() for iv in self.intervals],
                "extrapolation": self.extrapolation, "params": self.params, "tokens": self.tokens,
                "flops": self.flops, "law": self.law, "warnings": list(self.warnings),
                "tokens_exponent": self.tokens_exponent}

    @classmethod
    def from_dict(cls, d: dict) -> Forecast:
        return cls(loss=float(d["loss"]), intervals=tuple(Interval.from_dict(iv) for iv in d.get("intervals", [])),
                   extrapolation=float(d.get("extrapolation", 1.0)), params=d.get("params"), tokens=d.get("tokens"),
                   flops=d.get("flops"), law=d.get("law", ""), warnings=tuple(d.get("warnings", ())),
                   tokens_exponent=d.get("tokens_exponent"))
