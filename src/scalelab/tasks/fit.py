"""Step 2 of a capability forecast: a link from a task loss to a task metric, fitted on the
pilots (and their checkpoints), bootstrapped over runs, chained with a step-1 fit of the
task loss in N and D (:class:`scalelab.fitting.Fit`) so that an interval carries both
steps' uncertainty.

The estimator contract is the core's: ``TaskFit(...).fit(x, y, groups)`` returns itself
with ``params_``, ``ensemble_`` (bootstrap over runs: a run's checkpoints stay together),
``residuals_``; ``predict(x)`` and ``chain(step1, params=, tokens=)`` give a
:class:`TaskForecast` with 80% and 95% intervals; ``to_dict``/``from_dict`` round-trip.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from scalelab.errors import FitError, InputError, NotForecastableWarning
from scalelab.tasks import links

FORMAT, FORMAT_VERSION = "scalelab-task", 1
LEVELS = (0.8, 0.95)
DRAWS = 20000
HUBER_DELTA = 0.01  # residuals beyond one point (of accuracy or error) are down-weighted
NOISE_FLOOR = 3.0  # a task is forecastable when the pilots rise this many noise scales above chance
CEILING_MARGIN = 0.05  # a sigmoid ceiling this close to the best pilot was not observed, only assumed
HOLDOUT = 0.25  # auto: each link fitted without the best quarter of the runs (lowest x), judged on them


@dataclass(frozen=True)
class TaskForecast:
    """A task metric forecast: the value, its intervals, and the task loss it went through."""

    value: float
    intervals: dict = field(default_factory=dict)  # level -> (lo, hi)
    x: float | None = None
    x_interval: tuple | None = None  # 80% of the step-1 task loss, when chained
    forecastable: bool = True

    def to_dict(self) -> dict:
        d = {"value": self.value, "x": self.x, "forecastable": self.forecastable}
        for lv, (lo, hi) in self.intervals.items():
            d[f"lo{100 * lv:g}"], d[f"hi{100 * lv:g}"] = lo, hi
        if self.x_interval is not None:
            d["x_lo80"], d["x_hi80"] = self.x_interval
        return d


class TaskFit:
    """A link from a task loss to a task metric (see :mod:`scalelab.tasks.links`).

    Parameters
    ----------
    link : "sigmoid", "exp", "monotone" or "auto" (the parametric link that predicts the
        best quarter of the runs best when fitted without them).
    chance : the metric of guessing (0.25 for four choices): a task that never rises clear
        of it is not forecastable.
    anchor : fit the sigmoid through the perfect metric at zero task loss (accuracy 1, or
        error 0): when x is the bits per byte of the correct answer, a model that gives it
        probability 1 picks it every time. The OLMo ladder adds this point to its fits; it
        says where the task saturates when the pilots cannot. Set False for another loss
        (a general evaluation loss, where zero loss promises nothing about the task).
    num_bootstrap, seed : resamples over runs.

    Examples
    --------
    >>> x = np.linspace(0.6, 1.4, 40); y = 0.25 + 0.75 / (1 + np.exp(6 * (x - 1.0)))
    >>> f = TaskFit("sigmoid", chance=0.25, num_bootstrap=20).fit(x, y, np.arange(40) // 4)
    >>> round(f.params_["x0"], 2), round(f.predict(0.8).value, 3)
    (1.0, 0.826)
    """

    def __init__(self, link: str = "auto", *, chance: float | None = None, anchor: bool = True,
                 num_bootstrap: int = 200, seed: int = 0):
        if link not in (*links.LINKS, "auto"):
            raise InputError(f"--link {link!r}: choose one of {', '.join((*links.LINKS, 'auto'))}")
        if chance is not None and not 0 <= chance < 1:
            raise InputError(f"--chance {chance}: give the metric of guessing, in [0, 1)")
        if not 0 <= num_bootstrap <= 100_000:
            raise InputError(f"--bootstrap {num_bootstrap}: give a count in [0, 100000]")
        self.link, self.chance, self.anchor, self.num_bootstrap, self.seed = link, chance, anchor, num_bootstrap, seed

    # ------------------------------------------------------------------ fitting
    def fit(self, x, y, groups) -> TaskFit:
        x, y, groups = np.asarray(x, float), np.asarray(y, float), np.asarray(groups)
        if x.size != y.size or x.size != groups.size:
            raise InputError("x, y and the run ids must have one value per row")
        self.n_rows_, self.n_runs_ = int(x.size), int(np.unique(groups).size)
        self.x_range_ = (float(x.min()), float(x.max())) if x.size else (math.nan, math.nan)
        self.scores_ = {}
        falling = x.size > 1 and np.ptp(x) > 0 and np.ptp(y) > 0 and np.corrcoef(x, y)[0, 1] < 0
        self._perfect = 1.0 if falling else 0.0  # accuracy falls as the loss rises; an error rises
        self.link_ = self.link if self.link != "auto" else self._choose(x, y, groups)
        need = len(links.param_names(self.link_)) + 1
        if self.n_runs_ < need:
            raise FitError(f"a {self.link_} link has {need - 1} parameters: fitting it needs at least {need} runs, "
                           f"got {self.n_runs_}")
        self.params_ = self._fit_one(x, y)
        pred = self._eval(x, self.params_)
        self.residuals_ = y - pred
        rng = np.random.default_rng(self.seed)
        ids = np.unique(groups)
        rows = {g: np.flatnonzero(groups == g) for g in ids}
        members = []
        for _ in range(self.num_bootstrap if self.link_ != "monotone" else 0):
            pick = np.concatenate([rows[g] for g in rng.choice(ids, ids.size)])
            try:
                members.append(self._fit_one(x[pick], y[pick], start=self.params_))
            except FitError:
                continue
        names = links.param_names(self.link_)
        self.ensemble_ = {k: np.array([m[k] for m in members], float) for k in names}
        self.forecastable_, self.reasons_ = self._judge(x, y)
        for r in self.reasons_:
            warnings.warn(r, NotForecastableWarning, stacklevel=2)
        return self

    def _eval(self, x, p):
        return links.evaluate(self.link_, x, p)

    def _fit_one(self, x: np.ndarray, y: np.ndarray, start: dict | None = None) -> dict:
        from scipy.optimize import isotonic_regression, least_squares

        if self.link_ == "monotone":
            order = np.argsort(x)
            fitted = isotonic_regression(y[order], increasing=False).x
            return {"knots_x": x[order].tolist(), "knots_y": fitted.tolist()}
        names = links.param_names(self.link_)
        lo, hi = links.bounds(self.link_)
        anchored = self.link_ == "sigmoid" and self.anchor
        guesses = [np.array([start[k] for k in names])] if start else links.starts(
            self.link_, np.append(x, 0.0) if anchored else x, np.append(y, self._perfect) if anchored else y)

        def residuals(p):
            # the points under a Huber loss (robust to a stray checkpoint), written as residuals
            # whose squares are the Huber terms; the anchor, the perfect metric at zero loss, by
            # its plain square: a Huber loss would cap what it says at one point of accuracy
            q = dict(zip(names, p))
            r = links.evaluate(self.link_, x, q) - y
            big = np.abs(r) > HUBER_DELTA
            r = np.where(big, np.sign(r) * np.sqrt(np.maximum(2 * HUBER_DELTA * np.abs(r) - HUBER_DELTA ** 2, 0)), r)
            return np.append(r, links.evaluate(self.link_, 0.0, q) - self._perfect) if anchored else r

        best = None
        for g in guesses:
            g = np.clip(g, lo + 1e-9, np.where(np.isfinite(hi), hi - 1e-9, hi))
            try:
                r = least_squares(residuals, g, bounds=(lo, hi), max_nfev=2000)
            except ValueError:
                continue
            if np.all(np.isfinite(r.x)) and (best is None or r.cost < best.cost):
                best = r
        if best is None:
            raise FitError(f"the {self.link_} link could not be fitted to these points")
        return dict(zip(names, map(float, best.x)))

    def _choose(self, x, y, groups) -> str:
        """The parametric link that predicts the runs with the lowest task loss best when
        fitted on the others (what a forecast does: extrapolate to a lower loss)."""
        by_run = {g: float(np.min(x[groups == g])) for g in np.unique(groups)}
        cut = np.quantile(list(by_run.values()), HOLDOUT)
        test = np.array([by_run[g] <= cut for g in groups])
        for name in ("sigmoid", "exp"):
            self.link_ = name
            try:
                p = self._fit_one(x[~test], y[~test])
                self.scores_[name] = float(np.mean(np.abs(self._eval(x[test], p) - y[test])))
            except FitError:
                continue
        if not self.scores_:
            return "monotone"
        return min(self.scores_, key=self.scores_.get)

    def _judge(self, x, y) -> tuple[bool, list[str]]:
        reasons = []
        noise = 1.4826 * float(np.median(np.abs(self.residuals_ - np.median(self.residuals_)))) or 1e-3
        at = np.quantile(x, 0.1)  # near the best pilots, where a forecast starts
        best = float(self._eval(at, self.params_))  # what the link says there (the best pilot alone is noise's pick)
        if self.chance is not None and abs(best - self.chance) < NOISE_FLOOR * noise:
            reasons.append(f"the metric stays within {NOISE_FLOOR:g} noise scales ({noise:.3g}) of chance "
                           f"({self.chance:g}) up to the best pilots (the link gives {best:.3g} there, the best "
                           f"pilot {np.max(y):.3g}): not forecastable from these runs")
        if self.link_ == "sigmoid" and self.params_["ceil"] < 1 - CEILING_MARGIN \
                and self.params_["ceil"] - float(np.max(y)) < CEILING_MARGIN:
            reasons.append(f"the ceiling is fitted at {self.params_['ceil']:.3g}, within {100 * CEILING_MARGIN:g} points "
                           f"of the best pilot ({np.max(y):.3g}): the pilots do not show where the task saturates, and "
                           "a forecast past them follows that guess")
        if self.ensemble_ and next(iter(self.ensemble_.values())).size:
            vals = np.array([self._eval(at, {k: v[i] for k, v in self.ensemble_.items()})
                             for i in range(next(iter(self.ensemble_.values())).size)])
            lo, hi = np.quantile(vals, [0.025, 0.975])
            if hi - lo > 0.25:
                reasons.append(f"the link is not identified: its 95% interval at the best pilots spans "
                               f"{lo:.3g}-{hi:.3g}")
        return not reasons, reasons

    # ------------------------------------------------------------------ forecasting
    def _draws(self, x: np.ndarray) -> np.ndarray:
        """Metric draws at task-loss draws ``x``: a bootstrap member's link plus a residual."""
        rng = np.random.default_rng(self.seed + 1)
        res = self.residuals_[rng.integers(0, self.residuals_.size, x.size)] if self.residuals_.size else 0.0
        B = next(iter(self.ensemble_.values())).size if self.ensemble_ else 0
        if B == 0:
            return self._eval(x, self.params_) + res
        member = rng.integers(0, B, x.size)
        p = {k: v[member] for k, v in self.ensemble_.items()}
        return self._eval(x, p) + res

    def _forecast(self, value: float, draws: np.ndarray, x: float, x_iv=None) -> TaskForecast:
        draws = np.clip(draws, 0.0, 1.0)
        ivs = {}
        for lv in LEVELS:
            lo, hi = np.quantile(draws, [(1 - lv) / 2, (1 + lv) / 2])
            ivs[lv] = (float(lo), float(hi))
        return TaskForecast(float(np.clip(value, 0, 1)), ivs, x, x_iv, self.forecastable_)

    def predict(self, x: float) -> TaskForecast:
        """The metric at a given task loss (no step-1 uncertainty)."""
        self._check_fitted()
        if not (math.isfinite(x) and x > 0):
            raise InputError(f"--x {x}: give a task loss > 0")
        return self._forecast(float(self._eval(x, self.params_)), self._draws(np.full(DRAWS, float(x))), float(x))

    def chain(self, step1, *, params: float, tokens: float) -> TaskForecast:
        """The metric of a run of ``params`` x ``tokens``: the step-1 fit's task loss (with its
        intervals' draws, extrapolation error included) through this link."""
        self._check_fitted()
        x_point = float(step1.predict(params=params, tokens=tokens).loss)
        xs = step1.sample(DRAWS, params=params, tokens=tokens)
        if xs.size == 0:
            xs = np.full(DRAWS, x_point)
        x_iv = tuple(float(v) for v in np.quantile(xs, [0.1, 0.9]))
        return self._forecast(float(self._eval(x_point, self.params_)), self._draws(xs), x_point, x_iv)

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise FitError("this task link is not fitted: call fit() first")

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "link": self.link_, "link_asked": self.link,
                "chance": self.chance, "anchor": self.anchor, "num_bootstrap": self.num_bootstrap, "seed": self.seed,
                "params": self.params_, "ensemble": {k: v.tolist() for k, v in self.ensemble_.items()},
                "residuals": self.residuals_.tolist(), "n_runs": self.n_runs_, "n_rows": self.n_rows_,
                "x_range": list(self.x_range_), "auto_scores": self.scores_, "forecastable": self.forecastable_,
                "reasons": self.reasons_, "columns": getattr(self, "columns_", {})}

    @classmethod
    def from_dict(cls, d: dict, source: str = "task file") -> TaskFit:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(f"{source} is not a task link (scalelab tasks fit --out); make one with scalelab tasks fit")
        if d.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{source} has task format version {d.get('format_version')!r}; this scalelab reads "
                             f"{FORMAT_VERSION}; refit with scalelab tasks fit")
        try:
            f = cls(d["link_asked"], chance=d["chance"], anchor=bool(d.get("anchor", False)),
                    num_bootstrap=d["num_bootstrap"], seed=d["seed"])
            f.link_, f.params_ = d["link"], d["params"]
            f.ensemble_ = {k: np.asarray(v, float) for k, v in d["ensemble"].items()}
            f.residuals_ = np.asarray(d["residuals"], float)
            f.n_runs_, f.n_rows_, f.x_range_ = d["n_runs"], d["n_rows"], tuple(d["x_range"])
            f.scores_, f.forecastable_, f.reasons_ = d["auto_scores"], d["forecastable"], list(d["reasons"])
            f.columns_ = dict(d.get("columns", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source} is missing or has a bad field ({exc}); refit with scalelab tasks fit") from None
        return f
