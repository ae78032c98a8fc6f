"""scalelab ladder, run for real on a tiny ladder (CPU)."""

import json
import re

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from tests.conftest import needs_torch

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def small_corpus(tmp_path):
    """The first 1,500 documents of the bundled Austen novels, as one text file."""
    from scalelab.data import bundled_path
    from scalelab.ladder.data import read_documents

    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"\n\n".join(list(read_documents(bundled_path("austen")))[:1500]))
    return corpus


def one_rung_plan(tmp_path, monkeypatch, multiple: str):
    """In tmp_path, CPU only: t.toml, one 1e4-parameter rung at ``multiple`` on the small corpus."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    r = run("ladder", "design", "--corpus", small_corpus(tmp_path), "--sizes", "1e4", "--multiples", multiple,
            "--seq-len", "64", "--out", "t.toml")
    assert r.exit_code == 0, r.output


@pytest.mark.slow
@needs_torch
def test_design_run_resume_fit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "corpus.txt"
    from scalelab.data import bundled_path
    from scalelab.ladder.data import read_documents

    docs = list(read_documents(bundled_path("austen")))[:1500]
    corpus.write_bytes(b"\n\n".join(docs))
    r = run("ladder", "design", "--corpus", corpus, "--sizes", "1e4,2e4,4e4", "--multiples", "0.25,0.5",
            "--target-params", "2e5", "--target-tokens", "2e6", "--seq-len", "64", "--out", "t.toml")
    assert r.exit_code == 0, r.output
    assert "6 rungs" in r.stdout and (tmp_path / "t.toml").is_file()
    dry = run("ladder", "design", "--sizes", "1e4", "--dry-run", "--json")
    assert json.loads(dry.stdout)["rungs"][0]["params"] > 0
    # interrupt one rung half-way, then run the whole ladder: it resumes, the rest run
    from scalelab.ladder.design import LadderPlan
    from scalelab.ladder.run import prepare_shards, runs_folder, train_config
    from scalelab.ladder.train import train

    plan = LadderPlan.from_toml("t.toml")
    shards = prepare_shards("t.toml", plan)
    rung = plan.rungs[1]
    assert train(train_config(plan, rung), shards, runs_folder("t.toml") / rung.name, stop_after_steps=3) is None
    r = run("ladder", "run", "t.toml", "--store", "runs.db", "--json")
    assert r.exit_code == 0, r.output
    results = json.loads(r.stdout)
    assert len(results) == 6 and results[rung.name]["resumed_from"] == 3
    log = r.stderr.splitlines()  # not a terminal: a line per rung event, on stderr, stdout kept for the JSON
    assert sum(x.startswith("rung ") and ": done" in x and "bits/byte" in x for x in log) == 6
    again = run("ladder", "run", "t.toml", "--store", "runs.db", "--json")
    assert json.loads(again.stdout) == results  # all finished: nothing retrained
    branches = [r for r in plan.rungs if r.trunk]
    assert branches and all(results[r.name]["resumed_from"] > 0 for r in branches)  # cooled down from their trunk
    assert not list(runs_folder("t.toml").rglob("branch-*.pt"))  # the branch files are gone once used
    listed = json.loads(run("runs", "list", "--store", "runs.db", "--json").stdout)
    assert len(listed) == 6 and all(x["n_points"] > 0 for x in listed)
    r = run("ladder", "fit", "t.toml", "--bootstrap", "20", "--plot", "fit.png", "--out", "fit.json", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["forecast"]["loss"] > 0 and 0 < d["cost_fraction"] < 1
    plan = LadderPlan.from_toml("t.toml")
    assert d["cost_fraction"] == pytest.approx(plan.cost_fraction)  # the figure design printed
    assert [r["run_id"] for r in d["rungs"]] == [r.name for r in plan.rungs]
    # N is the total count (embedding included) unless asked otherwise, the target's too
    assert d["params_count"] == "total"
    assert d["forecast"]["params"] == plan.target.model.num_params()["total"] > plan.target.params
    assert all(r["total_params"] == s.model.num_params()["total"] > r["params"] == s.params
               and r["flops"] == 6 * r["total_params"] * r["tokens"] for r, s in zip(d["rungs"], plan.rungs))
    non = json.loads(run("ladder", "fit", "t.toml", "--bootstrap", "0", "--params-count", "non-embedding", "--json").stdout)
    assert non["params_count"] == "non_embedding" and non["forecast"]["params"] == plan.target.params
    assert non["forecast"]["loss"] != d["forecast"]["loss"]
    r = run("ladder", "fit", "t.toml", "--params-count", "all")
    assert r.exit_code == 2 and "give 'total' or 'non-embedding'" in r.stderr
    assert (tmp_path / "fit.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "fit.json").is_file()
    # the saved fit says what it forecasts: a run is watched against it in bits per byte
    # (the logs' val_bpb, not their loss in nats per token), for the target it was made for
    prov = json.loads((tmp_path / "fit.json").read_text())["provenance"]
    assert prov["metric"] == "val_bpb" and prov["target"] == {"params": d["forecast"]["params"], "tokens": 2e6}
    longest = runs_folder("t.toml") / plan.rungs[-1].name / "log.jsonl"
    w = run("watch", longest, "--fit", "fit.json", "--once", "--json")
    assert w.exit_code in (0, 1), w.output
    status = json.loads(w.stdout)["runs"][0]
    rows = [json.loads(x) for x in longest.read_text().splitlines()]
    # the detectors watch the per-step loss; the forecast is judged on val_bpb, at evaluations
    assert status["loss"] == rows[-1]["loss"] and status["points"] == len(rows)
    assert status["forecast_metric"] == "val_bpb" and status["forecast_value"] == [x["val_bpb"] for x in rows if "val_bpb" in x][-1]
    # a rung's log is judged at the rung's own size, not at the target's the fit was made for
    own = plan.rungs[-1].model.num_params()["total"]
    assert status["projection"]["forecast"]["params"] == own and "judged against the law at its own" in w.stderr
    assert status["projection"]["forecast"]["tokens"] == plan.rungs[-1].tokens
    page = run("report", "fit.json", "--out", "r.html", "--no-backtest")
    assert page.exit_code == 0 and f"forecast {d['forecast']['loss']:.3g} bits per byte (80%" in page.stdout, page.output
    html = (tmp_path / "r.html").read_text()
    assert "not at hand" not in html and "has changed" not in html  # the rungs are drawn, read from the plan
    bt = run("backtest", "t.toml", "--holdout-largest", "1", "--bootstrap", "20", "--json")  # a plan reads as its rungs
    assert bt.exit_code == 0, bt.output
    held = {r["run_id"] for r in json.loads(bt.stdout)["rows"]}
    assert len(held) == 1 and held <= {r.name for r in plan.rungs}
    r = run("fit", "t.toml")
    assert r.exit_code == 2 and "is a ladder's plan: fit it with scalelab ladder fit t.toml" in r.stderr
    fixed = json.loads(run("ladder", "fit", "t.toml", "--bootstrap", "0", "--fix", "E=0.5", "--tie", "alpha=beta",
                           "--json").stdout)
    assert fixed["params"]["E"] == 0.5 and fixed["params"]["alpha"] == fixed["params"]["beta"]
    # a plan edited after its rungs were trained no longer describes them: refused, nothing touched
    import re

    text = (tmp_path / "t.toml").read_text()
    saved = {p: p.read_bytes() for p in runs_folder("t.toml").rglob("*") if p.is_file()}
    (tmp_path / "t.toml").write_text(re.sub(r"(?m)^seed = 0$", "seed = 7", text))
    for args in (("run", "t.toml", "--store", "runs.db"), ("fit", "t.toml", "--bootstrap", "0")):
        r = run("ladder", *args)
        assert r.exit_code == 2, r.output
        assert "trained with other settings than the plan's: seed 0, the plan says 7" in r.stderr
        assert "and 5 more rungs" in r.stderr and "t.runs" in r.stderr
    assert {p: p.read_bytes() for p in runs_folder("t.toml").rglob("*") if p.is_file()} == saved
    (tmp_path / "t.toml").write_text(text)
    assert json.loads(run("ladder", "run", "t.toml", "--store", "runs.db", "--json").stdout) == results
    # a branch whose folder is removed trains again: its trunk's file went when it first
    # finished, so it runs from the start, which is the same run
    import shutil

    b = next(r for r in branches if r.name != rung.name)
    shutil.rmtree(runs_folder("t.toml") / b.name)
    redo = json.loads(run("ladder", "run", "t.toml", "--store", "runs.db", "--json").stdout)
    assert redo[b.name]["resumed_from"] == 0 and redo[b.name]["steps"] == results[b.name]["steps"]
    assert redo[b.name]["val_loss"] == results[b.name]["val_loss"]
    assert not list(runs_folder("t.toml").rglob("branch-*.pt"))


def test_errors(tmp_path):
    r = run("ladder", "run", tmp_path / "none.toml")
    assert r.exit_code == 2 and "ladder plan" in r.stderr and "does not exist" in r.stderr
    r = run("ladder", "run", tmp_path)
    assert r.exit_code == 2 and "is a folder, not a ladder plan" in r.stderr
    r = run("ladder", "design", "--corpus", tmp_path / "none.txt", "--sizes", "1e4")
    assert r.exit_code == 2 and "does not exist" in r.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "runs.db").write_bytes(b"SQLite format 3\x00" + bytes(4096))
    (tmp_path / "blank.txt").write_text("\n\n")
    for corpus, message in (("empty", "holds no files"), ("runs.db", "does not look like text"), ("blank.txt", "is empty")):
        r = run("ladder", "design", "--corpus", tmp_path / corpus, "--sizes", "1e4", "--out", tmp_path / "c.toml")
        assert r.exit_code == 2 and message in r.stderr and not (tmp_path / "c.toml").exists()
    r = run("ladder", "design")
    assert r.exit_code == 2 and "give a target" in r.stderr
    lines = tmp_path / "lines.txt"  # one document per line: ladder run would find a single document
    lines.write_text("".join(f"address {i}: " + "words of the address " * 10 + "\n" for i in range(400)))
    r = run("ladder", "design", "--corpus", lines, "--sizes", "1e4", "--out", tmp_path / "l.toml")
    assert r.exit_code == 0 and "no blank line in its first 64 KiB" in r.stderr and "sed G" in r.stderr
    paragraphs = tmp_path / "paragraphs.txt"
    paragraphs.write_text(lines.read_text().replace("\n", "\n\n"))
    r = run("ladder", "design", "--corpus", paragraphs, "--sizes", "1e4", "--out", tmp_path / "p2.toml")
    assert r.exit_code == 0 and "blank line" not in r.stderr
    records = tmp_path / "docs.jsonl"  # a JSONL corpus whose text is not under 'text'
    records.write_text("".join(json.dumps({"content": f"document {i} " + "words " * 40, "src": "web"}) + "\n"
                               for i in range(300)))
    r = run("ladder", "design", "--corpus", records, "--sizes", "1e4", "--out", tmp_path / "j.toml")
    assert r.exit_code == 2 and "line 1 has no 'text' field (its fields: content, src); name the text's field with --text-col" \
        in r.stderr and not (tmp_path / "j.toml").exists()
    r = run("ladder", "design", "--corpus", records, "--text-col", "content", "--sizes", "1e4", "--out", tmp_path / "j.toml")
    assert r.exit_code == 0 and 'text_col = "content"' in (tmp_path / "j.toml").read_text()
    from scalelab.ladder.design import LadderPlan
    from scalelab.ladder.run import prepare_shards

    plan = LadderPlan.from_toml(tmp_path / "j.toml")
    assert plan.text_col == "content" and prepare_shards(tmp_path / "j.toml", plan).train_tokens > 0
    for layers, message in (("deep", "--rung-layers 'deep': give a number of layers or 'target'"),
                            ("1", "--rung-layers 1: give a whole number of layers in [2, 128]")):
        r = run("ladder", "design", "--sizes", "1e4,2e4,4e4", "--rung-layers", layers, "--out", tmp_path / "c.toml")
        assert r.exit_code == 2 and message in r.stderr and not (tmp_path / "c.toml").exists()
    assert run("ladder", "design", "--sizes", "1e4", "--seq-len", "64", "--out", tmp_path / "p.toml").exit_code == 0
    r = run("ladder", "run", tmp_path / "p.toml", "--executor", "cloud")
    assert r.exit_code == 2 and "--executor 'cloud'" in r.stderr
    r = run("ladder", "run", tmp_path / "p.toml", "--executor", "torchrun", "--parallel", "zero3")
    assert r.exit_code == 2 and "--parallel 'zero3': choose one of auto, ddp, fsdp" in r.stderr
    r = run("ladder", "run", tmp_path / "p.toml", "--executor", "torchrun", "--nproc", "0")
    assert r.exit_code == 2 and "--nproc 0: give the processes per rung, 1 or more" in r.stderr


@needs_torch
def test_gpus_executor_without_a_gpu_is_refused(tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert run("ladder", "design", "--sizes", "1e4", "--seq-len", "64", "--out", "p.toml").exit_code == 0
    r = run("ladder", "run", "p.toml", "--executor", "gpus")
    assert r.exit_code == 2 and "no CUDA GPU" in r.stderr and "--executor local" in r.stderr
    assert not (tmp_path / "p.runs").exists() or not any((tmp_path / "p.runs").iterdir())


@needs_torch
def test_slurm_executor_without_slurm_is_refused(tmp_path, monkeypatch):
    """Without sbatch, submitit would run every rung here at once: refused, nothing trained."""
    pytest.importorskip("submitit")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert run("ladder", "design", "--sizes", "1e4", "--seq-len", "64", "--out", "p.toml").exit_code == 0
    r = run("ladder", "run", "p.toml", "--executor", "slurm")
    assert r.exit_code == 2 and "no SLURM here" in r.stderr and "--executor local" in r.stderr
    assert not (tmp_path / "p.runs").exists()


@pytest.mark.slow
@needs_torch
def test_corpus_too_small_is_refused_unless_forced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "small.txt"
    corpus.write_text("\n\n".join(f"Paragraph {i}: " + "the quick brown fox jumps over the lazy dog. " * 4 for i in range(200)))
    assert run("ladder", "design", "--corpus", corpus, "--sizes", "1e4", "--multiples", "1", "--seq-len", "64",
               "--out", "s.toml").exit_code == 0
    r = run("ladder", "run", "s.toml", "--store", "runs.db")
    assert r.exit_code == 2
    assert "would read the corpus's" in r.stderr and "limit of 4 epochs" in r.stderr and "--force" in r.stderr
    assert not (tmp_path / "s.runs").exists() or not any((tmp_path / "s.runs").iterdir())
    assert not (tmp_path / "runs.db").exists()  # a refused run records nothing, not even an empty store
    r = run("ladder", "run", "s.toml", "--store", "runs.db", "--max-epochs", "100", "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)) == 1


@pytest.mark.slow
@needs_torch
def test_torchrun_executor_with_fsdp_reports_progress_and_records(tmp_path, monkeypatch):
    """Two gloo ranks per rung under FSDP, launched as worker processes: results, run-store
    rows and progress read from the rungs' logs."""
    one_rung_plan(tmp_path, monkeypatch, "2")
    from scalelab.ladder.run import run_ladder, runs_folder
    from scalelab.runs.store import RunStore

    seen = []
    with RunStore(tmp_path / "runs.db") as st:
        res = run_ladder("t.toml", executor="torchrun", nproc=2, parallel="fsdp", store=st,
                         on_step=lambda name, rec: seen.append((name, rec)))
        assert len(st.runs()) == 1
    (name, result), = res.items()
    assert result["extra"]["world"] == 2 and result["extra"]["parallel"] == "fsdp" and result["val_bpb"] < 8
    log = [json.loads(x) for x in (runs_folder("t.toml") / name / "log.jsonl").read_text().splitlines()]
    assert len(log) == result["steps"]
    assert seen  # polled twice a second while the rung trains for several seconds
    assert all(rec["total_steps"] == result["steps"] and 1 <= rec["step"] <= result["steps"] for _, rec in seen)


