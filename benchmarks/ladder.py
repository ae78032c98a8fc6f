"""Pilot ladders measured.

  python benchmarks/ladder.py cpu          a micro ladder (6 rungs, 27k-220k params) on the bundled
                                           corpus: wall time of `ladder run` and `ladder fit` (target < 5 min)
  python benchmarks/ladder.py throughput   one GPU: scalelab's trainer against a plain PyTorch GPT
                                           (SDPA, bf16, fused AdamW, torch.compile), same shapes, one run
  python benchmarks/ladder.py e2e          one GPU: a ladder whose rungs each use <= 1/30 of a target's
                                           FLOPs, the target trained too, forecast error in bits per byte
  python benchmarks/ladder.py wsd          the same ladder twice on the CPU: WSD branches (the default) and
                                           every rung from scratch with a cosine: bits per byte per rung,
                                           the fitted laws' forecast, FLOPs and wall time

`throughput` and `e2e` take --device cpu --quick for a smoke run at tiny sizes.
`bash benchmarks/gpu.sh` runs both in one call on a GPU machine (its header says what to carry there).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
SHARED = Path(os.environ.get("SCALELAB_SHARED_DATA", REPO.parent / "shared" / "data"))

H100_BF16_PEAK = 989.4e12
# plain-baseline figures measured on one H100 beside this project (byte vocab, T=1024), tokens/s
REFERENCE = {1e6: 9.4e6, 3.5e6: 6.8e6, 11e6: 3.2e6, 26e6: 1.76e6, 86e6: 0.67e6}


def scalelab(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scalelab", *map(str, args)], cwd=cwd, capture_output=True, text=True)


def cpu() -> None:
    with tempfile.TemporaryDirectory() as d:
        r = scalelab("ladder", "design", "--sizes", "2e4,6e4,2e5", "--multiples", "0.5,1", "--out", "micro.toml", cwd=d)
        assert r.returncode == 0, r.stderr
        print(r.stdout)
        t = time.perf_counter()
        r = scalelab("ladder", "run", "micro.toml", "--store", "runs.db", "--json", cwd=d)
        run_s = time.perf_counter() - t
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        t = time.perf_counter()
        f = scalelab("ladder", "fit", "micro.toml", "--json", cwd=d)
        fit_s = time.perf_counter() - t
        assert f.returncode == 0, f.stderr
        fit = json.loads(f.stdout)
        for name, x in res.items():
            print(f"   {name:12s} {x['params']:>8,} params {x['tokens']:>10,} tokens  {x['val_bpb']:.4f} bits/byte  {x['seconds']:6.1f} s")
        print(f"ladder run: {run_s:.0f} s for {len(res)} rungs; ladder fit: {fit_s:.1f} s; total {run_s + fit_s:.0f} s "
              f"(target < 300 s on 2 cores); law {fit['params']}")


def gpt_baseline(vocab, d, L, H, T):
    """A plain PyTorch GPT (learned positions, pre-LayerNorm, GELU MLP, SDPA), for comparison."""
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.o = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
            self.fc, self.proj = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

        def forward(self, x):
            B, t, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, 2)
            q, k, v = (z.view(B, t, H, C // H).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, t, C)
            x = x + self.o(y)
            return x + self.proj(F.gelu(self.fc(self.ln2(x))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(T, d)
            self.blocks = nn.ModuleList(Block() for _ in range(L))
            self.ln = nn.LayerNorm(d)

        def forward(self, idx, tgt):
            x = self.tok(idx) + self.pos.weight[: idx.shape[1]]
            for b in self.blocks:
                x = b(x)
            logits = self.ln(x) @ self.tok.weight.t()
            return F.cross_entropy(logits.float().view(-1, vocab), tgt.view(-1))

    return Net()


def _baseline_rate(vocab, d, L, H, T, batch, device, steps, warm) -> float:
    """Tokens/s of the plain GPT's training step (compiled on GPU, eager on CPU)."""
    import torch

    cuda = device == "cuda"
    torch.manual_seed(0)
    net = gpt_baseline(vocab, d, L, H, T).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, fused=cuda or None)
    step_fn = torch.compile(net) if cuda else net
    x = torch.randint(0, vocab, (batch, T), device=device)
    times = []
    for i in range(steps + warm):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False):
            loss = step_fn(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if i >= warm:
            times.append(time.perf_counter() - t)
    return batch * T / statistics.median(times)


def _trainer_rate(cfg, shards, batch, steps, warm, folder, compile_) -> tuple[float, float]:
    """Tokens/s of scalelab's whole training step (sampler, clipping, logging) after ``warm``
    steps, and the seconds the warm steps took (compilation included)."""
    from scalelab.ladder.config import TrainConfig
    from scalelab.ladder.train import train

    T = cfg.seq_len
    recs = []
    tc = TrainConfig(model=cfg, tokens=(steps + warm) * batch * T, lr=1e-3, batch_tokens=batch * T, micro_batch=batch,
                     eval_every=10**9, final_eval_tokens=T * 8, checkpoint_every=10**9, compile=compile_)
    t0 = time.time()
    train(tc, shards, folder, on_step=recs.append)
    a, b = recs[warm - 1], recs[-1]
    return (b["tokens"] - a["tokens"]) / (b["wall_time"] - a["wall_time"]), a["wall_time"] - t0


def throughput(device: str, quick: bool) -> None:
    import torch

    from scalelab.ladder.config import GPTConfig
    from scalelab.ladder.data import prepare

    cuda = device == "cuda"
    # (name, vocab, d_model, layers, heads, T, batch): GPU shapes at T=1024 as the reference figures
    if cuda:
        shapes = [("1M", 256, 128, 5, 2, 1024, 64), ("3.5M", 256, 256, 4, 4, 1024, 64),
                  ("11M", 256, 384, 6, 6, 1024, 64), ("26M", 256, 512, 8, 8, 1024, 64),
                  ("86M", 256, 768, 12, 12, 1024, 32), ("GPT-2 small", 50304, 768, 12, 12, 1024, 32)]
    else:
        shapes = [("0.1M", 256, 64, 2, 2, 128, 8), ("1M", 256, 128, 5, 2, 256, 16)]
    if quick:
        shapes = shapes[:1]
    steps, warm = (20, 10) if cuda else (30, 15)
    corpus = SHARED / "corpora" / "en-mix.txt.xz"
    if not corpus.exists():
        from scalelab.data import bundled_path

        corpus = bundled_path("austen")
    tmp = Path(tempfile.mkdtemp())
    shards = prepare(corpus, tmp / "shards", max_bytes=2_000_000 if quick or not cuda else 60_000_000)
    print(f"device {torch.cuda.get_device_name(0) if cuda else f'cpu ({torch.get_num_threads()} threads)'}, "
          f"torch {torch.__version__}; the same shape (GELU MLP, 4d) in a plain PyTorch GPT and in scalelab's trainer")
    if cuda:
        print(f"{'shape':12s} {'params':>8s} {'baseline tok/s':>15s} {'scalelab tok/s':>15s} {'ratio':>6s} "
              f"{'scalelab MFU':>12s} {'reference':>10s}")
    else:
        print(f"{'shape':12s} {'params':>8s} {'T':>5s} {'baseline tok/s':>15s} {'eager tok/s':>12s} {'ratio':>6s} "
              f"{'compiled tok/s':>15s} {'ratio':>6s} {'compile s':>10s}")
    for name, vocab, d, L, H, T, batch in shapes:
        base = _baseline_rate(vocab, d, L, H, T, batch, device, steps, warm)
        cfg = GPTConfig(vocab_size=max(vocab, shards.vocab_size), seq_len=T, n_layers=L, d_model=d, n_heads=H,
                        ffn="gelu", d_ff=4 * d)
        params = cfg.num_params()["total"] / 1e6
        if cuda:
            rate, _ = _trainer_rate(cfg, shards, batch, steps, warm, tmp / f"run-{name}", "auto")
            mfu = rate * cfg.flops_per_token() / H100_BF16_PEAK
            ref = next((v for k, v in REFERENCE.items() if abs(math.log(k / cfg.num_params()["total"])) < 0.4), None)
            print(f"{name:12s} {params:7.1f}M {base:15,.0f} {rate:15,.0f} {rate / base:6.2f} {100 * mfu:11.1f}% "
                  f"{'-' if ref is None else f'{ref:,.0f}':>10s}")
            continue
        eager, _ = _trainer_rate(cfg, shards, batch, steps, warm, tmp / f"eager-{name}", "no")
        comp, warm_s = _trainer_rate(cfg, shards, batch, steps, warm, tmp / f"compiled-{name}", "yes")
        print(f"{name:12s} {params:7.2f}M {T:5d} {base:15,.0f} {eager:12,.0f} {eager / base:6.2f} {comp:15,.0f} "
              f"{comp / base:6.2f} {warm_s:10.1f}")
    shutil.rmtree(tmp, ignore_errors=True)


def code_corpus(folder: Path, max_bytes: int = 24_000_000) -> Path:
    """Source code: the Python standard library's .py files on this machine (PSF licence),
    UTF-8 only, tests and site-packages left out, up to ``max_bytes``; one file a document."""
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for f in sorted(stdlib.rglob("*.py")):
        rel = f.relative_to(stdlib)
        if {"site-packages", "test", "tests", "idle_test", "__pycache__"} & set(rel.parts):
            continue
        data = f.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        (folder / str(rel).replace("/", "__")).write_bytes(data)
        total += len(data)
        if total >= max_bytes:
            break
    return folder


def speeches_corpus(out: Path) -> Path:
    """The State of the Union addresses (public domain), one address per line in the shared
    file, written with a blank line between addresses (a text corpus's document break)."""
    import lzma

    src = SHARED / "corpora" / "sotu.txt.xz"
    if src.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = lzma.open(src, "rt", encoding="utf-8").read().splitlines()
        out.write_text("\n\n".join(x for x in lines if x.strip()) + "\n", encoding="utf-8")
    return out


def e2e(device: str, quick: bool, only: str | None = None, keep: str | None = None) -> None:
    """Forecast a target from its default ladder and train the target too, on several corpora."""
    from scalelab.data import bundled_path

    with tempfile.TemporaryDirectory() as d:
        if keep:
            d = str(Path(keep).resolve())
            Path(d).mkdir(parents=True, exist_ok=True)
        if device == "cuda":
            corpora = [("prose (en-mix)", SHARED / "corpora" / "en-mix.txt.xz")]
            target = ["--target-params", "2.5e7", "--target-tokens", "1.2e8", "--seq-len", "512", "--budget-frac", "0.1"]
        else:
            # a 1e6 target (20M byte tokens): its rungs are large enough to leave the optimisation
            # transient; Austen's 4 MB would be read five times, so the third corpus is the
            # State of the Union addresses (10.8 MB)
            corpora = [("prose (en-mix)", SHARED / "corpora" / "en-mix.txt.xz"),
                       ("code (Python stdlib)", code_corpus(Path(d) / "code")),
                       ("speeches (SOTU)", speeches_corpus(Path(d) / "sotu.txt"))]
            target = ["--target-params", "1e6", "--target-tokens", "2e7", "--seq-len", "256", "--budget-frac", "0.1"]
        if quick:
            corpora = [("novels (Austen)", bundled_path("austen"))]
            target = ["--target-params", "1e5", "--target-tokens", "1e6", "--seq-len", "64",
                      "--sizes", "1e4,2e4,4e4", "--multiples", "0.25,0.5"]
        if only:
            corpora = [c for c in corpora if only in c[0]]
        rows = []
        for i, (name, corpus) in enumerate(corpora):
            if not Path(corpus).exists():
                print(f"(skipping {name}: {corpus} is missing)")
                continue
            plan = f"e2e{i}.toml"
            r = scalelab("ladder", "design", "--corpus", corpus, *target, "--out", plan, cwd=d)
            assert r.returncode == 0, r.stderr
            print(f"== {name}\n{r.stdout}", flush=True)
            t = time.perf_counter()
            r = scalelab("ladder", "run", plan, "--with-target", "--json", cwd=d)
            assert r.returncode == 0, r.stderr
            runs = json.loads(r.stdout)
            wall = time.perf_counter() - t
            f = scalelab("ladder", "fit", plan, "--json", cwd=d)
            assert f.returncode == 0, f.stderr
            fit = json.loads(f.stdout)
            fo = fit["forecast"]
            iv = next((iv for iv in fo["intervals"] if iv["level"] == 0.8), None)
            target_s = runs["target"]["seconds"]
            rows.append((name, fo["loss"], fit["actual_bits_per_byte"], fit["rel_error"], iv, fit["cost_fraction"],
                         wall - target_s, target_s, fit["params"], fit["warnings"]))
            print(json.dumps({"corpus": name, "forecast": fo, "actual": fit["actual_bits_per_byte"],
                              "rel_error": fit["rel_error"], "cost_fraction": fit["cost_fraction"], "law": fit["params"],
                              "ladder_seconds": wall - target_s, "target_seconds": target_s,
                              "warnings": fit["warnings"]}), flush=True)
        print(f"\n{'corpus':22s} {'forecast':>9s} {'actual':>7s} {'error':>7s} {'80% interval':>17s} {'inside':>6s} "
              f"{'ladder cost':>11s} {'ladder s':>9s} {'target s':>9s}  law")
        for name, fc, actual, err, iv, cost, ls, ts, law, warns in rows:
            inside = iv is not None and iv["lo"] <= actual <= iv["hi"]
            ivs = "-" if iv is None else f"{iv['lo']:.3f}-{iv['hi']:.3f}"
            print(f"{name:22s} {fc:9.4f} {actual:7.4f} {100 * err:+6.2f}% {ivs:>17s} {'yes' if inside else 'no':>6s} "
                  f"{100 * cost:10.2f}% {ls:9.0f} {ts:9.0f}  " + ", ".join(f"{k}={v:.3g}" for k, v in law.items())
                  + (f"; {len(warns)} warning(s)" if warns else ""))


def wsd(sizes: str = "1e4,2e4,4e4", multiples: str = "1,2,5,10", corpus: Path | None = None) -> None:
    """WSD branches against separate cosine runs: same sizes, tokens, data and seed; and the
    cosine ladder again with another seed, for the run-to-run noise the difference sits in."""
    from scalelab.data import bundled_path

    corpus = corpus or bundled_path("austen")
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for key, schedule, seed in (("wsd", "wsd", 0), ("cosine", "cosine", 0), ("cosine seed 1", "cosine", 1)):
            name = key.replace(" ", "-")
            r = scalelab("ladder", "design", "--corpus", corpus, "--sizes", sizes, "--multiples", multiples,
                         "--target-params", "3e5", "--target-tokens", "6e6", "--schedule", schedule, "--seed", seed,
                         "--out", f"{name}.toml", "--json", cwd=d)
            assert r.returncode == 0, r.stderr
            plan = json.loads(r.stdout)
            t = time.perf_counter()
            r = scalelab("ladder", "run", f"{name}.toml", "--store", "runs.db", "--json", cwd=d)
            assert r.returncode == 0, r.stderr
            seconds = time.perf_counter() - t
            f = scalelab("ladder", "fit", f"{name}.toml", "--json", cwd=d)
            assert f.returncode == 0, f.stderr
            out[key] = (plan, json.loads(r.stdout), json.loads(f.stdout), seconds)
    (pw, rw, fw, sw), (pc, rc, fc, sc), (_, r1, f1, _) = out["wsd"], out["cosine"], out["cosine seed 1"]
    print(f"corpus {corpus}; sizes {sizes}; multiples {multiples} (x 20 tokens/param)")
    print(f"{'rung':14s} {'cosine bpb':>11s} {'wsd bpb':>9s} {'wsd/cosine-1':>13s} {'cosine seed 1':>14s} "
          f"{'seed1/seed0-1':>14s}")
    diffs, noise = [], []
    for name in sorted(rc, key=lambda n: (rc[n]["params"], rc[n]["tokens"])):
        a, b, c = rc[name]["val_bpb"], rw[name]["val_bpb"], r1[name]["val_bpb"]
        diffs.append(b / a - 1)
        noise.append(c / a - 1)
        print(f"{name:14s} {a:11.4f} {b:9.4f} {100 * (b / a - 1):+12.2f}% {c:14.4f} {100 * (c / a - 1):+13.2f}%")
    print(f"wsd vs cosine: mean {100 * np.mean(diffs):+.2f}%, mean |diff| {100 * np.mean(np.abs(diffs)):.2f}%, "
          f"max {100 * np.max(np.abs(diffs)):.2f}%; cosine seed 1 vs seed 0: mean |diff| "
          f"{100 * np.mean(np.abs(noise)):.2f}%, max {100 * np.max(np.abs(noise)):.2f}%")
    print(f"FLOPs: wsd {pw['ladder_flops']:.3g} vs cosine {pc['ladder_flops']:.3g} ({pw['ladder_flops'] / pc['ladder_flops']:.2f}x); "
          f"wall time: wsd {sw:.0f} s vs cosine {sc:.0f} s ({sw / sc:.2f}x)")
    for name, fit in (("cosine", fc), ("cosine seed 1", f1), ("wsd", fw)):
        fo = fit["forecast"]
        iv = next(iv for iv in fo["intervals"] if iv["level"] == 0.8) if fo["intervals"] else None
        print(f"{name:13s} law {', '.join(f'{k}={v:.4g}' for k, v in fit['params'].items())}; forecast for 3e5 params x "
              f"6e6 tokens {fo['loss']:.4f} bits/byte" + (f" (80% {iv['lo']:.4f}-{iv['hi']:.4f})" if iv else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["cpu", "throughput", "e2e", "wsd"])
    ap.add_argument("--device", default=None, help="cuda or cpu [default: cuda if available]")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    ap.add_argument("--corpus", default=None, help="e2e: only the corpora whose name contains this (prose, code, speeches)")
    ap.add_argument("--keep", default=None, metavar="DIR", help="e2e: work in DIR and keep the plans and runs there")
    args = ap.parse_args()
    if args.what == "cpu":
        cpu()
        return
    if args.what == "wsd":
        wsd()
        return
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.what == "throughput":
        throughput(device, args.quick)
    else:
        e2e(device, args.quick, args.corpus, args.keep)


if __name__ == "__main__":
    main()
