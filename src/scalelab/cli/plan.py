"""``scalelab plan`` and ``scalelab plan validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from rich.markup import escape

from scalelab.errors import ScalelabError
from scalelab.cli.common import (Goodput, Gpu, Json, Mfu, Price, amount, app, big, count, duration, err, interval, num, out, print_json,
                                 run, whole_count)

plan_app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    invoke_without_command=True,
    help="Compute, memory, time, energy and cost of a training run, or the best run for a budget.",
    epilog="""\b
Examples:
  scalelab plan --params 7e10 --tokens 2e12 --gpu a100-80gb --num-gpus 2048
  scalelab plan --preset llama3-405b --tokens 15.6e12 --gpu h100-sxm --num-gpus 16384 --mfu 0.40
  scalelab plan --budget-usd 5e8 --gpu h100-sxm --days 180 --fit fit.json
  scalelab plan --params 7e10 --tokens 15T --gpu h100 --num-gpus 4096 --unique-tokens 2T
  scalelab plan --params 405B --tokens 15.6T --gpu h100 --num-gpus 16384 --context
  scalelab plan --params 13B --tokens 5T --gpu h100 --num-gpus 1024 --fit fit.json --out plan.json
  scalelab plan validate
  scalelab plan goodput --params 405B --num-gpus 1000,4096,16384,50000
