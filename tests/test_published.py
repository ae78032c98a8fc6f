"""The published figures of the README, asserted so that a regression fails CI.

Data: the copies of the public tables in tests/data/scaling (sources in its README) and
the tables bundled with the package.
"""

import warnings

import numpy as np
import pytest

from benchmarks import published
from tests.conftest import SCALING


@pytest.fixture(autouse=True)
def _quiet():
    warnings.simplefilter("ignore")


def test_epoch_refit_reproduced():
    e = published.epoch_refit(200)
    assert all(e["within_published_ci"].values()), e["params"]
    assert e["objective"] <= e["epoch_objective"]
    assert e["objective"] == pytest.approx(1.018274e-3, rel=1e-6)
    # bootstrap intervals close to Epoch's published ones
    for k, (lo, hi) in published.EPOCH_CI95.items():
        ours = e["ci95"][k]
        assert ours[0] == pytest.approx(lo, abs=0.01) and ours[1] == pytest.approx(hi, abs=0.01), (k, ours)


def test_gadre_held_out_runs_at_most_the_papers_error():
    g = published.gadre_protocol(200)
    for t in g["targets"]:
        assert abs(t["rel_error"]) <= t["paper_rel_error"], t
        assert abs(t["rel_error"]) == pytest.approx(0.0040 if t["size"] == "1.4B" else 0.0042, abs=0.0005)
        assert t["lo80"] <= t["actual"] <= t["hi80"]


# measured figures (README): median error, 80% and 95% coverage. With tolerances: the
# error may not grow, the coverage may not collapse.
EXPECTED = {
    "Chinchilla (Epoch)": (0.0087, 0.40, 0.85),
    "Porian RW, tuned, const LR": (0.0984, 0.80, 0.95),
    "Porian OWT2, tuned, const LR": (0.1072, 0.80, 0.95),
    "Porian RW, Chinchilla decay": (0.0260, 0.80, 0.95),
    "OLMo ladder -> 7B, 13B": (0.0277, 1.00, 1.00),
    "OLMo ladder, small -> large rungs": (0.0183, 0.40, 0.95),
    "Gemstones, cooldown ends": (0.0265, 0.75, 0.95),
    "Gemstones, constant-LR checkpoints": (0.0241, 0.75, 0.95),
}


@pytest.fixture(scope="module")
def backtests():
    warnings.simplefilter("ignore")
    return {b["name"]: b for b in published.run_backtests(200, data=SCALING)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_backtest(backtests, name):
    b = backtests[name]
    error, min_cov80, min_cov95 = EXPECTED[name]
    assert b["extrapolation_compute"] >= 10
    assert b["median_abs_rel_error"] <= error * 1.05 + 1e-4
    assert b["coverage80"] >= min_cov80
    assert b["coverage95"] >= min_cov95


def test_backtest_coverage_is_calibrated_on_average(backtests):
    cov80 = np.mean([b["coverage80"] for b in backtests.values()])
    cov95 = np.mean([b["coverage95"] for b in backtests.values()])
    assert 0.70 <= cov80 <= 0.95, cov80
    assert cov95 >= 0.90
