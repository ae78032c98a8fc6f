"""scalelab report: the user's own fit, plan and log on one page; and the pages as a browser shows them."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from tests.report.browser import check, chromium

DATA = Path(__file__).resolve().parents[1] / "data"
LADDER = DATA / "scaling" / "olmo_ladder.csv"
LOG = DATA / "olmo13b-first-2T.jsonl"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def page_images(page: Path) -> int:
    n = page.read_text().count("<img")
    assert n > 0
    return n


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    """Pilots -> fit -> plan, as the README's journey does (fewer bootstrap resamples)."""
    d = tmp_path_factory.mktemp("journey")
    fit, plan = d / "pilots-fit.json", d / "plan.json"
    r = run("fit", LADDER, "--where", "paper_role == 'fit'", "--bootstrap", "30", "--out", fit)
    assert r.exit_code == 0, r.output
    r = run("plan", "--params", "13.2B", "--tokens", "5T", "--gpu", "h100", "--num-gpus", "1024", "--fit", fit,
            "--out", plan)
    assert r.exit_code == 0, r.output
    return d, fit, plan


def test_the_page_answers_deliver_cost_and_on_track(journey):
    d, fit, plan = journey
    page = d / "report.html"
    r = run("report", fit, "--plan", plan, "--log", LOG, "--out", page, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    p = json.loads(plan.read_text())
    lo, hi = p["ranges"]["cost_usd"]
    assert rep["forecast"]["loss"] == pytest.approx(p["forecast"]["loss"], rel=1e-9)  # the plan's target, the same fit
    assert rep["target"] == [p["params"]["active"], p["tokens"]]
    v = rep["verdict"]
    m = re.match(r"forecast 2\.\d+ \(80%: 2\.\d+–2\.\d+\); \$1\.\d+M \(\$\d+k–\$\d\.\d+M\), (\d+) days on 1,024 x H100; "
                 r"(on track \(inside|BEHIND \(above|AHEAD \(below) the 95% interval\) at 42% of training", v)
    assert m and int(m.group(1)) == round(p["run"]["days"]), v
    assert lo < p["run"]["cost_usd"] < hi
    assert rep["backtest"]["n_test"] > 0 and rep["run"]["step"] == 250000
    html = page.read_text()
    assert html.count("<img") == 3  # the fit with the target, the backtest, the run against its forecast
    sections = re.findall(r"<h2>([^<]+)</h2>", html)
    assert sections[:4] == ["Forecast", "Fit", "Backtest", "Plan"] and sections[4].startswith("Run: ")
    # each warning sits in the section it concerns: the extrapolation one under Forecast
    forecast = html[html.index("<h2>Forecast</h2>"):html.index("<h2>Fit</h2>")]
    assert 'class="warn"' in forecast and "beyond the largest fitted flops" in forecast
    assert "beyond the fitted runs (flops)</td>" in forecast and re.search(r"<td>20\dx</td>", forecast)


def test_the_time_left_reads_as_watch_says_it(journey, tmp_path):
    """The run's ETA in the words `watch` prints ("12 days (20.0% done)"), not "ETA 277.8 h"
    and "277.8 hours"."""
    d, fit, plan = journey
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": i, "tokens": i * 5e9, "loss": 2.6 - 1e-4 * i, "tokens_per_s": 4e6}) + "\n"
                           for i in range(1, 201)))
    page = tmp_path / "r.html"
    assert run("report", fit, "--plan", plan, "--log", log, "--out", page).exit_code == 0
    watched = page.read_text()[page.read_text().index("<h2>Run: "):]
    assert "ETA 12 days (20.0% done)" in watched and "<td>12 days (20.0% done)</td>" in watched
    assert " hours" not in watched and " h;" not in watched


