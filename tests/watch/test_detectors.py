import re

import numpy as np
import pytest

from scalelab.watch import detectors as det


def smooth_curve(n=200, noise=0.0005, seed=0):
    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1) * 100
    tokens = steps * 1e6
    loss = (2.0 + 40 * tokens**-0.15) * np.exp(noise * rng.standard_normal(n))
    return steps, tokens, loss


def test_clean_curve_raises_nothing():
    steps, tokens, loss = smooth_curve()
    assert det.spike(steps, loss, tokens) == []
    assert det.divergence(steps, loss) == []
    assert det.nonfinite(steps, loss) == []


@pytest.mark.parametrize("size", [0.01, 0.03, 0.2])
def test_spike_detected_within_one_evaluation(size):
    steps, tokens, loss = smooth_curve()
    loss[120] *= 1 + size
    alerts = det.spike(steps, loss, tokens)
    assert len(alerts) == 1 and alerts[0].index == 120 and alerts[0].delay <= 1
    m = re.fullmatch(r"loss spike at step 12100: ([\d.]+), \+([\d.]+)% above the local curve \(([\d.]+) robust sigmas\)",
                     alerts[0].message)
    assert m, alerts[0].message
    assert float(m.group(1)) == pytest.approx(loss[120], rel=1e-3)
    assert float(m.group(2)) == pytest.approx(100 * size, abs=0.1 + 5 * 100 * 0.0005)  # the jump, within the noise
    assert float(m.group(3)) >= 6


def test_big_spike_is_flagged_at_once():
    steps, tokens, loss = smooth_curve()
    loss[120] *= 1.5
    (a,) = det.spike(steps, loss, tokens)
    assert a.delay == 0


def test_small_jump_below_the_minimum_is_not_a_spike():
    steps, tokens, loss = smooth_curve(noise=0.00001)
    loss[120] *= 1.0005
    assert det.spike(steps, loss, tokens, min_rel_jump=0.001) == []
    assert len(det.spike(steps, loss, tokens, min_rel_jump=0.0001)) == 1


def test_multi_point_excursion_is_one_event():
    steps, tokens, loss = smooth_curve()
    loss[120:124] *= 1.05
    assert [a.index for a in det.spike(steps, loss, tokens)] == [120]


def test_nonfinite_at_once():
    steps, tokens, loss = smooth_curve()
    loss[50] = np.inf
    (a,) = det.nonfinite(steps, loss)
    assert a.index == 50 and a.delay == 0 and "not finite" in a.message


def test_divergence_after_k_rising_evaluations():
    steps, tokens, loss = smooth_curve()
    loss[150:] = loss[149] * np.exp(0.01 * np.arange(1, 51))  # +1% per evaluation
    alerts = det.divergence(steps, loss, k=4)
    assert len(alerts) == 1 and alerts[0].index in range(150, 154) and alerts[0].delay <= 4


def test_divergence_above_a_band():
    steps, tokens, loss = smooth_curve()
    band = loss * 1.01
    loss[100:106] *= 1.02
    alerts = det.divergence(steps, loss, k=4, upper_band=band)
    assert [a.index for a in alerts] == [100]


def test_throughput_drop_of_six_percent_like_bloom():
    """BLOOM: 149 -> 140 TFLOP/s (a 6% drop) from one slow GPU; trainspotter needs 1.4x."""
    rng = np.random.default_rng(3)
    steps = np.arange(300)
    rate = 149.5 * (1 + 0.004 * rng.standard_normal(300))
    rate[200:] *= 140 / 149.5
    alerts = det.throughput_drop(steps, rate, drop=0.05, k=5)
    assert len(alerts) == 1 and 200 <= alerts[0].index <= 201 and alerts[0].delay <= 5
    assert det.throughput_drop(steps, 149.5 * (1 + 0.004 * rng.standard_normal(300))) == []


def test_throughput_against_the_plan():
    steps = np.arange(30)
    rate = np.full(30, 900.0)
    (a,) = det.throughput_drop(steps, rate, planned=1000.0, drop=0.05, k=5)
    assert a.index == 0 and "below the plan" in a.message


def test_stall_and_gaps():
    assert det.stall(100, 1000.0, 1000.0 + 29 * 60, minutes=30) is None
    a = det.stall(100, 1000.0, 1000.0 + 31 * 60, minutes=30)
    assert a.kind == "stall" and "31 minutes" in a.message
    steps = np.arange(10)
    wall = np.arange(10) * 60.0
    wall[6:] += 3 * 3600  # a three-hour hang that recovered
    (g,) = det.gaps(steps, wall, minutes=30)
    assert g.index == 5 and "181 minutes" in g.message


def test_gaps_follow_the_logs_own_cadence():
    """A log written every 41 minutes (every 500 steps) has no stalls at the default
    setting; a 5-hour hang in it is one, and so is one among its first ten intervals."""
    steps = 500 * np.arange(1, 401)
    wall = 1.7e9 + 41 * 60.0 * np.arange(400)
    assert det.gaps(steps, wall) == []
    assert len(det.gaps(steps, wall, minutes=30)) == 399  # a fixed 30 minutes cries wolf
    hung = wall + 5 * 3600.0 * (np.arange(400) >= 300)
    early = wall + 5 * 3600.0 * (np.arange(400) >= 4)
    assert [g.index for g in det.gaps(steps, hung)] == [299] and [g.index for g in det.gaps(steps, early)] == [3]
    assert det.stall_minutes(np.full(50, 41 * 60.0)) == pytest.approx(83)
    assert det.stall_minutes(np.full(5, 41 * 60.0)) == det.STALL_DEFAULT_MINUTES  # cadence not known yet


def test_grad_norm_spike_like_bloom():
    """BLOOM: grad norm 0.24 -> 2.4 -> 15.9 -> 145 -> 960 while the loss spiked."""
    rng = np.random.default_rng(4)
    gn = 0.24 * np.exp(0.05 * rng.standard_normal(100))
    gn[80:85] = [2.4, 15.9, 145, 960, 50]
    alerts = det.spike(np.arange(100), gn, None, min_rel_jump=0.2, kind="grad_norm_spike", name="grad norm")
    assert alerts[0].index == 80 and alerts[0].delay == 0
