"""Links from a task loss x (task bits per byte, or a general evaluation loss) to a task
metric y (accuracy or error in [0, 1]), the second step of a two-step capability forecast.

- ``sigmoid`` (Bhagia et al. 2024, OLMo ladder): accuracy falls from a ceiling to a floor
  as the task loss rises, ``y = floor + (ceil - floor) / (1 + exp(k (x - x0)))``. Both ends
  are free in [0, 1]: the pilots sit on the curve's upper part, and a floor held at chance
  bends it there (on the OLMo ladder it pulled ARC-Challenge's forecast 8 points lower).
  :class:`scalelab.tasks.TaskFit` fits it through an anchor, the perfect metric at zero task
  loss, as the OLMo ladder adds that point to its fits.
- ``exp`` (Gadre et al. 2024): an error rising to a plateau with the loss,
  ``y = eps - k exp(-gamma x)``.
- ``monotone``: an isotonic (non-increasing) fit, ``scipy.optimize.isotonic_regression``;
  it cannot extrapolate (it holds its end values), so ``auto`` takes it only when neither
  parametric link can be fitted.
"""

from __future__ import annotations

import numpy as np

LINKS = ("sigmoid", "exp", "monotone")


def sigmoid(x, floor, ceil, k, x0):
    with np.errstate(over="ignore"):
        return floor + (ceil - floor) / (1.0 + np.exp(k * (np.asarray(x, float) - x0)))


def exp_link(x, eps, k, gamma):
    with np.errstate(over="ignore"):
        return eps - k * np.exp(-gamma * np.asarray(x, float))


def param_names(link: str) -> tuple[str, ...]:
    return {"sigmoid": ("floor", "ceil", "k", "x0"), "exp": ("eps", "k", "gamma"), "monotone": ()}[link]


def evaluate(link: str, x, p: dict) -> np.ndarray:
    if link == "sigmoid":
        return sigmoid(x, p["floor"], p["ceil"], p["k"], p["x0"])
    if link == "exp":
        return exp_link(x, p["eps"], p["k"], p["gamma"])
    return np.interp(np.asarray(x, float), p["knots_x"], p["knots_y"])  # monotone: held at its ends


def starts(link: str, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Initial guesses spread over the plausible range (the fit takes the best)."""
    lo, hi = float(np.min(y)), float(np.max(y))
    xs = np.quantile(x, [0.25, 0.5, 0.75])
    span = float(np.ptp(x)) or 1.0
    if link == "sigmoid":
        floor = max(0.0, min(lo, 0.999) - 0.01)
        return [np.array([floor, min(1.0, c), k / span, x0]) for c in (hi + 0.05, (hi + 1) / 2, 1.0)
                for k in (2.0, 8.0) for x0 in xs]
    return [np.array([min(1.0, hi + 0.05), k, g / span]) for k in (0.5, 5.0, 50.0) for g in (0.5, 2.0, 5.0)]


def bounds(link: str) -> tuple[np.ndarray, np.ndarray]:
    if link == "sigmoid":
        return np.array([0.0, 0.0, 1e-6, -np.inf]), np.array([1.0, 1.0, np.inf, np.inf])
    return np.array([0.0, 1e-9, 1e-6]), np.array([1.0, np.inf, np.inf])
