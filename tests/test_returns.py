"""scalelab returns: what each decade of compute buys under a fitted law."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.data import bundled_path, default_fit_path
from scalelab.planning.returns import compute_for_loss, returns
from scalelab.io import load_fit

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_each_decade_removes_the_same_share_of_the_reducible_loss():
    fit = load_fit(default_fit_path())
    p = fit.params_
    gamma = p["alpha"] * p["beta"] / (p["alpha"] + p["beta"])  # the compute-optimal exponent
    rows = returns(fit, 1e24, decades=3)
    assert [r.flops for r in rows] == pytest.approx([1e24, 1e25, 1e26, 1e27])
    for prev, r in zip(rows, rows[1:]):
        assert r.removed == pytest.approx(1 - 10 ** -gamma, abs=1e-6)
        assert r.gain == pytest.approx(prev.reducible - r.reducible)
        assert r.decade_cost_usd == pytest.approx(9 * prev.cost_usd)  # a decade costs nine times the run before it
    gains = [r.gain for r in rows[1:]]
    assert np.allclose(np.array(gains[1:]) / gains[:-1], 10 ** -gamma)  # the gain shrinks geometrically


def test_costs_agree_with_plan_for_the_same_run():
    r = json.loads(run("returns", default_fit_path(), "--compute", "1e24", "--decades", "1", "--json").stdout)[1]
    plan = json.loads(run("plan", "--params", repr(r["params"]), "--tokens", repr(r["tokens"]), "--gpu", "h100-sxm",
                          "--num-gpus", "1", "--default-mfu", "--json").stdout)
    assert plan["run"]["gpu_hours"] == pytest.approx(r["gpu_hours"], rel=1e-9)
    assert plan["run"]["cost_usd"] == pytest.approx(r["cost_usd"], rel=1e-9)


def test_days_on_a_gpu_count_agree_with_plan():
    r = json.loads(run("returns", default_fit_path(), "--compute", "1e24", "--decades", "1", "--num-gpus", "2048",
                       "--json").stdout)[1]
    plan = json.loads(run("plan", "--params", repr(r["params"]), "--tokens", repr(r["tokens"]), "--gpu", "h100-sxm",
                          "--num-gpus", "2048", "--default-mfu", "--json").stdout)
    assert plan["run"]["days"] == pytest.approx(r["days"], rel=1e-9)
    inv = json.loads(run("returns", default_fit_path(), "--target-loss", "2.2", "--num-gpus", "2048", "--json").stdout)
    assert inv["days_lo80"] < inv["days"] < inv["days_hi80"] and inv["days"] == pytest.approx(inv["gpu_hours"] / 2048 / 24)
    assert "days" not in json.loads(run("returns", default_fit_path(), "--target-loss", "2.2", "--json").stdout)
    r = run("returns", default_fit_path(), "--target-loss", "2.2", "--num-gpus", "0.5")
    assert r.exit_code == 2 and "--num-gpus 0.5: give a count of at least 1" in r.stderr


def test_the_inverse_reaches_the_target_or_says_the_floor_forbids_it():
    fit = load_fit(default_fit_path())
    r = compute_for_loss(fit, 2.2)
    assert float(fit.optimal_allocation([r["flops"]]).loss.loss[0]) == pytest.approx(2.2, abs=1e-9)
    assert r["flops_lo80"] < r["flops"] < r["flops_hi80"]
    res = run("returns", default_fit_path(), "--target-loss", "1.7")
    assert res.exit_code == 2 and "at or below the law's floor E = 1.817 (by 0.117)" in res.stderr
    both = run("returns", default_fit_path(), "--target-loss", "2.2", "--compute", "1e21")
    assert both.exit_code == 2 and "give not both: --compute" in both.stderr


def test_a_task_link_gives_the_score_each_decade_buys(tmp_path):
    from pathlib import Path

    tasks = Path(__file__).parent / "data" / "scaling" / "olmo_tasks.csv"
    step1, link = tmp_path / "bpb.json", tmp_path / "hs.json"
    assert run("fit", tasks, "--loss-col", "bpb_hellaswag_val", "--where", "paper_role == 'fit'", "--bootstrap", 20,
               "--out", step1).exit_code == 0
    assert run("tasks", "fit", tasks, "--x-col", "bpb_hellaswag_val", "--y-col", "acc_hellaswag_val", "--where",
               "paper_role == 'fit'", "--chance", "0.25", "--all-steps", "--bootstrap", 20, "--out", link).exit_code == 0
    rows = json.loads(run("returns", step1, "--compute", "1e21", "--decades", "2", "--task", link, "--json").stdout)
    scores = [r["task"]["value"] for r in rows]
    assert scores[0] < scores[1] < scores[2] and all(r["task"]["lo80"] < r["task"]["value"] < r["task"]["hi80"] for r in rows)
    r = run("returns", default_fit_path(), "--compute", "1e24", "--task", link)
    assert r.exit_code == 2 and "the step-1 fit models 'loss' but the task link takes 'bpb_hellaswag_val'" in r.stderr


def test_bad_input(tmp_path):
    compute_fit = tmp_path / "c.json"
    assert run("fit", bundled_path("chinchilla"), "--where", "epoch_excluded == 0", "--law", "compute", "--bootstrap", 0,
               "--out", compute_fit).exit_code == 0
    for args, message in ((["--compute", "1e24"], "returns follow the compute-optimal frontier of a law of N and D"),):
        r = run("returns", compute_fit, *args)
        assert r.exit_code == 2 and message in r.stderr
    r = run("returns", default_fit_path())
    assert r.exit_code == 2 and "give --compute C" in r.stderr
    r = run("returns", default_fit_path(), "--compute", "1e24", "--decades", "12")
    assert r.exit_code == 2 and "--decades 12: give 1 to 8" in r.stderr


def test_returns_figure(tmp_path):
    png = tmp_path / "returns.svg"
    r = runner.invoke(app, ["returns", str(default_fit_path()), "--compute", "1e22", "--decades", "4", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    svg = png.read_text()
    assert svg.count("-34%") == 4 and "floor E" in svg
    r = runner.invoke(app, ["returns", str(default_fit_path()), "--target-loss", "2.0", "--plot", str(png)])
    assert r.exit_code == 2 and "--plot draws the decades" in r.output


def test_a_pilot_sized_fit_reads_in_its_unit_and_its_cents(tmp_path):
    """A ladder's fit (bits per byte) from 1e14 FLOPs: the decades cost fractions of a cent,
    shown in three digits rather than as $0, and the table says the loss's unit."""
    d = json.loads(default_fit_path().read_text())
    d["provenance"]["unit"] = "bits per byte"
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps(d))
    r = run("returns", fit, "--compute", "1e14", "--decades", "1")
    assert r.exit_code == 0, r.output
    rows = json.loads(run("returns", fit, "--compute", "1e14", "--decades", "1", "--json").stdout)
    assert 0 < rows[1]["cost_usd"] < 0.01
    text = " ".join(r.stdout.split())
    assert f"${rows[1]['cost_usd']:.3g}" in text and f"{rows[1]['gpu_hours']:.3g}" in text and "$0 " not in text
    assert "loss in bits per byte; '$ per 0.01'" in text
    plain = run("returns", default_fit_path(), "--compute", "1e24", "--decades", "1")
    assert "loss in" not in plain.stdout and "$ per 0.01': the decade's cost" in " ".join(plain.stdout.split())


def test_a_degenerate_ensemble_member_is_no_allocation_not_a_numpy_warning(tmp_path):
    """A poorly determined fit's bootstrap can hold a member whose compute-optimal N is 0 or
    infinite (A at 1e300): it is left out of the allocation's interval, silently, instead of
    'divide by zero' warnings landing in the user's output (and the report's notes)."""
    import warnings

    d = json.loads(default_fit_path().read_text())
    d["ensemble"]["A"][0], d["ensemble"]["alpha"][0] = 1e300, 0.01
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps(d))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rows = returns(load_fit(fit), 1e24, decades=1)
    assert all(np.isfinite([r.params, r.tokens, r.loss]).all() for r in rows)
