"""Detectors: small functions over a curve's arrays that return alerts.

Each detector is causal (it uses a point and what came before it, or, for ``spike``, the
one evaluation after it) so the monitor can run it on new points as they arrive. Each
alert names the index and step where the event starts and when it could first be seen.

- ``nonfinite``: NaN or infinite values (seen at once).
- ``spike``: a point far above the curve through its neighbours. The statistic is the
  residual of log loss against a quadratic through the points two before, one before and
  one after (in log tokens or log steps), scaled by the median absolute deviation of the
  same residual over the previous ``window`` points (a robust z-score, as trainspotter's
  median/MAD rule, but against the local curve rather than a flat median). A jump at least
  ``immediate_z`` above the one-step extrapolation is flagged at once, without waiting.
  Both need a relative jump of at least ``min_rel_jump``.
- ``divergence``: the loss rising: the last ``k`` evaluations each above the lowest loss
  before them by ``min_rel_rise`` and increasing on a robust (Theil-Sen) slope; or, with a
  forecast band, ``k`` consecutive evaluations above its upper edge.
- ``stall``: no new step for ``minutes`` while the run should be running.
- ``throughput_drop``: tokens/s below the plan, or below its own recent median, by
  ``drop`` for ``k`` consecutive samples (BLOOM's silent 6% drop from one slow GPU).
- ``grad_norm_spike``: the spike rule on log grad-norm (grad-norm rose before BLOOM's loss
  spike peaked).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

SEVERITY = {"nonfinite": "critical", "divergence": "critical", "spike": "warning", "grad_norm_spike": "warning",
            "stall": "critical", "throughput_drop": "warning", "behind_forecast": "warning"}


@dataclass(frozen=True)
class Alert:
    """One event: where it starts (``index``, ``step``) and where it was first visible."""

    kind: str
    index: int
    step: int
    seen_index: int
    value: float
    message: str

    @property
    def severity(self) -> str:
        return SEVERITY.get(self.kind, "warning")

    @property
    def delay(self) -> int:
        """Evaluations between the event and its detection."""
        return self.seen_index - self.index

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity
        d["value"] = None if not math.isfinite(self.value) else self.value
        return d


def nonfinite(steps: np.ndarray, values: np.ndarray, name: str = "loss", start: int = 0) -> list[Alert]:
    out = []
    for i in range(start, len(values)):
        if not math.isfinite(values[i]):
            out.append(Alert("nonfinite", i, int(steps[i]), i, float(values[i]),
                             f"{name} is not finite (NaN or infinite) at step {int(steps[i])}"))
    return out


def _position(steps: np.ndarray, tokens: np.ndarray | None) -> np.ndarray:
    x = tokens if tokens is not None and np.all(np.isfinite(tokens)) and np.all(tokens > 0) else steps.astype(float)
    return np.log(np.maximum(x, 1.0))


def spike(steps: np.ndarray, values: np.ndarray, tokens: np.ndarray | None = None, *, z: float = 6.0,
          immediate_z: float = 20.0, min_rel_jump: float = 0.001, window: int = 40, burn_in: int = 12,
          start: int = 0, name: str = "loss", kind: str = "spike", repaired: np.ndarray | None = None,
          merge: bool = True) -> list[Alert]:
    """Upward spikes (see the module docstring). Points from ``start`` are examined; a
    flagged point is replaced by the local curve's value before later points use it (and
    written into ``repaired``, when given, so a caller streaming the curve can keep it).
    Consecutive flagged points are one event (``merge=False`` returns every point)."""
    v = np.asarray(values, float)
    n = v.size
    if n < 4:
        return []
    lx = _position(steps, tokens)
    with np.errstate(invalid="ignore", divide="ignore"):
        ly = np.log(v)
    resid = np.full(n, np.nan)
    extrap = np.full(n, np.nan)
    out = []
    for i in range(2, n):
        extrap[i] = _extrap_residual(lx, ly, i)
        if i + 1 < n:
            resid[i] = _interp_residual(lx, ly, i)
        if i < max(start, burn_in) or not np.isfinite(ly[i]):
            continue
        past_e = extrap[max(2, i - window):i]
        past_e = past_e[np.isfinite(past_e)]
        if past_e.size >= 8 and np.isfinite(extrap[i]):
            ze = (extrap[i] - np.median(past_e)) / _mad(past_e)
            if ze > immediate_z and extrap[i] > min_rel_jump:
                out.append(_spike_alert(kind, i, i, steps, v, extrap[i], ze, name))
                ly[i] -= extrap[i]  # repair: later residuals see the curve, not the spike
                resid[i] = extrap[i] = np.nan
                continue
        if not np.isfinite(resid[i]):
            continue
        past = resid[max(2, i - window):i]
        past = past[np.isfinite(past)]
        if past.size < 8:
            continue
        zi = (resid[i] - np.median(past)) / _mad(past)
        if zi > z and resid[i] > min_rel_jump:
            out.append(_spike_alert(kind, i, i + 1, steps, v, resid[i], zi, name))
            ly[i] -= resid[i]
            resid[i] = extrap[i] = np.nan
    if repaired is not None:
        repaired[:] = np.exp(ly)
    return merge_consecutive(out) if merge else out


def merge_consecutive(alerts: list[Alert], after: int | None = None) -> list[Alert]:
    """One alert per event: an alert on the point right after an alerted point (of the same
    kind) continues that event. ``after`` is the index of an earlier alerted point."""
    out, last = [], (after if after is not None else -10)
    for a in sorted(alerts, key=lambda a: a.index):
        if a.index > last + 1:
            out.append(a)
        last = a.index
    return out


def _spike_alert(kind, i, seen, steps, v, jump, zscore, name) -> Alert:
    return Alert(kind, i, int(steps[i]), seen, float(v[i]),
                 f"{name} spike at step {int(steps[i])}: {v[i]:.4g}, {100 * math.expm1(jump):+.2f}% above the "
                 f"local curve ({zscore:.1f} robust sigmas)")


def _interp_residual(lx: np.ndarray, ly: np.ndarray, i: int) -> float:
    """log y[i] minus the quadratic through points i-2, i-1, i+1, evaluated at i."""
    xs = lx[[i - 2, i - 1, i + 1]]
    ys = ly[[i - 2, i - 1, i + 1]]
    if not (np.all(np.isfinite(ys)) and np.all(np.diff(xs) > 0)):
        return np.nan
    return float(ly[i] - _lagrange(xs, ys, lx[i]))


def _extrap_residual(lx: np.ndarray, ly: np.ndarray, i: int, w: int = 6) -> float:
    """log y[i] minus the straight line through the previous ``w`` points, at i."""
    if i < w:
        return np.nan
    xs, ys = lx[i - w:i], ly[i - w:i]
    ok = np.isfinite(ys)
    if ok.sum() < 3 or np.ptp(xs[ok]) <= 0:
        return np.nan
    slope, icpt = np.polyfit(xs[ok], ys[ok], 1)
    return float(ly[i] - (slope * lx[i] + icpt))


def _lagrange(xs, ys, x) -> float:
    total = 0.0
    for j in range(3):
        term = ys[j]
        for m in range(3):
            if m != j:
                term *= (x - xs[m]) / (xs[j] - xs[m])
        total += term
    return total


def _mad(x: np.ndarray, floor: float = 5e-5) -> float:
    return max(1.4826 * float(np.median(np.abs(x - np.median(x)))), floor)


def divergence(steps: np.ndarray, values: np.ndarray, *, k: int = 4, min_rel_rise: float = 0.01,
               upper_band: np.ndarray | None = None, start: int = 0, name: str = "loss") -> list[Alert]:
    """The loss rising for ``k`` evaluations, or above a forecast's upper band ``k`` times running."""
    v = np.asarray(values, float)
    out = []
    in_event = False
    for i in range(max(start, k), len(v)):
        win = v[i - k + 1:i + 1]
        if not np.all(np.isfinite(win)):
            continue
        before = v[:i - k + 1]
        before = before[np.isfinite(before)]
        rising = False
        if before.size:
            floor = before.min()
            rising = bool(np.all(win > floor * (1 + min_rel_rise)) and _theil_sen(np.arange(k), win) > 0)
        above = upper_band is not None and bool(np.all(win > np.asarray(upper_band)[i - k + 1:i + 1]))
        if (rising or above) and not in_event:
            first = i - k + 1
            why = (f"{k} evaluations {100 * (win[-1] / before.min() - 1):+.1f}% above the best loss so far and rising"
                   if rising else f"{k} evaluations above the forecast's upper band")
            out.append(Alert("divergence", first, int(steps[first]), i, float(v[i]),
                             f"{name} diverging from step {int(steps[first])}: {why}"))
            in_event = True
        elif not (rising or above):
            in_event = False
    return out