def test_last_record_reads_the_last_whole_line(tmp_path):
    from scalelab.ladder.run import last_record

    p = tmp_path / "log.jsonl"
    assert last_record(p) is None
    p.write_text("".join(json.dumps({"step": i, "pad": "x" * 500}) + "\n" for i in range(1, 100)) + '{"step": 10')
    assert last_record(p)["step"] == 99  # the cut last line is skipped; only the file's end is read


def test_without_torch_ladder_run_says_what_to_install(tmp_path, monkeypatch):
    """No torch: one error line naming the extra, exit 2, no traceback; design still works."""
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    r = run("ladder", "design", "--sizes", "1e4", "--seq-len", "64", "--out", "p.toml")
    assert r.exit_code == 0, r.output
    assert "est. time" in r.stdout and "estimated time" not in r.stdout  # no rate without torch
    r = run("ladder", "run", "p.toml")
    assert r.exit_code == 2 and "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: scalelab ladder run needs PyTorch")
    assert "pip install 'scalelab[train]'" in lines[0]
    assert not (tmp_path / "p.runs").exists() and not (tmp_path / "scalelab.db").exists()


def test_dry_run_never_builds_a_rung(tmp_path, monkeypatch):
    """A 70B target's ladder: the time estimate builds only a small proxy model."""
    pytest.importorskip("torch")
    from scalelab.ladder import model
    from scalelab.ladder.design import PROXY_PARAMS

    built = []
    init = model.GPT.__init__
    monkeypatch.setattr(model.GPT, "__init__", lambda self, cfg: (built.append(cfg), init(self, cfg))[1])
    monkeypatch.chdir(tmp_path)
    r = run("ladder", "design", "--target-params", "7e10", "--target-tokens", "1.4e12", "--budget-frac", "0.01",
            "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert max(x["params"] for x in d["rungs"]) > 1e8  # the rungs are big ...
    assert built and max(c.num_params()["non_embedding"] for c in built) < 2 * PROXY_PARAMS  # ... the probe is not
    assert all(v > 0 for v in d["estimated_seconds"].values())


def test_design_says_how_long_preparing_the_tokens_will_take(tmp_path, monkeypatch):
    """Encoding a large corpus with a BPE takes hours on a CPU before the first rung: the
    design says so, from its first MB encoded here and the corpus's size (here said to be
    10 GB), in the table's words and in --json."""
    pytest.importorskip("tokenizers")
    import scalelab.corpus.documents as documents

    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(f"document {i} about the {i % 7} things we said " * 40 for i in range(300)))
    real = documents.estimate_bytes
    monkeypatch.setattr(documents, "estimate_bytes", lambda p, col="text": (1e10, False) if str(p) == str(corpus)
                        else real(p, col))
    args = ("ladder", "design", "--corpus", corpus, "--tokenizer", "bpe", "--vocab-size", "512", "--sizes",
            "1e4,2e4,4e4", "--multiples", "1,2", "--dry-run")
    r = run(*args)
    assert r.exit_code == 0, r.output
    line = next(x for x in r.stdout.splitlines() if x.startswith("preparing its tokens"))
    assert re.match(r"preparing its tokens \(bpe\): about [\d.,]+ (min|h|days), once, before the first rung", line)
    secs = json.loads(run(*args, "--json").stdout)["estimated_preparation_seconds"]
    assert secs > 60  # 10 GB at the rate measured on the first MB