""",
)
app.add_typer(plan_app, name="plan")


@plan_app.callback()
def plan(
    ctx: typer.Context,
    preset: Annotated[Optional[str], typer.Option("--preset", help="A known architecture (gpt2-small, gpt3-175b, llama2-7b, llama3-8b, llama3-70b, llama3-405b, mixtral-8x7b, deepseek-v3, palm-540b, bloom-176b, pythia-12b), or a Hugging Face config.json (or the model's folder) of the Llama, Mistral, Mixtral, Qwen, Gemma, OLMo, Phi-3, DeepSeek, GPT-2 or GPT-NeoX families.")] = None,
    params: Annotated[Optional[float], typer.Option("--params", parser=count, help="A dense model's parameter count N (FLOPs = 6*N*D).")] = None,
    tokens: Annotated[Optional[float], typer.Option("--tokens", parser=count, help="Training tokens D.")] = None,
    d_model: Annotated[Optional[int], typer.Option("--d-model", help="Shape: width.")] = None,
    layers: Annotated[Optional[int], typer.Option("--layers", help="Shape: transformer blocks.")] = None,
    heads: Annotated[Optional[int], typer.Option("--heads", help="Shape: query heads.")] = None,
    kv_heads: Annotated[Optional[int], typer.Option("--kv-heads", help="Shape: key/value heads (GQA/MQA).")] = None,
    d_ff: Annotated[Optional[int], typer.Option("--d-ff", help="Shape: MLP hidden width d_ff.")] = None,
    ffn: Annotated[Optional[str], typer.Option("--ffn", help="Shape: MLP kind, gelu or swiglu.")] = None,
    vocab: Annotated[Optional[int], typer.Option("--vocab", help="Shape: vocabulary size.")] = None,
    tied: Annotated[Optional[bool], typer.Option("--tied/--untied", help="Shape: tied input/output embeddings.")] = None,
    experts: Annotated[Optional[int], typer.Option("--experts", help="MoE: routed experts per layer.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="MoE: experts per token.")] = None,
    shared_experts: Annotated[Optional[int], typer.Option("--shared-experts", help="MoE: experts every token uses.")] = None,
    d_ff_expert: Annotated[Optional[int], typer.Option("--d-ff-expert", help="MoE: one expert's MLP hidden width.")] = None,
    seq_len: Annotated[Optional[int], typer.Option("--seq-len", help="Training sequence length [default: the preset's, else 2048].")] = None,
    gpu: Gpu = "h100-sxm",
    num_gpus: Annotated[Optional[int], typer.Option("--num-gpus", parser=whole_count, help="Number of accelerators (4096, 16k, 1e6).")] = None,
    days: Annotated[Optional[float], typer.Option("--days", help="Deadline: wall-clock days (finds the GPU count, or bounds a budget).")] = None,
    mfu: Mfu = None,
    goodput: Goodput = None,
    price: Price = None,
    peak_tflops: Annotated[Optional[float], typer.Option("--peak-tflops", help="Dense peak TFLOP/s per accelerator [default: the catalogue's BF16].")] = None,
    gpu_memory_gb: Annotated[Optional[float], typer.Option("--gpu-memory-gb", help="Memory per accelerator, GiB (the vendor's \"80GB\" HBM is 80 GiB).")] = None,
    pue: Annotated[float, typer.Option("--pue", help="Power usage effectiveness of the facility (1: accelerators only).")] = 1.0,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", parser=count, help="Budget in dollars: plan the compute-optimal run it buys.")] = None,
    budget_gpu_hours: Annotated[Optional[float], typer.Option("--budget-gpu-hours", parser=count, help="Budget in accelerator-hours.")] = None,
    budget_flops: Annotated[Optional[float], typer.Option("--budget-flops", parser=count, help="Budget in training FLOPs.")] = None,
    fit_path: Annotated[Optional[Path], typer.Option("--fit", help="A fit.json (scalelab fit) for the forecast and the allocation [default for budgets: Chinchilla's law refit on Chinchilla's runs].")] = None,
    flops_per_token: Annotated[float, typer.Option("--flops-per-token", help="k in C = k*N*D for budget allocation.")] = 6.0,
    unique_tokens: Annotated[Optional[float], typer.Option("--unique-tokens", "--max-unique-tokens", parser=count, help="Unique tokens of the corpus: epochs, effective tokens and the loss penalty of repeating them (a budget's optimum under that limit).")] = None,
    corpus_audit: Annotated[Optional[Path], typer.Option("--corpus-audit", help="An audit.json (scalelab data audit --json): its unique-token estimate is the corpus's unique tokens.")] = None,
    tp: Annotated[Optional[int], typer.Option("--tp", help="Layout: tensor parallel degree [default: search].")] = None,
    pp: Annotated[Optional[int], typer.Option("--pp", help="Layout: pipeline stages.")] = None,
    cp: Annotated[Optional[int], typer.Option("--cp", help="Layout: context parallel degree.")] = None,
    ep: Annotated[Optional[int], typer.Option("--ep", help="Layout: expert parallel degree (MoE).")] = None,
    dp: Annotated[Optional[int], typer.Option("--dp", help="Layout: data parallel degree [default: num_gpus / (tp*pp*cp)].")] = None,
    zero: Annotated[Optional[int], typer.Option("--zero", help="Layout: ZeRO stage 0-3 (3 = FSDP).")] = None,
    no_sp: Annotated[bool, typer.Option("--no-sequence-parallel", help="Layout: keep norms and dropouts replicated under TP.")] = False,
    recompute: Annotated[Optional[str], typer.Option("--recompute", help="none, selective (attention core), selective-op (torchtitan), full.")] = None,
    micro_batch: Annotated[int, typer.Option("--micro-batch", help="Sequences per micro-batch per data-parallel rank.")] = 1,
    precision: Annotated[str, typer.Option("--precision", help="bf16 (mixed, fp32 master), fp8, fp32.")] = "bf16",
    fused_ce: Annotated[bool, typer.Option("--fused-cross-entropy", help="A fused loss keeps only fp32 logits.")] = False,
    non_causal: Annotated[bool, typer.Option("--non-causal-flops", help="Count attention FLOPs over the whole sequence (PaLM's convention), not the causal half.")] = False,
    speed_model: Annotated[bool, typer.Option("--speed-model/--default-mfu", help="Predict MFU from the fastest layout that fits (step time from the shape, layout and interconnect) and goodput from the GPU count (failures and checkpoints); --default-mfu uses the catalogue's MFU and 0.9 goodput.")] = True,
    batch_tokens: Annotated[Optional[float], typer.Option("--batch-tokens", parser=count, help="Global batch in tokens, for the speed model [default: 4M, or 1,024 per GPU where that is more].")] = None,
    intra_node_gbs: Annotated[Optional[float], typer.Option("--intra-node-gbs", help="NVLink-class bandwidth per GPU, one direction, GB/s [default: half the catalogue's interconnect figure].")] = None,
    inter_node_gbs: Annotated[Optional[float], typer.Option("--inter-node-gbs", help="Network bandwidth per GPU between nodes, one direction, GB/s [default: the reference system's, e.g. 50 for H100].")] = None,
    node_size: Annotated[Optional[int], typer.Option("--node-size", help="GPUs per node (NVLink domain) [default: 8].")] = None,
    gemm_efficiency: Annotated[Optional[float], typer.Option("--gemm-efficiency", help="Share of the peak a large matmul reaches [default: per accelerator, e.g. 0.62 on H100].")] = None,
    context: Annotated[bool, typer.Option("--context", help="Place the run in the public record: the year the frontier compute trend reaches it, its rank among notable models, and the field's MMLU/BBH/GPQA at its compute (Epoch AI's snapshot).")] = False,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Also write the plan as JSON (what --json prints; watch --plan and report --plan read it).")] = None,
    as_json: Json = False,
) -> None:
    """Plan a training run: FLOPs, days, GPU-hours, energy, dollars, memory per GPU and
    the layout that fits; or, given a budget, the compute-optimal run it buys and its loss."""
    if ctx.invoked_subcommand is not None:
        return

    def go():
        from scalelab.io import load_fit
        from scalelab.planning import Parallelism, get_accelerator, make_plan, resolve_model

        acc = get_accelerator(gpu).with_overrides(peak_tflops=peak_tflops, price_usd_per_hour=price,
                                                  memory_gb=gpu_memory_gb, mfu=mfu)
        model = resolve_model(preset=preset, params=params, shape=dict(
            d_model=d_model, n_layers=layers, n_heads=heads, n_kv_heads=kv_heads, d_ff=d_ff, ffn=ffn, vocab_size=vocab,
            tied_embeddings=tied, n_experts=experts, top_k=top_k, n_shared_experts=shared_experts,
            d_ff_expert=d_ff_expert, seq_len=seq_len))
        parallel = Parallelism.from_degrees(tp=tp, pp=pp, cp=cp, ep=ep, dp=dp, zero=zero, sequence_parallel=not no_sp,
                                            num_devices=num_gpus)
        unique, source = unique_tokens, "--unique-tokens"
        if corpus_audit is not None:
            if unique_tokens is not None:
                raise ScalelabError("give --unique-tokens or --corpus-audit, not both")
            from scalelab.corpus.audit import read_audit_unique_tokens

            unique = read_audit_unique_tokens(corpus_audit, None if model is None else model.vocab_size)
            source = str(corpus_audit)
        return make_plan(acc, model=model, params=params, tokens=tokens, num_gpus=num_gpus, days=days, mfu=mfu, goodput=goodput, pue=pue, budget_usd=budget_usd,
                         budget_gpu_hours=budget_gpu_hours, budget_flops=budget_flops,
                         fit=None if fit_path is None else load_fit(fit_path),
                         law_label="" if fit_path is None else f"fit {fit_path}", flops_per_token=flops_per_token,
                         unique_tokens=unique, data_source=source, causal=not non_causal, parallel=parallel,
                         recompute=recompute, micro_batch=micro_batch, precision=precision,
                         seq_len=seq_len if model is None else None, fused_cross_entropy=fused_ce,
                         predict_speed=speed_model, batch_tokens=batch_tokens,
                         system={k: v for k, v in (("intra_gbs", intra_node_gbs), ("inter_gbs", inter_node_gbs),
                                                   ("node_size", node_size), ("gemm_efficiency", gemm_efficiency))
                                 if v is not None})

    result = run(go)
    doc = result.to_dict()
    ctx = None
    if context:
        from scalelab.trends.context import run_context

        ctx = run(lambda: run_context(result.flops.model))
        doc["context"] = ctx.to_dict()
    if out_path is not None:
        from scalelab.cli.common import json_text
        from scalelab.io import atomic_write_text

        run(lambda: atomic_write_text(out_path, json_text(doc)))
    if as_json:
        print_json(doc)
    else:
        _print_plan(result)
        if ctx is not None:
            _print_context(ctx)
        if out_path is not None:
            out.print(f"wrote {out_path}")
    if not result.layout.fits:  # a plan that cannot be launched as it stands: exit 1, like watch with alerts
        err.print("the run does not fit in memory as planned (see the warning above); exit status 1", markup=False)
        raise typer.Exit(1)


def _print_plan(p) -> None:
    run_, lay = p.run, p.layout
    a = run_.accelerator
    t = Table(show_header=False, box=None, padding=(0, 1))
    t.add_column(style="bold")
    t.add_column()
    pm = p.params
    extra = f", {big(pm.active)} active" if pm.active != pm.total else ""
    if pm.non_embedding is not None:
        extra += f", {big(pm.non_embedding)} non-embedding"
    t.add_row("model", f"{p.model.name}: {big(pm.total)} parameters{extra}; {p.model_note}")
    if p.mode == "budget":
        b = p.budget
        iv = f" (80%: {big(b.params_interval.lo)}–{big(b.params_interval.hi)})" if b.params_interval else ""
        t.add_row("budget buys", f"{p.flops.model:.3e} FLOPs -> compute-optimal N = {big(b.params)}{iv}, "
                  f"D = {big(b.tokens)} tokens ({b.tokens / b.params:.1f} tokens/param, C = {b.flops_per_token:g}·N·D)")
    else:
        t.add_row("tokens", f"{big(p.tokens)}")
        hw = p.flops.hardware
        t.add_row("FLOPs", f"{p.flops.model:.3e} model (6·N·D: {p.flops.six_n:.3e})"
                  + (f"; {hw:.3e} with recomputation" if hw > p.flops.model * 1.0005 else ""))
    sp = p.speed or {}
    predicted = sp.get("mfu_source") == "performance model"
    mfu_how = "predicted: the fastest layout below" if predicted else a.mfu_source
    if predicted and abs(sp["chosen"]["step"]["mfu"] - run_.mfu) >= 0.005:
        # the plan counts its FLOPs as the header says (6·N·D for a bare parameter count); the
        # layouts count those of the shape they time, attention and embeddings included
        mfu_how += f", which has {sp['chosen']['step']['mfu']:.3f} counting its shape's FLOPs"
    if sp.get("reason") and sp["reason"] != "--mfu given":
        mfu_how += f"; not predicted: {sp['reason']}"
    good_how = {"failure model": "predicted from the GPU count: failures, checkpoints, restarts",
                "given": "given"}.get(sp.get("goodput_source"), "default")
    t.add_row("hardware", f"{run_.num_gpus:,.0f} x {a.name} ({a.peak_tflops:g} TFLOP/s dense BF16, {a.memory_gb:g} GiB) "
              f"at MFU {run_.mfu:.2f} ({escape(mfu_how)}), goodput {run_.goodput:.3f} ({good_how})")
    rg = p.ranges()
    span = (lambda key, fmt: f" ({fmt(rg[key][0])}–{fmt(rg[key][1])})") if rg else (lambda key, fmt: "")
    if run_.days >= 1:
        t.add_row("time", f"{run_.days:,.1f} days wall-clock{span('days', lambda v: f'{v:,.1f}')}, "
                  f"{run_.compute_seconds / 86400:,.1f} computing")
    else:  # a small run: in hours, minutes or seconds rather than "0.0 days"
        t.add_row("time", f"{duration(run_.days * 86400)} wall-clock"
                  f"{span('days', lambda v: duration(v * 86400))}, {duration(run_.compute_seconds)} computing")
    t.add_row("GPU-hours", f"{amount(run_.gpu_hours)}{span('gpu_hours', amount)}")
    if run_.energy_kwh is not None:
        energy = (f"{run_.energy_kwh / 1000:,.0f} MWh" if run_.energy_kwh >= 1000 else f"{amount(run_.energy_kwh)} kWh")
        t.add_row("energy", f"{energy} (TDP {a.tdp_w:g} W x PUE {run_.pue:g})")
    cost = run_.cost_usd
    t.add_row("cost", "-" if cost is None else f"${amount(cost)}{span('cost_usd', lambda v: f'${amount(v)}')} at "
              f"${a.price_usd_per_hour:g}/GPU-hour ({a.price_note})")
    if rg:
        whose = "the speed and failure models' prediction" if predicted else "the default"
        t.add_row("ranges", f"at the effective MFU (MFU x goodput) that {rg['runs']} documented runs reached: "
                  f"{rg['effective_mfu_ratio'][0]:.2f}–{rg['effective_mfu_ratio'][1]:.2f}x {whose} "
                  "(scalelab plan validate); give --mfu and --goodput you have measured to narrow them")
    if predicted:
        ch = sp["chosen"]
        st = ch["step"]
        t.add_row("step", f"{st['step_s']:.2f} s for {big(st['tokens_per_step'])} tokens ({st['micro_batches']} micro-batch{'es' if st['micro_batches'] != 1 else ''} "
                  f"a pipeline), {st['tokens_per_s_per_gpu']:,.0f} tokens/s per GPU; {ch['why']}")
        for i, lay_ in enumerate(sp["layouts"][:3]):
            s_ = lay_["step"]
            t.add_row("fastest" if i == 0 else "", f"{i + 1}. {lay_['layout']}: MFU {s_['mfu']:.3f}, "
                      f"{s_['tokens_per_s_per_gpu']:,.0f} tokens/s/GPU, {lay_['memory_gib']:.1f} GiB; {lay_['why']}")
        if sp.get("goodput"):
            gd = sp["goodput"]
            t.add_row("failures", f"one every {duration(3600 * gd['mtbf_hours'])} on {gd['num_gpus']:,} GPUs; checkpoint every "
                      f"{duration(60 * gd['interval_minutes'])} ({duration(60 * gd['checkpoint_minutes'])} each); lost: "
                      f"{100 * gd['lost_checkpointing']:.2f}% checkpointing, {100 * gd['lost_recompute']:.2f}% redone, "
                      f"{100 * gd['lost_restarts']:.2f}% restarting (scalelab plan goodput)")
    if lay.parallel is not None:
        par, m = lay.parallel, lay.memory
        g = m.gib()
        how = ("fastest layout that fits" if predicted else "cheapest layout that fits") if lay.searched else "given layout"
        t.add_row("layout", f"dp={par.dp} tp={par.tp} pp={par.pp} cp={par.cp} ep={par.ep} zero={par.zero} "
                  f"recompute={lay.recompute} micro-batch={lay.micro_batch} {lay.precision} ({how})")
        t.add_row("memory/GPU", f"{g['total']:.1f} of {g['device']:.0f} GiB ({'fits' if m.fits else 'does NOT fit'}): "
                  f"weights {g['weights']:.1f}, grads {g['gradients']:.1f}, optimizer {g['optimizer']:.1f}, "
                  f"activations {g['activations']:.1f}, logits {g['logits']:.1f}, buffers {g['buffers']:.1f} "
                  f"({m.stage} stage)")
    else:
        t.add_row("layout", "none found that fits (see the warning)")
    if p.data is not None:
        from scalelab.planning.data_limit import USEFUL_TOLERANCE

        d = p.data
        t.add_row("data", f"{d.epochs:.2f} epochs of {big(d.unique_tokens)} unique tokens ({escape(d.source)}): worth "
                  f"{big(d.effective_tokens)} fresh tokens; loss {num(d.loss)} against {num(d.loss_fresh)} with fresh data "
                  f"(penalty {d.penalty:+.4f}); 10x the compute would gain {d.more['gain']:.4f} "
                  f"(fresh data: {d.more['gain_fresh']:.4f}){'; the data is EXHAUSTED' if d.exhausted else ''}"
                  + ("" if d.useful_flops is None else f": {d.useful_flops:.3g} FLOPs come within {USEFUL_TOLERANCE:g} "
                     "of this loss"))
        t.add_row("", f"by {d.law}")
    if p.forecast is not None:
        f = p.forecast
        iv = (f"80% {interval(f.interval(0.8))}, 95% {interval(f.interval(0.95))}" if f.intervals else "no interval")
        t.add_row("forecast", f"loss {num(f.loss)} ({iv}); {f.extrapolation:.0f}x beyond the fitted runs; {f.law}")
    out.print(t)


def _print_context(c) -> None:
    t = Table(show_header=False, box=None, padding=(0, 1), title="in the public record (Epoch AI, CC BY, 2024-11)")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("frontier trend", c.frontier_text())
    t.add_row("rank", f"at or above {100 * c.share_below:.1f}% of notable models' compute"
              + (f"; the largest at or below it: {c.largest_below} ({c.largest_below_flops:.3g} FLOPs)" if c.largest_below else ""))
    for name, b in c.benchmarks.items():
        t.add_row(name, f"{100 * b['value']:.1f}% (80%: {100 * b['lo80']:.1f}–{100 * b['hi80']:.1f}) on the field's curve "
                  f"at this compute ({b['n_models']} models)")
    out.print(t)


@plan_app.command("goodput", epilog="""\b
Examples:
  scalelab plan goodput --params 405B --num-gpus 1000,4096,16384,50000
  scalelab plan goodput --params 70B --num-gpus 2048 --restart-minutes 30 --checkpoint-minutes 5 --json
