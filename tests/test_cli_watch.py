"""scalelab watch and scalelab runs, run for real."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalelab.cli import app

runner = CliRunner()
LOG = Path(__file__).parent / "data" / "train_log.jsonl"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def healthy_log(tmp_path):
    p = tmp_path / "ok.jsonl"
    p.write_text("".join(json.dumps({"step": i, "tokens": i * 1e6, "loss": 2 + 40 * (i * 1e6) ** -0.15}) + "\n"
                         for i in range(1, 200)))
    return p


def test_once_exit_codes(tmp_path):
    r = run("watch", healthy_log(tmp_path), "--once")
    assert r.exit_code == 0 and "0 alerts" in r.stdout
    r = run("watch", LOG, "--once")
    assert r.exit_code == 1
    assert "spike" in r.stdout and "throughput_drop" in r.stdout and "1 junk line" in r.stdout and "1 junk lines" not in r.stdout


def test_once_json_html_and_alert_file(tmp_path):
    html, alerts = tmp_path / "w.html", tmp_path / "alerts.jsonl"
    r = run("watch", LOG, "--once", "--json", "--html", html, "--alerts", alerts)
    assert r.exit_code == 1
    d = json.loads(r.stdout)
    kinds = sorted(a["kind"] for a in d["runs"][0]["alerts"])
    assert kinds == ["spike", "throughput_drop"] and d["alerts"] == 2
    assert d["runs"][0]["parse"]["junk"] == 1
    spike = next(a for a in d["runs"][0]["alerts"] if a["kind"] == "spike")
    assert spike["step"] == 210 and spike["seen_index"] - spike["index"] <= 1
    lines = alerts.read_text().strip().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["run"]
    page = html.read_text()
    assert page.count("<img") == 1 and 'class="verdict"' in page and "2 alerts" in page  # loss and tokens/s share one figure
    assert run("watch", LOG, "--once", "--alerts", alerts).exit_code == 1  # the same log again
    assert alerts.read_text().strip().splitlines() == lines  # its alerts are not written twice


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_nan_loss_is_shown_as_such(tmp_path):
    p = tmp_path / "nan.jsonl"
    p.write_text("".join(json.dumps({"step": i, "loss": 2 + 3 / i}) + "\n" for i in range(1, 50)) + '{"step": 50, "loss": NaN}\n')
    r = run("watch", p, "--once")
    assert r.exit_code == 1 and "NaN (not finite)" in r.stdout and not re.search(r"loss +inf", r.stdout)


def test_following_a_log_that_is_not_there_yet_says_so(tmp_path):
    r = run("watch", tmp_path / "later.jsonl", "--interval", "0.05", "--duration", "0.1")
    assert r.exit_code == 2
    assert "waiting for" in r.stderr and "later.jsonl to appear" in r.stderr and "no metric rows appeared" in r.stderr


def test_json_is_strict_when_the_loss_is_nan_and_tokens_unknown(tmp_path):
    """NaN is not JSON: a logged NaN loss and a run without a token count come out as null."""
    p = tmp_path / "nan.jsonl"
    p.write_text("".join(json.dumps({"step": i, "loss": 2 + 3 / i}) + "\n" for i in range(1, 50)) + '{"step": 50, "loss": NaN}\n')
    r = run("watch", p, "--once", "--json")

    def refuse(c):
        raise ValueError(f"{c} in the JSON output")

    st = json.loads(r.stdout, parse_constant=refuse)["runs"][0]
    assert r.exit_code == 1 and st["loss"] is None and st["tokens"] is None and st["alerts"][0]["kind"] == "nonfinite"


def test_webhook_posts_each_alert():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        r = run("watch", LOG, "--once", "--json", "--webhook", url)
        d = json.loads(r.stdout)
        assert d["webhook"] == {"sent": 2, "failed": 0}
        assert sorted(a["kind"] for a in _Hook.received) == ["spike", "throughput_drop"]
    finally:
        server.shutdown()


def test_unreachable_webhook_is_reported_not_fatal():
    r = run("watch", LOG, "--once", "--json", "--webhook", "http://127.0.0.1:9/none")
    assert r.exit_code == 1 and json.loads(r.stdout)["webhook"]["failed"] == 2
    assert "webhook POSTs failed" in r.stderr


def test_with_a_plan_and_a_fit(tmp_path):
    from scalelab.data import bundled_path

    fit = tmp_path / "fit.json"
    assert run("fit", bundled_path("chinchilla"), "--where", "epoch_excluded == 0", "--bootstrap", "20", "--out", fit).exit_code == 0
    plan = tmp_path / "plan.json"
    r = run("plan", "--params", "4e8", "--tokens", "6.3e8", "--gpu", "h100", "--num-gpus", "1", "--json")
    plan.write_text(r.stdout)
    r = run("watch", LOG, "--once", "--json", "--plan", plan, "--fit", fit)
    st = json.loads(r.stdout)["runs"][0]
    mfu = json.loads(plan.read_text())["run"]["mfu"]  # predicted by the plan's speed model
    assert st["planned_tokens_per_s"] == pytest.approx(989.4e12 * mfu / (6 * 4e8)) and 0.2 < mfu < 0.8
    assert st["projection"]["forecast"]["loss"] > 0 and st["eta_hours"] is not None
    assert st["projection"]["forecast"]["params"] == 4e8 and st["projection"]["forecast"]["tokens"] == 6.3e8
    assert st["projected_cost_usd"] > st["spent_usd"] > 0
    # a plan made with the fit carries its forecast: the watch uses it without --fit
    r = run("plan", "--params", "4e8", "--tokens", "6.3e8", "--gpu", "h100", "--num-gpus", "1", "--fit", fit, "--json")
    plan.write_text(r.stdout)
    alone = json.loads(run("watch", LOG, "--once", "--json", "--plan", plan).stdout)["runs"][0]["projection"]
    assert alone["forecast"] == json.loads(r.stdout)["forecast"]
    assert alone["projected_final"] == pytest.approx(st["projection"]["projected_final"])
    r = run("watch", LOG, "--once", "--plan", plan, "--params", "1e9")
    assert r.exit_code == 2 and "the plan's forecast is for params 4e+08; give --fit" in r.stderr
    eta = next(x for x in run("watch", LOG, "--once", "--plan", plan).stdout.splitlines() if " ETA " in x)
    assert f"{st['eta_hours'] * 3600:.2g} s ({100 * st['fraction_done']:.1f}% done)" in eta  # seconds, not "0.0 h"
    tokens = st["tokens"]  # the log's last count
    r = run("plan", "--params", "4e8", "--tokens", tokens * 0.999, "--gpu", "h100", "--num-gpus", "1", "--json")
    plan.write_text(r.stdout)
    eta = next(x for x in run("watch", LOG, "--once", "--plan", plan).stdout.splitlines() if " ETA " in x)
    assert "none left: 100.1% of the planned tokens trained" in eta
    # a log that counts no tokens cannot be set against the forecast: said, with the flag that would
    bare = tmp_path / "steps.csv"
    bare.write_text("step,loss\n" + "".join(f"{s},{2 + 3 / s:.4f}\n" for s in range(1, 200)))
    st = json.loads(run("watch", bare, "--once", "--json", "--plan", plan, "--fit", fit).stdout)["runs"][0]
    assert st["projection"] is None and "--tokens-per-step" in st["unjudged"]
    assert "not judged against the forecast" in " ".join(run("watch", bare, "--once", "--plan", plan, "--fit", fit).stdout.split())
    assert json.loads(run("watch", bare, "--once", "--json", "--plan", plan, "--fit", fit, "--tokens-per-step",
                          1e6).stdout)["runs"][0]["unjudged"] is None
    verdict = json.loads(run("report", fit, "--plan", plan, "--log", bare, "--json", "--no-backtest").stdout)["verdict"]
    hours = json.loads(plan.read_text())["run"]["days"] * 24  # under an hour: in minutes, not "0 days"
    assert "the log counts no tokens" in verdict and f"{60 * hours:.0f} min on 1 x H100" in verdict, verdict


def test_a_ladder_plan_given_for_a_plan_or_a_fit_says_which_file_is_wanted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("ladder", "design", "--sizes", "1e4,2e4,4e4", "--multiples", "1,2", "--out", "lad.toml").exit_code == 0
    r = run("watch", LOG, "--plan", "lad.toml", "--once")
    assert r.exit_code == 2 and "'lad.toml' is a ladder plan (scalelab ladder design); --plan takes what scalelab " \
        "plan --out writes" in r.stderr and "scalelab ladder fit lad.toml --out fit.json" in r.stderr
    for args in (("watch", LOG, "--fit", "lad.toml", "--once"), ("report", "lad.toml"),
                 ("predict", "lad.toml", "--params", "1e6", "--tokens", "2e7")):
        r = run(*args)
        assert r.exit_code == 2 and "'lad.toml' is a ladder plan, not a fit: fit its rungs with scalelab ladder fit " \
            "lad.toml --out fit.json" in r.stderr, (args, r.stderr)


def test_live_follow_for_a_while(tmp_path):
    p = healthy_log(tmp_path)
    r = run("watch", p, "--interval", "0.05", "--duration", "0.2", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["runs"][0]["points"] == 199


def test_live_follow_of_a_printed_log_and_a_trainer_state(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("Initializing a new model from scratch\n" + "".join(
        f"iter {i}: loss {2 + 3 / i:.4f}, time 350.00ms, mfu 35.00%\n" for i in range(1, 120)) + "iter 120: loss nan, time 3")
    r = run("watch", p, "--interval", "0.05", "--duration", "0.2", "--json")
    st = json.loads(r.stdout)["runs"][0]
    assert r.exit_code == 0 and st["points"] == 119 and st["parse"]["junk"] == 1  # the partial last line waits
    state = tmp_path / "trainer_state.json"
    state.write_text(json.dumps({"log_history": [{"loss": 2.0, "step": 10}]}, indent=2))
    r = run("watch", state, "--interval", "0.05", "--duration", "0.1")
    assert r.exit_code == 2 and "read it with --once" in r.stderr
    assert run("watch", state, "--once").exit_code == 0
    r = run("watch", state, "--once", "--json", "--tokens-per-step", 4096)
    assert json.loads(r.stdout)["runs"][0]["tokens"] == 10 * 4096


def test_a_restarted_run_read_whole_says_what_following_it_said(tmp_path):
    """A run that spiked at step 900, was resumed from step 800 and is now at 850, all in one
    log: read whole, its curve ends at 850 (not the abandoned 1,000), and the alerts are those
    a live watch raised as it happened (the spike of the abandoned stretch among them). A
    from-scratch restart in the same file is not stitched onto the first run's curve."""
    rng = np.random.default_rng(0)
    curve = lambda s: (2.1 + 9 * (s + 50) ** -0.35) * (1 + 0.004 * rng.standard_normal())  # noqa: E731
    rows = [{"step": s, "loss": curve(s) * (3 if 900 <= s <= 905 else 1)} for s in range(1, 1001)]
    rows += [{"step": s, "loss": curve(s)} for s in range(800, 851)]
    p = tmp_path / "resume.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    whole = json.loads(run("watch", p, "--once", "--json").stdout)["runs"][0]
    assert whole["step"] == 850 and whole["parse"]["superseded"] == 201 and whole["rewinds"] == 1
    table = " ".join(run("watch", p, "--once").stdout.split())
    assert "log 850 rows, 201 rows of abandoned stretches dropped, 1 restart" in table
    long = tmp_path / "long.jsonl"
    long.write_text("".join(json.dumps({"step": s, "loss": curve(s)}) + "\n" for s in range(1, 1201)) + "junk\n")
    assert "log 1,200 rows, 1 junk line" in " ".join(run("watch", long, "--once").stdout.split())
    live = json.loads(run("watch", p, "--interval", "0.05", "--duration", "0.2", "--json").stdout)["runs"][0]
    assert [(a["kind"], a["step"]) for a in whole["alerts"]] == [(a["kind"], a["step"]) for a in live["alerts"]]
    assert ("spike", 900) in [(a["kind"], a["step"]) for a in whole["alerts"]]
    rows = [{"step": s, "loss": 1.05 * curve(s)} for s in range(1, 601)] + [{"step": s, "loss": curve(s)} for s in range(1, 401)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run("watch", p, "--once", "--json")
    scratch = json.loads(r.stdout)["runs"][0]
    assert r.exit_code == 0 and scratch["step"] == 400 and scratch["alerts"] == []


def test_reading_commands_do_not_create_a_store(tmp_path):
    for args in (["runs", "list"], ["runs", "show", "x"], ["runs", "export", "x", "--out", tmp_path / "x.csv"]):
        r = run(*args, "--store", tmp_path / "typo.db")
        assert r.exit_code == 2 and "run store" in r.stderr and "does not exist" in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["watch", "missing.jsonl", "--once"], r"log file 'missing.jsonl' does not exist"),
    (["watch", LOG, "--once", "--format", "xml"], r"--format 'xml': choose one of"),
    (["watch", LOG, "--once", "--loss-name", "los"], r"no metric 'los' \(did you mean 'loss'\?\)"),
    (["watch", LOG, "--once", "--step-col", "iteration"], r"no column 'iteration'"),
    (["watch", LOG, "--once", "--fit", "nofit.json", "--params", "1e9"], r"fit file 'nofit.json' does not exist"),
    (["watch", LOG, "--once", "--plan", "noplan.json"], r"plan 'noplan.json' does not exist"),
    (["watch", LOG, "--once", "--webhook", "ftp://x"], r"--webhook 'ftp://x': give an http:// or https:// URL"),
    (["watch", LOG, "--once", "--spike-z", "0"], r"--spike-z 0: give a value in \[1, 1000\]"),
    (["watch", LOG, "--once", "--tokens-per-step", "0"], r"--tokens-per-step 0: give the tokens one optimizer step"),
    (["watch", LOG, "--once", "--tokens-per-step", "4096"], r"counts its tokens already; --tokens-per-step is for a log"),
    (["watch", LOG, "--once", "--plan", LOG], r"plan '.*train_log.jsonl' is not valid JSON"),
])
def test_bad_input(args, message):
    r = run(*args)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), lines


