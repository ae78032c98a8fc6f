import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'scalelab[train]'")

from scalelab.errors import InputError
from scalelab.ladder.config import GPTConfig, TrainConfig
from scalelab.ladder.model import GPT
from scalelab.ladder.train import Ranks, Sampler, lr_at, train

TINY = GPTConfig(n_layers=2, d_model=32, n_heads=2, seq_len=64)


def cfg(**kw):
    base = dict(model=TINY, tokens=40 * 1024, lr=3e-3, batch_tokens=1024, micro_batch=8, eval_tokens=2048,
                final_eval_tokens=4096)
    return TrainConfig(**(base | kw))


def params_of(folder):
    return torch.load(folder / "checkpoint.pt", weights_only=False)["model"]


def test_learns_and_writes_everything(shards, tmp_path):
    r = train(cfg(tokens=80 * 1024), shards, tmp_path / "rung")
    assert r.steps == 80 and r.tokens == 80 * 1024
    assert r.val_loss < np.log(256) - 1.0  # well below the uniform loss
    lines = [json.loads(x) for x in (tmp_path / "rung" / "log.jsonl").read_text().splitlines()]
    assert len(lines) == 80 and any("val_bpb" in x for x in lines)
    result = json.loads((tmp_path / "rung" / "result.json").read_text())["result"]
    assert result["steps"] == 80
    # the log ends with the result's evaluation (the final sample, larger than the periodic one)
    assert lines[-1]["val_loss"] == result["val_loss"] and lines[-1]["val_bpb"] == result["val_bpb"]


def test_seeded_and_reproducible(shards, tmp_path):
    a = train(cfg(), shards, tmp_path / "a")
    b = train(cfg(), shards, tmp_path / "b")
    assert a.val_loss == b.val_loss and a.train_loss == b.train_loss
    c = train(cfg(seed=1), shards, tmp_path / "c")
    assert c.val_loss != a.val_loss


def test_resume_is_exact(shards, tmp_path):
    full = train(cfg(checkpoint_every=5), shards, tmp_path / "full")
    assert train(cfg(checkpoint_every=5), shards, tmp_path / "cut", stop_after_steps=15) is None
    resumed = train(cfg(checkpoint_every=5), shards, tmp_path / "cut")
    assert resumed.resumed_from == 15
    assert resumed.val_loss == full.val_loss
    for k, v in params_of(tmp_path / "full").items():
        torch.testing.assert_close(params_of(tmp_path / "cut")[k], v, rtol=0, atol=0)


def test_full_disk_while_checkpointing_leaves_the_last_good_checkpoint(shards, tmp_path, monkeypatch):
    import errno

    import scalelab.ladder.train as tr

    real_save, calls = torch.save, []

    def save(obj, path):
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint: half-written, then the disk is full
            open(path, "wb").write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, path)

    monkeypatch.setattr(tr.torch, "save", save)
    with pytest.raises(InputError, match=r"cannot write the checkpoint .* at step 10 .*No space left.*free space"):
        train(cfg(checkpoint_every=5), shards, tmp_path / "r")
    assert [p.name for p in (tmp_path / "r").iterdir() if "tmp" in p.name] == []
    monkeypatch.setattr(tr.torch, "save", real_save)
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["step"] == 5
    assert not (tmp_path / "r" / "result.json").exists()
    resumed = train(cfg(checkpoint_every=5), shards, tmp_path / "r")
    assert resumed.resumed_from == 5 and resumed.val_loss == train(cfg(checkpoint_every=5), shards, tmp_path / "full").val_loss
    steps = [json.loads(x)["step"] for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 41))  # the records past the last checkpoint were trained again, not doubled


def test_checkpoint_from_other_settings_is_refused(shards, tmp_path):
    train(cfg(), shards, tmp_path / "r", stop_after_steps=5)
    with pytest.raises(InputError, match=r"was written for other settings"):
        train(cfg(lr=1e-2), shards, tmp_path / "r")


def test_gradient_accumulation_is_the_mean_over_the_batch(shards):
    """Two micro-batches of 4, each loss halved, give the gradient of one batch of 8."""
    torch.manual_seed(0)
    model = GPT(TINY)
    x, y = Sampler(shards.train(), 64, 0, 0).batch(8, "cpu")
    _, loss = model(x, y)
    loss.backward()
    whole = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    for i in (0, 4):
        _, part = model(x[i:i + 4], y[i:i + 4])
        (part / 2).backward()
    for g, p in zip(whole, model.parameters()):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-7)


