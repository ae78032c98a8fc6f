"""The estimation engine: robust objective, global search, batched refinement, bootstrap, backtests."""

from scalelab.fitting.fit import AllocationForecast, Fit, FitResult, Prediction

__all__ = ["AllocationForecast", "Fit", "FitResult", "Prediction"]
