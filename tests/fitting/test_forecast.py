"""Forecast: the one typed result a fit hands to the other rooms."""

import json
import warnings

import pytest

from scalelab.errors import ExtrapolationWarning, FitError
from scalelab.fitting import Fit, Forecast, Interval
from scalelab.laws import FLOPS_PER_PARAM_TOKEN
from tests.conftest import synthetic_runs


@pytest.fixture(scope="module")
def fits():
    return {name: Fit(name, num_bootstrap=40).fit(synthetic_runs(name)) for name in ("chinchilla", "compute")}


def test_forecast_is_predict_at_one_point(fits):
    fit = fits["chinchilla"]
    f = fit.forecast(params=3e9, tokens=6e10, law="synthetic")
    p = fit.predict(params=3e9, tokens=6e10)
    assert f.loss == pytest.approx(float(p.loss))
    assert f.interval(0.8) == Interval(0.8, float(p.intervals[0.8][0]), float(p.intervals[0.8][1]))
    assert f.interval(0.95).lo < f.interval(0.8).lo < f.loss < f.interval(0.8).hi < f.interval(0.95).hi
    assert f.flops == pytest.approx(FLOPS_PER_PARAM_TOKEN * 3e9 * 6e10) and f.law == "synthetic"
    assert f.interval(0.5) is None and f.loss in f.interval(0.8)


def test_json_round_trip(fits):
    f = fits["chinchilla"].forecast(params=3e9, tokens=6e10)
    back = Forecast.from_dict(json.loads(json.dumps(f.to_dict())))
    assert back == f


def test_compute_law_takes_params_and_tokens(fits):
    fit = fits["compute"]
    f = fit.forecast(params=3e9, tokens=6e10)
    assert f.loss == pytest.approx(float(fit.predict(flops=FLOPS_PER_PARAM_TOKEN * 3e9 * 6e10).loss))


def test_warnings_are_recorded_and_passed_on(fits):
    with pytest.warns(ExtrapolationWarning, match="extrapolating past"):
        f = fits["chinchilla"].forecast(params=1e13, tokens=1e15)
    assert len(f.warnings) == 1 and f.warnings[0].startswith("extrapolating past") and f.extrapolation > 100


def test_one_run_only(fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FitError, match="a forecast is for one run"):
            fits["chinchilla"].forecast(params=[1e9, 2e9], tokens=2e10)
    with pytest.raises(FitError, match="a chinchilla fit predicts from params and tokens; missing tokens"):
        fits["chinchilla"].forecast(params=1e9)


def test_no_bootstrap_means_no_intervals():
    fit = Fit(num_bootstrap=0, calibrate=False).fit(synthetic_runs("chinchilla"))
    f = fit.forecast(params=3e9, tokens=6e10)
    assert f.intervals == () and f.interval(0.8) is None
