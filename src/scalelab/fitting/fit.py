"""The ``Fit`` estimator: a law fitted to runs, with its bootstrap ensemble and diagnostics.

It follows the scikit-learn contract: ``__init__`` stores settings, :meth:`Fit.fit`
validates, computes and returns ``self``, learned values end in ``_``, and using a fit
before fitting raises :class:`~scalelab.errors.NotFittedError`.

Steps of :meth:`Fit.fit`:

1. variable-projection grid over the free exponents -> local minima as starts
   (:mod:`scalelab.fitting.search`);
2. batched robust Levenberg-Marquardt from every start (:mod:`scalelab.fitting.solver`);
   distinct optima are kept, the best is the fit;
3. bootstrap over runs (whole runs when a run has several rows): every resample is
   refined from each competitive optimum, so a rival basin shows up in the intervals;
4. prediction intervals add to each ensemble member's prediction the out-of-bag log
   residuals (residuals of runs a resample left out), i.e. the error a new run of the same
   kind would have had, not the shrunken in-sample residuals.
"""

from __future__ import annotations

import platform
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

from scalelab.errors import (
    AllocationWarning,
    ConvergenceWarning,
    ExtrapolationWarning,
    FitError,
    FitFileError,
    IdentifiabilityWarning,
    InputError,
    NotFittedError,
    OutlierWarning,
    recording_warnings,
)
from scalelab.fitting.forecast import Forecast, Interval
from scalelab.fitting.nonlinear import LOG_DECAY_BOUNDS, effective_starts, is_effective, make_problem
from scalelab.fitting.objective import EXPONENT_BOUNDS, Problem
from scalelab.fitting.params import ParamMap
from scalelab.fitting.solver import refine
from scalelab.laws import Law, get_law
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN
from scalelab.version import __version__

if TYPE_CHECKING:
    import pandas as pd

    from scalelab.runs import Runs

# pandas and scipy are imported inside the methods that fit: loading a fit.json and
# predicting (what `scalelab plan` and `predict` do) needs only numpy, and starts fast.

FORMAT_VERSION = 1
LEVELS = (0.8, 0.95)
NOISE_QUANTILES = 199  # out-of-bag residual quantiles kept for prediction intervals
RIVAL_OBJECTIVE = 0.10  # optima within 10% of the best objective seed the bootstrap too
CALIBRATION_CUTS = (10.0, 10.0**0.5)  # nested backtests at largest compute / these
MIN_CALIBRATION_PREDICTIONS = 5  # fewer cannot measure a spread: the error per decade is then not reported
INTERVAL_DRAWS = 20000  # Monte Carlo draws per predicted point (common to all points)
# A row is an outlier when its log residual is this many robust standard deviations of all
# the residuals from their median, and at least 20% off the law. On the public tables the
# healthy runs reach 10-11 sds (Chinchilla, Gadre) and 14% (Gadre); a Gemstones run of
# another shape (768 wide, 3 deep) sits 5-6% off at 14-17 sds, a real effect of the setup
# that extrapolation meets too (the backtest's coverage falls from 87% to 58% without it);
# two of the five runs Epoch left out of its Chinchilla refit are 22% and 30% off at 34-45
# sds, and a run that blew up hundreds of percent.
OUTLIER_SDS = 15.0
SHAPE_EXTRAPOLATION = 10.0  # a compute-optimal split this far outside the runs' tokens per parameter is warned
OUTLIER_MIN_LOG = float(np.log(1.2))
OUTLIER_MIN_ROWS = 8  # fewer residuals cannot give a robust spread


def _robust_sd(x: np.ndarray) -> float:
    """The median absolute deviation scaled to the standard deviation of normal data."""
    from scipy.stats import median_abs_deviation

    return float(median_abs_deviation(x, scale="normal")) if len(x) else 0.0


def outlier_rows(residuals: np.ndarray) -> np.ndarray:
    """Rows whose log residual is far off the others (see OUTLIER_SDS), as a boolean mask.

    >>> r = np.array([0.001, -0.002, 0.0015, -0.001, 0.0005, 0.002, -0.0015, 0.0, 1.09])
    >>> outlier_rows(r).nonzero()[0].tolist()
    [8]
    """
    residuals = np.asarray(residuals, float)
    if residuals.size < OUTLIER_MIN_ROWS:
        return np.zeros(residuals.size, bool)
    centred = np.abs(residuals - np.median(residuals))
    return (centred > OUTLIER_SDS * _robust_sd(residuals)) & (np.abs(residuals) >= OUTLIER_MIN_LOG)


@dataclass(frozen=True)
class FitResult:
    """How the optimisation went (cf. ``scipy.optimize.OptimizeResult``)."""

    success: bool
    status: int  # 0 converged, 1 stopped at the iteration limit
    message: str
    fun: float  # Huber objective, summed over rows
    nit: int
    num_starts: int
    optima: list[dict] = field(default_factory=list)  # distinct local optima: params, objective
    bootstrap_converged: int = 0
    bootstrap_size: int = 0


@dataclass(frozen=True)
class Calibration:
    """The extrapolation error a fit measured on its own runs (see :meth:`Fit._calibrate`).

    Attributes
    ----------
    status : ``"ok"``, ``"skipped"`` (too few runs for a backtest inside them, or fewer
        than ``MIN_CALIBRATION_PREDICTIONS`` predictions from it) or ``"off"``.
    per_decade : log error added per decade of extrapolation (None unless ok).
    noise_sd : run-to-run noise (robust sd of out-of-bag log residuals).
    cuts : the compute cuts of the inner backtests.
    n_test : predictions the measurement rests on.
    median_abs_rel_error : their median absolute relative error.
    """

    status: str
    per_decade: float | None = None
    noise_sd: float | None = None
    cuts: tuple[float, ...] = ()
    n_test: int = 0
    median_abs_rel_error: float | None = None

    def to_dict(self) -> dict:
        return {"status": self.status, "per_decade": self.per_decade, "noise_sd": self.noise_sd,
                "cuts": list(self.cuts), "n_test": self.n_test, "median_abs_rel_error": self.median_abs_rel_error}

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(status=d["status"], per_decade=d.get("per_decade"), noise_sd=d.get("noise_sd"),
                   cuts=tuple(d.get("cuts", ())), n_test=int(d.get("n_test", 0)),
                   median_abs_rel_error=d.get("median_abs_rel_error"))


