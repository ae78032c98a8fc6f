"""The step-time model, the speed-ranked layout search and their checks against published figures."""

import dataclasses
import json
import re
import statistics

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.data import rows
from scalelab.errors import InputError, PlanWarning
from scalelab.planning import Parallelism, get_accelerator, make_plan
from scalelab.planning.model import ModelConfig
from scalelab.planning.performance import fastest_layouts, step_time, system_for
from scalelab.planning.presets import get_preset
from scalelab.planning.validate import check_documented_hours, check_steps

H100 = system_for(get_accelerator("h100"))
LLAMA70 = get_preset("llama3-70b").model


def test_the_pipeline_bubble_follows_1f1b_and_interleaving_shrinks_it():
    par = Parallelism(dp=16, tp=8, pp=8)
    one = step_time(LLAMA70, par, H100, global_batch=256)
    m = one.micro_batches
    per_mb = (one.compute_s + one.tp_comm_s + one.pp_comm_s) / m
    assert m == 16 and one.bubble_s == pytest.approx((8 - 1) * per_mb)
    four = step_time(LLAMA70, par, H100, global_batch=256, interleave=4)
    assert four.bubble_s == pytest.approx(one.bubble_s / 4) and four.step_s < one.step_s
    # more micro-batches: the same bubble is a smaller share of the step
    big = step_time(LLAMA70, par, H100, global_batch=1024)
    assert big.micro_batches == 64 and big.shares()["bubble_s"] < one.shares()["bubble_s"] / 2.5


def test_communication_grows_with_its_degree_and_slower_links():
    t2 = step_time(LLAMA70, Parallelism(dp=64, tp=2, pp=1, zero=3), H100, global_batch=128, recompute="full")
    t8 = step_time(LLAMA70, Parallelism(dp=16, tp=8, pp=1, zero=3), H100, global_batch=128, recompute="full")
    assert t8.tp_comm_s / t8.step_s > t2.tp_comm_s / t2.step_s
    slow = step_time(LLAMA70, Parallelism(dp=16, tp=8, pp=1, zero=3), dataclasses.replace(H100, inter_gbs=5.0),
                     global_batch=128, recompute="full")
    assert slow.dp_comm_s > 5 * t8.dp_comm_s and slow.mfu < t8.mfu
    # recomputation is work the hardware does and MFU does not credit
    none = step_time(LLAMA70, Parallelism(dp=16, tp=8, pp=1, zero=3), H100, global_batch=128)
    assert none.step_s < t8.step_s and t8.hardware_flops_utilisation > t8.mfu
    assert none.recompute_s == 0 and t8.recompute_s == pytest.approx(t8.step_s - none.step_s, rel=0.25)
    assert "recomputation" in t8.why()
    # one GPU loses nothing to communication, and the words say so rather than "lost to all computation"
    alone = step_time(get_preset("llama3-8b").model, Parallelism(dp=1, tp=1, pp=1, zero=1), H100, global_batch=1024)
    assert alone.why().startswith("all computation") and "lost to" not in alone.why().split(":")[0]
    assert t8.why().startswith("lost to ")


def test_a_narrow_model_runs_further_below_the_peak_than_a_wide_one():
    narrow = ModelConfig(d_model=512, n_layers=8, n_heads=8, vocab_size=32000, seq_len=2048)
    wide = ModelConfig(d_model=8192, n_layers=8, n_heads=64, vocab_size=32000, seq_len=2048)
    a = step_time(narrow, Parallelism(dp=8), H100, global_batch=64)
    b = step_time(wide, Parallelism(dp=8, tp=1), H100, global_batch=64)
    assert a.mfu < 0.75 * b.mfu


