"""The estimation engine: robust objective, global search, batched refinement, bootstrap, backtests."""

from scalelab.fitting.fit import AllocationForecast, Calibration, Fit, FitResult, Prediction, predict_table
from scalelab.fitting.forecast import Forecast, Interval

__all__ = ["AllocationForecast", "Calibration", "Fit", "FitResult", "Forecast", "Interval", "Prediction", "predict_table"]
