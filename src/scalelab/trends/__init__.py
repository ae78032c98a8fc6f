"""Public trends: where the field's compute is going (Epoch AI's database, a dated snapshot
shipped with the package; see scalelab/data/README.md)."""

from scalelab.trends.benchmark import BenchmarkBacktest, benchmark_backtest
from scalelab.trends.compute import ComputeTrend, compute_trend
from scalelab.trends.lag import Lag, open_closed_lag

__all__ = ["BenchmarkBacktest", "ComputeTrend", "Lag", "benchmark_backtest", "compute_trend", "open_closed_lag"]