def _theil_sen(x: np.ndarray, y: np.ndarray) -> float:
    slopes = [(y[j] - y[i]) / (x[j] - x[i]) for i in range(len(x)) for j in range(i + 1, len(x)) if x[j] != x[i]]
    return float(np.median(slopes)) if slopes else 0.0


def throughput_drop(steps: np.ndarray, rate: np.ndarray, *, planned: float | None = None, drop: float = 0.05,
                    k: int = 5, window: int = 50, start: int = 0) -> list[Alert]:
    """Tokens/s at least ``drop`` below the plan (when given) or below the median of the
    previous ``window`` samples, for ``k`` samples running."""
    r = np.asarray(rate, float)
    out = []
    in_event = False
    run = 0
    for i in range(start if start > 0 else 0, len(r)):
        if not np.isfinite(r[i]) or r[i] <= 0:
            continue
        past = r[max(0, i - window - k):max(0, i - k + 1)]
        past = past[np.isfinite(past) & (past > 0)]
        ref = planned if planned else (float(np.median(past)) if past.size >= 10 else None)
        if ref is None:
            continue
        low = r[i] < ref * (1 - drop)
        run = run + 1 if low else 0
        if run >= k and not in_event:
            first = i - k + 1
            what = "the plan" if planned else "its recent median"
            out.append(Alert("throughput_drop", first, int(steps[first]), i, float(r[i]),
                             f"throughput {r[i]:,.0f} tokens/s at step {int(steps[i])}, "
                             f"{100 * (1 - r[i] / ref):.1f}% below {what} ({ref:,.0f}) for {k} samples"))
            in_event = True
        elif not low:
            in_event = False
    return out


def gaps(steps: np.ndarray, wall_time: np.ndarray, *, minutes: float = 30.0) -> list[Alert]:
    """Stalls in a finished log: consecutive logged points more than ``minutes`` apart."""
    w = np.asarray(wall_time, float)
    out = []
    for i in range(1, len(w)):
        if np.isfinite(w[i]) and np.isfinite(w[i - 1]) and (w[i] - w[i - 1]) / 60.0 >= minutes:
            idle = (w[i] - w[i - 1]) / 60.0
            out.append(Alert("stall", i - 1, int(steps[i - 1]), i, idle,
                             f"no new step for {idle:.0f} minutes after step {int(steps[i - 1])}"))
    return out


def stall(last_step: int, last_update_wall: float, now_wall: float, *, minutes: float = 30.0) -> Alert | None:
    """No new step for ``minutes`` (wall-clock seconds since the epoch for both times)."""
    idle = (now_wall - last_update_wall) / 60.0
    if idle < minutes:
        return None
    return Alert("stall", -1, int(last_step), -1, idle,
                 f"no new step for {idle:.0f} minutes (last step {int(last_step)}); the job may hang")