@dataclass(frozen=True)
class Prediction:
    """Point forecasts with intervals.

    Attributes
    ----------
    inputs : the law's inputs (arrays).
    loss : point prediction of the fitted law.
    intervals : level -> (lower, upper) arrays.
    extrapolation : how far each point lies outside the fitted runs (1 = inside; 10 = ten
        times beyond the largest, or below the smallest, value of some input).
    """

    inputs: dict[str, np.ndarray]
    loss: np.ndarray
    intervals: dict[float, tuple[np.ndarray, np.ndarray]]
    extrapolation: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = {k: np.ravel(v) for k, v in self.inputs.items()}
        cols["loss"] = np.ravel(self.loss)
        for level, (lo, hi) in sorted(self.intervals.items()):
            cols[f"lo{_pct(level)}"] = np.ravel(lo)
            cols[f"hi{_pct(level)}"] = np.ravel(hi)
        cols["extrapolation"] = np.ravel(self.extrapolation)
        return pd.DataFrame(cols)


@dataclass(frozen=True)
class AllocationForecast:
    """Compute-optimal run for each budget, with intervals from the bootstrap ensemble.

    ``params``/``tokens`` intervals are the spread of each ensemble member's optimum;
    the ``loss`` interval is for a run trained at the point-estimate ``params``/``tokens``.
    """

    flops: np.ndarray
    params: np.ndarray
    tokens: np.ndarray
    loss: Prediction
    params_intervals: dict[float, tuple[np.ndarray, np.ndarray]]
    tokens_intervals: dict[float, tuple[np.ndarray, np.ndarray]]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = {"flops": np.ravel(self.flops), "params": np.ravel(self.params), "tokens": np.ravel(self.tokens)}
        for name, iv in (("params", self.params_intervals), ("tokens", self.tokens_intervals)):
            for level, (lo, hi) in sorted(iv.items()):
                cols[f"{name}_lo{_pct(level)}"] = np.ravel(lo)
                cols[f"{name}_hi{_pct(level)}"] = np.ravel(hi)
        loss = self.loss.to_frame().drop(columns=["params", "tokens"], errors="ignore")
        return pd.concat([pd.DataFrame(cols), loss], axis=1)


def _is_auto(tie) -> bool:
    return tie == "auto" or (isinstance(tie, (list, tuple)) and list(tie) == ["auto"])