def test_design_says_when_the_per_rung_cap_leaves_the_budget_unspent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    capped = run("ladder", "design", "--target-params", "1e6", "--target-tokens", "2e7", "--budget-frac", "0.1", "--dry-run")
    assert capped.exit_code == 0, capped.output
    assert "--budget-frac 0.1 is not all spent: no rung may use more than a 30th of the target's FLOPs" in capped.stdout
    spent = run("ladder", "design", "--target-params", "1e6", "--target-tokens", "2e7", "--budget-frac", "0.01", "--dry-run")
    assert "1.00% of the target" in spent.stdout and "not all spent" not in spent.stdout


@pytest.mark.slow
@needs_torch
@pytest.mark.parametrize("executor", ["local", "torchrun"])
def test_a_rung_stops_itself_with_stop_on(tmp_path, monkeypatch, executor):
    """A rung whose learning rate blows it up stops at the first non-finite step, on one
    process or on two gloo ranks (which agree to stop), and is not recorded as finished."""
    one_rung_plan(tmp_path, monkeypatch, "0.5")
    text = (tmp_path / "t.toml").read_text()
    import re

    (tmp_path / "t.toml").write_text(re.sub(r"(?m)^lr = .*$", "lr = 10000.0", text))
    r = run("ladder", "run", "t.toml", "--stop-on", "nonfinite", "--executor", executor, "--json",
            *(["--nproc", "2"] if executor == "torchrun" else []))
    assert r.exit_code == 2
    from scalelab.ladder.run import runs_folder

    (rung,) = [p for p in runs_folder("t.toml").iterdir() if p.is_dir()]
    where = r.stderr if executor == "local" else (rung / "worker.log").read_text()
    assert re.search(r"stopped itself at step \d+: (loss|grad norm) is not finite", where), where
    assert not (rung / "result.json").exists()