def test_the_search_ranks_layouts_that_fit_by_speed():
    ranked = fastest_layouts(LLAMA70, 1024, H100, top=10)
    assert len(ranked) == 10
    per_token = [r.step.step_s / r.step.tokens_per_step for r in ranked]
    assert per_token == sorted(per_token)
    assert all(r.memory_gib <= 80 and r.parallel.num_devices == 1024 for r in ranked)
    # the batch stays near the 4M tokens asked (within 2x) and each layout's batch is whole micro-batches
    assert all(r.global_batch * 8192 <= 2 * 4 * 2**20 and r.global_batch % (r.parallel.dp * r.micro_batch) == 0
               for r in ranked)
    # the winner is faster than the least-parallel layout that fits (what the planner chose before)
    from scalelab.planning.memory import smallest_layout

    par, rc, _ = smallest_layout(LLAMA70, 1024, device_gb=80)
    gb = max(1, round(512 / par.dp)) * par.dp
    cheapest = step_time(LLAMA70, par, H100, global_batch=gb, recompute=rc)
    assert ranked[0].step.mfu > cheapest.mfu


def test_bad_layouts_and_systems_are_refused_with_the_fix():
    with pytest.raises(InputError, match=r"fewer than its 8 stages.*at least 128 sequences \(--batch-tokens 1048576\)"):
        step_time(LLAMA70, Parallelism(dp=16, tp=8, pp=8), H100, global_batch=64)
    with pytest.raises(InputError, match="does not split into micro-batches"):
        step_time(LLAMA70, Parallelism(dp=16, tp=8, pp=8), H100, global_batch=250)
    with pytest.raises(InputError, match="no interconnect figures for TPU v4: give --intra-node-gbs and --inter-node-gbs"):
        system_for(get_accelerator("tpu-v4"))
    with pytest.raises(InputError, match="--inter-node-gbs -3"):
        system_for(get_accelerator("h100"), inter_gbs=-3)
    with pytest.raises(InputError, match="mixture of experts"):
        step_time(get_preset("mixtral-8x7b").model, Parallelism(dp=8, ep=8), H100, global_batch=8)
    assert system_for(get_accelerator("tpu-v4"), intra_gbs=300, inter_gbs=50).inter_gbs == 50


def test_a_plan_predicts_its_mfu_and_goodput_unless_told():
    h100 = get_accelerator("h100")
    p = make_plan(h100, model=LLAMA70, tokens=2e12, num_gpus=1024)
    assert p.speed["mfu_source"] == "performance model" and p.speed["goodput_source"] == "failure model"
    chosen = p.speed["layouts"][0]
    assert p.run.mfu == pytest.approx(chosen["step"]["mfu"], rel=1e-9)
    assert p.layout.parallel.to_dict() == chosen["parallel"] and p.layout.micro_batch == chosen["micro_batch"]
    assert p.run.goodput == pytest.approx(p.speed["goodput"]["goodput"]) and 0.9 < p.run.goodput < 1
    # wall-clock time is the tokens over the predicted throughput, over the goodput
    tps = chosen["step"]["tokens_per_s_per_gpu"] * 1024
    assert p.run.days == pytest.approx(2e12 / tps / p.run.goodput / 86400, rel=1e-9)
    # a slower network makes a slower plan
    slow = make_plan(h100, model=LLAMA70, tokens=2e12, num_gpus=1024, system={"inter_gbs": 3.0})
    assert slow.run.days > p.run.days
    given = make_plan(h100, model=LLAMA70, tokens=2e12, num_gpus=1024, mfu=0.5, goodput=0.8)
    assert (given.run.mfu, given.run.goodput) == (0.5, 0.8)
    tpu = make_plan(get_accelerator("tpu-v4"), model=LLAMA70, tokens=2e12, num_gpus=1024)
    assert tpu.speed["mfu_source"] == "default" and "--inter-node-gbs" in tpu.speed["reason"]
    assert tpu.run.mfu == get_accelerator("tpu-v4").default_mfu


