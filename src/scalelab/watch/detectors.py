"""Detectors: small functions over a curve's arrays that return alerts.

Each detector is causal (it uses a point and what came before it, or, for ``spike``, the
one point after it, and three for its second look) so the monitor can run it on new points as they arrive. Each
alert names the index and step where the event starts and when it could first be seen.

- ``nonfinite``: NaN or infinite values (seen at once).
- ``spike``: a point far above the curve through its neighbours. The statistic is the
  residual of log loss against a quadratic through the points two before, one before and
  one after (in log tokens or log steps), scaled by the median absolute deviation of the
  same residual over the previous ``window`` points (a robust z-score, as trainspotter's
  median/MAD rule, but against the local curve rather than a flat median). A jump at least
  ``immediate_z`` above the one-step extrapolation is flagged at once, without waiting.
  Both need a relative jump of at least ``min_rel_jump``. A second look three points
  later compares the point with the mean of three points on each side (less noisy than the
  quadratic, so a 10-sigma spike in a per-step log stands out more), at 2 sigmas more.
  Next to a dip (a point 3 robust sigmas below the line through the points before it: a
  small batch of repetitive text), and always in the second look, a spike must also stand
  half its threshold above the median of its neighbours, so the normal point beside a dip
  is not taken for one. A flagged point is repaired (replaced by its curve, or, for the
  immediate rule, by the median of the six points before) before later points use it.
- ``shift``: a spike that stays up (BLOOM's took ~30 steps to come back): ``points``
  consecutive values each ``z`` robust sigmas and ``min_rel_rise`` above the level of the
  six points before them, seen on the last of them (reported as a ``spike``).
- ``divergence``: the loss rising against its own trend, never against its noisy minimum:
  a line in log loss over log position fitted robustly to the points before the window,
  with a noise scale from their spread about it; the last ``k`` points each several noise
  scales above the line, or the last 150 on average many standard errors above it
  (a slow drift in a per-step log), and above the level the loss had just before; or, with
  a forecast band, ``k`` consecutive evaluations above its upper edge.
- ``stall``: no new step for ``minutes`` while the run should be running.
- ``throughput_drop``: the median tokens/s of the last ``k`` samples below the plan by
  ``drop``, or below the run's own recent median by half of ``drop`` and by several
  standard errors of the noise, or of the same comparison's spread before where the speed
  wanders (BLOOM's silent 6% drop from one slow GPU); the monitor groups steps shorter than
  half a second into samples that long.
- ``grad_norm_spike``: the spike rule on log grad-norm (grad-norm rose before BLOOM's loss
  spike peaked); the monitor reports one only when the next step is a spike too
  (``monitor.lasting``): a grad norm up for a single step is one odd batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from scalelab.units import duration

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
          immediate_z: float = 20.0, min_rel_jump: float = 0.001, window: int = 120, burn_in: int = 12,
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
    resid = _interp_residuals(lx, ly)  # every point at once; a repair below recomputes its neighbours
    extrap = _extrap_residuals(lx, ly)
    out = []

    def repair(i: int, by: float) -> None:
        ly[i] -= by  # later residuals see the curve, not the spike
        resid[i] = extrap[i] = np.nan
        for j in range(i + 1, min(n, i + 7)):
            extrap[j] = _extrap_residual(lx, ly, j)
            if j <= i + 2 and j + 1 < n:
                resid[j] = _interp_residual(lx, ly, j)

    # The loop below is exact; it runs only where it could flag a point: where the z-scores
    # of the unrepaired curve (computed at once) pass a threshold, and after a repair, whose
    # changed residuals stay in the windows of the next window + 6 points.
    med_e, mad_e = _rolling_robust(extrap, window, min_count=8)
    med_r, mad_r = _rolling_robust(resid, window, min_count=8)
    with np.errstate(invalid="ignore"):
        maybe = (((extrap - med_e) / mad_e > immediate_z) & (extrap > min_rel_jump)) | \
                (((resid - med_r) / mad_r > z) & (resid > min_rel_jump))
    dip = dip_after = np.zeros(n, bool)
    if maybe.any():  # the loop looks only where a candidate is (or after a repair of one)
        # dips: points far below the line through the points before them (skipping the one
        # just before, for the point after a spike candidate, which must not judge itself)
        skip = _extrap_residuals(lx, ly, gap=1)
        med_s, mad_s = _rolling_robust(skip, window, min_count=8)
        with np.errstate(invalid="ignore"):
            dip = (extrap - med_e) / mad_e < -DIP_Z
            dip_after = (skip - med_s) / mad_s < -DIP_Z
    dirty = [-1]
    for i in _looks(max(2, start, burn_in), n, np.flatnonzero(maybe), dirty):
        if not np.isfinite(ly[i]):
            continue
        past_e = extrap[max(2, i - window):i]
        past_e = past_e[np.isfinite(past_e)]
        if past_e.size >= 8 and np.isfinite(extrap[i]):
            ze = (extrap[i] - np.median(past_e)) / _mad(past_e)
            if (ze > immediate_z and extrap[i] > min_rel_jump
                    and (not dip[max(0, i - 6):i].any()
                         or _above_neighbours(ly, i, list(range(i - 6, i)), immediate_z * _mad(past_e)))):
                out.append(_spike_alert(kind, i, i, steps, v, extrap[i], ze, name))
                # to the level of the points before, not the line's extrapolation: in a noisy,
                # steep start the line through repaired points would run away below the data
                repair(i, ly[i] - _level(ly, i))
                dirty[0] = i + window + 6
                continue
        if not np.isfinite(resid[i]):
            continue
        past = resid[max(2, i - window):i]
        past = past[np.isfinite(past)]
        if past.size < 8:
            continue
        zi = (resid[i] - np.median(past)) / _mad(past)
        if zi > z and resid[i] > min_rel_jump and (
                not (dip[max(0, i - 2):i].any() or dip_after[i + 1])
                or _above_neighbours(ly, i, [i - 3, i - 2, i - 1, i + 1], z * _mad(past))):
            out.append(_spike_alert(kind, i, i + 1, steps, v, resid[i], zi, name))
            repair(i, resid[i])
            dirty[0] = i + window + 6
    out += _wide_spikes(steps, v, ly, {a.index for a in out}, z=z + WIDE_EXTRA_Z, min_rel_jump=min_rel_jump, window=window,
                        burn_in=burn_in, start=start, name=name, kind=kind)
    if repaired is not None:
        repaired[:] = np.exp(ly)
    out.sort(key=lambda a: a.index)
    return merge_consecutive(out) if merge else out


WIDE = 3  # points each side of the wide rule's neighbourhood
# the wide rule asks 2 robust sigmas more: per-step losses of small batches are heavy-tailed
# (healthy pilot runs in tests/data/watch have single-step jumps of 6-8 robust sigmas)
WIDE_EXTRA_Z = 2.0


def _wide_spikes(steps, v, ly, flagged: set, *, z, min_rel_jump, window, burn_in, start, name, kind) -> list[Alert]:
    """The second look, three points later: log y[j] against the mean of the three points
    on each side. Its noise is ~1.08 sigma against the three-point quadratic's ~1.49, so a
    spike of 10 noise sigmas in a per-step log stands ~9 robust sigmas out instead of ~7;
    a curve's bend cancels to first order on a symmetric neighbourhood and, to second, in
    the z-score's median. Points already flagged (or next to one) are skipped; ``z`` here is
    the caller's plus ``WIDE_EXTRA_Z``."""
    n = ly.size
    if n < 2 * WIDE + 10:
        return []
    with np.errstate(invalid="ignore"):
        kernel = np.r_[np.ones(WIDE), 0.0, np.ones(WIDE)] / (2 * WIDE)
        wide = np.full(n, np.nan)
        wide[WIDE:n - WIDE] = ly[WIDE:n - WIDE] - np.convolve(ly, kernel[::-1], mode="valid")
    out = []
    med, mad = _rolling_robust(wide, window, min_count=30)  # exact until a flag blanks a point (as in spike)
    with np.errstate(invalid="ignore"):
        candidates = np.flatnonzero(((wide - med) / mad > z) & (wide > min_rel_jump))
    dirty = [-1]
    for j in _looks(max(burn_in, start - WIDE, WIDE), n - WIDE, candidates, dirty):
        if not np.isfinite(wide[j]) or any(i in flagged for i in (j - 1, j, j + 1)):
            continue
        past = wide[max(WIDE, j - window):j]
        past = past[np.isfinite(past)]
        if past.size < 30:
            continue
        zj = (wide[j] - np.median(past)) / _mad(past)
        if (zj > z and wide[j] > min_rel_jump
                and _above_neighbours(ly, j, [*range(j - WIDE, j), *range(j + 1, j + WIDE + 1)], z * _mad(past))):
            out.append(_spike_alert(kind, j, j + WIDE, steps, v, wide[j], zj, name))
            flagged.add(j)
            ly[j] -= wide[j]
            wide[j] = np.nan
            dirty[0] = j + window
    return out


