"""The CLI, run for real: outputs, files, exit codes, one-line errors."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.data import bundled_path

runner = CliRunner()
CHIN = str(bundled_path("chinchilla"))
GADRE = str(bundled_path("gadre"))
KEEP = ["--where", "epoch_excluded == 0"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "fit.json"
    r = run("fit", CHIN, *KEEP, "--bootstrap", 50, "--out", path)
    assert r.exit_code == 0, r.output
    return path


def test_fit_prints_parameters_and_writes_json(fit_file):
    r = run("fit", CHIN, *KEEP, "--bootstrap", 50)
    assert r.exit_code == 0
    assert "chinchilla law" in r.stdout and "fitted to 240 runs" in r.stdout
    assert "alpha" in r.stdout and "0.3473" in r.stdout
    assert "objective (Huber, delta=0.001, summed over rows): 0.00101827" in r.stdout
    d = json.loads(fit_file.read_text())
    assert d["law"] == "chinchilla" and d["n_runs"] == 240
    assert len(d["ensemble"]["alpha"]) == 50
    assert d["provenance"]["sha256"] and d["provenance"]["selection"]["where"] == "epoch_excluded == 0"


def test_fit_json_output_parses():
    r = run("fit", CHIN, *KEEP, "--bootstrap", 20, "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["params"]["beta"] == pytest.approx(0.3672, abs=1e-3)
    assert "ensemble" not in d  # --json prints the summary; --out keeps everything


def test_fit_with_fix_and_tie():
    r = run("fit", GADRE, "--where", "family == 'gadre2024_redpajama' and paper_role == 'fit_loss'",
            "--tie", "alpha=beta", "--bootstrap", 20, "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["params"]["alpha"] == d["params"]["beta"]
    assert d["ties"] == ["alpha=beta"]
    assert any("degree(s) of freedom" in w["message"] for w in d["warnings"])
    assert "warning:" in r.stderr


def test_a_repeated_where_keeps_the_rows_matching_all():
    one = run("fit", GADRE, "--where", "family == 'gadre2024_redpajama' and paper_role == 'fit_loss'", "--bootstrap", 0, "--json")
    two = run("fit", GADRE, "--where", "family == 'gadre2024_redpajama'", "--where", "paper_role == 'fit_loss'",
              "--bootstrap", 0, "--json")
    assert one.exit_code == two.exit_code == 0
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert a["n_runs"] == b["n_runs"] and a["params"] == b["params"]  # the first condition was dropped before
    wide = json.loads(run("fit", GADRE, "--where", "paper_role == 'fit_loss'", "--bootstrap", 0, "--json").stdout)
    assert wide["n_runs"] > b["n_runs"]


def test_fit_compute_law():
    r = run("fit", CHIN, *KEEP, "--law", "compute", "--bootstrap", 20, "--json")
    assert r.exit_code == 0
    assert set(json.loads(r.stdout)["params"]) == {"E", "C0", "gamma"}


def test_fit_plot(tmp_path):
    png = tmp_path / "fit.png"
    r = run("fit", CHIN, *KEEP, "--bootstrap", 20, "--plot", png)
    assert r.exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run("fit", CHIN, *KEEP, "--bootstrap", 0, "--plot", tmp_path / "fit.docx")
    assert r.exit_code == 2 and "cannot save a figure as" in r.stderr and "use .png, .svg or .pdf" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.png"]  # nothing half-written
    for cmd in (["fit", CHIN, *KEEP], ["backtest", CHIN, *KEEP, "--holdout-largest", "3"]):
        r = run(*cmd, "--bootstrap", 200, "--plot", tmp_path / "missing" / "fit.png", "--out", tmp_path / "x.json")
        # refused (checked before the fit is made), nothing written
        assert r.exit_code == 2 and "folder" in r.stderr and "does not exist; create it first" in r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.png"]


def test_predict_point(fit_file):
    r = run("predict", fit_file, "--params", "7e10", "--tokens", "1.4e12", "--json")
    assert r.exit_code == 0
    row = json.loads(r.stdout)["rows"][0]
    assert row["lo95"] < row["lo80"] < row["loss"] < row["hi80"] < row["hi95"]
    assert row["loss"] == pytest.approx(1.9734, abs=1e-3)
    table = run("predict", fit_file, "--params", "7e10", "--tokens", "1.4e12")
    assert "80% interval" in table.stdout and "1.973" in table.stdout
    assert "│ 70B    │ 1.4T   │" in table.stdout  # sizes as a person writes them


def test_predict_compute_optimal(fit_file):
    r = run("predict", fit_file, "--compute", "1e22,1e24", "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["kind"] == "allocation" and len(d["rows"]) == 2
    first = d["rows"][0]
    assert 6 * first["params"] * first["tokens"] == pytest.approx(1e22, rel=1e-9)
    assert first["params_lo80"] < first["params"] < first["params_hi80"]
    assert json.loads(run("predict", fit_file, "--flops", "1e22,1e24", "--json").stdout) == d  # the other name


def test_predict_flops_per_token(fit_file):
    six = json.loads(run("predict", fit_file, "--compute", "1e22", "--json").stdout)["rows"][0]
    eight = json.loads(run("predict", fit_file, "--compute", "1e22", "--flops-per-token", "8", "--json").stdout)["rows"][0]
    assert 8 * eight["params"] * eight["tokens"] == pytest.approx(1e22, rel=1e-9)
    assert eight["params"] < six["params"]


def test_predict_plot(fit_file, tmp_path):
    for args in (["--params", "7B,70B", "--tokens", "140B,1.4T"], ["--compute", "1e22,1e24"]):
        png = tmp_path / "p.png"
        r = run("predict", fit_file, *args, "--plot", png)
        assert r.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG" and f"wrote {png}" in r.stdout.replace("\n", "")
        png.unlink()
    r = run("predict", fit_file, "--compute", "1e22", "--plot", tmp_path / "p.txt")
    assert r.exit_code == 2 and "use .png, .svg or .pdf" in r.stderr and not (tmp_path / "p.txt").exists()


def test_predict_several_points(fit_file):
    r = run("predict", fit_file, "--params", "1e9,1e10", "--tokens", "2e10", "--json")
    assert [row["params"] for row in json.loads(r.stdout)["rows"]] == [1e9, 1e10]


def test_backtest(tmp_path):
    csv = tmp_path / "bt.csv"
    r = run("backtest", CHIN, *KEEP, "--train-max-flops", "1e21", "--bootstrap", 30, "--out", csv)
    assert r.exit_code == 0
    assert "fitted on 217 rows, forecast 23" in r.stdout
    assert "interval coverage: 80% interval holds" in r.stdout
    assert len(csv.read_text().strip().splitlines()) == 24
    j = json.loads(run("backtest", CHIN, *KEEP, "--holdout-largest", "5", "--bootstrap", 20, "--json").stdout)
    assert j["summary"]["n_test"] == 5 and len(j["rows"]) == 5


def test_demo_writes_report(tmp_path):
    r = run("demo", "--out-dir", tmp_path / "rep", "--bootstrap", 30, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count("<img") >= 2
    assert d["backtest"]["n_test"] == 23
    assert len(d["forecast"]) == 4
    assert all(abs(t["rel_error"]) < 0.0073 for t in d["gadre_targets"])


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("args,message", [
    (["fit", "missing.csv"], r"runs file 'missing.csv' does not exist"),
    (["fit", CHIN, "--loss-col", "los"], r"has no column 'los' for loss \(did you mean 'loss'\?\)"),
    (["fit", CHIN, "--where", "flops <"], r"--where 'flops <' cannot be evaluated"),
    (["fit", CHIN, "--fix", "E"], r"--fix 'E' is not NAME=VALUE"),
    (["fit", CHIN, "--fix", "Q=1"], r"chinchilla law has no parameter 'Q'"),
    (["fit", CHIN, "--law", "kaplan"], r"unknown law 'kaplan'"),
    (["fit", CHIN, "--where", "flops < 2.5e18"], r"fitting 5 parameters needs at least 5 runs"),
    (["predict", "nofit.json", "--compute", "1e22"], r"fit file 'nofit.json' does not exist"),
    (["backtest", CHIN], r"a backtest needs exactly one split"),
    (["backtest", CHIN, "--train-max-flops", "1e30"], r"leaves no run to predict"),
    (["backtest", CHIN, "--holdout-largest", "0"], r"--holdout-largest 0: give 1 to 244"),
])
def test_user_errors_exit_2_with_one_line(args, message):
    r = run(*args)
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    import re

    assert re.search(message, lines[0]), lines[0]


def test_predict_errors(fit_file, tmp_path):
    cases = [
        (["--params", "7e10"], r"give --params N and --tokens D"),
        (["--params", "abc", "--tokens", "1"], r"--params 'abc': give numbers, comma-separated for several, e.g. --params 7e10,70B"),
        (["--params", "1e20", "--tokens", "1e12"], r"--params 1e+20: give a parameter count in (0, 1e+15], e.g. --params 7e10"),
        (["--params", "70B", "--tokens", "1e17"], r"--tokens 1e+17: give a token count"),
        (["--params", "-1", "--tokens", "1e9"], r"every value must be a finite number > 0"),
        (["--compute", "1e22", "--params", "1e9"], r"give either --compute C, or --params N"),
        (["--params", "1,2,3", "--tokens", "4,5"], r"--params has 3 values, --tokens 2"),
    ]
    for args, message in cases:
        r = run("predict", fit_file, *args)
        assert r.exit_code == 2, args
        assert message in r.stderr or __import__("re").search(message, r.stderr), (args, r.stderr)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run("predict", bad, "--compute", "1e22")
    assert r.exit_code == 2 and "is not valid JSON" in r.stderr
    other = tmp_path / "other.json"
    other.write_text('{"format": "scalelab-fit", "format_version": 0}')
    r = run("predict", other, "--compute", "1e22")
    assert r.exit_code == 2 and "fit format version 0" in r.stderr
    # what `fit --json` prints, saved as if it were the fit: said so, with the flag that writes one
    summary = tmp_path / "summary.json"
    summary.write_text(run("fit", CHIN, "--json", "--bootstrap", "5").stdout)
    r = run("predict", summary, "--compute", "1e22")
    assert r.exit_code == 2 and "--json summary, not a fit file" in r.stderr and "--out" in r.stderr, r.stderr
    # a compute law is predicted from compute: the --compute these N and D make is named
    cfit = tmp_path / "cfit.json"
    assert run("fit", CHIN, *KEEP, "--law", "compute", "--bootstrap", "5", "--out", cfit).exit_code == 0
    r = run("predict", cfit, "--params", "7B", "--tokens", "1.4T")
    assert r.exit_code == 2 and "compute-law fit: predict with --compute FLOPS" in r.stderr and "--compute 5.88e+22" in r.stderr


def test_a_table_a_log_or_a_folder_given_for_a_fit_says_what_it_is_and_what_to_do(tmp_path):
    runs = tmp_path / "runs.csv"
    runs.write_text("run_id,params,tokens,loss\na,1e6,2e7,3.1\nb,2e6,4e7,2.9\n")
    log = tmp_path / "train.jsonl"
    log.write_text("".join(json.dumps({"step": i, "loss": 3 - i / 100}) + "\n" for i in range(5)))
    tb = tmp_path / "tb" / "run1"
    tb.mkdir(parents=True)
    (tb / "events.out.tfevents.1.host").write_bytes(b"\x00\xfe")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [(runs, "is a table of runs, not a fit: fit it first (scalelab fit"),
             (log, "is a training log, not a fit file: watch it with scalelab watch LOG"),
             (tb / "events.out.tfevents.1.host", "is a training log, not a fit file"),
             (tmp_path / "tb", "is a folder of training logs, not a fit file"),
             (empty, "is a folder, not a fit file: a fit file is what scalelab fit RUNS --out fit.json writes")]
    for path, message in cases:
        for args in (("predict", path, "--compute", "1e22"), ("report", path), ("returns", path, "--compute", "1e22")):
            r = run(*args)
            assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)


def test_nothing_is_written_on_failure(tmp_path):
    out = tmp_path / "fit.json"
    r = run("fit", CHIN, "--where", "flops < 2.5e18", "--out", out)
    assert r.exit_code == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_real_process_has_no_traceback_unless_debug():
    cmd = [sys.executable, "-m", "scalelab", "fit", "missing.csv"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1
    p = subprocess.run([sys.executable, "-m", "scalelab", "--debug", "fit", "missing.csv"], capture_output=True, text=True)
    assert p.returncode == 1 and "Traceback" in p.stderr and "InputError" in p.stderr


def test_version():
    from scalelab import __version__

    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"scalelab {__version__}"


def test_predict_without_a_run_forecasts_the_target_the_fit_was_made_for(tmp_path):
    """A ladder's fit records its target and unit: `predict FIT` forecasts that run, says so,
    and names the unit; a fit without a target still asks for the run."""
    from scalelab.data import default_fit_path

    d = json.loads(default_fit_path().read_text())
    d["provenance"].update(target={"params": 7e10, "tokens": 1.4e12}, unit="bits per byte")
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps(d))
    mine = json.loads(runner.invoke(app, ["predict", str(fit), "--json"]).stdout)["rows"]
    given = json.loads(runner.invoke(app, ["predict", str(fit), "--params", "7e10", "--tokens", "1.4e12",
                                           "--json"]).stdout)["rows"]
    assert mine == given and len(mine) == 1
    r = runner.invoke(app, ["predict", str(fit)])
    text = " ".join(r.stdout.split())
    assert r.exit_code == 0 and "loss (bits per byte)" in text and f"the target {fit.name} was made for" in text
    r = runner.invoke(app, ["predict", str(default_fit_path())])
    assert r.exit_code == 2 and "give --params N and --tokens D" in r.stderr
