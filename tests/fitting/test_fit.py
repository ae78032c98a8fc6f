"""The contract every law's fit passes, and properties of the estimator."""

import json
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

from scalelab.errors import ExtrapolationWarning, FitError, FitFileError, IdentifiabilityWarning, InputError, NotFittedError
from scalelab.fitting import Fit
from scalelab.fitting.objective import Problem
from scalelab.fitting.params import ParamMap
from scalelab.laws import LAWS, ChinchillaLaw, get_law
from scalelab.runs import Runs
from tests.conftest import TRUE, synthetic_runs

LAW_NAMES = sorted(LAWS)


def _runs(name, **kw):
    law = get_law(name)
    return Runs.from_frame(synthetic_runs(name, **kw), require=(*law.inputs, "loss"))


def _inputs(name, runs):
    return runs.inputs(get_law(name).inputs)


@pytest.fixture(scope="module")
def fitted():
    return {name: Fit(name, num_bootstrap=60).fit(_runs(name)) for name in LAW_NAMES}


@pytest.mark.parametrize("name", LAW_NAMES)
def test_recovers_known_parameters(name, fitted):
    fit = fitted[name]
    truth = TRUE[name].params()
    for k, v in truth.items():
        # coefficients are the loosest; C0 = K^(1/gamma) magnifies the exponent's error
        rel = {"A": 0.1, "B": 0.1, "C0": 0.3}.get(k, 0.05)
        assert fit.params_[k] == pytest.approx(v, rel=rel), k
        lo, hi = fit.param_intervals(0.95)[k]
        assert lo <= v <= hi, f"{k}={v} outside its 95% interval [{lo}, {hi}]"


@pytest.mark.parametrize("name", LAW_NAMES)
def test_fit_returns_self_and_sets_learned_values(name):
    fit = Fit(name, num_bootstrap=0)
    assert fit.fit(_runs(name)) is fit
    assert set(fit.params_) == set(get_law(name).param_names())
    assert fit.result_.success and fit.result_.status == 0


@pytest.mark.parametrize("name", LAW_NAMES)
def test_predict_before_fit_says_to_fit(name):
    with pytest.raises(NotFittedError, match=r"call fit\(runs\) first"):
        Fit(name).predict(params=1e9, tokens=2e10, flops=1.2e20)


@pytest.mark.parametrize("name", LAW_NAMES)
def test_order_of_runs_does_not_matter(name):
    df = synthetic_runs(name)
    law = get_law(name)
    a = Fit(name, num_bootstrap=0).fit(Runs.from_frame(df, require=(*law.inputs, "loss")))
    b = Fit(name, num_bootstrap=0).fit(Runs.from_frame(df.sample(frac=1, random_state=3), require=(*law.inputs, "loss")))
    # the data-constrained law's valley is flat along R_N*/A (its objective agrees to 1e-9,
    # its parameters to ~1e-5: far inside their statistical uncertainty)
    assert b.params_ == pytest.approx(a.params_, rel=1e-4 if name == "data-constrained" else 1e-6)
    assert b.result_.fun == pytest.approx(a.result_.fun, rel=1e-9)


