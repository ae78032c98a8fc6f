"""The failure and checkpoint model of goodput."""

import json
import math

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.errors import InputError
from scalelab.planning.goodput import LLAMA3_FAILURES_PER_GPU_HOUR, goodput_model

runner = CliRunner()


def test_llama3_rate_gives_one_failure_every_three_hours_and_over_90_percent():
    g = goodput_model(16_384, 405e9)
    assert g.mtbf_hours == pytest.approx(54 * 24 / 419, rel=1e-9)  # the report: about one every three hours
    assert g.goodput > 0.90  # the report: higher than 90% effective training time
    # checkpoints short against the MTBF: Daly's optimum is Young's
    assert g.interval_minutes == pytest.approx(math.sqrt(2 * g.checkpoint_minutes * 60 * g.mtbf_hours), rel=0.01)
    assert g.goodput == pytest.approx(1 - g.lost_checkpointing - g.lost_recompute - g.lost_restarts)


def test_a_failure_every_few_minutes_leaves_a_share_never_below_nothing():
    """On a million GPUs at Llama 3's rate a failure comes every 3 minutes, shorter than a
    10-minute restart: the first-order count made restarts 329% of the time and goodput 0;
    the complete model leaves a few percent, its shares summing to one."""
    g = goodput_model(1_000_000, 405e9)
    assert 60 * g.mtbf_hours == pytest.approx(60 / (LLAMA3_FAILURES_PER_GPU_HOUR * 1e6))
    assert 0.01 < g.goodput < 0.1 and 0.9 < g.lost_restarts < 1
    assert g.goodput + g.lost_checkpointing + g.lost_recompute + g.lost_restarts == pytest.approx(1)
    rare = goodput_model(1000, 405e9)  # rare failures: the first-order count it reduces to
    m = 60 * rare.mtbf_hours
    first_order = 1 - rare.checkpoint_minutes / rare.interval_minutes - rare.interval_minutes / 2 / m - 10 / m
    assert rare.goodput == pytest.approx(first_order, abs=2e-4)


def test_the_model_agrees_with_failures_drawn_at_random():
    """Daly's expected wall-clock time, against a simulation: segments of work and a
    checkpoint, failures at exponential times, a failed segment redone after a restart that
    can itself fail."""
    import numpy as np

    rng = np.random.default_rng(0)
    m, delta, restart = 30.0, 0.5, 10.0  # minutes: failures far more often than Llama 3's, so that they matter
    g = goodput_model(1000, 405e9, failures_per_gpu_hour=60 / m / 1000, checkpoint_minutes=delta,
                      restart_minutes=restart)
    tau, wall, useful = g.interval_minutes, 0.0, 0.0
    for _ in range(20_000):
        while True:
            fail = rng.exponential(m)
            if fail >= tau + delta:
                wall += tau + delta
                useful += tau
                break
            wall += fail
            while True:  # the restart, which a failure can interrupt
                fail = rng.exponential(m)
                if fail >= restart:
                    wall += restart
                    break
                wall += fail
    assert useful / wall == pytest.approx(g.goodput, rel=0.02)


def test_goodput_falls_with_the_gpu_count_and_the_interval_shortens():
    rows = [goodput_model(n, 7e10) for n in (1000, 4096, 16_384, 50_000)]
    assert [r.goodput for r in rows] == sorted((r.goodput for r in rows), reverse=True)
    assert [r.interval_minutes for r in rows] == sorted((r.interval_minutes for r in rows), reverse=True)
    slow = goodput_model(16_384, 7e10, checkpoint_minutes=5.0)
    assert slow.lost_checkpointing > rows[2].lost_checkpointing and slow.goodput < rows[2].goodput


def test_bad_rates_are_refused():
    with pytest.raises(InputError, match="--failures-per-gpu-day 2.4"):
        goodput_model(1000, 7e10, failures_per_gpu_hour=0.1)
    with pytest.raises(InputError, match="whole number of GPUs"):
        goodput_model(0, 7e10)


def test_plan_goodput_cli():
    r = runner.invoke(app, ["plan", "goodput", "--params", "405B", "--num-gpus", "1000,16384", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [x["num_gpus"] for x in rows] == [1000, 16384] and rows[0]["goodput"] > rows[1]["goodput"]
    custom = json.loads(runner.invoke(app, ["plan", "goodput", "--num-gpus", "1000", "--failures-per-gpu-day",
                                            str(48 * LLAMA3_FAILURES_PER_GPU_HOUR), "--json"]).stdout)
    assert custom[0]["mtbf_hours"] == pytest.approx(goodput_model(1000, 7e10).mtbf_hours / 2)
    bad = runner.invoke(app, ["plan", "goodput", "--num-gpus", "10.5"])
    assert bad.exit_code == 2 and "whole numbers" in bad.output


def test_the_storage_grows_with_the_cluster_and_a_short_checkpoint_is_not_rounded_to_zero():
    """Llama 3's storage wrote 7 TB/s for 16,384 GPUs: 7B parameters at 14 bytes each take
    0.014 s there, and 3.6 s behind 64 GPUs' share of it (7 TB/s behind 64 GPUs said 0.014 s)."""
    assert 60 * goodput_model(16_384, 7e9).checkpoint_minutes == pytest.approx(0.014)
    assert 60 * goodput_model(64, 7e9).checkpoint_minutes == pytest.approx(7e9 * 14 / (7e12 * 64 / 16_384))
    assert 60 * goodput_model(64, 7e9, storage_tb_per_s=7.0).checkpoint_minutes == pytest.approx(0.014)
    want = f"{60 * goodput_model(64, 1e8).checkpoint_minutes:.2g} s"
    assert want == "0.051 s"
    r = runner.invoke(app, ["plan", "goodput", "--params", "100M", "--num-gpus", "64"])
    assert r.exit_code == 0 and want in r.stdout and " 0.0 s " not in r.stdout
    r = runner.invoke(app, ["plan", "--params", "7B", "--tokens", "2T", "--gpu", "h100-sxm", "--num-gpus", "256"])
    assert r.exit_code == 0 and "checkpoint every 19 min (0.9 s each)" in " ".join(r.stdout.split())
