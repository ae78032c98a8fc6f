"""scalelab plan, run for real: the help examples, JSON output, one-line errors."""

import json
import re

import pytest
from typer.testing import CliRunner

from scalelab.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["plan", *[str(a) for a in args]])


def test_counts_as_people_write_them():
    a = json.loads(run("--params", "70B", "--tokens", "2T", "--gpu", "h100", "--num-gpus", "1024", "--json").stdout)
    b = json.loads(run("--params", "7e10", "--tokens", "2e12", "--gpu", "h100", "--num-gpus", "1024", "--json").stdout)
    assert a["flops"]["model"] == b["flops"]["model"] == pytest.approx(8.4e23)
    r = run("--params", "70X", "--tokens", "2T", "--num-gpus", "8")
    assert r.exit_code == 2 and "give a number such as 7e10, 70B" in r.output
    c = json.loads(run("--params", "70B", "--tokens", "2T", "--gpu", "h100", "--num-gpus", "1k", "--json").stdout)
    d = json.loads(run("--params", "70B", "--tokens", "2T", "--gpu", "h100", "--num-gpus", "1000", "--json").stdout)
    assert c["run"] == d["run"] and c["run"]["num_gpus"] == 1000
    r = run("--params", "70B", "--tokens", "2T", "--gpu", "h100", "--num-gpus", "1.5")
    assert r.exit_code == 2 and "give a whole number such as 4096, 16k or 1e6" in r.output


def test_a_gpu_count_that_failures_would_stall_is_refused_not_priced():
    """At a million B200s Llama 3's failure rate stops the job every 3 minutes, a third of a
    restart: the failure model leaves 4% of the time for training, and the plan is refused
    (it used to fail on its own goodput of 0, naming a --goodput the user never gave). At
    300,000 (a failure every 10 minutes) it leaves 37%, and the plan says so."""
    r = run("--params", "1T", "--tokens", "20T", "--gpu", "b200", "--num-gpus", "1M")
    assert r.exit_code == 2 and "on 1,000,000 GPUs the job would fail every 3.0 min" in r.stderr
    assert "leave 3.7% of the time" in r.stderr
    assert "give fewer GPUs, or --goodput" in r.stderr and "--goodput 0.0" not in r.stderr
    assert run("--params", "1T", "--tokens", "20T", "--gpu", "b200", "--num-gpus", "1M", "--goodput", "0.8").exit_code == 0
    d = json.loads(run("--params", "1T", "--tokens", "20T", "--gpu", "b200", "--num-gpus", "300k", "--json").stdout)
    assert 0.3 < d["run"]["goodput"] < 0.45
    r = run("--params", "1T", "--tokens", "20T", "--gpu", "b200", "--days", "1")
    assert r.exit_code == 2 and "--days 1 cannot be met this way: give more days" in r.stderr
    for days in ("0", "-3"):  # a deadline of no days was a ZeroDivisionError's traceback
        r = run("--params", "7B", "--tokens", "1T", "--gpu", "h100", "--days", days)
        assert r.exit_code == 2 and f"--days {float(days)}: give a number in (0" in r.stderr and "Traceback" not in r.output
    r = run("--params", "1T", "--tokens", "20T", "--gpu", "b200", "--days", "10", "--json")
    assert r.exit_code == 0 and "more GPUs do not meet it: the failure model leaves" in r.stderr
    # the count planned is the fastest one tried, not the largest (past a point more GPUs are slower)
    assert json.loads(r.stdout)["run"]["goodput"] > 0.3
    r = run("--params", "70B", "--tokens", "2T", "--gpu", "h100", "--num-gpus", "1024", "--days", "10")
    assert r.exit_code == 0 and "would finish in 10 (at the same MFU, and their goodput)" in r.stderr
    # a budget to spend in some days buys its GPU count: the refusal names --days, not "fewer GPUs" nobody gave
    r = run("--budget-usd", "5e9", "--gpu", "h100", "--days", "30")
    assert r.exit_code == 2 and "what the budget buys to be spent in 30 days: give more --days" in r.stderr
    assert "give fewer GPUs" not in r.stderr
    # and a budget plan whose GPUs the failure model leaves under half the time is warned, as a forward plan is
    r = run("--budget-usd", "5e9", "--gpu", "h100", "--days", "300", "--json")
    assert r.exit_code == 0 and "restarts and redone work take" in r.stderr
    assert json.loads(r.stdout)["run"]["goodput"] < 0.5