@pytest.mark.parametrize("name", LAW_NAMES)
def test_json_round_trip_predicts_the_same(name, fitted):
    fit = fitted[name]
    back = Fit.from_dict(json.loads(json.dumps(fit.to_dict())))
    x = {"params": np.array([1e9, 3e10]), "tokens": np.array([2e10, 6e11])}
    x["flops"] = 6 * x["params"] * x["tokens"]
    x["unique_tokens"] = x["tokens"] / 8
    x = {k: x[k] for k in get_law(name).inputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        p, q = fit.predict(**x), back.predict(**x)
    np.testing.assert_allclose(q.loss, p.loss, rtol=1e-12)
    for lv in (0.8, 0.95):
        np.testing.assert_allclose(q.intervals[lv][0], p.intervals[lv][0], rtol=1e-12)
        np.testing.assert_allclose(q.intervals[lv][1], p.intervals[lv][1], rtol=1e-12)
    assert back.params_ == fit.params_


@pytest.mark.parametrize("name", LAW_NAMES)
def test_bootstrap_is_seeded(name):
    runs = _runs(name, n=40)
    a = Fit(name, num_bootstrap=30, seed=7).fit(runs)
    b = Fit(name, num_bootstrap=30, seed=7).fit(runs)
    c = Fit(name, num_bootstrap=30, seed=8).fit(runs)
    first = get_law(name).param_names()[-1]
    np.testing.assert_array_equal(a.ensemble_[first], b.ensemble_[first])
    assert not np.array_equal(a.ensemble_[first], c.ensemble_[first])


@pytest.mark.parametrize("name", LAW_NAMES)
def test_intervals_nest_and_contain_the_point(name, fitted):
    fit = fitted[name]
    x = {"params": np.array([3e8, 1e10]), "tokens": np.array([6e9, 3e11]), "flops": np.array([1e19, 1e22]),
         "unique_tokens": np.array([1e9, 3e11])}
    p = fit.predict(**{k: x[k] for k in get_law(name).inputs})
    lo80, hi80 = p.intervals[0.8]
    lo95, hi95 = p.intervals[0.95]
    assert np.all(lo95 <= lo80) and np.all(lo80 < p.loss) and np.all(p.loss < hi80) and np.all(hi80 <= hi95)


def test_intervals_widen_with_extrapolation(fitted):
    fit = fitted["chinchilla"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        a = fit.optimal_allocation(np.array([1e21, 1e23, 1e25]))
    lo, hi = a.loss.intervals[0.8]
    width = hi / lo - 1
    assert np.all(np.diff(width) > 0)
    assert np.all(np.diff(a.loss.extrapolation) > 0)


def test_a_compute_optimal_split_far_from_the_runs_shape_is_warned(tmp_path):
    """Runs at 20-40 tokens per parameter of a law whose size exponent is far below its data
    exponent: the compute-optimal run of a large budget has a fraction of a token per
    parameter, a split no run measured, and the warning says so (also from a fit file);
    a budget whose split stays near the runs' is not warned."""
    law = ChinchillaLaw(E=1.7, A=20.0, B=400.0, alpha=0.12, beta=0.3)
    N = np.repeat([1e7, 3e7, 1e8, 3e8, 1e9], 2)
    D = N * np.tile([20.0, 40.0], 5)
    runs = Runs.from_frame(__import__("pandas").DataFrame({"params": N, "tokens": D, "loss": law.predict(params=N, tokens=D)}))
    fit = Fit("chinchilla", num_bootstrap=20).fit(runs)
    with pytest.warns(ExtrapolationWarning, match=r"tokens per parameter, \d+x outside the fitted runs' 20–40: .*alpha 0\.12"):
        fit.optimal_allocation(1e25)
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(fit.to_dict()))
    again = Fit.from_dict(json.loads(path.read_text()))
    with pytest.warns(ExtrapolationWarning, match="outside the fitted runs"):
        again.optimal_allocation(1e25)
    from scalelab.errors import AllocationWarning
    from scalelab.planning.returns import returns

    with pytest.warns(AllocationWarning, match="outside the fitted runs"):  # returns hides how far out, not this
        returns(fit, 1e24, decades=1)
    budgets = np.logspace(14, 22, 81)
    a = fit.law_.optimal_allocation(budgets)
    budget = budgets[np.argmin(np.abs(np.log(a.tokens / a.params / 30)))]  # a split of about 30 tokens a parameter
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        fit.optimal_allocation(budget)


def test_calibration_measures_extrapolation_error(fitted):
    cal = fitted["chinchilla"].calibration_
    assert cal.status == "ok" and cal.n_test > 10
    # data drawn from the law itself: extrapolation adds little beyond the 0.3% noise
    assert 0 <= cal.per_decade < 0.01


def test_extrapolation_warning_states_the_factor(fitted):
    with pytest.warns(ExtrapolationWarning, match=r"flops=6e\+26 is \d+x beyond the largest fitted flops"):
        fitted["chinchilla"].predict(params=1e12, tokens=1e14)


def test_too_few_runs_names_the_count_and_the_fix():
    runs = Runs.from_frame(synthetic_runs("chinchilla", n=3))
    with pytest.raises(FitError, match=r"fitting 5 parameters needs at least 5 runs .* got 3 — add runs or fix E with --fix E=1.7"):
        Fit().fit(runs)


def test_few_runs_warn_about_degrees_of_freedom_and_calibration():
    runs = Runs.from_frame(synthetic_runs("chinchilla", n=6))
    with pytest.warns(ExtrapolationWarning, match=r"too few runs to measure the extrapolation error"):
        with pytest.warns(IdentifiabilityWarning, match=r"6 runs for 5 free parameters leave 1 degree"):
            fit = Fit(num_bootstrap=20).fit(runs)
    assert fit.calibration_.status == "skipped" and fit.calibration_.per_decade is None
    assert {w["category"] for w in fit.warnings_} == {"ExtrapolationWarning", "IdentifiabilityWarning"}


def test_an_extrapolation_error_from_a_handful_of_predictions_is_not_reported():
    """Nine runs: the backtests inside them predict fewer than five runs, too few to measure
    a spread, so the error per decade is reported as not measured rather than as 0%."""
    from scalelab.fitting.fit import MIN_CALIBRATION_PREDICTIONS

    runs = Runs.from_frame(synthetic_runs("chinchilla", n=9))
    with pytest.warns(ExtrapolationWarning, match=r"only \d predictions?: too few to measure the extrapolation error"):
        fit = Fit(num_bootstrap=20).fit(runs)
    cal = fit.calibration_
    assert cal.status == "skipped" and cal.per_decade is None and 0 < cal.n_test < MIN_CALIBRATION_PREDICTIONS


def test_e_at_zero_is_flagged():
    # pure power law in N and D: no irreducible loss to find
    df = synthetic_runs("chinchilla", noise=0.0)
    df["loss"] = 480.0 / df["params"] ** 0.35 + 2100.0 / df["tokens"] ** 0.37
    with pytest.warns(IdentifiabilityWarning, match=r"E fitted at ~0"):
        Fit(num_bootstrap=0).fit(Runs.from_frame(df))


def test_fixing_and_tying_are_respected():
    runs = _runs("chinchilla")
    fit = Fit(fix={"E": 1.8}, tie=["alpha=beta"], num_bootstrap=20).fit(runs)
    assert fit.params_["E"] == 1.8
    assert fit.params_["alpha"] == fit.params_["beta"]
    assert np.all(fit.ensemble_["E"] == 1.8)
    np.testing.assert_array_equal(fit.ensemble_["alpha"], fit.ensemble_["beta"])


def _ladder(alpha, beta, sizes=5, seed=0, noise=0.004):
    """A pilot ladder: ``sizes`` sizes doubling from 2e8 x 10-100 tokens per parameter."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    N = np.repeat(2e8 * 2.0 ** np.arange(sizes), 4)
    D = N * np.tile([10, 20, 50, 100], sizes)
    law = ChinchillaLaw(E=1.8, A=480.0 * 1e8 ** (alpha - 0.35), B=2100.0 * 1e9 ** (beta - 0.37), alpha=alpha, beta=beta)
    loss = law.predict(params=N, tokens=D) * np.exp(noise * rng.standard_normal(N.size))
    return Runs.from_frame(pd.DataFrame({"params": N, "tokens": D, "loss": loss}))


def test_tie_auto_ties_the_exponents_only_when_that_predicts_the_largest_runs_better(tmp_path):
    """--tie auto: a ladder whose law has alpha = beta gets the tie; one whose exponents differ
    (0.6 and 0.2) does not; the choice and its backtest errors are kept in fit.json."""
    for seed in (0, 1):
        tied = Fit(tie="auto", num_bootstrap=0).fit(_ladder(0.3, 0.3, seed=seed))
        assert tied.ties_ == ["alpha=beta"] and tied.tie_choice_.startswith("auto: alpha tied to beta (the 4 runs of 3.2e+09")
        free = Fit(tie=["auto"], num_bootstrap=0).fit(_ladder(0.6, 0.2, seed=seed))
        assert free.ties_ == [] and "alpha free" in free.tie_choice_ and free.params_["alpha"] > 0.45
    back = Fit.from_dict(json.loads(json.dumps(tied.to_dict())))
    assert back.tie_choice_ == tied.tie_choice_ and back.ties_ == ["alpha=beta"]
    few = Fit(tie="auto", num_bootstrap=0).fit(_ladder(0.3, 0.3, sizes=3))
    assert few.ties_ == [] and "fewer than 3 sizes below the largest" in few.tie_choice_
    with pytest.raises(InputError, match="the compute law has no such pair"):
        Fit("compute", tie="auto", num_bootstrap=0).fit(_runs("compute"))


def test_settings_are_checked():
    runs = _runs("chinchilla", n=20)
    with pytest.raises(FitError, match=r"--delta -1: the Huber threshold must be > 0"):
        Fit(delta=-1).fit(runs)
    with pytest.raises(FitError, match=r"--bootstrap -5: give a whole number >= 0"):
        Fit(num_bootstrap=-5).fit(runs)


def test_compute_law_has_no_allocation(fitted):
    with pytest.raises(FitError, match=r"the compute law has no compute-optimal allocation"):
        fitted["compute"].optimal_allocation(1e22)


def test_predict_refuses_bad_inputs(fitted):
    with pytest.raises(FitError, match=r"predicts from params and tokens; missing tokens"):
        fitted["chinchilla"].predict(params=1e9)
    with pytest.raises(FitError, match=r"params must be finite and > 0"):
        fitted["chinchilla"].predict(params=-1.0, tokens=1e10)


def test_from_dict_refuses_other_files():
    with pytest.raises(FitFileError, match=r"is not a scalelab fit"):
        Fit.from_dict({"hello": 1})
    with pytest.raises(FitFileError, match=r"has fit format version 99"):
        Fit.from_dict({"format": "scalelab-fit", "format_version": 99})
    with pytest.raises(FitFileError, match=r"missing or has a bad field"):
        Fit.from_dict({"format": "scalelab-fit", "format_version": 1, "law": "chinchilla"})


@pytest.mark.parametrize("fix,tie", [({}, None), ({"E": 1.8}, None), ({}, ["alpha=beta"])])
def test_optimum_is_at_least_as_good_as_scipy_lbfgs(fix, tie):
    """The batched solver's optimum is never worse than scipy's L-BFGS-B polishing it."""
    df = synthetic_runs("chinchilla", noise=0.01, seed=5)
    fit = Fit(fix=fix, tie=tie, num_bootstrap=0, calibrate=False).fit(Runs.from_frame(df))
    pm = ParamMap.build(ChinchillaLaw, fix, tie)
    prob = Problem(pm, {"params": df.params.values, "tokens": df.tokens.values}, df.loss.values, 1e-3)
    x0 = pm.free_from_named(fit.params_)

    def f(x):
        o, g = prob.gradient(x[None])
        return o[0] / 1e-3, g[0] / 1e-3

    res = minimize(f, x0, jac=True, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000})
    assert fit.result_.fun <= res.fun * 1e-3 * (1 + 1e-9)


def test_an_exponent_at_the_top_of_its_range_is_said():
    """A 1e5 target's cosine rungs (total N 3.8k-11.2k, bits per byte, written down as they
    came) drive alpha to the top of its search range (10): the fit says so, as it says an E
    fitted at 0. The check compared with the largest bound of every parameter, which is
    infinite for the scales, so it never fired."""
    import pandas as pd

    from scalelab.errors import IdentifiabilityWarning
    from scalelab.fitting.objective import EXPONENT_BOUNDS

    rows = [(3848, 129792, 3.9913), (3848, 259328, 3.6454), (3848, 648192, 3.7513), (3848, 1296384, 3.6125),
            (6732, 131840, 3.9416), (6732, 263680, 3.7163), (6732, 658944, 3.5257), (6732, 1317888, 3.3436),
            (11216, 128256, 3.969), (11216, 256512, 3.7511), (11216, 641024, 3.571), (11216, 1282560, 3.3043)]
    with pytest.warns(IdentifiabilityWarning) as seen:
        fit = Fit(num_bootstrap=0, calibrate=False).fit(pd.DataFrame(rows, columns=["params", "tokens", "loss"]))
    assert fit.params_["alpha"] == pytest.approx(EXPONENT_BOUNDS[1], abs=1e-3)
    assert any(f"alpha hit its bound ({EXPONENT_BOUNDS[1]:g})" in str(w.message) for w in seen)


def test_a_diverged_run_is_named_and_kept_out_of_the_extrapolation_error():
    import pandas as pd

    from scalelab.errors import OutlierWarning

    rng = np.random.default_rng(1)
    rows = [{"run_id": f"{n:.0e}-{m}x", "params": n, "tokens": n * m,
             "loss": (1.7 + 400 / n**0.34 + 410 / (n * m) ** 0.28) * (1 + 0.01 * rng.standard_normal())}
            for n in (1e7, 2e7, 5e7, 1e8, 2e8) for m in (5, 10, 20, 40)]
    clean = pd.DataFrame(rows)
    broken = clean.copy()
    broken.loc[broken["run_id"] == "1e+08-40x", "loss"] = 9.8  # a run that blew up and never came back
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = Fit(num_bootstrap=20).fit(Runs.from_frame(clean)).calibration_.per_decade
    with pytest.warns(OutlierWarning, match=r"1 row far off the law \(1e\+08-40x \+19\d%.*--where \"run_id != '1e\+08-40x'\""):
        fit = Fit(num_bootstrap=20).fit(Runs.from_frame(broken))
    assert fit.outliers_.sum() == 1
    # measured with the broken run as a held-out target, the error per decade was 0.64 (64%)
    assert fit.calibration_.per_decade < max(0.05, 2 * reference)
    # nothing is flagged in the clean sweep
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutlierWarning)
        Fit(num_bootstrap=0).fit(Runs.from_frame(clean))