def test_schedules():
    c = cfg(lr=1.0)
    assert lr_at(0, 100, 10, c) == pytest.approx(0.1) and lr_at(9, 100, 10, c) == pytest.approx(1.0)
    assert lr_at(99, 100, 10, c) == pytest.approx(0.1, abs=1e-3)  # cosine to 10%
    w = cfg(lr=1.0, schedule="wsd")
    assert lr_at(50, 100, 10, w) == 1.0 and lr_at(99, 100, 10, w) == pytest.approx(0.1, abs=0.01)


DDP = textwrap.dedent("""
    import json, sys
    from scalelab.ladder.config import GPTConfig, TrainConfig
    from scalelab.ladder.data import Shards
    from scalelab.ladder.train import distributed_ranks, train
    cfg = TrainConfig(model=GPTConfig(n_layers=2, d_model=32, n_heads=2, seq_len=64), tokens=20 * 1024, lr=3e-3,
                      batch_tokens=1024, micro_batch=8, eval_tokens=2048, final_eval_tokens=4096)
    ranks = distributed_ranks()
    stop = int(sys.argv[4]) if len(sys.argv) > 4 else None
    r = train(cfg, Shards.load(sys.argv[1]), sys.argv[2], ranks=ranks, parallel=sys.argv[3], stop_after_steps=stop)
    if ranks.main and r is not None:
        print(json.dumps({"world": ranks.world, "steps": r.steps, "tokens": r.tokens, "batch": r.extra["batch_tokens"],
                          "val_loss": r.val_loss, "parallel": r.extra["parallel"]}))
    import torch.distributed as dist
    dist.destroy_process_group()
    from scalelab.ladder.worker import leave
    leave()  # as a ladder's worker ends: no teardown of the process group's threads at exit
""")


def torchrun(script_text, tmp_path, *args):
    script = tmp_path / "ddp.py"
    script.write_text(script_text)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_gloo_processes_match_one(shards, tmp_path, parallel):
    d = torchrun(DDP, tmp_path, shards.folder, tmp_path / "rung", parallel)
    assert d["world"] == 2 and d["steps"] == 20 and d["batch"] == 1024  # the global batch of one process
    assert d["parallel"] == parallel
    one = train(cfg(tokens=20 * 1024), shards, tmp_path / "one", ranks=Ranks())
    assert one.steps == 20
    # the same batches each step, split over the ranks: the same curve up to summation order
    curve = {n: [json.loads(x)["loss"] for x in (tmp_path / n / "log.jsonl").read_text().splitlines()] for n in ("rung", "one")}
    np.testing.assert_allclose(curve["rung"], curve["one"], rtol=1e-3)
    assert d["val_loss"] == pytest.approx(one.val_loss, rel=1e-3) and one.val_loss < np.log(256) - 0.5
    val = {n: [json.loads(x)["val_loss"] for x in (tmp_path / n / "log.jsonl").read_text().splitlines()
               if "val_loss" in json.loads(x)] for n in ("rung", "one")}
    np.testing.assert_allclose(val["rung"], val["one"], rtol=1e-3)  # validation split across the ranks


@pytest.mark.slow
def test_fsdp_checkpoint_resumes_in_one_process(shards, tmp_path):
    """A checkpoint holds the whole unsharded state: a rung stopped under FSDP on two ranks
    finishes in one process where the one-process run ends."""
    assert torchrun(DDP, tmp_path, shards.folder, tmp_path / "cut", "fsdp", 10) is None
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    assert state["step"] == 10 and state["model"]["embed.weight"].shape == (TINY.vocab_size, TINY.d_model)
    resumed = train(cfg(tokens=20 * 1024), shards, tmp_path / "cut", ranks=Ranks())
    assert resumed.resumed_from == 10
    one = train(cfg(tokens=20 * 1024), shards, tmp_path / "one", ranks=Ranks())
    assert resumed.val_loss == pytest.approx(one.val_loss, rel=1e-3)
    for k, v in params_of(tmp_path / "one").items():
        torch.testing.assert_close(params_of(tmp_path / "cut")[k], v, rtol=1e-3, atol=1e-4)


RUNG = textwrap.dedent("""
    import json, sys
    from scalelab.ladder.config import GPTConfig, TrainConfig
    from scalelab.ladder.data import Shards
    from scalelab.ladder.train import Ranks, train

    model = GPTConfig(n_layers=2, d_model=32, n_heads=2, seq_len=64)
    cfg = TrainConfig(model=model, tokens=400 * 1024, lr=3e-3, batch_tokens=1024, micro_batch=8, eval_tokens=2048,
                      final_eval_tokens=4096, checkpoint_every=5, eval_every=50)
    r = train(cfg, Shards.load(sys.argv[1]), sys.argv[2], ranks=Ranks(device="cpu"))
    print(json.dumps(r.to_dict()))
""")


