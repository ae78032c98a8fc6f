"""The run against its forecast: the final loss the law predicts, and the final loss the
curve so far points to.

The law (a fit of L(N, D)) predicts the final loss of a run of N parameters trained on D
tokens, with its interval. A curve in the middle of training does not lie on L(N, t):
warm-up and the learning-rate schedule shape it. The projection therefore uses the law's
*shape* in t, ``a + b t^-beta`` with beta from the law, fitted to the latest half of the
curve and read off at the final token count. On OLMo 2 13B's curve (5T tokens) this
projection is within 1% of the final loss from about 70% of training (benchmarks).

A warmup-stable-decay run sits above that shape until its cooldown: on the ladder's WSD
runs the projection from the stable phase was 4-17% above the final loss (5th to 95th
percentile; benchmarks/watch_verdicts.py). While the logged learning rate shows
that the decay is still to come, or under way from a stretch at the peak the projection
reads, the projection is an upper bound: the run is judged BEHIND only if it stays above
the interval after a cooldown of ``COOLDOWN_ALLOWANCE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalelab.fitting.forecast import Forecast, Interval

COOLDOWN_ALLOWANCE = 0.25
"""The most a pending cooldown is taken to remove of the projected loss (on the ladder's WSD
runs on three corpora, the stable phase's projection was 4-17% above the final loss)."""
MIN_COOLDOWN_SHARE = 0.02
"""The least share of a run's tokens a cooldown still to come can take (schedules decay
over 5-20% of training; Hägele et al. 2024 use 10-20%): a run at its peak learning rate
with less than this left is judged as it stands, not as one before its cooldown."""
PEAK_LR = 0.95
"""A learning rate within this fraction of its peak has not decayed (a cosine schedule is
below it from 14% of training on)."""


UNITS_TOLERANCE = 0.04  # a projection within 4% of a bits/nats factor off the forecast is pointed out


@dataclass(frozen=True)
class Projection:
    """Where the run's curve points at the end, against the forecast of its final loss."""

    tokens_now: float
    projected_final: float
    forecast: Forecast
    level: float
    """The forecast interval the run is judged against."""
    fraction_done: float
    cooldown_pending: bool = False
    """The learning rate has not decayed yet, or its decay began inside the stretch the
    projection reads: the projection is an upper bound on the final loss."""
    projected_spread: float = 0.0
    """Half the width of the projection's own 95% interval (the fit's residuals over the
    points it reads): a verdict of BEHIND or AHEAD needs the whole of it past the forecast's."""
    allowance: float = COOLDOWN_ALLOWANCE
    """What a pending cooldown may take off the projection: ``COOLDOWN_ALLOWANCE``, or what
    the ladder's own WSD runs measured (:func:`cooldown_allowance`)."""

    @property
    def band(self) -> Interval | None:
        return self.forecast.interval(self.level)

    @property
    def behind(self) -> bool:
        """The projected final loss lies above the forecast's interval by more than the
        projection's own uncertainty (with a cooldown still to come, even after ``allowance``
        of it is taken off)."""
        allowance = self.allowance if self.cooldown_pending else 0.0
        low = self.projected_final - self.projected_spread
        return self.band is not None and low * (1 - allowance) > self.band.hi

    @property
    def ahead(self) -> bool:
        """The projected final loss lies below the forecast's interval by more than the
        projection's own uncertainty: better than forecast."""
        return self.band is not None and self.projected_final + self.projected_spread < self.band.lo

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
        if where == "inside" and self.band is not None and self.projected_final not in self.band:
            if self.cooldown_pending and self.projected_final - self.projected_spread > self.band.hi:
                word += f" (above the {100 * self.level:g}% interval before a cooldown that can take it inside)"
            else:
                word += f" (the projection's own 95% interval reaches into the forecast's {100 * self.level:g}%)"
        else:
            word += f" ({where} the {100 * self.level:g}% interval)"
        if self.finished:
            return f"{word}, finished{self.units_hint()}"
        later = "; the learning rate's decay is not over, so the projection is an upper bound" \
            if self.cooldown_pending and "cooldown" not in word else ""
        return f"{word} at {100 * self.fraction_done:.0f}% of training{later}{self.units_hint()}"

    def units_hint(self) -> str:
        """A projection off the forecast by the factor between bits and nats (1/ln 2 = 1.443)
        is far likelier a log and a fit in different units than a run 44% behind: said, or ''."""
        if not (self.behind or self.ahead) or not self.forecast.loss > 0:
            return ""
        ratio = self.projected_final / self.forecast.loss
        for factor, what in ((1 / math.log(2), "is the log in bits and the fit in nats"),
                             (math.log(2), "is the log in nats and the fit in bits")):
            if abs(ratio / factor - 1) < UNITS_TOLERANCE:
                return f"; {ratio:.3f}x the forecast, near {factor:.3f}: {what}?"
        return ""

    def to_dict(self) -> dict:
        return {"tokens_now": self.tokens_now, "projected_final": self.projected_final,
                "forecast": self.forecast.to_dict(), "level": self.level, "fraction_done": self.fraction_done,
                "behind": self.behind, "ahead": self.ahead, "finished": self.finished,
                "cooldown_pending": self.cooldown_pending, "projected_spread": self.projected_spread,
                "allowance": self.allowance}


def project_final(tokens: np.ndarray, loss: np.ndarray, final_tokens: float, beta: float,
                  min_points: int = 6) -> float | None:
    """Fit ``a + b t^-beta`` to the latest half of the curve and evaluate at ``final_tokens``.

    Examples
    --------
    >>> t = np.linspace(1e9, 5e10, 40)
    >>> round(project_final(t, 2.0 + 50 * t**-0.2, 1e11, 0.2), 4) == round(2.0 + 50 * 1e11**-0.2, 4)
    True
    """
    got = _project(tokens, loss, final_tokens, beta, min_points)
    return None if got is None else got[0]


def _project(tokens, loss, final_tokens: float, beta: float, min_points: int = 6) -> tuple[float, float] | None:
    """:func:`project_final`'s value and half the width of its 95% interval (least squares,
    Student's t on the residuals)."""
    from scipy import stats

    ok = np.isfinite(tokens) & np.isfinite(loss) & (tokens > 0)
    t, y = np.asarray(tokens, float)[ok], np.asarray(loss, float)[ok]
    if t.size < min_points or not beta > 0:
        return None
    k = _window(t.size, min_points)
    t, y = t[-k:], y[-k:]
    X = np.column_stack([np.ones_like(t), t ** -beta])
    (a, b), *_ = np.linalg.lstsq(X, y, rcond=None)
    x0 = np.array([1.0, final_tokens ** -beta])
    value = float(x0 @ (a, b))
    if not math.isfinite(value):
        return None
    resid = y - X @ (a, b)
    try:
        var = resid @ resid / (k - 2) * (x0 @ np.linalg.solve(X.T @ X, x0))
    except np.linalg.LinAlgError:
        var = math.nan
    spread = float(stats.t.ppf(0.975, k - 2) * math.sqrt(var)) if var >= 0 else math.nan
    return value, spread if math.isfinite(spread) else 0.0


def _window(n: int, min_points: int) -> int:
    """How many of the latest ``n`` points a projection reads: the latest half, at least ``min_points``."""
    return max(min_points, n // 2)


def cooldown_pending(lr: np.ndarray | None, min_points: int = 6) -> bool:
    """Whether a learning-rate decay is still to come (the rate is at its peak), or began
    inside the latest half of the points, which :func:`project_final` reads (a WSD cooldown
    under way). A cosine run's rate falls from the start: neither.

    >>> cooldown_pending(np.r_[np.linspace(0.1, 1, 5), np.ones(20)])  # warm-up, then stable
    True
    >>> cooldown_pending(np.r_[np.ones(20), np.linspace(1, 0.1, 5)])  # decaying from a stretch at the peak
    True
    >>> cooldown_pending(0.5 * (1 + np.cos(np.pi * np.linspace(0, 0.6, 25))))  # cosine at 60%
    False
    """
    if lr is None:
        return False
    lr = np.asarray(lr, float)
    if not np.isfinite(lr).any():
        return False
    peak = np.nanmax(lr)
    if not peak > 0:
        return False
    read = lr[-_window(lr.size, min_points):]
    return bool(np.nanmax(read) >= PEAK_LR * peak) if np.isfinite(read).any() else False


def compare(forecast: Forecast, final_tokens: float, tokens: np.ndarray, loss: np.ndarray,
            level: float = 0.95, lr: np.ndarray | None = None,
            allowance: float | None = None) -> Projection | None:
    """Projection of the final loss (in the shape of the forecast's law) against the forecast
    and its ``level`` interval; ``lr``, the learning rate at each point where the log has it,
    tells whether a cooldown is still to come, and ``allowance`` how much it may take off
    (default ``COOLDOWN_ALLOWANCE``)."""
    got = _project(tokens, loss, final_tokens, forecast.tokens_exponent or 0.0)
    if got is None:
        return None
    proj, spread = got
    now = float(np.nanmax(tokens))
    done = now / final_tokens if math.isfinite(now) else 0.0
    if done >= 1.0:  # trained to its end (a cooldown's last drop included): the loss is measured, not projected
        ok = np.isfinite(np.asarray(loss, float))
        proj, spread = (float(np.asarray(loss, float)[ok][-1]), 0.0) if ok.any() else (proj, spread)
    pending = done < 1.0 - MIN_COOLDOWN_SHARE and cooldown_pending(None if lr is None else _finite_rows(tokens, loss, lr))
    return Projection(now, proj, forecast, level, done, pending, spread,
                      COOLDOWN_ALLOWANCE if allowance is None else allowance)


COOLDOWN_MARGIN = 0.02
"""Added to the largest drop the ladder's runs showed, for the target's own noise."""


def cooldown_allowance(runs, beta: float, fractions=(0.6, 0.7, 0.8, 0.9)) -> dict | None:
    """What a WSD cooldown took off the projection on whole runs that went through one:
    ``runs`` holds ``(tokens, loss, lr, final_tokens)`` per run (the evaluations logged); at
    each of ``fractions`` of a run's tokens where its cooldown was still to come, the
    projection over the run's final loss. Returns ``{"allowance", "max_ratio", "runs",
    "checkpoints"}`` (allowance = 1 - 1 / (max ratio + ``COOLDOWN_MARGIN``), at most
    ``COOLDOWN_ALLOWANCE``), or None where no run had a cooldown to come.

    >>> t = np.linspace(1e6, 1e7, 10); lr = np.r_[np.ones(8), 0.5, 0.1]
    >>> loss = 2 + 30 * t ** -0.3; loss[-2:] *= (0.95, 0.9)
    >>> a = cooldown_allowance([(t, loss, lr, 1e7)], 0.3)
    >>> a["runs"], a["checkpoints"], round(a["max_ratio"], 3), round(a["allowance"], 3)
    (1, 4, 1.111, 0.116)
    """
    ratios, used = [], 0
    for tokens, loss, lr, final_tokens in runs:
        t, y, r = (np.asarray(a, float) for a in (tokens, loss, lr))
        if t.size == 0 or not np.isfinite(y[-1]):
            continue
        before = len(ratios)
        for frac in fractions:
            k = t <= frac * final_tokens
            got = _project(t[k], y[k], final_tokens, beta)
            if got is not None and cooldown_pending(_finite_rows(t[k], y[k], r[k])):
                ratios.append(got[0] / y[-1])
        used += len(ratios) > before
    if not ratios:
        return None
    top = float(max(max(ratios), 1.0))
    return {"allowance": min(COOLDOWN_ALLOWANCE, 1 - 1 / (top + COOLDOWN_MARGIN)), "max_ratio": top,
            "runs": used, "checkpoints": len(ratios)}


def _finite_rows(tokens: np.ndarray, loss: np.ndarray, lr: np.ndarray) -> np.ndarray:
    """``lr`` at the points :func:`project_final` keeps."""
    t, y, lr = (np.asarray(a, float) for a in (tokens, loss, lr))
    return lr[np.isfinite(t) & np.isfinite(y) & (t > 0)]
