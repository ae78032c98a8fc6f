"""scalelab tasks: a task metric from a task loss (step 2), chained through a step-1 fit."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.errors import NotForecastableWarning
from scalelab.tasks import TaskFit

TASKS = Path(__file__).parent / "data" / "scaling" / "olmo_tasks.csv"
FIT_ROWS = "paper_role == 'fit'"
HS = ["--x-col", "bpb_hellaswag_val", "--y-col", "acc_hellaswag_val"]
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def sigmoid_points(n_runs=12, per_run=8, noise=0.005, seed=0, ceil=1.0, lo=0.7):
    rng = np.random.default_rng(seed)
    x = np.linspace(lo, 1.5, n_runs * per_run)
    y = 0.25 + (ceil - 0.25) / (1 + np.exp(7 * (x - 1.0))) + noise * rng.standard_normal(x.size)
    return x, y, np.repeat(np.arange(n_runs), per_run)


def truth(x, ceil=1.0):
    return 0.25 + (ceil - 0.25) / (1 + np.exp(7 * (x - 1.0)))


def test_a_sigmoid_is_recovered_with_intervals_that_hold_it():
    x, y, g = sigmoid_points()
    f = TaskFit("sigmoid", chance=0.25, num_bootstrap=60).fit(x, y, g)
    assert f.params_["x0"] == pytest.approx(1.0, abs=0.02) and f.params_["k"] == pytest.approx(7, rel=0.15)
    p = f.predict(0.6)  # below the points: an extrapolation in task loss
    assert p.intervals[0.95][0] <= truth(0.6) <= p.intervals[0.95][1] and abs(p.value - truth(0.6)) < 0.02
    assert f.forecastable_ and f.link_ == "sigmoid"


def test_the_anchor_says_where_the_task_saturates():
    """Pilots that only reach 48% of a task that saturates at 100%: the point (0, 1), the
    perfect answer at zero task loss, pins the curve's top, so the forecast at a much lower
    loss is as close and its interval much narrower than from the pilots alone."""
    x, y, g = sigmoid_points(lo=1.0)
    anchored = TaskFit("sigmoid", chance=0.25, num_bootstrap=60).fit(x, y, g).predict(0.6)
    free = TaskFit("sigmoid", chance=0.25, anchor=False, num_bootstrap=60).fit(x, y, g).predict(0.6)
    for p in (anchored, free):
        assert p.intervals[0.8][0] <= truth(0.6) <= p.intervals[0.8][1]
    width = {n: p.intervals[0.8][1] - p.intervals[0.8][0] for n, p in (("anchored", anchored), ("free", free))}
    assert width["anchored"] < 0.5 * width["free"] and abs(anchored.value - truth(0.6)) < 0.02


def test_a_task_that_saturates_below_one_needs_no_anchor():
    """A task whose labels cap it at 90%: the anchor's assumption fails and biases the
    ceiling up; --no-anchor recovers it."""
    x, y, g = sigmoid_points(ceil=0.9)
    free = TaskFit("sigmoid", chance=0.25, anchor=False, num_bootstrap=0).fit(x, y, g)
    anchored = TaskFit("sigmoid", chance=0.25, num_bootstrap=0).fit(x, y, g)
    assert free.params_["ceil"] == pytest.approx(0.9, abs=0.01) and anchored.params_["ceil"] > 0.94


def test_auto_prefers_the_link_that_extrapolates_and_says_so():
    x, y, g = sigmoid_points()
    f = TaskFit("auto", chance=0.25, num_bootstrap=0).fit(x, y, g)
    assert f.link_ == "sigmoid" and f.scores_["sigmoid"] < f.scores_["exp"]
    err_x = np.linspace(2.5, 4.0, 60)  # Gadre's form: error against loss
    err = 0.85 - 2.0 * np.exp(-0.9 * err_x)
    e = TaskFit("auto", num_bootstrap=0).fit(err_x, err, np.arange(60) // 5)
    assert e.link_ == "exp" and e.params_["gamma"] == pytest.approx(0.9, rel=0.05)


def test_a_task_at_chance_is_not_forecastable():
    rng = np.random.default_rng(1)
    x = np.linspace(0.8, 1.4, 80)
    y = 0.25 + 0.004 * rng.standard_normal(80)  # never clear of chance
    with pytest.warns(NotForecastableWarning, match="within 3 noise scales .* of chance"):
        f = TaskFit("sigmoid", chance=0.25, num_bootstrap=30).fit(x, y, np.arange(80) // 8)
    assert not f.forecastable_ and not f.predict(0.7).forecastable


def test_the_chain_carries_both_steps_and_round_trips(tmp_path):
    """OLMo ladder (16 runs, 190M-1.3B): HellaSwag bpb -> accuracy, chained to 13B-5T."""
    from scalelab.fitting import Fit
    from scalelab.runs import read_runs
    from scalelab.tasks.data import fit_points, load_task, read_task_points, save_task

    pts = read_task_points(TASKS, x_col="bpb_hellaswag_val", y_col="acc_hellaswag_val", where=FIT_ROWS, all_steps=True)
    assert pts.frame["run_id"].nunique() == 16 and len(pts.frame) > 1000
    task = fit_points(pts, link="sigmoid", chance=0.25, num_bootstrap=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step1 = Fit(num_bootstrap=40).fit(read_runs(TASKS, loss_col="bpb_hellaswag_val", where=FIT_ROWS))
        chained = task.chain(step1, params=13202396160, tokens=5.0000885e12)
    direct = task.predict(chained.x)
    w80 = lambda f: f.intervals[0.8][1] - f.intervals[0.8][0]  # noqa: E731
    assert w80(chained) > 2 * w80(direct)  # step 1's uncertainty is in the chained interval
    assert chained.value == pytest.approx(direct.value, abs=1e-9)
    actual = 0.832  # the 13B run's HellaSwag accuracy, mean of its last five checkpoints (olmo_tasks.csv)
    assert chained.intervals[0.8][0] <= actual <= chained.intervals[0.8][1]
    save_task(task, tmp_path / "t.json")
    again = load_task(tmp_path / "t.json")
    assert again.predict(0.7).to_dict() == task.predict(0.7).to_dict()


def test_cli_fit_predict_backtest(tmp_path):
    t, s1 = tmp_path / "task.json", tmp_path / "step1.json"
    r = run("tasks", "fit", TASKS, *HS, "--where", FIT_ROWS, "--chance", "0.25", "--all-steps", "--bootstrap", 30,
            "--out", t, "--plot", tmp_path / "task.png")
    assert r.exit_code == 0, r.output
    assert "forecastable: yes" in r.stdout and (tmp_path / "task.png").read_bytes()[:4] == b"\x89PNG"
    assert run("fit", TASKS, "--loss-col", "bpb_hellaswag_val", "--where", FIT_ROWS, "--bootstrap", 30,
               "--out", s1).exit_code == 0
    d = json.loads(run("tasks", "predict", t, "--fit", s1, "--params", "13.2B", "--tokens", "5T", "--json").stdout)
    assert d["lo95"] < d["lo80"] < d["value"] < d["hi80"] < d["hi95"] and 0.5 < d["x"] < 0.8 and d["forecastable"]
    at = json.loads(run("tasks", "predict", t, "--x", "0.66", "--json").stdout)
    assert at["x"] == 0.66 and 0.8 < at["value"] < 0.87  # the 13B run: bpb 0.66, accuracy 0.83
    r = run("tasks", "backtest", TASKS, *HS, "--where", FIT_ROWS, "--chance", "0.25", "--train-max-flops", "5e20",
            "--bootstrap", 20, "--json", "--plot", tmp_path / "backtest.png")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "backtest.png").read_bytes()[:4] == b"\x89PNG"
    rows = json.loads(r.stdout)
    assert rows and all(x["params"] * x["tokens"] * 6 > 5e20 for x in rows)
    assert np.mean([abs(x["error"]) for x in rows]) < 0.05


def test_a_table_with_its_own_column_names(tmp_path):
    """The OLMo table with its run, N and D columns renamed: named with --run-id-col,
    --params-col and --tokens-col it gives the same link and backtest; left unnamed, the
    rows are taken as runs of their own, and the warning says which option groups them."""
    import pandas as pd

    renamed = tmp_path / "mine.csv"
    pd.read_csv(TASKS).rename(columns={"run_id": "run", "params": "N", "tokens": "D"}).drop(columns="flops").to_csv(
        renamed, index=False)
    fit = ("tasks", "fit", *HS, "--where", FIT_ROWS, "--chance", "0.25", "--all-steps", "--bootstrap", 10, "--json")
    ours = json.loads(run(fit[0], fit[1], TASKS, *fit[2:]).stdout)
    r = run(fit[0], fit[1], renamed, *fit[2:], "--run-id-col", "run")
    theirs = json.loads(r.stdout)
    assert theirs["params"] == ours["params"] and theirs["n_runs"] == ours["n_runs"] == 16, r.output
    r = run(fit[0], fit[1], renamed, *fit[2:])
    assert json.loads(r.stdout)["n_runs"] == json.loads(r.stdout)["n_rows"] > 16
    assert "no 'run_id' column, so each of its" in r.stderr and "give --run-id-col run" in r.stderr
    back = ("tasks", "backtest", *HS, "--where", FIT_ROWS, "--chance", "0.25", "--train-max-flops", "5e20",
            "--bootstrap", 10, "--json")
    ours = json.loads(run(back[0], back[1], TASKS, *back[2:]).stdout)
    r = run(back[0], back[1], renamed, *back[2:], "--run-id-col", "run", "--params-col", "N", "--tokens-col", "D")
    assert r.exit_code == 0, r.output
    assert [x["predicted"] for x in json.loads(r.stdout)] == pytest.approx([x["predicted"] for x in ours])
    r = run(back[0], back[1], renamed, *back[2:], "--run-id-col", "run")
    assert r.exit_code == 2 and "name them with --params-col and --tokens-col" in r.stderr
    r = run(fit[0], fit[1], renamed, *fit[2:], "--run-id-col", "runs")
    assert r.exit_code == 2 and "no column 'runs' (did you mean 'run'?)" in r.stderr


def test_a_metric_in_percent_is_pointed_out_and_taken_as_an_expression(tmp_path):
    """Accuracy written in percent is refused with the expression that reads it, and that
    expression gives the fit the fractions give."""
    import pandas as pd

    df = pd.read_csv(TASKS).query(FIT_ROWS)
    df["acc_pct"] = 100 * df["acc_hellaswag_val"]
    table = tmp_path / "pct.csv"
    df.to_csv(table, index=False)
    r = run("tasks", "fit", table, "--x-col", "bpb_hellaswag_val", "--y-col", "acc_pct", "--out", tmp_path / "no.json")
    assert r.exit_code == 2 and "in percent? give --y-col 'acc_pct / 100'" in r.stderr
    named = tmp_path / "named.csv"  # the run is named by the column that names it
    df.rename(columns={"run_id": "run"}).to_csv(named, index=False)
    r = run("tasks", "fit", named, "--x-col", "bpb_hellaswag_val", "--y-col", "acc_pct", "--run-id-col", "run")
    assert r.exit_code == 2 and f"row 1 (run={df.iloc[0]['run_id']}) has" in r.stderr
    fits = []
    for y in ("acc_pct / 100", "acc_hellaswag_val"):
        r = run("tasks", "fit", table, "--x-col", "bpb_hellaswag_val", "--y-col", y, "--bootstrap", 0, "--json",
                "--out", tmp_path / "t.json")
        assert r.exit_code == 0, r.output
        fits.append(json.loads(r.stdout)["params"])
    assert fits[0] == pytest.approx(fits[1], rel=1e-6)


@pytest.mark.parametrize("args,message", [
    (["fit", TASKS, "--x-col", "bpb_hellaswag_val", "--y-col", "tokens"], "must be an accuracy or error in [0, 1]"),
    (["fit", TASKS, "--x-col", "bpb_helaswag_val", "--y-col", "acc_hellaswag_val"], "no column 'bpb_helaswag_val' for x (did you mean"),
    (["fit", TASKS, *HS, "--where", "run_id == '190M-1xC'", "--link", "sigmoid"], "needs at least 5 runs, got 1"),
    (["fit", TASKS, *HS, "--link", "probit"], "--link 'probit': choose one of"),
    (["fit", TASKS, *HS, "--where", "run_id == '190M-1xc'"], "selects no rows of olmo_tasks.csv (run_id takes"),
    (["fit", TASKS, *HS, "--where", "flopz < 1e20"], "name 'flopz' is not defined; columns are"),
    (["backtest", TASKS, *HS, "--where", "params * 2", "--train-max-flops", "5e20"], "must be a condition"),
    (["predict", "missing.json", "--x", "1"], "task file 'missing.json' does not exist"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "t.json"
    r = run("tasks", *args, *(["--out", out] if args[0] == "fit" else []))
    assert r.exit_code == 2 and message in r.stderr and not out.exists(), r.output


def test_a_step1_fit_of_another_loss_is_refused(tmp_path):
    t, s1 = tmp_path / "task.json", tmp_path / "step1.json"
    assert run("tasks", "fit", TASKS, *HS, "--where", FIT_ROWS, "--bootstrap", 0, "--out", t).exit_code == 0
    assert run("fit", TASKS, "--where", FIT_ROWS, "--loss-col", "bpb_arc_easy_val", "--bootstrap", 0,
               "--out", s1).exit_code == 0
    r = run("tasks", "predict", t, "--fit", s1, "--params", "13B", "--tokens", "5T")
    assert r.exit_code == 2
    assert "the step-1 fit models 'bpb_arc_easy_val' but the task link takes 'bpb_hellaswag_val'" in r.stderr