@pytest.mark.slow
def test_sigkill_mid_rung_resumes_to_the_same_final_loss(shards, tmp_path):
    """A training process killed with SIGKILL (no chance to clean up) resumes from its last
    checkpoint and ends exactly where an uninterrupted run with the same seed ends."""
    import signal
    import time

    script = tmp_path / "rung.py"
    script.write_text(RUNG)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")

    def run(folder):
        p = subprocess.run([sys.executable, str(script), shards.folder, str(folder)], capture_output=True, text=True,
                           timeout=600, env=env)
        assert p.returncode == 0, p.stderr[-2000:]
        return json.loads(p.stdout.strip().splitlines()[-1])

    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, str(script), shards.folder, str(cut)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if (cut / "checkpoint.pt").is_file():
                # let it train on past the first checkpoints, so the kill lands mid-way between two
                time.sleep(1.0)
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the rung finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (cut / "result.json").exists()
    killed_at = torch.load(cut / "checkpoint.pt", weights_only=False)["step"]
    assert 0 < killed_at < 400
    resumed = run(cut)
    assert resumed["resumed_from"] == killed_at
    full = run(tmp_path / "full")
    assert resumed["val_loss"] == full["val_loss"] and resumed["steps"] == full["steps"] == 400
    for k, v in params_of(tmp_path / "full").items():
        torch.testing.assert_close(params_of(cut)[k], v, rtol=0, atol=0)
    # the log holds every step once, as an uninterrupted run's does
    steps = [json.loads(x)["step"] for x in (cut / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 401))


def test_auto_parallel_shards_only_what_does_not_fit(monkeypatch):
    from types import SimpleNamespace

    from scalelab.ladder.train import choose_parallel

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: SimpleNamespace(total_memory=80 * 2**30))
    gpu8 = Ranks(rank=0, world=8, device="cuda:0")
    small = cfg()
    # ~7B parameters: 16 bytes each of weights, gradients and Adam states (~110 GB) cannot sit on one 80 GB device
    big = cfg(model=GPTConfig(n_layers=32, d_model=4096, n_heads=32, seq_len=2048, vocab_size=32000))
    assert choose_parallel(small, gpu8, 8) == "ddp"
    assert choose_parallel(big, gpu8, 1) == "fsdp"
    assert choose_parallel(big, gpu8, 1, "ddp") == "ddp"  # asked for
    assert choose_parallel(big, Ranks(), 1) == "none"  # one rank
    assert choose_parallel(big, Ranks(world=2, device="cpu"), 1) == "ddp"  # CPU memory is not the GPU's
    with pytest.raises(InputError, match="--parallel"):
        choose_parallel(small, gpu8, 8, "zero3")


def test_validation_is_of_the_step_it_is_logged_at(shards, tmp_path):
    """Validation every 3 steps, checkpoints only at the end: the loss logged at step 3 is
    that of the weights after step 3 (measured again from a rung stopped there)."""
    from scalelab.ladder.train import evaluate

    c = cfg(tokens=12 * 1024, eval_every=3, checkpoint_every=1000)
    train(c, shards, tmp_path / "run")
    logged = {r["step"]: r["val_loss"] for r in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines())
              if "val_loss" in r}
    assert sorted(logged) == [3, 6, 9, 12]
    assert train(c, shards, tmp_path / "cut", stop_after_steps=3) is None
    model = GPT(TINY)
    model.load_state_dict(params_of(tmp_path / "cut"))
    again = evaluate(model, shards.val(), TINY.seq_len, c.eval_tokens, c.micro_batch, "cpu", lambda: torch.autocast("cpu", enabled=False))
    assert again == logged[3]


def test_throughput_leaves_out_validation_and_checkpoints(shards, tmp_path, monkeypatch):
    """Validation and a checkpoint at the same step (the default: both every tenth of the
    run) made a second's pause count as the next step's work: its tokens/s fell 100-fold,
    once after every validation, and a watch saw throughput drops. Each validation here
    is slowed by 1 s, a hundred steps' time; no step's rate may fall to a thirtieth of the
    run's median (steps on a loaded machine vary by a few times, not by thirty)."""
    import time

    import scalelab.ladder.train as tr

    real = tr.evaluate

    def slow(*args, **kw):
        time.sleep(0.3)
        return real(*args, **kw)

    monkeypatch.setattr(tr, "evaluate", slow)
    train(cfg(tokens=30 * 1024, eval_every=5, checkpoint_every=5), shards, tmp_path / "run")
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    rates = np.array([r["tokens_per_s"] for r in rows[1:]])  # the first step carries the start-up
    slowest = rows[1 + int(np.argmin(rates))]["step"]
    assert rates.min() > np.median(rates) / 30, f"step {slowest}: {rates.min():.0f} tokens/s, median {np.median(rates):.0f}"


