"""The run against its forecast: the final loss the law predicts, and the final loss the
curve so far points to.

The law (a fit of L(N, D)) predicts the final loss of a run of N parameters trained on D
tokens, with its interval. A curve in the middle of training does not lie on L(N, t):
warm-up and the learning-rate schedule shape it. The projection therefore uses the law's
*shape* in t, ``a + b t^-beta`` with beta from the law, fitted to the latest half of the
curve and read off at the final token count. On OLMo 2 13B's curve (5T tokens) this
projection is within 1% of the final loss from about 70% of training (benchmarks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalelab.fitting.forecast import Forecast, Interval


@dataclass(frozen=True)
class Projection:
    """Where the run's curve points at the end, against the forecast of its final loss."""

    tokens_now: float
    projected_final: float
    forecast: Forecast
    level: float
    """The forecast interval the run is judged against."""
    fraction_done: float

    @property
    def band(self) -> Interval | None:
        return self.forecast.interval(self.level)

    @property
    def behind(self) -> bool:
        """The projected final loss lies above the forecast's interval."""
        return self.band is not None and self.projected_final > self.band.hi

    @property
    def ahead(self) -> bool:
        """The projected final loss lies below the forecast's interval: better than forecast."""
        return self.band is not None and self.projected_final < self.band.lo

    @property
    def finished(self) -> bool:
        """The run has trained the tokens it was forecast for: its projection is its last loss."""
        return self.fraction_done >= 1.0

    def standing(self) -> str:
        """Where the final loss stands against the interval it is judged on ('BEHIND (above the
        95% interval)', 'AHEAD (below ...)', 'on track (inside ...)'), and where the run is:
        'at 42% of training', or 'finished'."""
        where = "above" if self.behind else "below" if self.ahead else "inside"
        word = "BEHIND" if self.behind else "AHEAD" if self.ahead else "on track"
        word += f" ({where} the {100 * self.level:g}% interval)"
        return f"{word}, finished" if self.finished else f"{word} at {100 * self.fraction_done:.0f}% of training"

    def to_dict(self) -> dict:
        return {"tokens_now": self.tokens_now, "projected_final": self.projected_final,
                "forecast": self.forecast.to_dict(), "level": self.level, "fraction_done": self.fraction_done,
                "behind": self.behind, "ahead": self.ahead, "finished": self.finished}


def project_final(tokens: np.ndarray, loss: np.ndarray, final_tokens: float, beta: float,
                  min_points: int = 6) -> float | None:
    """Fit ``a + b t^-beta`` to the latest half of the curve and evaluate at ``final_tokens``.

    Examples
    --------
    >>> t = np.linspace(1e9, 5e10, 40)
    >>> round(project_final(t, 2.0 + 50 * t**-0.2, 1e11, 0.2), 4) == round(2.0 + 50 * 1e11**-0.2, 4)
    True
    """
    ok = np.isfinite(tokens) & np.isfinite(loss) & (tokens > 0)
    t, y = np.asarray(tokens, float)[ok], np.asarray(loss, float)[ok]
    if t.size < min_points or not beta > 0:
        return None
    k = max(min_points, t.size // 2)
    t, y = t[-k:], y[-k:]
    X = np.column_stack([np.ones_like(t), t ** -beta])
    (a, b), *_ = np.linalg.lstsq(X, y, rcond=None)
    value = a + b * final_tokens ** -beta
    return float(value) if math.isfinite(value) else None


def compare(forecast: Forecast, final_tokens: float, tokens: np.ndarray, loss: np.ndarray,
            level: float = 0.95) -> Projection | None:
    """Projection of the final loss (in the shape of the forecast's law) against the forecast
    and its ``level`` interval."""
    proj = project_final(tokens, loss, final_tokens, forecast.tokens_exponent or 0.0)
    if proj is None:
        return None
    now = float(np.nanmax(tokens))
    done = now / final_tokens if math.isfinite(now) else 0.0
    if done >= 1.0:  # trained to its end (a cooldown's last drop included): the loss is measured, not projected
        ok = np.isfinite(np.asarray(loss, float))
        proj = float(np.asarray(loss, float)[ok][-1]) if ok.any() else proj
    return Projection(now, proj, forecast, level, done)