def test_fit_of_another_law_or_version(tmp_path):
    from scalelab.data import bundled_path

    fit = tmp_path / "compute.json"
    run("fit", bundled_path("chinchilla"), "--where", "epoch_excluded == 0", "--law", "compute", "--bootstrap", "5", "--out", fit)
    r = run("watch", LOG, "--once", "--fit", fit, "--params", "1e9", "--tokens", "1e10")
    assert r.exit_code == 2 and "this fit is a compute law; refit with scalelab fit RUNS --law chinchilla" in r.stderr
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "scalelab-fit", "format_version": 0}))
    r = run("watch", LOG, "--once", "--fit", old, "--params", "1e9")
    assert r.exit_code == 2 and "fit format version 0" in r.stderr
    r = run("watch", LOG, "--once", "--fit", fit)
    assert r.exit_code == 2


def test_runs_import_list_show_export(tmp_path):
    db = tmp_path / "runs.db"
    r = run("runs", "import", LOG, "--name", "demo", "--store", db, "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)["runs"][0]
    assert d["name"] == "demo" and d["points"] == 300 * 4  # loss, grad_norm, lr, tokens_per_s
    again = json.loads(run("runs", "import", LOG, "--name", "demo", "--store", db, "--json").stdout)["runs"][0]
    assert again["inserted"] == 0 and again["replaced"] == 1200  # importing twice adds nothing
    listed = json.loads(run("runs", "list", "--store", db, "--json").stdout)
    assert [x["name"] for x in listed] == ["demo"]
    shown = json.loads(run("runs", "show", "demo", "--store", db, "--json").stdout)
    assert shown["metrics"]["loss"]["points"] == 300
    out = tmp_path / "demo.csv"
    r = run("runs", "export", "demo", "--out", out, "--store", db)
    assert r.exit_code == 0 and len(out.read_text().strip().splitlines()) == 301
    r = run("runs", "show", "demo", "--store", db, "--plot", tmp_path / "demo.png")
    assert r.exit_code == 0 and (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"
    r = run("runs", "show", "demo", "--store", db, "--plot", tmp_path / "demo.xlsx")
    assert r.exit_code == 2 and "use .png, .svg or .pdf" in r.stderr and not (tmp_path / "demo.xlsx").exists()
    r = run("runs", "show", "nope", "--store", db)
    assert r.exit_code == 2 and "no run 'nope'" in r.stderr
    r = run("runs", "export", "demo", "--out", tmp_path / "x.xlsx", "--store", db)
    assert r.exit_code == 2 and "use a .csv, .jsonl or .parquet file" in r.stderr


def test_a_ladder_branch_log_has_no_stall_where_its_trunk_steps_end(tmp_path):
    """A WSD branch's log starts with its trunk's steps, trained earlier: the time between
    the last of them and the branch's first own step is no stall; the same gap in a log
    without the mark is one."""
    rows = [{"step": i, "tokens": 256 * i, "loss": 2 + 3 * i ** -0.3, "wall_time": 1.7e9 + i} for i in range(1, 401)]
    for r in rows[300:]:
        r["wall_time"] += 900  # the branch trained 15 minutes after the trunk passed step 300
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows[300]["branched_from"] = 300
    branch = tmp_path / "branch.jsonl"
    branch.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kinds = [a["kind"] for a in json.loads(run("watch", plain, "--once", "--json").stdout)["runs"][0]["alerts"]]
    assert kinds == ["stall"]
    r = run("watch", branch, "--once", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["runs"][0]["alerts"] == []


def test_a_log_not_there_yet_names_the_closest_one_while_waiting(tmp_path, monkeypatch):
    """A rung's folder is named by its actual size (19.9k-2x for --sizes 2e4): a watch
    pointed at the asked-for name waits, and says which log is there."""
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "w.runs" / "19.9k-2x"
    real.mkdir(parents=True)
    (real / "log.jsonl").write_text('{"step": 1, "loss": 4.0}\n')
    r = run("watch", "w.runs/20k-2x/log.jsonl", "--duration", "0.5", "--interval", "0.1")
    assert r.exit_code == 2
    assert "waiting for w.runs/20k-2x/log.jsonl to appear (Ctrl-C to stop); did you mean 'w.runs/19.9k-2x/log.jsonl'?" \
        in r.stderr
    r = run("watch", "elsewhere/log.jsonl", "--duration", "0.5", "--interval", "0.1")
    assert "did you mean" not in r.stderr


def test_several_logs_imported_at_once_are_named_by_their_folders(tmp_path):
    """runs/*/log.jsonl imports every run, each named after its folder (a file called log
    names no run); --name with several logs, or a log that is not there, is refused with
    nothing stored; the watch titles a log the same way."""
    for run_dir in ("baseline", "bigger-lr"):
        (tmp_path / run_dir).mkdir()
        (tmp_path / run_dir / "log.jsonl").write_text(
            "".join(json.dumps({"step": s, "loss": 3 + 1 / s}) + "\n" for s in range(1, 51)))
    logs = sorted(str(p) for p in tmp_path.glob("*/log.jsonl"))
    db = tmp_path / "runs.db"
    r = run("runs", "import", *logs, str(tmp_path / "missing.jsonl"), "--store", db)
    assert r.exit_code == 2 and "missing.jsonl' does not exist" in r.stderr and not db.exists()
    r = run("runs", "import", *logs, "--name", "x", "--store", db)
    assert r.exit_code == 2 and "--name 'x' names one run; 2 logs were given" in r.stderr and not db.exists()
    r = run("runs", "import", *logs, "--store", db, "--json")
    assert r.exit_code == 0, r.output
    assert [d["name"] for d in json.loads(r.stdout)["runs"]] == ["baseline", "bigger-lr"]
    assert "bigger-lr" in run("watch", logs[1], "--once").stdout.splitlines()[0]
    # a folder that is no TensorBoard run names the logs in it, or below it, to give instead
    for args, hint in ((("runs", "import", tmp_path, "--store", db), f"its subfolders hold 2 log files: give them, e.g. "
                        f"'{tmp_path / '*' / 'log.jsonl'}'"),
                       (("watch", tmp_path / "baseline", "--once"), f"give a log file, e.g. '{logs[0]}'")):
        r = run(*args)
        assert r.exit_code == 2 and hint in r.stderr, r.stderr


def test_a_ladder_rungs_log_is_judged_at_its_own_size(tmp_path, monkeypatch):
    """A ladder's fit is made for its target; the log of one of its rungs is judged against
    the law at the rung's own N and D (said on stderr), not read as a fraction of the target."""
    import pandas as pd

    from scalelab.fitting import Fit
    from scalelab.io import save_fit
    from scalelab.ladder.design import LadderPlan

    monkeypatch.chdir(tmp_path)
    assert run("ladder", "design", "--sizes", "1e4,2e4,4e4", "--multiples", "1,2", "--target-params", "2e5",
               "--target-tokens", "4e6", "--out", "lad.toml").exit_code == 0
    plan = LadderPlan.from_toml("lad.toml")
    n, d = np.meshgrid([1e4, 2e4, 4e4, 8e4], [2e5, 5e5, 1e6, 3e6])
    frame = pd.DataFrame({"params": n.ravel(), "tokens": d.ravel()})
    frame["loss"] = 1.0 + 30 * frame.params ** -0.3 + 60 * frame.tokens ** -0.3
    fit = Fit(num_bootstrap=20).fit(frame)
    target = plan.target.model.num_params()["total"]
    fit.provenance_.update(metric="val_bpb", params_count="total", target={"params": target, "tokens": 4e6})
    save_fit(fit, "fit.json")
    rung = plan.rungs[-1]
    for r in (rung, plan.target):
        folder = tmp_path / "lad.runs" / r.name
        folder.mkdir(parents=True)
        steps = np.arange(1, 201)
        (folder / "log.jsonl").write_text("".join(json.dumps(
            {"step": int(s), "tokens": int(s * r.tokens / 200), "val_bpb": 3.0 - 0.2 * s / 200}) + "\n" for s in steps))
    mine = run("watch", "lad.runs/" + rung.name + "/log.jsonl", "--fit", "fit.json", "--once", "--json")
    forecast = json.loads(mine.stdout)["runs"][0]["projection"]["forecast"]
    own = rung.model.num_params()["total"]
    assert forecast["params"] == own and forecast["tokens"] == rung.tokens
    assert forecast["loss"] == pytest.approx(fit.predict(params=own, tokens=rung.tokens).loss)
    assert f"is rung {rung.name} of lad.toml: judged against the law at its own" in mine.stderr
    theirs = run("watch", "lad.runs/target/log.jsonl", "--fit", "fit.json", "--once", "--json")
    assert json.loads(theirs.stdout)["runs"][0]["projection"]["forecast"]["params"] == target
    assert "judged against" not in theirs.stderr
    alone = json.loads(run("watch", "lad.runs/" + rung.name + "/log.jsonl", "--once", "--json", "--loss-name",
                           "val_bpb").stdout)["runs"][0]
    assert alone["fraction_done"] == pytest.approx(1.0, rel=0.01)  # without a fit: the rung's own length
    given = run("watch", "lad.runs/" + rung.name + "/log.jsonl", "--fit", "fit.json", "--once", "--json",
                "--params", target, "--tokens", 4e6)  # asked for: kept
    assert json.loads(given.stdout)["runs"][0]["projection"]["forecast"]["params"] == target
    # a fit that names no run of its own (made with scalelab fit) is read at the rung's size too
    fit.provenance_.pop("target")
    save_fit(fit, "plain.json")
    plain = run("watch", "lad.runs/" + rung.name + "/log.jsonl", "--fit", "plain.json", "--once", "--json")
    assert plain.exit_code in (0, 1), plain.output
    assert json.loads(plain.stdout)["runs"][0]["projection"]["forecast"]["params"] == own
    assert "(the fit names no run of its own)" in plain.stderr
    page = run("report", "fit.json", "--log", "lad.runs/" + rung.name + "/log.jsonl", "--out", "r.html", "--no-backtest")
    assert page.exit_code == 0, page.output
    assert f"forecast {fit.predict(params=own, tokens=rung.tokens).loss:.3g}" in page.stdout
    assert f"is rung {rung.name} of lad.toml" in (tmp_path / "r.html").read_text()