SHIFT_POINTS = 4  # consecutive points a jump must stay up
SHIFT_Z = 3.0  # robust sigmas of the single-point noise, for every one of them
SHIFT_MIN_RISE = 0.1  # and this share above the level before


def shift(steps: np.ndarray, values: np.ndarray, tokens: np.ndarray | None = None, *,
          points: int = SHIFT_POINTS, z: float = SHIFT_Z, min_rel_rise: float = SHIFT_MIN_RISE,
          window: int = 120, burn_in: int = 12, start: int = 0, name: str = "loss",
          kind: str = "spike") -> list[Alert]:
    """A jump that stays up: ``points`` consecutive values each more than ``z`` robust sigmas
    and ``min_rel_rise`` above the level of the six points before them (their median, in
    log space). The sigma is the single-point noise about the line through the six points
    before, over the ``window`` before, as in :func:`spike`'s immediate rule. A spike that
    lasts (BLOOM's went 2.2 -> 5.1 and took ~30 steps to come back) has no neighbour on the
    curve to be judged against, and in a small-batch log whose points scatter by +-30% its
    first point is not 20 sigmas out; four points in a row 3 sigmas up is what healthy
    noise does not do (13 healthy per-step logs, 122k steps: at most 1.8). Windows from
    ``start`` (their first point) are examined; one alert per run of flagged windows, seen
    at the window's last point."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ly = np.log(np.asarray(values, float))
    n = ly.size
    if n < max(burn_in, 8) + points:
        return []
    lx = _position(steps, tokens)
    extrap = _extrap_residuals(lx, ly)
    med, mad = _rolling_robust(extrap, window, min_count=8)
    view = np.lib.stride_tricks.sliding_window_view
    level = np.full(n, np.nan)
    level[6:] = _row_median(view(ly, 6)[:n - 6])  # row i: the six points before i
    low = np.full(n, np.nan)
    with np.errstate(invalid="ignore"):
        low[:n - points + 1] = view(np.where(np.isfinite(ly), ly, -np.inf), points).min(axis=1)
        rise = low - level
        hit = ((rise - med) / mad > z) & (rise > math.log1p(min_rel_rise))
    hit[:burn_in] = False
    out = []
    for i in np.flatnonzero(hit):
        if i < start or (i > 0 and hit[i - 1]):
            continue  # judged before, or the same jump still up
        zi = float((rise[i] - med[i]) / mad[i])
        out.append(Alert(kind, int(i), int(steps[i]), int(i + points - 1), float(np.exp(ly[i])),
                         f"{name} {100 * math.expm1(rise[i]):+.0f}% or more above its level for {points} "
                         f"steps from step {int(steps[i])} ({zi:.1f} robust sigmas)"))
    return out


# A spike must also stand this share of its threshold above the median of its neighbours:
# a dip among them (a per-step loss of a small batch dips far below its curve now and
# then, on a batch of repetitive text) pulls the curve through them down, and the normal
# point next to it would look like a spike (43 real pilot-run logs: half their false
# spikes were such points).
GUARD = 0.5
DIP_Z = 3.0  # robust sigmas below the line through the points before: a dip


def _above_neighbours(ly: np.ndarray, i: int, near: list[int], threshold: float) -> bool:
    """Whether log y[i] stands ``GUARD`` x ``threshold`` above the median of its ``near``
    points (those inside the curve)."""
    vals = ly[[j for j in near if 0 <= j < ly.size]]
    vals = vals[np.isfinite(vals)]
    return not vals.size or ly[i] - float(np.median(vals)) > GUARD * threshold


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


def _interp_residuals(lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """:func:`_interp_residual` at every point (NaN where it is undefined)."""
    n = ly.size
    out = np.full(n, np.nan)
    if n < 4:
        return out
    i = np.arange(2, n - 1)
    x0, x1, x2, x = lx[i - 2], lx[i - 1], lx[i + 1], lx[i]
    y0, y1, y2 = ly[i - 2], ly[i - 1], ly[i + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        fit = (y0 * (x - x1) * (x - x2) / ((x0 - x1) * (x0 - x2)) + y1 * (x - x0) * (x - x2) / ((x1 - x0) * (x1 - x2))
               + y2 * (x - x0) * (x - x1) / ((x2 - x0) * (x2 - x1)))
        ok = np.isfinite(y0) & np.isfinite(y1) & np.isfinite(y2) & (x1 > x0) & (x2 > x1)
        out[i] = np.where(ok, ly[i] - fit, np.nan)
    return out


def _extrap_residuals(lx: np.ndarray, ly: np.ndarray, w: int = 6, gap: int = 0) -> np.ndarray:
    """:func:`_extrap_residual` at every point: least-squares lines through each run of
    ``w`` points (finite ones, at least 3), from running sums over centred windows; with
    ``gap``, the run ends that many points before the point (skipping them)."""
    n = ly.size
    out = np.full(n, np.nan)
    w0 = w + gap
    if n <= w0:
        return out
    from numpy.lib.stride_tricks import sliding_window_view

    xs = sliding_window_view(lx, w)[:n - w0]  # window ending gap points before point i = w0 .. n-1
    ys = sliding_window_view(ly, w)[:n - w0]
    ok = np.isfinite(ys)
    m = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = xs - np.where(ok, xs, 0).sum(axis=1, keepdims=True) / np.maximum(m, 1)[:, None]
        xc = np.where(ok, xc, 0.0)
        yv = np.where(ok, ys, 0.0)
        sxx = (xc * xc).sum(axis=1)
        slope = (xc * yv).sum(axis=1) / sxx
        mean_y = yv.sum(axis=1) / np.maximum(m, 1)
        mean_x = np.where(ok, xs, 0).sum(axis=1) / np.maximum(m, 1)
        pred = mean_y + slope * (lx[w0:] - mean_x)
        valid = (m >= 3) & (sxx > 0)
        out[w0:] = np.where(valid, ly[w0:] - pred, np.nan)
    return out


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


def _level(ly: np.ndarray, i: int, w: int = 6) -> float:
    """The median of the finite values among the ``w`` points before ``i``."""
    past = ly[max(0, i - w):i]
    past = past[np.isfinite(past)]
    return float(np.median(past)) if past.size else float(ly[i])


def _mad(x: np.ndarray, floor: float = 5e-5) -> float:
    return max(1.4826 * float(np.median(np.abs(x - np.median(x)))), floor)


ROLLING_ROWS = 16384  # windows sorted at a time (x 120 points: 16 MB)


def _rolling_robust(x: np.ndarray, window: int, *, min_count: int, floor: float = 5e-5,
                    scale: bool = False, stride: int = 1, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For every i, the median and :func:`_mad` of the finite values among ``x[i-window:i]``
    (NaN where fewer than ``min_count``), all at once: the same numbers, to the bit, as the
    two functions on each window, in a few sorts instead of a Python loop over the points.
    ``scale``: the MAD of the window divided by its median (throughput's relative noise).
    ``stride``: every stride-th value of each window (``x[i-window:i:stride]``), for a long
    window of a series whose neighbours are alike; ``first``: rows before it are left NaN."""
    n = x.size
    med, mad = np.full(n, np.nan), np.full(n, np.nan)
    padded = np.concatenate((np.full(window, np.nan), np.where(np.isfinite(x), x, np.nan)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)[:n, ::stride]  # row i: x[i-window:i:stride]

    for a in range(max(0, first), n, ROLLING_ROWS):
        rows = np.sort(windows[a:a + ROLLING_ROWS], axis=1)  # NaNs last
        count = np.isfinite(rows).sum(axis=1)
        ok = count >= min_count
        if not ok.any():
            continue
        rows, count = rows[ok], count[ok]
        m = _middle(rows, count)
        if scale:
            rows = rows / m[:, None]
        centre = _middle(rows, count) if scale else m
        dev = np.sort(np.abs(rows - centre[:, None]), axis=1)
        idx = np.flatnonzero(ok) + a
        med[idx], mad[idx] = m, np.maximum(1.4826 * _middle(dev, count), floor)
    return med, mad


def _middle(rows_sorted: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The median of each row of an array sorted along its rows with its NaNs last, given
    each row's count of numbers (NaN where none): np.median's arithmetic, the mean of the two
    middle values."""
    lo = np.take_along_axis(rows_sorted, np.maximum(count - 1, 0)[:, None] // 2, 1)[:, 0]
    hi = np.take_along_axis(rows_sorted, (count // 2)[:, None], 1)[:, 0]
    return np.where(count > 0, (lo + hi) / 2, np.nan)


def _row_median(rows: np.ndarray) -> np.ndarray:
    """The median of the finite values of each row (NaN where none)."""
    rows = np.sort(np.where(np.isfinite(rows), rows, np.nan), axis=1)
    return _middle(rows, np.isfinite(rows).sum(axis=1))


def _next_candidate(candidates: np.ndarray, i: int) -> int | None:
    """The first index in the sorted ``candidates`` at or after ``i``."""
    k = int(np.searchsorted(candidates, i))
    return int(candidates[k]) if k < candidates.size else None


def _looks(first: int, stop: int, candidates: np.ndarray, dirty: list):
    """The indices in [first, stop) worth an exact look: the ``candidates``, and every index
    up to ``dirty[0]``, which the caller raises after a repair changes later windows."""
    i = first - 1
    while True:
        i += 1
        if i > dirty[0]:
            i = _next_candidate(candidates, i)
            if i is None:
                return
        if i >= stop:
            return
        yield i


def divergence(steps: np.ndarray, values: np.ndarray, tokens: np.ndarray | None = None, *, k: int = 4,
               min_rel_rise: float = 0.01, z: float = 4.0, reference: int = 40, long_window: int = 150,
               long_z: float = 4.5, long_min_rel_rise: float = 0.001, long_reference: int = 400, long_every: int = 10,
               upper_band: np.ndarray | None = None, start: int = 0, name: str = "loss",
               settled: int = 0, offset: int = 0) -> list[Alert]:
    """The loss rising against its own trend (see the module docstring), or above a
    forecast's upper band ``k`` times running. Points before index ``settled`` (the run's
    first fall) never serve as a trend's reference; the long window's reference needs at
    least half of ``long_reference`` points after it. ``offset``: the index in the whole run
    of these arrays' first point (a caller passing the run's latest stretch), so the long
    window is judged at the same points, every ``long_every`` of the run, whatever the stretch.

    The trend is a straight line in log loss against log position (tokens, or steps) fitted
    robustly to the points before the window judged (``reference`` of them for the short
    window, ``long_reference`` for the long one), extrapolated over it and never upward; the
    noise scale is the robust spread of those points about the line. Two windows: the last
    ``k`` points each more than ``z`` noise scales (and the line's own extrapolation error,
    and ``min_rel_rise``) above the trend, or the last ``long_window`` points on average more
    than ``long_z`` standard errors (and ``long_min_rel_rise``) above it, judged every
    ``long_every`` points (a slow drift in a per-step log). Either way the window must also
    sit above the level the loss had just before it: a loss that stops falling (a plateau)
    is not diverging.

    False alarms: under Gaussian noise about a locally straight trend, a healthy window
    passes the short rule with probability about P(Z > z)^k (3e-5^4 at z = 4) and the long
    one with P(Z > long_z) (3.4e-6 at 4.5, judged every 10 points: ~0.3 per million points);
    the relative floors keep near-noiseless evaluation curves from flagging sub-percent
    wobbles. Power: a drift of +0.5 noise sigmas per 100 steps is found 150-300 steps after
    it starts (benchmarks/watch_steps.py)."""
    v = np.asarray(values, float)
    n = v.size
    if n <= k:
        return []
    lx = _position(steps, tokens)
    with np.errstate(invalid="ignore", divide="ignore"):
        ly = np.log(v)
    ref_ly = ly.copy()
    ref_ly[:settled] = np.nan  # what the trends are fitted to
    out = []
    in_event = False
    # an event ends after this many points in a row with neither rule passing (the long one is
    # judged only every ``long_every`` points: a drift it sees must not end between its looks)
    quiet = max(k, long_window)
    calm = 0
    short_floor, long_floor = math.log1p(min_rel_rise), math.log1p(long_min_rel_rise)
    # The exact look below (a robust fit per window) is taken only where a vectorized pass
    # over every window says the rule could fire (with thresholds loosened to SCREEN_MARGIN).
    finite = np.isfinite(ly)
    run = np.convolve(finite, np.ones(k, int))[:n]  # finite points among the k to i
    # from ``quiet`` points before ``start`` (an event still going on there passed a rule in
    # them), so that one an earlier call reported is known, as one pass over the whole run
    # would know it, and is not raised again
    begin = max(start - quiet, k)
    ends = np.arange(begin, n)
    ends = ends[run[begin:] == k]
    lo_margin = math.log1p(-0.01)  # and a window a little below the closing level still gets the look
    short = set(_screen(lx, ly, ends, k, reference, lambda res, sigma, se, level, w: (
        np.all(res > SCREEN_MARGIN * np.maximum(z * np.sqrt(sigma[:, None] ** 2 + se ** 2), short_floor), axis=1)
        & (np.median(w, axis=1) > level + lo_margin)), ref_ly=ref_ly).tolist())
    long_ends = ends[(ends + 1 >= long_window + long_reference // 2) & ((ends + offset) % long_every == 0)]

    def long_passes(res, sigma, se, level, w):
        cnt = np.isfinite(res).sum(axis=1)
        mean = np.nanmean(res, axis=1)
        stat = mean / np.sqrt(sigma**2 / cnt + np.nanmean(np.where(np.isfinite(res), se, np.nan), axis=1) ** 2)
        return ((cnt >= long_window // 2) & (stat > SCREEN_MARGIN * long_z) & (mean > SCREEN_MARGIN * long_floor)
                & (np.nanmedian(w, axis=1) > level + lo_margin))

    long = set(_screen(lx, ly, long_ends, long_window, long_reference, long_passes, ref_ly=ref_ly,
                       min_reference=long_reference // 2).tolist())
    band = None if upper_band is None else np.asarray(upper_band, float)
    for i in range(begin, n):
        rising, why = False, ""
        if run[i] == k:
            r = _against_trend(lx, ly, i - k + 1, i + 1, reference, ref_ly) if i in short else None
            if r is not None:
                res, sigma, se_line, level = r
                scale = np.sqrt(sigma**2 + se_line**2)
                rising = bool(np.all(res > np.maximum(z * scale, short_floor)) and np.median(ly[i - k + 1:i + 1]) > level)
                why = f"{k} points {100 * math.expm1(float(np.median(res))):+.1f}% above the trend ({np.min(res) / sigma:.1f}+ sigmas)"
            if not rising and i in long:
                lo_ = i - long_window + 1
                r = _against_trend(lx, ly, lo_, i + 1, long_reference, ref_ly, min_reference=long_reference // 2)
                if r is not None:
                    res, sigma, se_line, level = r
                    ok = np.isfinite(res)
                    if ok.sum() >= long_window // 2:
                        mean = float(res[ok].mean())
                        stat = mean / math.sqrt(sigma**2 / ok.sum() + float(se_line[ok].mean()) ** 2)
                        rising = bool(stat > long_z and mean > long_floor and np.nanmedian(ly[lo_:i + 1]) > level)
                        why = (f"the last {ok.sum()} points {100 * math.expm1(mean):+.2f}% above the trend on average "
                               f"({stat:.0f} standard errors)")
        above = (band is not None and np.all(np.isfinite(v[i - k + 1:i + 1]))
                 and bool(np.all(v[i - k + 1:i + 1] > band[i - k + 1:i + 1])))
        if not (rising or above):
            calm += 1
            in_event = in_event and calm < quiet
            continue
        calm = 0
        if not in_event and i >= start:
            first = i - k + 1
            out.append(Alert("divergence", first, int(steps[first]), i, float(v[i]),
                             f"{name} diverging from step {int(steps[first])}: "
                             + (why if rising else f"{k} evaluations above the forecast's upper band")))
        in_event = True
    return out


def _trends(lx: np.ndarray, ly: np.ndarray, los: np.ndarray, width: int, reference: int,
            ref_ly: np.ndarray | None = None, min_reference: int = 8):
    """:func:`_against_trend` for the windows ``[lo, lo + width)`` of every ``lo`` in ``los``
    at once, as arrays (a row per window; NaN sigma where it returns None). The same fit in
    sums instead of ``polyfit``: equal to rounding, so the caller uses it to find the windows
    worth :func:`_against_trend`'s exact look."""
    pad = np.full(reference, np.nan)
    xs = np.lib.stride_tricks.sliding_window_view(np.concatenate((pad, lx)), reference)[los]
    ys = np.lib.stride_tricks.sliding_window_view(np.concatenate((pad, ly if ref_ly is None else ref_ly)),
                                              reference)[los]
    ok = np.isfinite(ys) & np.isfinite(xs)

    def line(mask):
        m = mask.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mx = np.where(mask, xs, 0).sum(axis=1) / m
            my = np.where(mask, ys, 0).sum(axis=1) / m
            dx = np.where(mask, xs - mx[:, None], 0)
            sxx = (dx * dx).sum(axis=1)
            slope = (dx * np.where(mask, ys - my[:, None], 0)).sum(axis=1) / sxx
            resid = np.where(mask, ys - (slope[:, None] * (xs - mx[:, None]) + my[:, None]), np.nan)
        centre = _row_median(resid)
        sigma = np.maximum(1.4826 * _row_median(np.abs(resid - centre[:, None])), 1e-4)
        return m, mx, my, sxx, slope, resid, centre, sigma

    m, mx, my, sxx, slope, resid, centre, sigma = line(ok)
    with np.errstate(invalid="ignore"):
        keep = ok & (np.abs(resid - centre[:, None]) <= 3 * sigma[:, None])
    refit = (keep.sum(axis=1) >= 8) & (keep.sum(axis=1) < m)
    used = np.where(refit[:, None], keep, ok)
    m2, mx2, my2, sxx2, slope2, _, _, sigma2 = line(used)
    m, mx, my, sxx, slope, sigma = (np.where(refit, b, a) for a, b in
                                    ((m, m2), (mx, mx2), (my, my2), (sxx, sxx2), (slope, slope2), (sigma, sigma2)))
    valid = (ok.sum(axis=1) >= max(8, min_reference)) & (sxx > 0)
    x = np.lib.stride_tricks.sliding_window_view(lx, width)[los]
    with np.errstate(invalid="ignore", divide="ignore"):
        se_line = sigma[:, None] * np.sqrt(1 / m[:, None] + (x - mx[:, None]) ** 2 / sxx[:, None])
    y_used = np.where(used, ys, np.nan)
    flat = slope > 0  # held level at the median, as _against_trend does
    fitted = np.where(flat[:, None], _row_median(y_used)[:, None], slope[:, None] * (x - mx[:, None]) + my[:, None])
    # the closing level: the median of the last quarter (at least 4) of the points used
    from_end = np.cumsum(used[:, ::-1], axis=1)[:, ::-1]
    level = _row_median(np.where(used & (from_end <= np.maximum(4, m // 4)[:, None]), ys, np.nan))
    res = np.lib.stride_tricks.sliding_window_view(ly, width)[los] - fitted
    return res, np.where(valid, sigma, np.nan), se_line, level


TREND_CELLS = 2**19  # points of the vectorized trend's windows at a time (4 MB an array)
SCREEN_MARGIN = 0.8  # the exact look is taken where the vectorized statistic reaches this share of a threshold


def _screen(lx, ly, ends: np.ndarray, width: int, reference: int, passes, ref_ly=None,
            min_reference: int = 8) -> np.ndarray:
    """The window ends among ``ends`` whose vectorized trend ``passes`` (a function of the
    window's residuals, sigma, line errors, its closing level and its log losses) a loosened
    test, in chunks."""
    keep, rows = [], max(64, TREND_CELLS // reference)
    for a in range(0, ends.size, rows):
        e = ends[a:a + rows]
        los = e - width + 1
        res, sigma, se_line, level = _trends(lx, ly, los, width, reference, ref_ly, min_reference)
        window_ly = np.lib.stride_tricks.sliding_window_view(ly, width)[los]
        with np.errstate(invalid="ignore"):
            keep.append(e[np.isfinite(sigma) & passes(res, sigma, se_line, level, window_ly)])
    return np.concatenate(keep) if keep else np.zeros(0, int)


def _against_trend(lx: np.ndarray, ly: np.ndarray, lo: int, hi: int, reference: int, ref_ly: np.ndarray | None = None,
                   min_reference: int = 8):
    """Residuals of log loss at [lo, hi) against a line fitted (robustly: one refit without
    points beyond 3 noise scales) to up to ``reference`` finite points before ``lo``, with
    the noise scale (1.4826 MAD of the reference residuals), the standard error of the
    line's extrapolation at each point, and the reference's closing level (median log loss
    of its last quarter). None with fewer than 8 reference points."""
    a = max(0, lo - reference)
    xs, ys = lx[a:lo], (ly if ref_ly is None else ref_ly)[a:lo]
    ok = np.isfinite(ys)
    if ok.sum() < max(8, min_reference) or np.ptp(xs[ok]) <= 0:
        return None
    xs, ys = xs[ok], ys[ok]
    slope, icpt = np.polyfit(xs, ys, 1)
    resid = ys - (slope * xs + icpt)
    sigma = _mad(resid, floor=1e-4)
    keep = np.abs(resid - np.median(resid)) <= 3 * sigma
    if keep.sum() >= 8 and not keep.all():
        xs, ys = xs[keep], ys[keep]
        slope, icpt = np.polyfit(xs, ys, 1)
        sigma = _mad(ys - (slope * xs + icpt), floor=1e-4)
    x = lx[lo:hi]
    sxx = float(((xs - xs.mean()) ** 2).sum())
    se_line = sigma * np.sqrt(1 / len(xs) + (x - xs.mean()) ** 2 / sxx)
    if slope > 0:  # a trend extrapolated upward would excuse a rise: hold it level instead
        slope, icpt = 0.0, float(np.median(ys))
    level = float(np.median(ys[-max(4, len(ys) // 4):]))
    return ly[lo:hi] - (slope * x + icpt), sigma, se_line, level


def throughput_drop(steps: np.ndarray, rate: np.ndarray, *, planned: float | None = None, drop: float = 0.05,
                    k: int = 5, window: int = 50, noise_window: int = 200, wander_window: int = 2000,
                    z: float = 5.0, start: int = 0, unit: str = "samples") -> list[Alert]:
    """Tokens/s down by about ``drop``: against the plan (when given), the median of the last
    ``k`` samples at least ``drop`` below it; against the run's own recent median (of the
    ``window`` samples before them), at least half of ``drop`` below it and ``z`` standard
    errors of the difference of the two medians below (the noise from the spread of the
    ``noise_window`` samples before them, or from the spread the same comparison had over
    the ``wander_window`` before them where that is larger: throughput that wanders is not a
    drop each time it dips),
    so that a 5% drop in a stream with 2% noise is seen without the noise alone raising it
    (the monitor uses ``k`` = 20: a 5% drop under 2% noise is then ~7.5 standard errors)."""
    r = np.asarray(rate, float)
    if r.size < k:
        return []
    with np.errstate(invalid="ignore"):
        r_ok = np.where(np.isfinite(r) & (r > 0), r, np.nan)
    # the medians and noise of every window at once (index i + 1: the k samples to i; index
    # i - k + 1: the window before them)
    # only the windows the loop below reads (from 2 windows before ``start``, see there), and
    # the medians the spread of their comparison is measured over
    row0 = max(0, start - 2 * window - 2 * k)
    med0 = max(0, row0 - wander_window - 2 * k)
    recent_med = _rolling_robust(np.append(r_ok, np.nan), k, min_count=max(1, k // 2), first=med0)[0][1:]
    recent_n = np.convolve(np.isfinite(r_ok), np.ones(k, int))[:r.size]
    past_n = np.convolve(np.isfinite(r_ok), np.ones(window, int))[:r.size]  # index j: the window ending at j
    past_med = _rolling_robust(r_ok, window, min_count=10, first=med0)[0]
    # the noise from a longer stretch: a MAD of 50 samples is itself 16% uncertain, and the
    # low draws of it, over a long log, raised false drops of 2.5%
    noise = _rolling_robust(r_ok, noise_window, min_count=10, floor=1e-4, scale=True, first=row0)[1]
    # and the spread the statistic itself had over that stretch (each median of k against the
    # median of the window before it): where a machine's speed wanders (a shared host, a
    # neighbour's job) it moves far more than independent noise would move it, and a drop is
    # judged against what the same comparison did before
    shifted = np.full(r.size, np.nan)
    shifted[k - 1:] = past_med[:r.size - k + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = recent_med / shifted - 1
    wander = _rolling_robust(rel, noise_window, min_count=2 * k, floor=1e-4, first=row0)[1]
    # and, once there are enough of them, over ``wander_window`` samples (every tenth: neighbours
    # share most of their samples): the spread of a statistic whose successive values are so
    # alike is itself uncertain, and from 200 of them it read 1.35x the independent noise's one
    # time in ten, raising the threshold past a 5% drop under 2% noise
    stride = max(1, wander_window // noise_window)
    long = _rolling_robust(rel, wander_window, min_count=2 * k, floor=1e-4, stride=stride, first=row0)[1]
    wander = np.where(np.isfinite(long), long, wander)
    out = []
    in_event = False
    calm = 0  # samples in a row without the drop: an event ends after k of them
    # from before ``start``, so that a drop already reported (or judged) in an earlier call is
    # known to be going on, as one pass over the whole run would know it, and not raised again
    for i in range(max(k - 1, start - 2 * window), len(r)):
        if not np.isfinite(recent_med[i]):
            continue
        m = float(recent_med[i])
        if planned:
            ref, low = planned, m < planned * (1 - drop)
        else:
            if not np.isfinite(past_med[i - k + 1]):
                continue
            ref = float(past_med[i - k + 1])
            # both medians are noisy: the difference's standard error counts the reference's too
            se = 1.2533 * float(noise[i - k + 1]) * math.sqrt(1 / recent_n[i] + 1 / past_n[i - k])
            if np.isfinite(wander[i - k + 1]):  # about the same for independent noise; more where it wanders
                se = max(se, float(wander[i - k + 1]))
            low = m < ref * (1 - drop / 2) and (ref - m) / ref > z * se
        if low and not in_event:
            below = np.flatnonzero(r[i - k + 1:i + 1] < ref * (1 - (drop if planned else drop / 2)))
            first = i - k + 1 + (int(below[0]) if below.size else 0)  # where the drop shows first
            what = "the plan" if planned else "its recent median"
            if i >= start:
                out.append(Alert("throughput_drop", first, int(steps[first]), i, m,
                                 f"throughput {m:,.0f} tokens/s (median of {recent_n[i]} {unit} to step {int(steps[i])}), "
                                 f"{100 * (1 - m / ref):.1f}% below {what} ({ref:,.0f})"))
            in_event, calm = True, 0
        elif not low:
            calm += 1
            if calm >= k:
                in_event = False
        else:
            calm = 0
    return out


STALL_FLOOR_S = 60.0  # seconds added to a run's own step interval before a pause is a hang
STALL_DEFAULT_MINUTES = 30.0  # until a run has shown its cadence (ten intervals)


def stall_minutes(intervals_s: np.ndarray, fallback: float = STALL_DEFAULT_MINUTES) -> float:
    """How long without a new step is a hang, from a run's own cadence: twice its median
    interval between logged points, or 1.2x the longest of them (so that a recurring
    evaluation or checkpoint pause is not taken for one), plus ``STALL_FLOOR_S``; before ten
    intervals are known, ``fallback`` minutes. A log written every 40 minutes stalls after
    81; one written every 10 s after 80 s."""
    d = np.asarray(intervals_s, float)
    d = d[np.isfinite(d) & (d > 0)]
    if d.size < 10:
        return fallback
    return (max(2 * float(np.median(d)), 1.2 * float(d.max())) + STALL_FLOOR_S) / 60


def gaps(steps: np.ndarray, wall_time: np.ndarray, *, minutes: float | None = None, history: int = 200,
         branched: np.ndarray | None = None) -> list[Alert]:
    """Stalls in a finished log: consecutive logged points further apart than ``minutes``,
    or (None) than :func:`stall_minutes` of the ``history`` intervals before them (for
    the log's first ten, the ten others among its first eleven). ``branched`` marks the
    points where a run went on from another's state (a WSD branch from its trunk, whose
    steps before it the trunk trained earlier): the time before such a point is no stall."""
    w = np.asarray(wall_time, float)
    d = np.diff(w)
    if branched is not None:
        d[np.asarray(branched, bool)[1:]] = np.nan
    out = []
    with np.errstate(invalid="ignore"):
        candidates = np.flatnonzero(d >= (STALL_FLOOR_S if minutes is None else 60 * minutes)) + 1  # no shorter gap is one
    for i in candidates:
        past = d[max(0, i - 1 - history):i - 1] if i > 10 else np.delete(d[:11], i - 1)  # the start: ten others
        limit = minutes if minutes is not None else stall_minutes(past)
        idle = d[i - 1] / 60.0
        if idle >= limit:
            out.append(Alert("stall", i - 1, int(steps[i - 1]), i, idle,
                             f"no new step for {duration(60 * idle)} after step {int(steps[i - 1])}"))
    return out


def stall(last_step: int, last_update_wall: float, now_wall: float, *, minutes: float = 30.0) -> Alert | None:
    """No new step for ``minutes`` (wall-clock seconds since the epoch for both times)."""
    idle = (now_wall - last_update_wall) / 60.0
    if idle < minutes:
        return None
    return Alert("stall", -1, int(last_step), -1, idle,
                 f"no new step for {duration(60 * idle)} (last step {int(last_step)}); the job may hang")
