"""Public trends: where the field's compute is going (Epoch AI's database, a dated snapshot
shipped with the package; see scalelab/data/README.md)."""

from scalelab.trends.benchmark import BenchmarkBacktest, benchmark_backtest
from scalelab.trends.compute import ComputeTrend, compute_trend

__all__ = ["BenchmarkBacktest", "ComputeTrend", "benchmark_backtest", "compute_trend"]
