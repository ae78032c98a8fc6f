"""Test-time compute: pass@k, coverage laws over k, and their backtests."""

from __future__ import annotations

from scalelab.samples.estimator import mean_pass_at_k, pass_at_k, subsample
from scalelab.samples.laws import CoverageFit, fit_coverage

__all__ = ["CoverageFit", "fit_coverage", "mean_pass_at_k", "pass_at_k", "subsample"]