@needs_torch
def test_design_over_a_trained_plan_is_refused_unless_it_keeps_every_rung(tmp_path, monkeypatch):
    """A new design written over a plan whose rungs are trained would orphan their results:
    refused with nothing touched; a design that keeps each trained rung as it was may replace it."""
    one_rung_plan(tmp_path, monkeypatch, "0.25")
    r = run("ladder", "run", "t.toml", "--json")
    assert r.exit_code == 0, r.output
    trained = r.stdout
    stages = [x.split(",")[0] for x in r.stderr.splitlines() if x.startswith("tokens: ")]  # the preparation, said
    assert stages == ["tokens: reading the corpus", "tokens: reading the corpus again", "tokens: encoding train",
                      "tokens: encoding val"], r.stderr
    before = (tmp_path / "t.toml").read_text()
    corpus = tmp_path / "corpus.txt"
    base = ("ladder", "design", "--corpus", corpus, "--sizes", "1e4", "--seq-len", "64", "--out", "t.toml")
    for extra, why in ((("--multiples", "0.25", "--seed", "3"), "(seed 0, the plan says 3)"),
                       (("--multiples", "0.5"), "(the new design has no rung of that name)")):
        r = run(*base, *extra)
        assert r.exit_code == 2, r.output
        assert "t.toml has trained rungs in t.runs, and this design would orphan rung" in r.stderr and why in r.stderr
        assert (tmp_path / "t.toml").read_text() == before
    r = run(*base, "--multiples", "0.25")  # the same design again: its rung is the trained one
    assert r.exit_code == 0, r.output
    again = run("ladder", "run", "t.toml", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == json.loads(trained)
    assert "tokens: " not in again.stderr  # prepared before: nothing read again


@needs_torch
def test_a_worker_that_crashes_after_writing_its_result_does_not_fail_the_rung(tmp_path, monkeypatch):
    """A torchrun worker can abort while its process group is torn down at exit, after the
    rung finished (seen once in seven CPU ladders: 'terminate called without an active
    exception'). Its result is written only when every rank has trained and validated to
    the end, so the rung counts as done, with a warning; a worker that fails before its
    result is written still fails the rung."""
    import shutil
    import sys

    import scalelab.ladder.run as lr
    from scalelab.errors import ScalelabWarning

    one_rung_plan(tmp_path, monkeypatch, "0.25")
    done = lr.run_ladder("t.toml")
    (name,) = done
    saved = tmp_path / "result.json"
    shutil.copy(lr.runs_folder("t.toml") / name / "result.json", saved)
    shutil.rmtree(lr.runs_folder("t.toml"))
    rung_dir = lr.runs_folder("t.toml") / name

    def crashing(write: bool):
        copy = f"import shutil; shutil.copy({str(saved)!r}, {str(rung_dir / 'result.json')!r}); " if write else ""
        return lambda *a, **k: [sys.executable, "-c", copy + "raise SystemExit(134)"]

    monkeypatch.setattr(lr, "worker_command", crashing(write=False))
    with pytest.raises(lr.InputError, match=rf"rung {name} failed \(exit 134\); see .*worker\.log"):
        lr.run_ladder("t.toml", executor="torchrun", nproc=2)
    monkeypatch.setattr(lr, "worker_command", crashing(write=True))
    with pytest.warns(ScalelabWarning, match=rf"rung {name}: its worker exited with code 134 after the rung had finished"):
        again = lr.run_ladder("t.toml", executor="torchrun", nproc=2)
    assert again == done


@needs_torch
def test_a_plan_with_too_few_rungs_for_the_law_says_so_at_fit(tmp_path, monkeypatch):
    """Fitting a plan of fewer than five rungs cannot be mended by training them: once its
    rung is trained the message says to design more, not to run again (it said 'run
    scalelab ladder run' either way)."""
    one_rung_plan(tmp_path, monkeypatch, "0.25")
    assert run("ladder", "run", "t.toml").exit_code == 0
    r = run("ladder", "fit", "t.toml")
    assert r.exit_code == 2 and "the plan has 1 rung; a five-parameter law needs at least 5 runs: design a ladder " \
        "with more --sizes or --multiples" in r.stderr, r.output


def test_fit_says_where_the_trained_target_falls(tmp_path, monkeypatch):
    """With the target trained, `ladder fit` gives its error and says whether it lies inside
    the forecast's 80% interval (rung results written as the trainer writes them)."""
    from scalelab.ladder.design import LadderPlan
    from scalelab.ladder.run import runs_folder, train_config

    monkeypatch.chdir(tmp_path)
    assert run("ladder", "design", "--sizes", "1e4,2e4,4e4", "--multiples", "1,2,5", "--target-params", "2e5",
               "--target-tokens", "4e6", "--out", "t.toml").exit_code == 0
    plan = LadderPlan.from_toml("t.toml")

    def law(r):
        return 0.5 + 40 * r.model.num_params()["total"] ** -0.3 + 80 * r.tokens ** -0.3

    def write(r, bpb):
        d = runs_folder("t.toml") / r.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "result.json").write_text(json.dumps({"config": train_config(plan, r).to_dict(), "result": {
            "val_loss": bpb * 0.693, "val_bpb": bpb, "tokens": r.tokens, "seconds": 1.0}}))

    for i, r in enumerate(plan.rungs):
        write(r, law(r) * (1 + 0.003 * (-1) ** i))
    for scale, where in ((1.0, "inside"), (0.7, "below")):
        write(plan.target, law(plan.target) * scale)
        r = run("ladder", "fit", "t.toml", "--bootstrap", "50")
        assert r.exit_code == 0, r.output
        said = " ".join(r.stdout.split())
        assert f"actual {law(plan.target) * scale:.4f}" in said and f"{where} the 80% interval" in said
        d = json.loads(run("ladder", "fit", "t.toml", "--bootstrap", "50", "--json").stdout)
        assert d["actual_bits_per_byte"] == pytest.approx(law(plan.target) * scale)
        assert d["actual_in80"] is (where == "inside")


def test_a_plan_being_trained_is_not_trained_twice(tmp_path, monkeypatch):
    """A second `ladder run` of a plan another one is training is refused at once, with
    nothing written; the lock goes with the run that held it."""
    from scalelab.ladder.run import plan_lock, runs_folder

    monkeypatch.chdir(tmp_path)
    assert run("ladder", "design", "--sizes", "1e4,2e4,4e4", "--multiples", "5,10", "--out", "t.toml").exit_code == 0
    with plan_lock("t.toml"):
        r = run("ladder", "run", "t.toml", "--store", "runs.db")
        assert r.exit_code == 2 and "t.toml is being trained by another scalelab ladder run" in r.stderr, r.output
    assert not runs_folder("t.toml").exists() and not (tmp_path / "runs.db").exists()
    with plan_lock("t.toml"):  # released: taken again
        pass
