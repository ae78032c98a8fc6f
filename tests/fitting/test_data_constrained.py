"""The data-constrained law through fit, predict and backtest, on the bundled C4 runs of
Muennighoff et al. 2023 (src/scalelab/data/muennighoff_c4_repeats.csv)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.data import bundled_path
from scalelab.errors import FitError, IdentifiabilityWarning, InputError
from scalelab.fitting import Fit
from scalelab.fitting.backtest import backtest
from scalelab.fitting.objective import objective_at
from scalelab.laws import DataConstrainedLaw
from scalelab.runs import Runs, read_runs
from tests.conftest import synthetic_runs

C4 = bundled_path("c4_repeats")
AUTHORS = dict(E=np.exp(0.6254804), A=np.exp(6.255414), B=np.exp(7.3049974), alpha=0.3526596, beta=0.3526596,
               R_D=15.387756, R_N=5.309743)
REQ = ("params", "tokens", "unique_tokens", "loss")
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_a_refit_on_the_authors_fit_set_does_at_least_as_well_as_their_constants():
    runs = read_runs(C4, where="in_paper_fit == 1", require=REQ)
    assert len(runs) == 182
    x, y = runs.inputs(DataConstrainedLaw.inputs), runs.column("loss")
    fit = Fit("data-constrained", tie=["alpha=beta"], num_bootstrap=0, calibrate=False).fit(runs)
    authors = DataConstrainedLaw(**AUTHORS)
    assert fit.result_.fun <= objective_at(authors, x, y)
    r2 = 1 - ((y - fit.law_.predict(**x)) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert r2 >= 0.77
    assert fit.params_["alpha"] == fit.params_["beta"]
    assert 5 < fit.params_["R_D"] < 200  # repeated data is discounted, not free and not worthless


def test_fixing_every_parameter_reproduces_the_test_vectors_through_the_cli(tmp_path):
    path = tmp_path / "fit.json"
    fix = ",".join(f"{k}={float(v)!r}" for k, v in AUTHORS.items())
    r = run("fit", C4, "--law", "data-constrained", "--where", "in_paper_fit == 1", "--bootstrap", 0,
            "--no-calibrate", "--fix", fix, "--out", path)
    assert r.exit_code == 0, r.output
    p = run("predict", path, "--params", "6.34e9,8.67e9", "--tokens", "242e9,178e9", "--unique-tokens", "25e9", "--json")
    assert p.exit_code == 0, p.output
    rows = json.loads(p.stdout)["rows"]
    assert rows[0]["loss"] == pytest.approx(2.2256440889984477, abs=1e-9)
    assert rows[1]["loss"] == pytest.approx(2.2269634075087867, abs=1e-9)
    a = json.loads(run("predict", path, "--compute", f"{6 * 8.67e9 * 178e9}", "--unique-tokens", "25e9", "--json").stdout)
    row = a["rows"][0]
    assert row["params"] == pytest.approx(6.8e9, rel=0.02) and row["tokens"] / 25e9 == pytest.approx(9.1, abs=0.05)


def test_predict_asks_for_the_unique_tokens_and_refuses_them_for_other_laws(tmp_path):
    path = tmp_path / "fit.json"
    assert run("fit", C4, "--law", "data-constrained", "--bootstrap", 0, "--no-calibrate", "--out", path).exit_code == 0
    r = run("predict", path, "--params", "1e9", "--tokens", "2e10")
    assert r.exit_code == 2 and "--unique-tokens" in r.output
    chin = tmp_path / "chin.json"
    assert run("fit", bundled_path("chinchilla"), "--bootstrap", 0, "--no-calibrate", "--out", chin).exit_code == 0
    r = run("predict", chin, "--params", "1e9", "--tokens", "2e10", "--unique-tokens", "1e9")
    assert r.exit_code == 2 and "data-constrained" in r.output
    r = run("predict", path, "--params", "1e9,2e9", "--tokens", "2e10,3e10", "--unique-tokens", "1e9,2e9,3e9")
    assert r.exit_code == 2 and "--unique-tokens 3" in r.output


def test_a_table_without_unique_tokens_or_with_too_many_is_refused(tmp_path):
    df = pd.read_csv(C4)
    no_u = tmp_path / "no_u.csv"
    df.drop(columns=["unique_tokens"]).to_csv(no_u, index=False)
    r = run("fit", no_u, "--law", "data-constrained")
    assert r.exit_code == 2 and "--unique-tokens-col" in r.output
    with pytest.raises(InputError, match="unique_tokens exceeds tokens in 1 row"):
        Runs.from_frame(df.assign(unique_tokens=np.where(df.index == 3, df.tokens * 2, df.unique_tokens)), require=REQ)
    # another column, or an expression, maps the role
    ok = run("fit", no_u, "--law", "data-constrained", "--unique-tokens-col", "tokens / epochs", "--bootstrap", 0,
             "--no-calibrate", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["n_runs"] == len(df)


def test_runs_that_never_repeat_their_data_say_so():
    df = synthetic_runs("data-constrained", n=60)
    df["unique_tokens"] = df["tokens"]  # one epoch each: nothing to learn about repetition
    with pytest.warns(IdentifiabilityWarning, match="no run repeats its data"):
        Fit("data-constrained", num_bootstrap=0, calibrate=False).fit(Runs.from_frame(df, require=REQ))


def test_backtest_by_condition_fits_few_epochs_and_predicts_many():
    runs = read_runs(C4, where="deduplicated_data == 0", require=REQ)
    bt = backtest(runs, Fit("data-constrained", tie=["alpha=beta"], num_bootstrap=20), train_where="epochs <= 4",
                  test_where="epochs >= 10")
    s = bt.summary()
    assert s["n_train"] == 97 and s["n_test"] == 157
    assert bt.train.column("tokens").max() > 0 and (bt.table["unique_tokens"] > 0).all()
    assert (runs.frame.loc[runs.frame.run_id.isin(bt.table.run_id), "epochs"] >= 10).all()
    assert s["mean_abs_rel_error"] < 0.3
    with pytest.raises(FitError, match="exactly one split"):
        backtest(runs, train_where="epochs <= 4", train_max_flops=1e20)
    with pytest.raises(FitError, match="--train-where 'epoch <= 4' cannot be evaluated"):
        backtest(runs, train_where="epoch <= 4")
    with pytest.raises(FitError, match="leaves no run to predict"):
        backtest(runs, train_where="epochs <= 4", test_where="epochs > 1e6")


def test_backtest_cli_takes_conditions():
    r = run("backtest", C4, "--law", "data-constrained", "--where", "deduplicated_data == 0", "--train-where",
            "epochs <= 4", "--test-where", "epochs >= 10", "--bootstrap", 10, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["summary"]["n_test"] == 157 and d["split"]["rule"] == "fit on epochs <= 4, predict epochs >= 10"