""")
def plan_goodput(
    params: Annotated[float, typer.Option("--params", parser=count, help="Parameters (the checkpoint holds 14 bytes each).")] = 7e10,
    num_gpus: Annotated[str, typer.Option("--num-gpus", help="GPU counts, comma-separated.")] = "1000,4096,16384,50000",
    failures_per_gpu_day: Annotated[Optional[float], typer.Option("--failures-per-gpu-day", help="Interruptions per GPU-day [default: Llama 3's, 419 in 54 days on 16,384 H100s].")] = None,
    restart_minutes: Annotated[float, typer.Option("--restart-minutes", help="Wall-clock minutes from a failure to training again (an assumption: give yours).")] = 10.0,
    checkpoint_minutes: Annotated[Optional[float], typer.Option("--checkpoint-minutes", help="Minutes to write a checkpoint [default: 14 bytes/param over --storage-tb-per-s].")] = None,
    storage_tb_per_s: Annotated[Optional[float], typer.Option("--storage-tb-per-s", help="Checkpoint write bandwidth, TB/s [default: Llama 3's, 7 TB/s for 16,384 GPUs, scaled to the GPUs].")] = None,
    as_json: Json = False,
) -> None:
    """Goodput from the GPU count: the job's time between failures, the best checkpoint
    interval (Daly), and the wall-clock time lost to checkpoints, redone work and restarts (Daly's model)."""

    def go():
        from scalelab.cli.common import parse_numbers
        from scalelab.planning.goodput import LLAMA3_FAILURES_PER_GPU_HOUR, goodput_model

        rate = LLAMA3_FAILURES_PER_GPU_HOUR if failures_per_gpu_day is None else failures_per_gpu_day / 24.0
        counts = parse_numbers(num_gpus, "--num-gpus")
        if any(c != int(c) for c in counts):
            raise ScalelabError(f"--num-gpus {num_gpus}: give whole numbers")
        return [goodput_model(int(c), params, failures_per_gpu_hour=rate, checkpoint_minutes=checkpoint_minutes,
                              storage_tb_per_s=storage_tb_per_s, restart_minutes=restart_minutes) for c in counts]

    rows = run(go)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    t = Table("GPUs", "time between failures", "checkpoint", "checkpoint every", "lost: checkpoints", "redone work",
              "restarts", "goodput")
    for r in rows:
        t.add_row(f"{r.num_gpus:,}", duration(3600 * r.mtbf_hours), duration(60 * r.checkpoint_minutes),
                  duration(60 * r.interval_minutes), f"{100 * r.lost_checkpointing:.2f}%", f"{100 * r.lost_recompute:.2f}%",
                  f"{100 * r.lost_restarts:.2f}%", f"{100 * r.goodput:.1f}%")
    out.print(t)
    out.print("Failures: Llama 3's rate unless given (419 unexpected interruptions in 54 days on 16,384 H100s; it "
              "reports > 90% effective training time). Restart minutes are an assumption: give yours.")


@plan_app.command("validate", epilog="""\b
Examples:
  scalelab plan validate
  scalelab plan validate --goodput 0.95 --json
  scalelab plan validate --plot validate.png
""")
def plan_validate(
    goodput: Annotated[Optional[float], typer.Option("--goodput", help="Share of wall-clock time spent training [default: 0.9].")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the speed model against the measured steps and the documented runs' hours.")] = None,
    as_json: Json = False,
) -> None:
    """Check the planner against published figures: documented runs' FLOPs and hours, and
    the speed model against measured step times and documented runs' hours.

    Runs that report their MFU get predicted accelerator-hours; every run with hardware
    and hours gets its effective MFU (MFU x goodput over its wall-clock time) next to the
    planner's default. Rows marked claim are figures quoted in news, kept to be checked.
    The speed model is checked twice: on published step times or throughputs with their
    layouts, and on documented runs' accelerator-hours from their size, tokens,
    accelerator and GPU count alone, beside a flat 40% MFU. --json prints the three tables
    as ``runs``, ``steps`` and ``hours``.
    """

    def go():
        from scalelab.data import rows
        from scalelab.planning import check_runs
        from scalelab.planning.validate import check_documented_hours, check_steps, speed_summary
        from scalelab.report.plots import check_figure_path

        check_figure_path(plot)
        steps, hours = check_steps(rows("step_measurements")), check_documented_hours(rows("documented_hours"))
        if plot is not None:
            from scalelab.report.plots import plot_validate, save

            save(plot_validate(steps, hours), plot)
        return check_runs(rows("known_runs"), goodput), steps, hours, speed_summary(steps, hours)

    checks, steps, hours, sm = run(go)
    if as_json:
        print_json({"runs": [c.to_dict() for c in checks], "steps": [c.to_dict() for c in steps],
                    "hours": [c.to_dict() for c in hours], "summary": sm})
        return
    g = 0.9 if goodput is None else goodput
    for title, kind in (("documented runs (papers and technical reports)", "paper"),
                        ("news claims (unverified; not used in any figure above)", "claim")):
        group = [c for c in checks if (c.kind == "claim") == (kind == "claim")]
        if not group:
            continue
        t = Table("run", "accelerator", "6·N·D", "vs reported", "hours (reported)", "hours (predicted)", "error",
                  "eff. MFU (reported)", "eff. MFU (default)", title=title)
        for c in group:
            t.add_row(c.model, c.hardware or "-",
                      "-" if c.flops_6nd is None else f"{c.flops_6nd:.3g}",
                      "-" if c.flops_error is None else f"{100 * c.flops_error:+.1f}%",
                      "-" if c.hours_reported is None else f"{c.hours_reported:,.0f}",
                      "-" if c.hours_predicted is None else f"{c.hours_predicted:,.0f}",
                      "-" if c.hours_error is None else f"{100 * c.hours_error:+.1f}%",
                      "-" if c.effective_mfu_implied is None else f"{c.effective_mfu_implied:.3f}",
                      "-" if c.effective_mfu_default is None else f"{c.effective_mfu_default:.3f}")
        out.print(t)
    out.print(f"6·N·D: training FLOPs from parameters and tokens, against the FLOPs reported. hours: accelerator-hours, "
              f"as reported and as predicted = reported FLOPs / (peak x reported MFU x goodput {g:g}); error = predicted "
              "/ reported - 1. eff. MFU = FLOPs / (accelerator-hours x peak) = MFU x goodput: what the reported hours "
              "imply, and the planner's default for that accelerator.")
    t = Table("model", "GPUs", "layout", "step measured", "predicted", "error", "MFU meas.", "MFU pred.",
              title="speed model: published step times with their layouts")
    for c in steps:
        t.add_row(f"{c.model} ({c.source})", f"{c.num_gpus:,} {c.hardware}", c.layout, f"{c.step_measured_s:.2f} s",
                  f"{c.step_predicted_s:.2f} s", f"{100 * c.error:+.1f}%", f"{c.mfu_measured:.3f}", f"{c.mfu_predicted:.3f}")
    out.print(t)
    t = Table("run", "GPUs", "hours (reported)", "predicted", "error", "flat 40% MFU", "error", "MFU pred.",
              "goodput pred.", title="speed model: documented runs from size, tokens, GPU and count")
    for c in hours:
        t.add_row(c.model, f"{c.num_gpus:,} {c.hardware}", f"{c.hours_reported:,.0f}", f"{c.hours_predicted:,.0f}",
                  f"{100 * c.error:+.1f}%", f"{c.hours_flat:,.0f}", f"{100 * c.flat_error:+.1f}%",
                  f"{c.mfu_predicted:.3f}", f"{c.goodput_predicted:.3f}")
    out.print(t)
    out.print(f"Step times: median |error| {100 * sm['steps_median']:.1f}%, worst {100 * sm['steps_max']:.1f}% over "
              f"{sm['steps']} measurements. Documented hours: median |error| {100 * sm['hours_median']:.1f}% against "
              f"{100 * sm['flat_median']:.1f}% for a flat 40% MFU over {sm['hours']} runs. Sources and the layouts "
              "assumed where a paper is silent: scalelab/data/README.md.")
    if plot is not None:
        out.print(f"wrote {plot}")