def test_a_deadline_is_met_or_said_to_be_missed_in_whole_nodes():
    d = json.loads(run("--params", "70B", "--tokens", "2T", "--gpu", "h100", "--days", "30", "--json").stdout)
    assert d["run"]["num_gpus"] % 8 == 0 and d["run"]["days"] <= 30
    r = run("--params", "70B", "--tokens", "2T", "--gpu", "h100", "--num-gpus", "1024", "--days", "10", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["run"]["num_gpus"] == 1024
    m = re.search(r"--days 10 cannot be met on 1,024 GPUs: the run takes ([\d.]+) days; ([\d,]+) would finish", r.stderr)
    assert m and float(m.group(1)) > 10 and int(m.group(2).replace(",", "")) % 8 == 0


def test_time_and_cost_come_with_the_range_documented_runs_span():
    """The plan's days and dollars span what documented runs' effective MFU implies against
    the planner's figure (plan validate's tables): against the speed model's prediction by
    default, against the catalogue's MFU with --default-mfu; measured --mfu and --goodput drop it."""
    v = json.loads(run("validate", "--json").stdout)
    base = ("--params", "70B", "--tokens", "2T", "--gpu", "h100", "--num-gpus", "1024", "--json")
    for flags, ratios in (((), [c["hours_predicted"] / c["hours_reported"] for c in v["hours"]]),
                          (("--default-mfu",), [c["effective_mfu_implied"] / c["effective_mfu_default"] for c in v["runs"]
                                                if c["kind"] != "claim" and c["effective_mfu_implied"]
                                                and c["effective_mfu_default"]])):
        d = json.loads(run(*base, *flags).stdout)
        rg = d["ranges"]
        assert rg["effective_mfu_ratio"] == pytest.approx([min(ratios), max(ratios)]) and rg["runs"] == len(ratios)
        lo, hi = rg["cost_usd"]
        assert lo < d["run"]["cost_usd"] < hi and hi / lo == pytest.approx(max(ratios) / min(ratios))
        assert rg["days"][0] < d["run"]["days"] < rg["days"][1]
    measured = json.loads(run(*base, "--mfu", "0.4", "--goodput", "0.9").stdout)
    default = json.loads(run(*base, "--default-mfu").stdout)
    assert measured["ranges"] is None and measured["run"]["cost_usd"] == pytest.approx(default["run"]["cost_usd"])
    assert measured["speed"] == {"mfu_source": "default", "reason": "--mfu given"}


def test_a_given_layout_that_does_not_fit_exits_1():
    r = run("--params", "70B", "--tokens", "2T", "--gpu", "h100", "--num-gpus", "8", "--tp", "1", "--pp", "1", "--zero", "0")
    assert r.exit_code == 1 and "does NOT fit" in r.stdout and "needs 1215.1 GiB per GPU, more than 80 GiB" in r.stderr


def test_dense_model_from_its_parameter_count():
    r = run("--params", "7e10", "--tokens", "2e12", "--gpu", "a100-80gb", "--num-gpus", "2048", "--default-mfu", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["flops"]["model"] == pytest.approx(6 * 7e10 * 2e12)
    run_ = d["run"]
    assert run_["gpu_hours"] == pytest.approx(6 * 7e10 * 2e12 / (312e12 * 0.40 * 0.90) / 3600, rel=1e-9)
    assert run_["cost_usd"] == pytest.approx(run_["gpu_hours"] * 1.89)
    assert d["layout"]["memory"]["fits"] and d["layout"]["searched"]
    assert d["params"] == {"total": 70_000_000_000, "active": 70_000_000_000, "non_embedding": None}


def test_llama3_405b_matches_meta_s_gpu_hours():
    r = run("--preset", "llama3-405b", "--tokens", "15.6e12", "--gpu", "h100-sxm", "--num-gpus", "16384", "--mfu", "0.40", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["params"]["total"] == 405_853_388_800
    assert d["run"]["gpu_hours"] == pytest.approx(30.84e6, rel=0.10)  # Llama 3.1 model card: 30.84M H100-hours
    table = run("--preset", "llama3-405b", "--tokens", "15.6e12", "--gpu", "h100-sxm", "--num-gpus", "16384", "--mfu", "0.40")
    assert "GPU-hours" in table.stdout and "memory/GPU" in table.stdout and "fits" in table.stdout


def test_budget_plan():
    r = run("--budget-usd", "5e8", "--gpu", "h100-sxm", "--days", "180", "--unique-tokens", "2e12", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["mode"] == "budget" and d["run"]["cost_usd"] == pytest.approx(5e8, rel=0.001)
    b = d["budget"]
    assert 6 * b["params"] * b["tokens"] == pytest.approx(d["flops"]["model"], rel=1e-9)
    (iv80, iv95) = b["forecast"]["intervals"]
    assert iv95["lo"] < iv80["lo"] < b["forecast"]["loss"] < iv80["hi"] < iv95["hi"] and iv80["level"] == 0.8
    assert d["forecast"] == b["forecast"]
    assert b["epochs"] == pytest.approx(b["tokens"] / 2e12)
    assert "epochs of 2e+12 unique tokens" in r.stderr and "extrapolating past" in r.stderr
    assert d["data"]["epochs"] == pytest.approx(b["epochs"]) and d["data"]["penalty"] > 0
    # the budget buys a model whose predicted MFU is the one the budget was spent at
    sp = d["speed"]
    assert sp["mfu_source"] == "performance model" and sp["goodput_source"] == "failure model"
    assert d["run"]["mfu"] == pytest.approx(sp["chosen"]["step"]["tokens_per_s_per_gpu"] * d["flops"]["per_token"]
                                            / 989.4e12, abs=0.01)
    assert d["run"]["goodput"] == pytest.approx(sp["goodput"]["goodput"])
    old = json.loads(run("--budget-usd", "5e8", "--gpu", "h100-sxm", "--days", "180", "--default-mfu", "--json").stdout)
    assert old["run"]["mfu"] == 0.40 and old["speed"] is None


def test_budget_plan_with_a_user_fit(tmp_path):
    from scalelab.data import bundled_path

    fit = tmp_path / "fit.json"
    assert runner.invoke(app, ["fit", str(bundled_path("chinchilla")), "--where", "epoch_excluded == 0",
                               "--bootstrap", "20", "--out", str(fit)]).exit_code == 0
    r = run("--budget-gpu-hours", "1e6", "--gpu", "a100", "--num-gpus", "1024", "--fit", fit, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["forecast"]["law"] == f"fit {fit}"


def test_given_layout_and_shape_flags():
    r = run("--d-model", "4096", "--layers", "32", "--heads", "32", "--kv-heads", "8", "--d-ff", "14336",
            "--vocab", "128256", "--seq-len", "8192", "--tokens", "1e12", "--num-gpus", "64", "--tp", "2", "--zero", "3",
            "--micro-batch", "2", "--recompute", "selective-op", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["params"]["total"] == 8_030_261_248
    assert d["layout"]["parallel"] == {"dp": 32, "tp": 2, "pp": 1, "cp": 1, "ep": 1, "zero": 3, "sequence_parallel": True}
    assert {k: d["layout"][k] for k in ("recompute", "micro_batch", "precision", "searched")} == {
        "recompute": "selective-op", "micro_batch": 2, "precision": "bf16", "searched": False}
    assert d["model"]["d_ff"] == 14336 and d["model"]["n_kv_heads"] == 8


def test_deadline_finds_the_gpu_count():
    r = run("--preset", "llama3-8b", "--tokens", "15e12", "--days", "30", "--json")
    d = json.loads(r.stdout)
    assert d["run"]["days"] <= 30 and d["run"]["num_gpus"] > 1


def test_validate():
    r = run("validate", "--json")
    assert r.exit_code == 0
    rows = {c["model"]: c for c in json.loads(r.stdout)["runs"]}
    assert abs(rows["Llama 3.1 405B"]["hours_error"]) < 0.10
    table = run("validate")
    assert "Llama 3.1 405B" in table.stdout and "eff." in table.stdout and "6·N·D" in table.stdout
    documented, claims = table.stdout.split("news claims (unverified")
    assert "Llama 3.1 405B" in documented and "news claim" not in documented.split("speed model")[0]
    assert "GPT-4" in claims and "published step times" in claims and "flat 40% MFU" in claims


def test_help_ends_with_examples():
    r = run("--help")
    lines = [ln for ln in r.stdout.strip().splitlines() if ln.strip()]
    assert lines[-1].strip() == "scalelab plan goodput --params 405B --num-gpus 1000,4096,16384,50000"
    assert "  scalelab plan validate\n" in r.stdout
    assert "scalelab plan --budget-usd 5e8 --gpu h100-sxm --days 180 --fit fit.json" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["--params", "7e10", "--tokens", "2e12", "--gpu", "h1000", "--num-gpus", "8"], r"unknown GPU 'h1000' \(did you mean 'h100'\?\)"),
    (["--preset", "lama3-8b", "--tokens", "1e12", "--num-gpus", "8"], r"unknown preset 'lama3-8b' \(did you mean 'llama3-8b'\?\)"),
    (["--preset", "llama3-8b", "--tokens", "1e12", "--num-gpus", "8", "--tp", "3"], r"num_gpus\(8\) is not divisible by tp\(3\) \* pp\(1\) \* cp\(1\) = 3"),
    (["--preset", "palm-540b", "--tokens", "1e12", "--num-gpus", "10", "--tp", "5"], r"n_heads \(48\) is not divisible by tp \(5\)"),
    (["--preset", "llama3-8b", "--tokens", "1e12", "--num-gpus", "8", "--dp", "2", "--tp", "2"], r"dp\(2\) \* tp\(2\) \* pp\(1\) \* cp\(1\) = 4 != num_gpus\(8\)"),
    (["--params", "-5", "--tokens", "1e12", "--num-gpus", "8"], r"--params -5.0: give a parameter count in \(0, 1e15\]"),
    (["--params", "1e20", "--tokens", "1e12", "--num-gpus", "8"], r"--params 1e\+20: give a parameter count in \(0, 1e15\]"),
    (["--params", "7e10", "--tokens", "1e20", "--num-gpus", "8"], r"--tokens 1e\+20: give a token count in \(0, 1e16\]"),
    (["--params", "7e10", "--tokens", "1e12", "--num-gpus", "8", "--mfu", "2"], r"--mfu 2.0: must be in"),
    (["--params", "7e10", "--num-gpus", "8"], r"give --tokens D with the model"),
    (["--params", "7e10", "--tokens", "1e12"], r"give --num-gpus \(or --days"),
    (["--budget-usd", "1e6", "--params", "7e10", "--num-gpus", "8"], r"a budget plan chooses the model and tokens itself"),
    (["--budget-usd", "1e6"], r"give --num-gpus or --days"),
    (["--d-model", "4096", "--tokens", "1e12", "--num-gpus", "8"], r"a model shape needs --layers, --heads, --vocab too"),
    (["--preset", "llama3-8b", "--tokens", "1e12", "--num-gpus", "8", "--recompute", "some"], r"recompute='some': choose one of"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    r = run(*args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), lines


def test_a_model_that_cannot_fit_says_so():
    r = run("--preset", "llama3-405b", "--tokens", "1e12", "--num-gpus", "8", "--json")
    assert r.exit_code == 1  # a plan that cannot be launched: exit 1, the plan still printed
    d = json.loads(r.stdout)
    assert d["layout"]["parallel"] is None and d["layout"]["memory"] is None
    assert "no layout up to tp=8 fits" in r.stderr and any("no layout" in w for w in d["warnings"])


def test_a_small_run_reads_in_its_own_units_and_says_what_shape_was_timed():
    """A parameter count no Llama-like shape has is planned with the nearest shape, and says
    so; a run of seconds reads in seconds and cents, not '0.0 days' and '$0'; where the plan's
    6·N·D MFU and the timed shape's differ, the header gives both."""
    r = run("--params", "1e5", "--tokens", "2e6", "--num-gpus", "1")
    assert r.exit_code == 0, r.output
    assert "no Llama-like shape has 1e+05 parameters" in r.stderr and "2 layers x 128" in r.stderr
    d = json.loads(run("--params", "1e5", "--tokens", "2e6", "--num-gpus", "1", "--json").stdout)
    assert any("no Llama-like shape" in w for w in d["warnings"])
    seconds = d["run"]["days"] * 86400
    assert seconds < 10
    text = " ".join(r.stdout.split())
    assert f"time {seconds:.2g} s wall-clock" in text and "0.0 days" not in text
    assert f"cost ${d['run']['cost_usd']:.3g} (" in text
    shape_mfu = d["speed"]["chosen"]["step"]["mfu"]
    assert abs(shape_mfu - d["run"]["mfu"]) > 0.1 and f"which has {shape_mfu:.3f} counting its shape's FLOPs" in text
    big_run = json.loads(run("--params", "70B", "--tokens", "2T", "--num-gpus", "1024", "--json").stdout)
    assert not any("no Llama-like shape" in w for w in big_run["warnings"])