def test_cpu_compiles_only_when_minutes_of_training_are_left(shards, tmp_path, monkeypatch):
    """'auto' on one CPU rank: 10 timed steps after 2 warm ones, then compile if the rest is long."""
    from scalelab.ladder import train as trainer

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda m: compiled.append(m) or m)  # record, do not compile
    monkeypatch.setattr(trainer, "CPU_COMPILE_MIN_SECONDS", 0.0)
    r = train(cfg(), shards, tmp_path / "short-threshold")
    assert r.extra["compiled_at_step"] == 12 and len(compiled) == 1
    monkeypatch.setattr(trainer, "CPU_COMPILE_MIN_SECONDS", 1e9)
    r = train(cfg(), shards, tmp_path / "long-threshold")
    assert r.extra["compiled_at_step"] is None and len(compiled) == 1
    monkeypatch.setattr(trainer, "CPU_COMPILE_MIN_SECONDS", 0.0)
    r = train(cfg(compile="no"), shards, tmp_path / "never")
    assert r.extra["compiled_at_step"] is None and len(compiled) == 1


def test_a_wsd_branch_is_the_run_it_stands_for(shards, tmp_path):
    """A short WSD run started from a long one's checkpoint where its cooldown begins ends
    exactly where the short run trained alone ends: the shared steps need not run twice."""
    wsd = dict(schedule="wsd", warmup_tokens=8 * 1024)
    long, short = cfg(tokens=60 * 1024, **wsd), cfg(tokens=30 * 1024, **wsd)
    train(long, shards, tmp_path / "trunk", save_branches=[short.tokens])
    start = tmp_path / "trunk" / f"branch-{short.tokens}.pt"
    branch = train(short, shards, tmp_path / "branch", start_from=start)
    alone = train(short, shards, tmp_path / "alone")
    assert branch.resumed_from == 24  # 30 steps, the last 20% cooling down
    assert branch.val_loss == alone.val_loss and branch.train_loss == alone.train_loss

    def losses(folder):
        return [json.loads(x)["loss"] for x in (folder / "log.jsonl").read_text().splitlines()]

    assert losses(tmp_path / "branch") == losses(tmp_path / "alone")  # the whole curve, shared steps included
    marks = [json.loads(x) for x in (tmp_path / "branch" / "log.jsonl").read_text().splitlines()]
    marks = [(r["step"], r["branched_from"]) for r in marks if "branched_from" in r]
    assert marks == [(25, 24)]  # its first own step says where the trunk's steps end (a watch sees no stall there)
    assert "branched_from" not in (tmp_path / "alone" / "log.jsonl").read_text()
    with pytest.raises(InputError, match=r"only WSD runs branch"):
        train(cfg(tokens=30 * 1024), shards, tmp_path / "cosine", start_from=start)
    with pytest.raises(InputError, match=r"was trained with other settings than this rung's"):
        train(cfg(tokens=30 * 1024, lr=1e-3, **wsd), shards, tmp_path / "other", start_from=start)
    with pytest.raises(InputError, match=r"is at step 24, but this rung's cooldown starts at step 40"):
        train(cfg(tokens=50 * 1024, **wsd), shards, tmp_path / "longer", start_from=start)
    with pytest.raises(InputError, match=r"the warm-up \(35 steps\) runs past the start of the cooldown"):
        train(cfg(schedule="wsd", tokens=30 * 1024), shards, tmp_path / "warm")


def test_a_rung_can_stop_itself_on_nan(shards, tmp_path):
    """A learning rate of 1e4 blows the weights up within a few steps; with stop_on the
    rung stops at the first non-finite loss instead of training on NaN to the end."""
    from scalelab.errors import RunHalted

    with pytest.raises(RunHalted, match=r"rung stopped itself at step (\d+): (loss|grad norm) is not finite") as e:
        train(cfg(lr=1e4, checkpoint_every=1000), shards, tmp_path / "rung", stop_on=("nonfinite",))
    stopped = int(e.value.args[0].split("step ")[1].split(":")[0])
    log = [json.loads(line) for line in (tmp_path / "rung" / "log.jsonl").read_text().splitlines()]
    first_bad = next(r["step"] for r in log if not (np.isfinite(r["loss"]) and np.isfinite(r["grad_norm"])))
    assert stopped == first_bad and len(log) <= first_bad + 1 < 40  # not trained to the end (40 steps)
    assert not (tmp_path / "rung" / "checkpoint.pt").exists()  # nothing written after the NaN
    # without stop_on the same rung trains to the end on NaN
    r = train(cfg(lr=1e4), shards, tmp_path / "on")
    assert r.steps == 40 and not np.isfinite(r.train_loss)