def test_published_step_times_are_predicted_within_a_quarter_mostly():
    checks = check_steps(rows("step_measurements"))
    errors = [abs(c.error) for c in checks]
    assert len(checks) == 18
    assert statistics.median(errors) <= 0.10
    # the two out of 25%: context parallelism's ring (not modelled) and power-limited H100s run eager
    outside = {(c.model, c.num_gpus) for c in checks if abs(c.error) > 0.25}
    assert outside <= {("Llama 3.1 405B", 16384), ("Llama 3.1 8B", 8)}
    megatron = [c for c in checks if c.source.startswith("Megatron")]
    assert all(abs(c.error) < 0.15 for c in megatron)


def test_documented_hours_beat_a_flat_mfu():
    checks = check_documented_hours(rows("documented_hours"))
    named = [c for c in checks if c.model in ("OPT-175B", "LLaMA-65B", "Llama 2 70B", "Llama 3 8B", "Llama 3 70B",
                                              "Falcon-180B")]
    assert len(named) == 6
    med = statistics.median(abs(c.error) for c in named)
    assert med <= 0.15 and med < statistics.median(abs(c.flat_error) for c in named)
    assert statistics.median(abs(c.error) for c in checks) < statistics.median(abs(c.flat_error) for c in checks)


def test_plan_validate_and_plan_print_the_speed_model(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["plan", "validate", "--json", "--plot", str(tmp_path / "validate.png")])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d) == {"runs", "steps", "hours", "summary"} and d["summary"]["steps"] == len(d["steps"]) == 18
    assert (tmp_path / "validate.png").read_bytes()[:4] == b"\x89PNG"
    r = runner.invoke(app, ["plan", "--preset", "llama3-70b", "--tokens", "2T", "--num-gpus", "1024",
                            "--batch-tokens", "8M"])
    assert r.exit_code == 0, r.output
    assert "predicted: the fastest layout below" in r.stdout and "fastest" in r.stdout and "failures" in r.stdout
    r = runner.invoke(app, ["plan", "--preset", "llama3-70b", "--tokens", "2T", "--num-gpus", "1024",
                            "--inter-node-gbs", "0"])
    assert r.exit_code == 2 and "--inter-node-gbs 0" in r.stderr
    for flags, message in ((["--tp", "16", "--pp", "4"], "tp 16 spans nodes of 8 GPUs"),
                           (["--tp", "8", "--pp", "8", "--batch-tokens", "32768"], "4 micro-batches per pipeline")):
        r = runner.invoke(app, ["plan", "--preset", "llama3-70b", "--tokens", "2T", "--num-gpus", "64", *flags])
        assert r.exit_code == 2 and message in r.stderr and r.stdout == "", r.output
    r = runner.invoke(app, ["plan", "--preset", "llama3-70b", "--tokens", "2T", "--num-gpus", "64", "--tp", "16",
                            "--pp", "4", "--inter-node-gbs", "50", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["speed"]["chosen"]["layout"] == "given"


@pytest.mark.parametrize("days", [30, 60])
def test_a_deadline_counts_gpus_at_the_predicted_speed(days):
    """--days finds the GPUs that finish in time at the speed the plan predicts, not at the
    catalogue's MFU (which, for a 70B model, buys a fifth more GPUs than needed)."""
    acc = get_accelerator("h100")
    p = make_plan(acc, params=7e10, tokens=2e12, days=days)
    n = int(p.run.num_gpus)
    assert p.speed["mfu_source"] == "performance model" and p.run.days <= days
    assert make_plan(acc, params=7e10, tokens=2e12, num_gpus=n - 8).run.days > days  # one node fewer misses it
    assert n < make_plan(acc, params=7e10, tokens=2e12, days=days, predict_speed=False).run.num_gpus


def test_a_missed_deadline_is_said_at_the_predicted_speed():
    with pytest.warns(PlanWarning, match=r"--days 10 cannot be met on 1,024 GPUs: the run takes ([\d.]+) days") as rec:
        p = make_plan(get_accelerator("h100"), params=7e10, tokens=2e12, num_gpus=1024, days=10)
    said = float(re.search(r"takes ([\d.]+) days", str(rec[0].message)).group(1))
    assert said == pytest.approx(p.run.days, abs=0.05) and p.speed["mfu_source"] == "performance model"