def test_a_printed_log_without_tokens_reads_as_the_same_run(journey, tmp_path):
    """The same run as a training script prints it, without a token count: with
    --tokens-per-step (OLMo 13B's 8,388,608 a step) the page says what the JSON-lines log says."""
    d, fit, plan = journey
    printed = tmp_path / "train.log"
    printed.write_text("".join(f"step {r['step']}: loss {r['loss']!r}\n"
                               for r in map(json.loads, LOG.read_text().splitlines())))
    want = json.loads(run("report", fit, "--plan", plan, "--log", LOG, "--no-backtest", "--json").stdout)
    r = run("report", fit, "--plan", plan, "--log", printed, "--tokens-per-step", "8388608", "--no-backtest", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["verdict"] == want["verdict"] and "at 42% of training" in got["verdict"]
    assert got["run"]["step"] == want["run"]["step"]
    for key in ("projected_final", "tokens_now"):  # the JSON log's token counts carry rounding
        assert got["run"]["projection"][key] == pytest.approx(want["run"]["projection"][key], rel=1e-6)


def test_a_task_section_forecasts_the_target_through_both_steps(journey, tmp_path):
    d, fit, plan = journey
    tasks = DATA / "scaling" / "olmo_tasks.csv"
    link, step1 = tmp_path / "hs.json", tmp_path / "hs-bpb.json"
    assert run("tasks", "fit", tasks, "--x-col", "bpb_hellaswag_val", "--y-col", "acc_hellaswag_val", "--where",
               "paper_role == 'fit'", "--chance", "0.25", "--all-steps", "--bootstrap", "20", "--out", link).exit_code == 0
    assert run("fit", tasks, "--loss-col", "bpb_hellaswag_val", "--where", "paper_role == 'fit'", "--bootstrap", "20",
               "--out", step1).exit_code == 0
    page = tmp_path / "r.html"
    r = run("report", fit, "--plan", plan, "--task", f"{link}:{step1}", "--no-backtest", "--out", page, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    t = rep["tasks"]["acc_hellaswag_val"]
    same = json.loads(run("tasks", "predict", link, "--fit", step1, "--params", str(rep["target"][0]), "--tokens",
                          str(rep["target"][1]), "--json").stdout)
    assert t["value"] == pytest.approx(same["value"]) and t["lo80"] == pytest.approx(same["lo80"])
    assert "acc_hellaswag_val " in rep["verdict"]
    html = page.read_text()
    assert "<h2>Tasks</h2>" in html and html.count("<img") == 2  # the fit and the task's link with the target
    r = run("report", fit, "--plan", plan, "--task", str(link))
    assert r.exit_code == 2 and "give LINK.json:STEP1.json" in r.stderr


def test_a_fit_alone_makes_a_page_and_says_what_is_missing(journey, tmp_path):
    _, fit, _ = journey
    moved = tmp_path / "fit.json"  # the runs it names are not beside it any more
    d = json.loads(fit.read_text())
    d["provenance"]["source"] = "gone/pilots.csv"
    moved.write_text(json.dumps(d))
    r = run("report", moved, "--params", "7B", "--tokens", "4T", "--out", tmp_path / "r.html")
    assert r.exit_code == 0, r.output
    html = (tmp_path / "r.html").read_text()
    assert "are not at hand; give --runs FILE" in html and "No held-out backtest" in html
    assert html.count("<img") == 1 and "<h2>Plan</h2>" not in html
    with_runs = run("report", moved, "--runs", LADDER, "--params", "7B", "--tokens", "4T", "--no-backtest", "--json")
    assert json.loads(with_runs.stdout)["backtest"] is None


@pytest.mark.parametrize("args,message", [
    (["missing.json"], "fit file 'missing.json' does not exist"),
    (["FIT", "--params", "7B"], "give both --params and --tokens"),
    (["FIT", "--params", "7B", "--tokens", "1T", "--log", "missing.jsonl"], "log file 'missing.jsonl' does not exist"),
])
def test_bad_input_writes_nothing(journey, tmp_path, args, message):
    _, fit, _ = journey
    out = tmp_path / "r.html"
    r = run("report", *[fit if a == "FIT" else a for a in args], "--out", out)
    assert r.exit_code == 2 and message in r.stderr and not out.exists()


@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium package (apt install chromium)")
def test_the_pages_in_a_real_browser(journey, tmp_path):
    """The report, the watch snapshot and the demo's page in headless Chromium at 700 px:
    every figure loads, nothing raises an error, nothing scrolls sideways."""
    d, fit, plan = journey
    pages = [tmp_path / "report.html", tmp_path / "watch.html", tmp_path / "demo" / "report.html"]
    assert run("report", fit, "--plan", plan, "--log", LOG, "--out", pages[0]).exit_code == 0
    assert run("watch", LOG, "--plan", plan, "--once", "--html", pages[1]).exit_code in (0, 1)
    assert run("demo", "--out-dir", tmp_path / "demo", "--bootstrap", "20").exit_code == 0
    for page, images in zip(pages, (3, 1, page_images(pages[2]))):
        c = check(page, width=700)
        assert c["images"] == c["loaded"] == images, (page.name, c)
        assert c["errors"] == [] and c["scroll_width"] <= c["client_width"] == 700, (page.name, c)


def test_context_adds_the_returns_and_the_public_record(journey, tmp_path):
    d, fit, plan = journey
    page = tmp_path / "context.html"
    r = run("report", fit, "--plan", plan, "--context", "--out", page, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    p = json.loads(plan.read_text())
    dec = rep["returns"]
    assert len(dec) == 4 and dec[0]["flops"] == pytest.approx(rep["forecast"]["flops"])
    # each decade removes the same share of the reducible loss, and costs more than the last
    assert len({round(x["removed"], 9) for x in dec[1:]}) == 1
    assert all(b["loss"] < a["loss"] and b["cost_usd"] > a["cost_usd"] for a, b in zip(dec, dec[1:]))
    ctx = rep["context"]
    assert ctx["flops"] == pytest.approx(p["flops"]["model"]) and 2015 < ctx["frontier_year"] < 2030
    html = page.read_text()
    assert "<h2>Returns and the public record</h2>" in html and html.count("<img") == 2 + 3  # fit, backtest; returns, trend, MMLU
    assert "Epoch AI" in html[html.index("<h2>Returns and the public record</h2>"):]
    r = run("report", fit, "--context")
    assert r.exit_code == 2 and "--context places the target run" in r.stderr


def test_the_fit_figure_shows_the_runs_whatever_the_bands_do():
    """A loosely determined law's bands run off without bound below the runs (a ladder of
    tiny rungs: A's 95% interval reached 3e33); the view still holds the runs, the law and
    the target's interval, and names the loss in the fit's unit."""
    import numpy as np
    import pandas as pd

    from scalelab.fitting import Fit
    from scalelab.report.plots import plot_fit
    from scalelab.runs import Runs

    rng = np.random.default_rng(3)
    n, d = np.meshgrid([1.2e3, 2.4e3, 4.7e3], [6.6e4, 1.3e5, 3.3e5, 6.6e5])
    frame = pd.DataFrame({"params": n.ravel(), "tokens": d.ravel()})
    frame["loss"] = (8.6 * frame.tokens ** -0.078 + 1.4 * frame.params ** -0.13) * np.exp(rng.normal(0, 0.01, len(frame)))
    frame["flops"] = 6 * frame.params * frame.tokens
    fit = Fit(num_bootstrap=100).fit(frame)
    fit.provenance_["unit"] = "bits per byte"
    fig = plot_fit(fit, Runs.from_frame(frame), target=(1.17e5, 2e6))
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    f = fit.forecast(params=1.17e5, tokens=2e6)
    assert lo <= min(frame.loss.min(), f.interval(0.95).lo) and hi >= max(frame.loss.max(), f.interval(0.95).hi)
    assert hi - lo < 3 * (max(frame.loss.max(), f.interval(0.95).hi) - min(frame.loss.min(), f.interval(0.95).lo))
    assert ax.get_ylabel() == "loss (bits per byte)"
    from scalelab.fitting.backtest import backtest
    from scalelab.report.plots import plot_backtest

    bt = backtest(Runs.from_frame(frame), Fit(num_bootstrap=0), holdout_largest=3)
    assert plot_backtest(bt).axes[0].get_ylabel() == "loss (nats/token)"  # a refit records no unit
    assert plot_backtest(bt, unit=fit.unit).axes[0].get_ylabel() == "loss (bits per byte)"