class Fit:
    """A scaling law fitted to runs with a robust objective and a bootstrap ensemble.

    Parameters
    ----------
    law : ``"chinchilla"`` (L(N, D)), ``"compute"`` (L(C)) or a law class.
    delta : Huber threshold on log residuals (1e-3 as in Hoffmann et al. and Epoch).
    fix : parameters held at given values, e.g. ``{"E": 1.69}``.
    tie : parameters forced equal, e.g. ``["alpha=beta"]`` (Gadre et al. 2024); ``"auto"``
        chooses between alpha free and alpha tied to beta by a backtest inside the runs:
        each form fitted without the runs of the largest size, judged on how well it
        predicts them (a ladder of few sizes pins the two exponents loosely, and the tie is
        the usual remedy; whether it helps is the data's to say). ``tie_choice_`` says which
        won and by how much.
    num_bootstrap : bootstrap resamples over runs (0 for none: no intervals).
    seed : seed of the bootstrap.
    num_starts : local optimisations started from the grid's best local minima.
    max_extrapolation : warn when predicting beyond this factor of the fitted range.

    Examples
    --------
    >>> from scalelab.data import bundled_path
    >>> from scalelab.runs import read_runs
    >>> runs = read_runs(bundled_path("chinchilla"), where="epoch_excluded == 0")
    >>> fit = Fit("chinchilla", num_bootstrap=50).fit(runs)
    >>> round(fit.params_["alpha"], 3), round(fit.params_["beta"], 3)
    (0.347, 0.367)
    >>> p = fit.predict(params=7e10, tokens=1.4e12)
    >>> bool(p.intervals[0.8][0] < p.loss < p.intervals[0.8][1])
    True
    """

    def __init__(
        self,
        law: str | type[Law] = "chinchilla",
        *,
        delta: float = 1e-3,
        fix: Mapping[str, float] | None = None,
        tie=None,
        num_bootstrap: int = 200,
        seed: int = 0,
        num_starts: int = 8,
        max_extrapolation: float = 100.0,
        calibrate: bool = True,
    ):
        self.law = law
        self.delta = delta
        self.fix = fix
        self.tie = tie
        self.num_bootstrap = num_bootstrap
        self.seed = seed
        self.num_starts = num_starts
        self.max_extrapolation = max_extrapolation
        self.calibrate = calibrate

    def get_params(self) -> dict:
        """The settings given to ``__init__`` (to build an unfitted copy, as backtests do)."""
        return {k: getattr(self, k) for k in (
            "law", "delta", "fix", "tie", "num_bootstrap", "seed", "num_starts", "max_extrapolation", "calibrate")}

    # ------------------------------------------------------------------ fitting
    def fit(self, runs: Runs | pd.DataFrame) -> Fit:
        """Fit the law to ``runs`` and bootstrap it; returns ``self``."""
        import pandas as pd
        import scipy

        from scalelab.fitting.search import grid_starts
        from scalelab.runs import Runs

        law = get_law(self.law)
        self._check_settings()
        if isinstance(runs, pd.DataFrame):
            runs = Runs.from_frame(runs, require=(*law.inputs, "loss"))
        tie, self.tie_choice_ = (self._choose_tie(law, runs) if _is_auto(self.tie) else (self.tie, ""))
        pmap = ParamMap.build(law, self.fix, tie)
        inputs = runs.inputs(law.inputs)
        loss = runs.column("loss")
        num_points = len(pd.DataFrame(inputs).drop_duplicates())
        if num_points < pmap.num_free:
            hint = f" or fix {law.constant} with --fix {law.constant}=1.7" if law.constant in pmap.free else ""
            raise FitError(
                f"fitting {pmap.num_free} parameters needs at least {pmap.num_free} runs at distinct "
                f"{'/'.join(law.inputs)}; got {num_points} — add runs{hint}"
            )
        problem = make_problem(pmap, inputs, loss, self.delta)

        starts, _ = (effective_starts if is_effective(law) else grid_starts)(problem, self.num_starts)
        res = refine(problem, starts)
        order = np.argsort(res.fun)
        optima = _distinct(res.x[order], res.fun[order])
        best_x, best_fun = optima[0]
        best_i = order[0]

        self.law_ = law.from_params(pmap.named(best_x))
        self.params_ = self.law_.params()
        self.free_ = pmap.free
        self.fixed_ = dict(pmap.fixed)
        self.ties_ = [f"{a}={b}" for a, b in pmap.ties]
        self.n_rows_ = len(runs)
        self.n_runs_ = runs.num_runs
        _, r_best, _ = problem.evaluate(best_x[None])
        self.residuals_ = -r_best[0]  # log(actual) - log(predicted)
        self.data_range_ = _data_range(runs, law)
        self.shape_range_ = _shape_range(runs)

        rivals = [x for x, f in optima if f <= best_fun * (1 + RIVAL_OBJECTIVE)][:3]
        ensemble, noise, n_conv = self._bootstrap(problem, runs, rivals)
        self.ensemble_ = ensemble  # dict name -> (B,) array, published parameters
        self.noise_quantiles_ = noise
        self.result_ = FitResult(
            success=bool(res.converged[best_i]),
            status=0 if res.converged[best_i] else 1,
            message="converged" if res.converged[best_i] else "stopped at the iteration limit",
            fun=float(best_fun),
            nit=int(res.nit[best_i]),
            num_starts=len(starts),
            optima=[{"params": pmap.named(x), "objective": float(f)} for x, f in optima[:5]],
            bootstrap_converged=n_conv,
            bootstrap_size=int(next(iter(ensemble.values())).size),  # resamples kept
        )
        self.provenance_ = {
            "source": runs.source,
            "sha256": runs.sha256,
            "selection": runs.selection,
            "scalelab_version": __version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self.warnings_ = []
        self.outliers_ = outlier_rows(self.residuals_)
        if self.outliers_.any():
            self._warn_outliers(runs)
        self.calibration_ = self._calibrate(runs, pmap) if self.calibrate else Calibration("off")
        self._diagnose(pmap, optima, problem)
        return self

    def _warn_outliers(self, runs: Runs) -> None:
        """Name the runs far off the law, by how far, and how to fit without them."""
        idx = np.flatnonzero(self.outliers_)
        ids = runs.frame["run_id"].astype(str).to_numpy()
        order = idx[np.argsort(-np.abs(self.residuals_[idx]))]
        shown = ", ".join(f"{ids[i]} {100 * np.expm1(self.residuals_[i]):+.0f}%" for i in order[:5])
        more = f" and {order.size - 5} more" if order.size > 5 else ""
        names = sorted(set(ids[idx]))
        drop = (f"--where \"run_id != '{names[0]}'\"" if len(names) == 1
                else f"--where \"run_id not in {names[:20]}\"")
        spread = 100 * _robust_sd(self.residuals_)
        self._warn(OutlierWarning,
                   f"{order.size} row{'s' if order.size != 1 else ''} far off the law ({shown}{more}; the others scatter "
                   f"by {spread:.2g}%): diverged, broken or from another setup? The robust fit gives "
                   f"{'them' if order.size != 1 else 'it'} little weight and the extrapolation error is measured "
                   f"without {'them' if order.size != 1 else 'it'}; to fit without, {drop}")

    def _choose_tie(self, law: type[Law], runs: Runs) -> tuple[list[str], str]:
        """``tie="auto"``: alpha free or tied to beta, whichever predicts the runs of the
        largest size better when fitted on the others (mean |log error|)."""
        if not {"alpha", "beta"} <= set(law.param_names()) or "params" not in law.inputs:
            raise InputError(f"--tie auto chooses whether alpha equals beta; the {law.name} law has no such pair")
        size = runs.column("params")
        top = np.sort(size)[::-1][min(len(size), max(3, len(size) // 10)) - 1]
        held = size >= top  # the largest sizes: at least 3 runs, or a tenth of them
        if np.unique(size[~held]).size < 3:
            return [], "auto: alpha free (fewer than 3 sizes below the largest: nothing to judge a tie by)"
        errors = {}
        train, test = runs.select(~held), runs.select(held)
        actual = np.log(test.column("loss"))
        for name, tie in (("free", []), ("alpha=beta", ["alpha=beta"])):
            try:
                settings = {**self.get_params(), "tie": tie, "num_bootstrap": 0, "calibrate": False}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pred = Fit(**settings).fit(train).predict(**test.inputs(law.inputs)).loss
            except (FitError, InputError):
                continue
            errors[name] = float(np.mean(np.abs(np.log(pred) - actual)))
        if not errors:
            return [], "auto: alpha free (neither form could be fitted without the largest size)"
        best = min(errors, key=errors.get)
        detail = ", ".join(f"{k} {100 * v:.2f}%" for k, v in errors.items())
        return ([] if best == "free" else ["alpha=beta"]), (
            f"auto: {'alpha free' if best == 'free' else 'alpha tied to beta'} (the {int(held.sum())} runs of "
            f"{top:.3g} parameters or more, predicted from the smaller ones with a mean error of {detail})")

    def _calibrate(self, runs: Runs, pmap: ParamMap) -> Calibration:
        """Measure how the error grows with extrapolation, by backtests inside the runs.

        For cuts at the largest compute / 10 and / sqrt(10), fit on the runs at or below
        the cut and predict those above. Their log errors e_i at extrapolation factor f_i
        give, by maximum likelihood under e_i ~ N(0, sigma0^2 + (s log10 f_i)^2), the
        error ``s`` per decade of extrapolation, where sigma0 is the run-to-run noise
        (out-of-bag residuals). Prediction intervals then add ``s * log10(f)``.
        """
        import pandas as pd
        from scipy.optimize import minimize_scalar

        flops = runs.column("flops")
        law = pmap.law
        settings = self.get_params() | {"num_bootstrap": 0, "calibrate": False}
        errors, decades, cuts = [], [], []
        for div in CALIBRATION_CUTS:
            cut = float(flops.max() / div)
            train = flops <= cut
            inputs = runs.select(train).inputs(law.inputs)
            if len(pd.DataFrame(inputs).drop_duplicates()) < pmap.num_free + 2 or (~train).sum() < 2:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # doubts about these inner fits are measured, not the user's
                sub = Fit(**settings).fit(runs.select(train))
                test = runs.select(~train & ~self.outliers_)  # a broken run is not the law's extrapolation error
                if not len(test):
                    continue
                pred = sub.predict(**test.inputs(law.inputs))
            errors.append(np.log(test.column("loss")) - np.log(pred.loss))
            decades.append(np.log10(pred.extrapolation))
            cuts.append(cut)
        if not errors:
            self._warn(
                ExtrapolationWarning,
                f"too few runs to measure the extrapolation error (a backtest inside the runs needs "
                f"{pmap.num_free + 2} distinct runs below a third of the largest compute): intervals cover "
                "parameter uncertainty and run-to-run noise only, and will be too narrow far out",
            )
            return Calibration("skipped")
        e, L = np.concatenate(errors), np.concatenate(decades)
        if e.size < MIN_CALIBRATION_PREDICTIONS:
            self._warn(
                ExtrapolationWarning,
                f"the backtests inside the runs make only {e.size} prediction{'s' if e.size != 1 else ''}: too few to "
                f"measure the extrapolation error (at least {MIN_CALIBRATION_PREDICTIONS}); intervals cover parameter "
                "uncertainty and run-to-run noise only, and will be too narrow far out",
            )
            return Calibration("skipped", cuts=tuple(cuts), n_test=int(e.size))
        sigma0 = _noise_sd(self.noise_quantiles_)

        def nll(s: float) -> float:
            v = sigma0**2 + (s * L) ** 2 + 1e-12
            return float(np.sum(np.log(v) + e**2 / v))

        per_decade = float(minimize_scalar(nll, bounds=(0.0, 1.0), method="bounded").x)
        return Calibration("ok", per_decade=per_decade, noise_sd=sigma0, cuts=tuple(cuts), n_test=int(e.size),
                           median_abs_rel_error=float(np.median(np.abs(np.expm1(e)))))

    def _check_settings(self) -> None:
        if not (self.delta > 0):
            raise FitError(f"--delta {self.delta}: the Huber threshold must be > 0 (1e-3 is the usual choice)")
        if int(self.num_bootstrap) != self.num_bootstrap or self.num_bootstrap < 0:
            raise FitError(f"--bootstrap {self.num_bootstrap}: give a whole number >= 0 (200 is the default)")
        if not (self.max_extrapolation >= 1):
            raise FitError(f"max_extrapolation {self.max_extrapolation}: give a factor >= 1")

    def _bootstrap(self, problem: Problem, runs: Runs, rivals: list[np.ndarray]):
        pmap = problem.pmap
        names = pmap.law.param_names()
        B = int(self.num_bootstrap)
        if B == 0:
            return {k: np.empty(0) for k in names}, np.quantile(self.residuals_, _noise_levels()), 0
        rng = np.random.default_rng(self.seed)
        groups, group_of_row = np.unique(runs.frame["run_id"].to_numpy(), return_inverse=True)
        G = groups.size
        # which distinct input points each run holds; a resample must hold enough distinct
        # points to determine the free parameters, else it is drawn again
        _, point_of_row = np.unique(np.column_stack(problem.log_inputs), axis=0, return_inverse=True)
        holds = np.zeros((G, point_of_row.max() + 1), bool)
        holds[group_of_row, point_of_row.ravel()] = True
        need = pmap.num_free
        counts = np.zeros((B, G))
        todo = np.arange(B)
        for _ in range(1000):
            draws = rng.integers(0, G, size=(todo.size, G))
            counts[todo] = 0
            np.add.at(counts, (np.repeat(todo, G), draws.ravel()), 1)
            distinct = ((counts[todo] > 0).astype(int) @ holds > 0).sum(1)
            todo = todo[distinct < need]
            if not todo.size:
                break
        if todo.size:
            counts = np.delete(counts, todo, axis=0)
        W = counts[:, group_of_row]
        best = None
        for start in rivals:
            res = refine(problem, np.repeat(start[None], W.shape[0], 0), W)
            if best is None:
                best = res
            else:
                better = res.fun < best.fun
                best.x[better], best.fun[better] = res.x[better], res.fun[better]
                best.converged[better] = res.converged[better]
        named = [pmap.named(x) for x in best.x]
        ensemble = {k: np.array([d[k] for d in named]) for k in names}
        # out-of-bag log residuals: log(actual) - log(member's prediction) for rows it left out
        _, r, _ = problem.evaluate(best.x)
        oob = -r[W == 0]
        if oob.size < 20:
            oob = self.residuals_
        return ensemble, np.quantile(oob, _noise_levels()), int(best.converged.sum())

    def _diagnose(self, pmap: ParamMap, optima, problem: Problem) -> None:
        law = pmap.law
        # parameters at a bound
        for name in law.param_names():
            if name in pmap.fixed:
                continue
            v = self.params_[name]
            if name == law.constant and v < 1e-3 * float(np.exp(problem.log_loss).min()):
                self._warn(IdentifiabilityWarning, f"{name} fitted at ~0 ({v:.3g}): the runs do not show the loss levelling off; fix it with --fix {name}=VALUE if you know it")
            elif name in getattr(law, "decays", ()) and not (np.exp(LOG_DECAY_BOUNDS[0]) * 1.01 < v < np.exp(LOG_DECAY_BOUNDS[1]) / 1.01):
                self._warn(IdentifiabilityWarning, f"{name} hit its bound ({v:.3g}): the runs do not show how much "
                           f"{'repeated data' if name == 'R_D' else 'parameters beyond the compute-optimal size'} are worth; "
                           f"add runs that {'repeat their data more' if name == 'R_D' else 'are larger than optimal for their data'}, "
                           f"or fix it (--fix {name}={15.39 if name == 'R_D' else 5.31}, the C4 value)")
            elif name not in law.positive_names() and (v < EXPONENT_BOUNDS[0] + 1e-3 or v > EXPONENT_BOUNDS[1] - 1e-3):
                self._warn(IdentifiabilityWarning, f"{name} hit its bound ({v:.3g}): the law's shape is not determined by these runs")
        if hasattr(law, "informing_runs"):
            raw = {k: np.exp(v) for k, v in zip(law.inputs, problem.log_inputs)}
            for name, count in law.informing_runs(self.params_, raw).items():
                if count == 0 and name not in pmap.fixed:
                    what = ("repeats its data (tokens > unique_tokens)" if name == "R_D"
                            else "is larger than compute-optimal for its unique tokens")
                    self._warn(IdentifiabilityWarning, f"no run {what}: {name} is not determined by these runs; add such "
                               f"runs or fix it (--fix {name}={15.39 if name == 'R_D' else 5.31}, the C4 value)")
        r = self.result_
        if not r.success:
            self._warn(ConvergenceWarning, f"the optimiser stopped at its iteration limit after {r.nit} iterations; "
                       "the fit may not be at its optimum")
        if r.bootstrap_size and r.bootstrap_converged < 0.9 * r.bootstrap_size:
            self._warn(ConvergenceWarning, f"only {r.bootstrap_converged} of {r.bootstrap_size} bootstrap resamples "
                       "converged; the intervals use the others as they stopped")
        dof = self.n_runs_ - pmap.num_free
        if dof < 2:
            self._warn(
                IdentifiabilityWarning,
                f"{self.n_runs_} runs for {pmap.num_free} free parameters leave {dof} degree(s) of freedom: "
                "the bootstrap can only drop runs, so intervals mostly show how much each run matters",
            )
        if self.ensemble_ and next(iter(self.ensemble_.values())).size:
            for name in law.positive_names():
                if name in pmap.fixed:
                    continue
                lo, hi = np.quantile(self.ensemble_[name], [0.025, 0.975])
                if lo > 0 and hi / lo > 100:
                    ratio = hi / lo
                    self._warn(
                        IdentifiabilityWarning,
                        f"{name} is poorly determined: its 95% interval [{lo:.3g}, {hi:.3g}] spans "
                        + (f"{ratio:.0f}x" if ratio < 1e6 else f"{ratio:.1e}x (orders of magnitude)"),
                    )
        if len(optima) > 1:
            (x0, f0), (x1, f1) = optima[0], optima[1]
            if f1 <= f0 * (1 + RIVAL_OBJECTIVE):
                far = {k: v[1] * 10 for k, v in self.data_range_.items()}
                p0 = float(np.exp(law.log_predict(pmap.canonical_values(pmap.to_canonical(x0)), far)))
                p1 = float(np.exp(law.log_predict(pmap.canonical_values(pmap.to_canonical(x1)), far)))
                if abs(p1 / p0 - 1) > 0.005:
                    self._warn(
                        IdentifiabilityWarning,
                        f"a second optimum fits almost as well (objective {f1:.4g} vs {f0:.4g}) but predicts "
                        f"{p1:.4g} instead of {p0:.4g} at 10x the largest runs; the intervals include both",
                    )

    def _warn(self, category, message: str) -> None:
        self.warnings_.append({"category": category.__name__, "message": message})
        warnings.warn(message, category, stacklevel=3)

    # --------------------------------------------------------------- prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "law_"):
            raise NotFittedError("this Fit is not fitted yet; call fit(runs) first, or load one with load_fit(path)")

    def predict(self, levels=LEVELS, **inputs) -> Prediction:
        """Loss forecast with intervals at the law's inputs (``params``/``tokens`` or ``flops``).

        The point is the fitted law; intervals are quantiles of the ensemble's predictions
        plus out-of-bag residuals. Warns :class:`ExtrapolationWarning` beyond
        ``max_extrapolation``.
        """
        self._check_fitted()
        law = type(self.law_)
        missing = [k for k in law.inputs if inputs.get(k) is None]
        if missing:
            raise FitError(f"a {law.name} fit predicts from {' and '.join(law.inputs)}; missing {', '.join(missing)}")
        x = {k: np.asarray(inputs[k], float) for k in law.inputs}
        for k, v in x.items():
            if not np.all(np.isfinite(v) & (v > 0)):
                raise FitError(f"{k} must be finite and > 0 to predict; got {v}")
        x = dict(zip(x, np.broadcast_arrays(*x.values())))
        point = self.law_.predict(**x)
        factor = self._extrapolation(x)
        self._warn_extrapolation(x, factor)
        intervals = self._intervals(x, levels, factor)
        return Prediction(inputs=x, loss=point, intervals=intervals, extrapolation=factor)

    @property
    def unit(self) -> str | None:
        """The unit of the fitted loss where the fit records one ("bits per byte" for a
        ladder's), else None (nats per token by convention)."""
        return (getattr(self, "provenance_", None) or {}).get("unit")

    def forecast(self, *, params: float | None = None, tokens: float | None = None, flops: float | None = None,
                 unique_tokens: float | None = None, law: str = "", levels=LEVELS) -> Forecast:
        """The loss of one run with its intervals, as a :class:`Forecast`.

        The one builder of forecasts that leave the fitting room (plan, ladder, watch,
        report). Give ``params`` and ``tokens``, or ``flops`` for a compute law (which also
        takes ``params`` and ``tokens``: C = 6·N·D). ``law`` says what made it, for the
        reader. A data-constrained fit also needs ``unique_tokens`` (the corpus's unique
        tokens). The warnings raised (extrapolation ...) are recorded in the forecast and
        passed on.

        Examples
        --------
        >>> from scalelab.data import default_fit_path
        >>> from scalelab.io import load_fit
        >>> f = load_fit(default_fit_path()).forecast(params=7e10, tokens=1.4e12)
        >>> round(f.loss, 3), f.interval(0.8).lo < f.loss < f.interval(0.8).hi
        (1.973, True)
        """
        self._check_fitted()
        if any(v is not None and np.size(v) != 1 for v in (params, tokens, flops)):
            raise FitError("a forecast is for one run: give single values (predict takes arrays)")
        if flops is None and params is not None and tokens is not None:
            flops = FLOPS_PER_PARAM_TOKEN * float(params) * float(tokens)
        given = {"params": params, "tokens": tokens, "flops": flops, "unique_tokens": unique_tokens}
        given = {k: v for k, v in given.items() if k in self.law_.inputs or k != "unique_tokens"}
        with recording_warnings() as seen:
            p = self.predict(levels=levels, **{k: v for k, v in given.items() if v is not None})
        intervals = tuple(Interval(float(lv), float(lo), float(hi)) for lv, (lo, hi) in sorted(p.intervals.items())
                          if np.isfinite(lo) and np.isfinite(hi))
        beta = self.params_.get("beta") if "tokens" in self.law_.inputs else self.params_.get("gamma")
        return Forecast(loss=float(p.loss), intervals=intervals, extrapolation=float(p.extrapolation),
                        params=None if params is None else float(params), tokens=None if tokens is None else float(tokens),
                        flops=None if flops is None else float(flops), law=law, warnings=tuple(seen),
                        tokens_exponent=None if beta is None else float(beta))

    def _intervals(self, x: dict[str, np.ndarray], levels, factor: np.ndarray) -> dict[float, tuple[np.ndarray, np.ndarray]]:
        """Quantiles of: ensemble member's log prediction + out-of-bag residual +
        extrapolation error ``N(0, (per_decade * log10 factor)^2)``, by Monte Carlo with the
        same draws for every point (so interval curves are smooth)."""
        shape = np.shape(next(iter(x.values())))
        if next(iter(self.ensemble_.values())).size == 0:
            nan = np.full(shape, np.nan)
            return {float(lv): (nan, nan) for lv in levels}
        flat = {k: np.ravel(v) for k, v in x.items()}
        decades = np.log10(np.ravel(factor))
        qs = sorted({q for lv in levels for q in ((1 - lv) / 2, (1 + lv) / 2)})
        out_q = np.empty((len(qs), decades.size))
        for start in range(0, decades.size, 128):
            sl = slice(start, start + 128)
            draws = self._log_draws({k: v[sl] for k, v in flat.items()}, decades[sl])
            out_q[:, sl] = np.quantile(draws, qs, axis=0)
        out = {}
        for lv in levels:
            lo = out_q[qs.index((1 - lv) / 2)]
            hi = out_q[qs.index((1 + lv) / 2)]
            out[float(lv)] = (np.exp(lo).reshape(shape), np.exp(hi).reshape(shape))
        return out

    def _log_draws(self, x: dict[str, np.ndarray], decades: np.ndarray, draws: int = INTERVAL_DRAWS) -> np.ndarray:
        """``draws`` Monte Carlo draws of log loss at the points ``x`` (1-d arrays), shape
        (draws, points): a bootstrap member's prediction, an out-of-bag residual, and the
        extrapolation error at ``decades`` beyond the runs; the same draws for every point."""
        law = type(self.law_)
        B = next(iter(self.ensemble_.values())).size
        rng = np.random.default_rng(self.seed)
        member = rng.integers(0, B, draws)
        noise = self.noise_quantiles_[rng.integers(0, self.noise_quantiles_.size, draws)]
        z = rng.standard_normal(draws) * (self.calibration_.per_decade or 0.0)
        canon = law.to_canonical({k: v[:, None] for k, v in self.ensemble_.items()})
        lp = law.log_predict(canon, {k: v[None, :] for k, v in x.items()})  # (B, m)
        return lp[member] + noise[:, None] + z[:, None] * decades[None, :]

    def sample(self, draws: int = INTERVAL_DRAWS, **inputs) -> np.ndarray:
        """Draws of the loss of one run (the distribution its intervals are quantiles of),
        for chaining a forecast into another model (``scalelab.tasks``). Empty without a bootstrap."""
        self._check_fitted()
        law = type(self.law_)
        x = {k: np.atleast_1d(np.asarray(inputs[k], float)) for k in law.inputs}
        if next(iter(self.ensemble_.values())).size == 0:
            return np.array([])
        decades = np.log10(self._extrapolation(x))
        return np.exp(self._log_draws(x, decades, draws)[:, 0])

    def _extrapolation(self, x: dict[str, np.ndarray]) -> np.ndarray:
        factor = np.ones(np.shape(next(iter(x.values()))))
        for k, v in self._with_flops(x).items():
            lo, hi = self.data_range_[k]
            factor = np.maximum(factor, np.maximum(v / hi, lo / v))
        return factor

    def _with_flops(self, x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = dict(x)
        if "flops" not in x and "params" in x and "tokens" in x and "flops" in self.data_range_:
            x["flops"] = FLOPS_PER_PARAM_TOKEN * x["params"] * x["tokens"]
        return x

    def _warn_extrapolation(self, x: dict[str, np.ndarray], factor: np.ndarray) -> None:
        if not np.any(factor > self.max_extrapolation):
            return
        i = int(np.argmax(factor))
        worst = ""
        for k, v in self._with_flops(x).items():
            lo, hi = self.data_range_[k]
            val = float(np.ravel(v)[i])
            f = max(val / hi, lo / val)
            if np.isclose(f, float(np.ravel(factor)[i])):
                side = f"the largest fitted {k} ({hi:.3g})" if val > hi else f"the smallest fitted {k} ({lo:.3g})"
                worst = f"{k}={val:.3g} is {f:.0f}x beyond {side}"
                break
        warnings.warn(
            f"extrapolating past {self.max_extrapolation:g}x the fitted range: {worst}; "
            "the interval assumes the law holds that far",
            ExtrapolationWarning,
            stacklevel=3,
        )

    def _warn_shape(self, ratio: np.ndarray, flops: np.ndarray) -> None:
        """Warn when a compute-optimal run's tokens per parameter lie more than
        ``SHAPE_EXTRAPOLATION`` times outside those of the fitted runs: the split then follows
        from the exponents alone, far from any run that measured it."""
        shape = getattr(self, "shape_range_", None)
        ratio = np.atleast_1d(np.asarray(ratio, float))
        if not shape or not np.all(np.isfinite(ratio)):
            return
        lo, hi = shape
        off = np.maximum(ratio / hi, lo / ratio)
        if not np.any(off > SHAPE_EXTRAPOLATION):
            return
        i = int(np.argmax(off))
        exps = ", ".join(f"{k} {self.params_[k]:.3g} (80%: {a:.3g}–{b:.3g})" for k, (a, b) in
                         self.param_intervals(0.8).items() if k in ("alpha", "beta"))
        warnings.warn(f"the compute-optimal run at {float(np.ravel(flops)[i]):.3g} FLOPs has {ratio[i]:.3g} tokens per "
                      f"parameter, {off[i]:.0f}x outside the fitted runs' {lo:.3g}–{hi:.3g}: its split of N and D "
                      f"follows from the exponents alone ({exps})", AllocationWarning, stacklevel=3)

    def optimal_allocation(self, flops, flops_per_token=FLOPS_PER_PARAM_TOKEN, levels=LEVELS,
                           unique_tokens=None) -> AllocationForecast:
        """Compute-optimal N and D for FLOP budgets, with intervals (laws with an allocation only).
        A data-constrained fit needs ``unique_tokens``: the optimum when only that much data exists."""
        self._check_fitted()
        if not hasattr(self.law_, "optimal_allocation"):
            raise FitError(
                f"the {self.law_.name} law has no compute-optimal allocation; fit the chinchilla law to get N and D"
            )
        C = np.asarray(flops, float)
        if not np.all(np.isfinite(C) & (C > 0)):
            raise FitError(f"compute must be finite and > 0 FLOPs; got {flops}")
        extra = {}
        if "unique_tokens" in self.law_.inputs:
            if unique_tokens is None:
                raise FitError("a data-constrained fit allocates a budget for a given corpus: give its unique tokens "
                               "(--unique-tokens U)")
            C, U = np.broadcast_arrays(C, np.asarray(unique_tokens, float))
            extra = {"unique_tokens": U}
        point = self.law_.optimal_allocation(C, flops_per_token, **extra)
        self._warn_shape(point.tokens / point.params, C)
        loss = self.predict(levels=levels, params=point.params, tokens=point.tokens, **extra)
        law = type(self.law_)
        B = next(iter(self.ensemble_.values())).size
        Ns, Ds = [], []
        for b in range(B):
            member = law.from_params({k: v[b] for k, v in self.ensemble_.items()})
            # a member far out in a poorly determined ensemble can put N at 0 or infinity:
            # it counts as no allocation (NaN), not as a numpy warning in the user's output
            with np.errstate(all="ignore"):
                a = member.optimal_allocation(C, flops_per_token, **extra)
            ok = np.isfinite(a.params) & np.isfinite(a.tokens) & (a.params > 0) & (a.tokens > 0)
            Ns.append(np.where(ok, a.params, np.nan))
            Ds.append(np.where(ok, a.tokens, np.nan))
        piv, tiv = {}, {}
        for lv in levels:
            q = [(1 - lv) / 2, (1 + lv) / 2]
            if B:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # a budget no member allocates: NaN
                    piv[float(lv)] = tuple(np.nanquantile(np.array(Ns), q, axis=0))
                    tiv[float(lv)] = tuple(np.nanquantile(np.array(Ds), q, axis=0))
            else:
                nan = np.full(C.shape, np.nan)
                piv[float(lv)] = tiv[float(lv)] = (nan, nan)
        return AllocationForecast(C, point.params, point.tokens, loss, piv, tiv)

    def param_intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Bootstrap percentile interval of each published parameter."""
        self._check_fitted()
        q = [(1 - level) / 2, (1 + level) / 2]
        out = {}
        for k, v in self.ensemble_.items():
            out[k] = tuple(float(t) for t in np.quantile(v, q)) if v.size else (float("nan"), float("nan"))
        return out

    # ------------------------------------------------------------ serialising
    def to_dict(self) -> dict:
        """Everything needed to predict, as plain JSON types."""
        self._check_fitted()
        r = self.result_
        return {
            "format": "scalelab-fit",
            "format_version": FORMAT_VERSION,
            "law": self.law_.name,
            "formula": self.law_.formula,
            "params": self.params_,
            "intervals": {f"{_pct(lv)}%": self.param_intervals(lv) for lv in LEVELS},
            "free": list(self.free_),
            "fixed": self.fixed_,
            "ties": self.ties_,
            **({"tie_choice": self.tie_choice_} if getattr(self, "tie_choice_", "") else {}),
            "settings": {
                "delta": self.delta,
                "num_bootstrap": int(self.num_bootstrap),
                "seed": self.seed,
                "num_starts": self.num_starts,
                "max_extrapolation": self.max_extrapolation,
                "calibrate": self.calibrate,
            },
            "objective": r.fun,
            "n_runs": self.n_runs_,
            "n_rows": self.n_rows_,
            "result": {
                "success": r.success,
                "status": r.status,
                "message": r.message,
                "nit": r.nit,
                "num_starts": r.num_starts,
                "optima": r.optima,
                "bootstrap_converged": r.bootstrap_converged,
                "bootstrap_size": r.bootstrap_size,
            },
            "residuals": residual_summary(self.residuals_) if self.residuals_.size else dict(getattr(self, "_residuals_read", {})),
            "data_range": {k: [float(a), float(b)] for k, (a, b) in self.data_range_.items()},
            **({"tokens_per_param_range": list(self.shape_range_)} if getattr(self, "shape_range_", None) else {}),
            "ensemble": {k: v.tolist() for k, v in self.ensemble_.items()},
            "noise_quantiles": self.noise_quantiles_.tolist(),
            "calibration": self.calibration_.to_dict(),
            "warnings": self.warnings_,
            "provenance": self.provenance_,
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "fit") -> Fit:
        """Rebuild a fitted ``Fit`` from :meth:`to_dict` output; errors name what is wrong."""
        if not isinstance(d, dict) or d.get("format") != "scalelab-fit":
            if isinstance(d, dict) and "law" in d and "params" in d:  # what `fit --json` / `ladder fit --json` print
                raise FitFileError(f"{source} is a command's --json summary, not a fit file; write the fit with --out: "
                                   "scalelab fit RUNS --out fit.json, or scalelab ladder fit PLAN --out fit.json")
            raise FitFileError(f"{source} is not a scalelab fit (no \"format\": \"scalelab-fit\"); create one with scalelab fit RUNS --out fit.json")
        if d.get("format_version") != FORMAT_VERSION:
            raise FitFileError(
                f"{source} has fit format version {d.get('format_version')!r}; this scalelab ({__version__}) reads "
                f"version {FORMAT_VERSION}; refit with scalelab fit"
            )
        try:
            law = get_law(d["law"])
            s = d["settings"]
            fit = cls(law.name, delta=s["delta"], fix=d["fixed"], tie=d["ties"], num_bootstrap=s["num_bootstrap"],
                      seed=s["seed"], num_starts=s["num_starts"], max_extrapolation=s["max_extrapolation"],
                      calibrate=s["calibrate"])
            fit.law_ = law.from_params(d["params"])
            fit.params_ = fit.law_.params()
            fit.free_ = tuple(d["free"])
            fit.fixed_ = dict(d["fixed"])
            fit.ties_ = list(d["ties"])
            fit.tie_choice_ = str(d.get("tie_choice", ""))
            fit.n_runs_ = int(d["n_runs"])
            fit.n_rows_ = int(d["n_rows"])
            fit.ensemble_ = {k: np.asarray(d["ensemble"][k], float) for k in law.param_names()}
            fit.noise_quantiles_ = np.asarray(d["noise_quantiles"], float)
            fit.calibration_ = Calibration.from_dict(d["calibration"])
            fit.data_range_ = {k: tuple(v) for k, v in d["data_range"].items()}
            fit.shape_range_ = tuple(d["tokens_per_param_range"]) if d.get("tokens_per_param_range") else None
            res = d["result"]
            fit.result_ = FitResult(fun=float(d["objective"]), **res)
            fit.residuals_ = np.asarray([], float)  # the runs are not in the file: their summary is
            fit._residuals_read = dict(d.get("residuals", {}))
            fit.warnings_ = list(d.get("warnings", []))
            fit.provenance_ = dict(d.get("provenance", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise FitFileError(f"{source} is missing or has a bad field ({exc}); refit with scalelab fit") from None
        return fit


def predict_table(fit: Fit, *, params=None, tokens=None, flops=None, unique_tokens=None,
                  flops_per_token: float = FLOPS_PER_PARAM_TOKEN) -> tuple[str, pd.DataFrame]:
    """What ``scalelab predict`` prints, one row per run or budget, with intervals.

    With ``flops``: the compute-optimal N, D and loss of each budget (a law of N and D;
    ``"allocation"``), or the loss (a compute law; ``"loss"``). With ``params`` and
    ``tokens`` (broadcast against each other): the loss of those runs (``"loss"``).
    A data-constrained fit also takes ``unique_tokens`` (the corpus's unique tokens).

    >>> from scalelab.data import default_fit_path
    >>> from scalelab.io import load_fit
    >>> kind, table = predict_table(load_fit(default_fit_path()), flops=[1e23, 1e24])
    >>> kind, list(table.columns[:3]), len(table)
    ('allocation', ['flops', 'params', 'tokens'], 2)
    """
    if not flops_per_token > 0:
        raise FitError(f"--flops-per-token {flops_per_token}: give a positive number (6 for C = 6ND)")
    if flops is not None and (params is not None or tokens is not None):
        raise FitError("give either --compute C, or --params N with --tokens D, not both")
    fit._check_fitted()
    for option, values, what, hi, example in (("--params", params, "parameter count", 1e15, "7e10"),
                                               ("--tokens", tokens, "token count", 1e16, "1.4e12"),
                                               ("--compute", flops, "FLOP count", 1e33, "1e24"),
                                               ("--unique-tokens", unique_tokens, "unique token count", 1e16, "2.5e10")):
        bad = [v for v in np.atleast_1d(np.asarray(values if values is not None else [], float))
               if not (np.isfinite(v) and 0 < v <= hi)]
        if bad:
            raise FitError(f"{option} {bad[0]:g}: give a {what} in (0, {hi:g}], e.g. {option} {example}")
    constrained = "unique_tokens" in fit.law_.inputs
    if unique_tokens is not None and not constrained:
        raise FitError(f"--unique-tokens is for a data-constrained fit; this is a {fit.law_.name} fit "
                       "(refit with --law data-constrained and a unique_tokens column)")
    if constrained and unique_tokens is None:
        raise FitError("a data-constrained fit needs the unique tokens available: give --unique-tokens U, e.g. 2.5e10")
    extra = {"unique_tokens": np.atleast_1d(np.asarray(unique_tokens, float))} if constrained else {}
    if flops is not None:
        if "params" in fit.law_.inputs:
            return "allocation", fit.optimal_allocation(flops, flops_per_token, **extra).to_frame()
        return "loss", fit.predict(flops=flops).to_frame()
    if fit.law_.inputs == ("flops",):
        hint = ""
        if params is not None and tokens is not None:
            with np.errstate(all="ignore"):
                c = flops_per_token * np.atleast_1d(np.asarray(params, float)) * np.atleast_1d(np.asarray(tokens, float))
            hint = f" (these --params and --tokens: --compute {','.join(f'{v:.3g}' for v in c[:4])}, {flops_per_token:g}·N·D)"
        raise FitError(f"this is a compute-law fit: predict with --compute FLOPS{hint}")
    if params is None or tokens is None:
        raise FitError("give --params N and --tokens D (or --compute C for the compute-optimal run)")
    N, D = np.atleast_1d(np.asarray(params, float)), np.atleast_1d(np.asarray(tokens, float))
    try:
        N, D, *U = np.broadcast_arrays(N, D, *extra.values())
    except ValueError:
        sizes = f"--params has {N.size} values, --tokens {D.size}" + "".join(
            f", --unique-tokens {v.size}" for v in extra.values())
        raise FitError(f"{sizes}; give one of each, or equally many") from None
    return "loss", fit.predict(params=N, tokens=D, **({"unique_tokens": U[0]} if U else {})).to_frame()


def residual_summary(res: np.ndarray) -> dict:
    """Summary of log residuals log(actual/predicted), in relative terms."""
    if res.size == 0:
        return {}
    rel = np.expm1(res)
    return {
        "median_abs_rel": float(np.median(np.abs(rel))),
        "mean_abs_rel": float(np.mean(np.abs(rel))),
        "max_abs_rel": float(np.max(np.abs(rel))),
        "rmse_log": float(np.sqrt(np.mean(res**2))),
    }


def _distinct(xs: np.ndarray, funs: np.ndarray, rtol: float = 1e-4) -> list[tuple[np.ndarray, float]]:
    """Distinct optima (sorted input), merging those within rtol in every coordinate."""
    kept: list[tuple[np.ndarray, float]] = []
    for x, f in zip(xs, funs):
        if not np.isfinite(f):
            continue
        if any(np.allclose(x, k, rtol=rtol, atol=rtol) for k, _ in kept):
            continue
        kept.append((x, float(f)))
    return kept


def _data_range(runs: Runs, law: type[Law]) -> dict[str, tuple[float, float]]:
    out = {}
    for k in (*law.inputs, "flops"):
        if k in runs.frame:
            v = runs.column(k)
            out[k] = (float(v.min()), float(v.max()))
    return out


def _shape_range(runs: Runs) -> tuple[float, float] | None:
    """The fitted runs' least and largest tokens per parameter (None without both columns)."""
    if "params" not in runs.frame or "tokens" not in runs.frame:
        return None
    ratio = runs.column("tokens") / runs.column("params")
    return float(ratio.min()), float(ratio.max())


def _noise_sd(quantiles: np.ndarray) -> float:
    """Robust standard deviation from stored residual quantiles (half the 15.9-84.1% range)."""
    levels = _noise_levels()
    return float((np.interp(0.8413, levels, quantiles) - np.interp(0.1587, levels, quantiles)) / 2)


def _noise_levels() -> np.ndarray:
    return (np.arange(NOISE_QUANTILES) + 0.5) / NOISE_QUANTILES


def _pct(level: float) -> str:
    return f"{100 * level:g}"
