"""The planner against published figures, and its speed.

1. preset parameter counts vs the published counts;
2. memory per GPU vs Korthikanti et al. 2022's activation formulas (Table 2) and vs
   torchtitan's measured Llama 3.1 8B runs (docs/performance.md);
3. documented runs: FLOPs, accelerator-hours, implied MFU (`scalelab plan validate`);
3b. the speed model: published step times with their layouts, per source; documented runs'
   hours from size, tokens, accelerator and count alone, beside a flat 40% MFU;
4. wall time of each `scalelab plan --help` example, against the floor of starting the
   interpreter and importing the CLI (the peer is the bare import: what any command pays).

Run:  python benchmarks/plan.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from scalelab.data import rows  # noqa: E402
from scalelab.planning import PRESETS, ModelConfig, Parallelism, check_runs, get_preset, memory_per_device  # noqa: E402
from scalelab.planning.memory import GIB, layer_activation_bytes  # noqa: E402

TORCHTITAN = [  # label, layout, micro-batch, seq, recompute, measured GiB (max reserved), source table
    ("8B FSDP 8, bs 2, op-SAC", dict(dp=8), 2, 8192, "selective-op", 82.4, "Table 1 (eager)"),
    ("8B FSDP 128, bs 2, op-SAC", dict(dp=128), 2, 8192, "selective-op", 67.0, "Table 3 (eager)"),
    ("8B FSDP 8 CP 1, 32k, full AC", dict(dp=8), 1, 32768, "full", 83.9, "Table 2 (compile+float8)"),
    ("8B FSDP 4 CP 2, 64k, full AC", dict(dp=4, cp=2), 1, 65536, "full", 84.2, "Table 2 (compile+float8)"),
    ("8B FSDP 2 CP 4, 128k, full AC", dict(dp=2, cp=4), 1, 131072, "full", 84.0, "Table 2 (compile+float8)"),
    ("8B FSDP 1 CP 8, 256k, full AC", dict(dp=1, cp=8), 1, 262144, "full", 84.5, "Table 2 (compile+float8)"),
    ("70B FSDP 32 TP 8, bs 16, full AC", dict(dp=32, tp=8), 16, 8192, "full", 71.9, "Table 4 (compile+float8, 2D)"),
]

EXAMPLES = [
    "--params 7e10 --tokens 2e12 --gpu a100-80gb --num-gpus 2048",
    "--preset llama3-405b --tokens 15.6e12 --gpu h100-sxm --num-gpus 16384 --mfu 0.40",
    "--budget-usd 5e8 --gpu h100-sxm --days 180",
    "--preset llama3-405b --tokens 15.6e12 --gpu h100-sxm --num-gpus 16384 --default-mfu",
    "validate",
]


def main() -> None:
    print("== 1. Presets: parameter counts")
    for name, p in PRESETS.items():
        c = p.model.params()
        act = f", active {c['active'] / 1e9:.2f}B vs {p.published_active / 1e9:.1f}B" if p.published_active else ""
        print(f"{name:14s} {c['total']:>18,d} vs {p.published_total:>20,.0f} ({c['total'] / p.published_total - 1:+.3%}){act}")

    print("\n== 2a. Activation bytes per layer vs Korthikanti et al. 2022, Table 2 (GPT-3 175B, s=2048, b=1, t=8)")
    gpt = ModelConfig(d_model=12288, n_layers=96, n_heads=96, vocab_size=51200, ffn="gelu", seq_len=2048)
    s, b, h, a, t = 2048, 1, 12288, 96, 8
    for label, opts, ref in [
        ("no parallelism", {}, s * b * h * (34 + 5 * a * s / h)),
        ("tensor parallel", dict(tp=t, sequence_parallel=False), s * b * h * (10 + 24 / t + 5 * a * s / (h * t))),
        ("tensor + sequence parallel", dict(tp=t), s * b * h * (34 / t + 5 * a * s / (h * t))),
        ("tensor parallel + selective recompute", dict(tp=t, sequence_parallel=False, recompute="selective"), s * b * h * (10 + 24 / t)),
        ("tensor + sequence parallel + selective", dict(tp=t, recompute="selective"), s * b * h * 34 / t),
        ("full recompute", dict(recompute="full"), 2 * s * b * h),
    ]:
        got = layer_activation_bytes(gpt, tokens=s * b, seq_len=s, flash_attention=False, dropout=True, **opts)
        print(f"{label:42s} {got / 2**20:9.1f} MiB vs {ref / 2**20:9.1f} MiB ({got / ref - 1:+.2%})")

    print("\n== 2b. Memory per GPU vs torchtitan's measurements (Llama 3.1, H100 96 GB, FSDP2, max reserved)")
    for label, layout, mb, seq, rc, measured, table in TORCHTITAN:
        model = get_preset("llama3-70b" if label.startswith("70B") else "llama3-8b").model
        est = memory_per_device(model, Parallelism(zero=3, **layout), micro_batch=mb, seq_len=seq, recompute=rc,
                                device_gb=95)
        print(f"{label:36s} {est.total / GIB:6.1f} GiB vs {measured:5.1f} measured ({est.total / GIB / measured - 1:+.1%})  {table}")

    print("\n== 3. Documented runs (goodput 0.9)")
    for c in check_runs(rows("known_runs")):
        if c.kind != "run":
            continue
        hours = "" if c.hours_error is None else f"hours {c.hours_predicted:,.0f} vs {c.hours_reported:,.0f} ({c.hours_error:+.1%}); "
        print(f"{c.model:16s} FLOPs 6ND {c.flops_6nd:.3g} vs {c.flops_reported:.3g} ({c.flops_error:+.1%}); {hours}"
              f"effective MFU {c.effective_mfu_implied:.3f} (default {c.effective_mfu_default:.3f})")

    print("\n== 3b. Speed model: published step times with their layouts (step_measurements.csv)")
    from scalelab.planning.validate import check_documented_hours, check_steps

    steps = check_steps(rows("step_measurements"))
    for source in dict.fromkeys(c.source for c in steps):
        errs = [c.error for c in steps if c.source == source]
        print(f"{source:28s} {len(errs):2d} rows: median |error| {statistics.median(map(abs, errs)):.1%}, "
              f"range {min(errs):+.1%} .. {max(errs):+.1%}")
    errs = [abs(c.error) for c in steps]
    print(f"{'all':28s} {len(errs):2d} rows: median |error| {statistics.median(errs):.1%} (target <= 10%), "
          f"{sum(e <= 0.25 for e in errs)} of {len(errs)} within 25% (target: all)")
    hours = check_documented_hours(rows("documented_hours"))
    named = ("OPT-175B", "LLaMA-65B", "Llama 2 70B", "Llama 3 8B", "Llama 3 70B", "Falcon-180B")
    for label, group in (("the issue's six held-out runs", [c for c in hours if c.model in named]), ("all ten", hours)):
        print(f"documented hours, {label}: median |error| {statistics.median(abs(c.error) for c in group):.1%} "
              f"(target <= 15%), a flat 40% MFU {statistics.median(abs(c.flat_error) for c in group):.1%}")

    print("\n== 4. Speed: wall time per call (median of 7), this machine")
    floor = _time([sys.executable, "-c", "import scalelab.cli"])
    label = 'floor: python -c "import scalelab.cli"'
    print(f"{label:60s} {floor:.3f} s")
    for ex in EXAMPLES:
        t = _time([sys.executable, "-m", "scalelab", "plan", *ex.split()])
        print(f"{'scalelab plan ' + ex:60.60s} {t:.3f} s  ({t / floor:.1f}x the floor; target < 1 s with the layout search)")


def _time(cmd: list[str], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == "__main__":
    main()
