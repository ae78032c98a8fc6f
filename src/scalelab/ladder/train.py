"""The trainer: one rung of a ladder, on CPU, one GPU, or several through torchrun (DDP or FSDP).

- AdamW (betas 0.9/0.95, weight decay 0.1 on matrices only; fused kernels), gradient
  clipping at 1.0.
- Learning rate: linear warm-up over ~N tokens (Porian et al. 2024: a warm-up of about
  the model's parameter count in tokens), then cosine to 10% of the peak, or WSD (constant,
  then a linear decay over the last 20%).
- bf16 autocast and torch.compile on GPU; SDPA attention everywhere.
- Gradient accumulation: each micro-batch's loss is divided by the number of micro-batches,
  so the gradient is the mean over the global batch, as if it were one batch; across ranks
  gradients are averaged once per step (no gradient sync on the other micro-batches).
- Several ranks (torchrun): DDP when a replica fits the device, else FSDP (PyTorch's
  ``fully_shard``: weights, gradients and optimizer states split across the ranks, one
  shard unit per block); ``parallel='auto'`` decides with ``scalelab plan``'s memory model.
  Every rank draws the same global batch and trains on its share, so the curve does not
  depend on the layout, and a checkpoint written under one layout resumes under another.
- Periodic validation on a fixed set of windows, split across the ranks; losses in nats
  per token and bits per byte.
- Checkpoints hold the full (unsharded) model, the optimizer keyed by parameter name, the
  step and the data sampler's state, written
  to a temporary file then renamed: a run killed at any moment resumes exactly, as if it
  had not stopped (tested).
- Every step goes to ``log.jsonl``; the final result to ``result.json`` (its presence marks
  a finished rung) and, when given, to the run store.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scalelab.errors import InputError, RunHalted
from scalelab.io import atomic_path, atomic_write_text
from scalelab.ladder.data import Shards
from scalelab.ladder.model import GPT
from scalelab.ladder.config import PARALLEL, TrainConfig, wsd_decay_start, wsd_steps


# torch.compile on the CPU (inductor's C++ code) took 14-22 s for pilot models here and made
# a step 1.25-1.33x faster: worth it only for a rung with minutes of training left.
CPU_PROBE_STEPS = 10
CPU_COMPILE_MIN_SECONDS = 300.0


@dataclass
class Ranks:
    """Which process this is among the ranks training one rung, and its device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass
class TrainResult:
    val_loss: float
    val_bpb: float
    train_loss: float
    steps: int
    tokens: int
    params: int
    flops: float
    seconds: float
    tokens_per_s: float
    resumed_from: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def decay_start(total: int, cfg: TrainConfig) -> int:
    """The step where a WSD run of ``total`` steps leaves its constant learning rate."""
    return wsd_decay_start(total, cfg.wsd_decay_frac)


def lr_at(step: int, total: int, warmup: int, cfg: TrainConfig) -> float:
    """The learning rate at ``step`` (0-based) of ``total``."""
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    floor = cfg.lr * cfg.min_lr_frac
    if cfg.schedule == "wsd":
        cooldown = decay_start(total, cfg)
        if step < cooldown:
            return cfg.lr
        frac = (step + 1 - cooldown) / max(1, total - cooldown)  # the last step reaches the floor
        return cfg.lr + (floor - cfg.lr) * frac
    frac = (step - warmup) / max(1, total - warmup)
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * min(frac, 1.0)))


def distributed_ranks() -> Ranks:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world == 1:
        return Ranks(device="cuda" if cuda else "cpu")
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local)
    return Ranks(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local,
                  device=f"cuda:{local}" if cuda else "cpu")


GPU_RESIDENT_TOKENS = 1_000_000_000  # training splits up to this size are copied to the GPU once


class Sampler:
    """Random training windows; its state (the RNG of the window starts) is part of every
    checkpoint. Every rank draws the same global batch and trains on its share, so what a
    step sees does not depend on how many ranks share it. On GPU the tokens sit in GPU
    memory and windows are gathered there."""

    def __init__(self, data: np.ndarray, seq_len: int, seed: int, rank: int = 0, device="cpu", world: int = 1):
        if len(data) <= seq_len + 1:
            raise InputError(f"the training split has {len(data)} tokens, fewer than one window of {seq_len + 1}")
        self.data, self.seq_len, self.device = data, seq_len, device
        self.rank, self.world = rank, world
        self.rng = np.random.default_rng(seed)
        self.on_device = None
        if str(device).startswith("cuda") and len(data) <= GPU_RESIDENT_TOKENS:
            self.on_device = torch.from_numpy(np.asarray(data, dtype=np.int32)).to(device)
            self.offsets = torch.arange(seq_len + 1, device=device)

    def step(self, micro_batch: int, accum: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's ``accum`` micro-batches of one optimizer step."""
        share = micro_batch * accum
        starts = self._starts(share * self.world)[self.rank * share:(self.rank + 1) * share]
        return [self._windows(starts[i * micro_batch:(i + 1) * micro_batch]) for i in range(accum)]

    def batch(self, n: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` windows (inputs, targets)."""
        return self._windows(self._starts(n), device)

    def _starts(self, n: int) -> np.ndarray:
        return self.rng.integers(0, len(self.data) - self.seq_len - 1, size=n)

    def _windows(self, starts: np.ndarray, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.on_device is not None:
            idx = torch.from_numpy(starts).to(self.device, non_blocking=True)[:, None] + self.offsets[None, :]
            chunk = self.on_device[idx].long()
            return chunk[:, :-1], chunk[:, 1:]
        idx = starts[:, None] + np.arange(self.seq_len + 1)[None, :]
        chunk = torch.from_numpy(self.data[idx].astype(np.int64))
        x, y = chunk[:, :-1], chunk[:, 1:]
        if str(device or self.device).startswith("cuda"):
            dev = device or self.device
            return x.pin_memory().to(dev, non_blocking=True), y.pin_memory().to(dev, non_blocking=True)
        return x, y

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state


@torch.no_grad()
def evaluate(model, val: np.ndarray, seq_len: int, eval_tokens: int, micro_batch: int, device, autocast,
             ranks: Ranks | None = None) -> float:
    """Mean loss (nats/token) over fixed windows spread evenly across the validation split.

    With several ranks each takes a share of the windows; every rank runs the same number
    of forward passes (a sharded model gathers its weights in each), padding with windows
    that weigh nothing."""
    ranks = ranks or Ranks()
    n_windows = max(1, min(eval_tokens // seq_len, (len(val) - 1) // seq_len))
    starts = np.linspace(0, len(val) - seq_len - 1, n_windows).astype(np.int64)
    parts = np.array_split(starts, ranks.world)
    mine, longest = parts[ranks.rank], len(parts[0])
    weights = torch.zeros(longest, dtype=torch.float64, device=device)
    weights[:len(mine)] = 1.0
    mine = np.concatenate([mine, starts[:longest - len(mine)]])
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=device)  # summed window losses, windows
    for i in range(0, longest, micro_batch):
        idx = mine[i:i + micro_batch, None] + np.arange(seq_len + 1)[None, :]
        chunk = torch.from_numpy(val[idx].astype(np.int64)).to(device)
        with autocast():
            logits, _ = model(chunk[:, :-1])
        per_window = F.cross_entropy(logits.float().transpose(1, 2), chunk[:, 1:], reduction="none").mean(dim=1)
        w = weights[i:i + micro_batch]
        total[0] += (per_window.double() * w).sum()
        total[1] += w.sum()
    model.train()
    if ranks.world > 1:
        import torch.distributed as dist

        dist.all_reduce(total)
    return (total[0] / total[1]).item()




def choose_parallel(cfg: TrainConfig, ranks: Ranks, micro_batch: int, parallel: str = "auto") -> str:
    """'none' for one rank; otherwise DDP when a whole replica fits the device, else FSDP."""
    if parallel not in PARALLEL:
        raise InputError(f"--parallel {parallel!r}: choose one of {', '.join(PARALLEL)}")
    if ranks.world == 1:
        return "none"
    if parallel != "auto":
        return parallel
    if not ranks.device.startswith("cuda"):
        return "ddp"
    from scalelab.planning.memory import Parallelism, memory_per_device

    gib = torch.cuda.get_device_properties(ranks.local_rank).total_memory / 2**30
    mem = memory_per_device(cfg.model.to_plan(), Parallelism(dp=ranks.world), micro_batch=micro_batch,
                            seq_len=cfg.model.seq_len, device_gb=gib)
    return "ddp" if mem.fits else "fsdp"


def train(cfg: TrainConfig, shards: Shards, out_dir: str | Path, *, store=None, run_id: str | None = None,
          on_step: Callable[[dict], None] | None = None, ranks: Ranks | None = None,
          stop_after_steps: int | None = None, parallel: str = "auto", save_branches: Sequence[int] = (),
          start_from: str | Path | None = None, stop_on: Sequence[str] = ()) -> TrainResult | None:
    """Train one rung (resuming from ``out_dir/checkpoint.pt`` if present).

    ``stop_on``: alert kinds of the watch (``nonfinite``, ``divergence``, ...) on which the
    run stops itself: the steps are observed by a :class:`scalelab.watch.Watcher` on rank 0
    and, on such an alert, every rank raises :class:`~scalelab.errors.RunHalted` without
    writing a checkpoint (the last one, from before, is kept).

    ``parallel``: with several ranks, 'ddp', 'fsdp', or 'auto' (FSDP only when a replica
    does not fit the device).

    WSD branches (Hägele et al. 2024): ``save_branches`` lists the token counts of shorter
    runs of this same configuration; this run saves ``branch-<tokens>.pt`` where each one's
    cooldown starts. ``start_from`` starts a run from such a file (when it has no checkpoint
    of its own): the stable phase it shares is not trained again, and the result is that of
    the whole run trained alone (tested).

    Returns the result, or None when ``stop_after_steps`` stopped it early (for tests of
    resumption) or on ranks other than 0.
    """
    out = Path(out_dir)
    ranks = ranks or distributed_ranks()
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
    if cfg.model.vocab_size < shards.vocab_size:
        raise InputError(f"model vocab_size {cfg.model.vocab_size} < the tokenizer's {shards.vocab_size}")
    cuda = ranks.device.startswith("cuda")
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if (use_bf16 and cuda) else nullcontext
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model).to(ranks.device)
    n_params = sum(p.numel() for p in model.parameters())
    seq = cfg.model.seq_len
    micro_batch = cfg.micro_batch
    while micro_batch > 1 and micro_batch * seq * ranks.world > cfg.batch_tokens:
        micro_batch //= 2  # keep the global batch when more ranks share it
    per_micro = micro_batch * seq * ranks.world
    accum = max(1, round(cfg.batch_tokens / per_micro))
    batch_tokens = accum * per_micro
    total_steps, warmup, cooldown = wsd_steps(cfg.tokens, batch_tokens, n_params, cfg.warmup_tokens, cfg.wsd_decay_frac)
    if cfg.schedule == "cosine":
        warmup = min(warmup, max(1, total_steps // 2))
    elif warmup > cooldown:  # WSD keeps its warm-up whatever its length: branches must match
        raise InputError(f"the warm-up ({warmup} steps) runs past the start of the cooldown (step "
                         f"{cooldown} of {total_steps}): train on more tokens or set warmup_tokens")
    eval_every = cfg.eval_every or max(1, total_steps // 10)
    ckpt_every = cfg.checkpoint_every or max(1, total_steps // 10)
    mode = choose_parallel(cfg, ranks, micro_batch, parallel)
    if (save_branches or start_from) and cfg.schedule != "wsd":
        raise InputError("only WSD runs branch: their learning rate is constant until the cooldown")
    branch_at = {decay_start(max(1, math.ceil(t / batch_tokens)), cfg): int(t) for t in save_branches}
    compile_ = cfg.compile == "yes" or (cfg.compile == "auto" and cuda)
    if mode == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:
            if compile_:
                block.compile()  # per block, before sharding (as torchtitan does)
            fully_shard(block)
        fully_shard(model)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, cfg.beta2), eps=1e-8,
                            fused=mode != "fsdp" or None)  # fused on the CPU too: 0.25x the for-loop's time
    sampler = Sampler(shards.train(), seq, cfg.seed, ranks.rank, ranks.device, ranks.world)
    start_step, resumed_from = 0, 0
    branched = None  # the step a WSD branch starts from its trunk's state: its log's first own record says so
    ckpt = out / "checkpoint.pt"
    if ckpt.is_file():
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        state = torch.load(ckpt, map_location="cpu" if mode == "fsdp" else ranks.device, weights_only=False)
        if state.get("config") != cfg.to_dict():
            raise InputError(f"{ckpt} was written for other settings; delete it to start the rung again")
        # every rank reads the whole state; a sharded model keeps its own slice of it
        set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
                       options=StateDictOptions(full_state_dict=True))
        sampler.restore(state["sampler"])
        start_step = resumed_from = state["step"]
        del state
    elif start_from is not None:
        start_step = resumed_from = _start_branch(Path(start_from), model, opt, sampler, cfg, mode, ranks, out,
                                                  decay_start(total_steps, cfg))
        branched = start_step
    train_model = model
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[ranks.local_rank] if cuda else None)
    compiled = torch.compile(train_model) if compile_ and mode != "fsdp" else train_model

    if ranks.main:
        _trim_log(out / "log.jsonl", start_step)
    log = (out / "log.jsonl").open("a") if ranks.main else None
    val = shards.val()
    t0 = time.time()
    clock = {"t": t0, "tokens": start_step * batch_tokens, "paused": 0.0,  # paused: validation, checkpoints
             "paused_then": 0.0}
    last = {"loss": float("nan")}
    halt: dict = {"alert": None}
    watcher = None
    if stop_on and ranks.main:
        from scalelab.watch import Watcher

        watcher = Watcher(name=run_id or out.name)
    mark = {"branched": branched}
    pending: list = []  # (step, loss, grad norm, lr, time, pause so far, val loss): read after the next step is launched

    def flush(final: bool = False):
        """Write pending step records; reading a loss waits for its step, so it is done one step late."""
        keep = 0 if final else 1
        while len(pending) > keep:
            done_, loss_t, gn_t, lr_, now, paused, v = pending.pop(0)
            tokens_seen = done_ * batch_tokens
            busy = max(now - clock["t"] - (paused - clock["paused_then"]), 1e-9)  # validation and checkpoints do not count
            rec = {"step": done_, "tokens": tokens_seen, "loss": loss_t.item(), "lr": lr_, "grad_norm": gn_t.item(),
                   "tokens_per_s": (tokens_seen - clock["tokens"]) / busy, "wall_time": now}
            # the last record's time, tokens and pauses so far; the running total of pauses goes on
            clock["t"], clock["tokens"], clock["paused_then"] = now, tokens_seen, paused
            last["loss"] = rec["loss"]
            if v is not None:
                rec["val_loss"], rec["val_bpb"] = v, shards.bits_per_byte(v)
            if mark["branched"] is not None:  # the steps before it were the trunk's, trained earlier: a
                rec["branched_from"] = mark["branched"]  # watch takes the time between for no stall
                mark["branched"] = None
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if watcher is not None:
                for a in watcher.observe(done_, loss=rec["loss"], tokens=tokens_seen, grad_norm=rec["grad_norm"],
                                         tokens_per_s=rec["tokens_per_s"], wall_time=now):
                    if a.kind in stop_on and halt["alert"] is None:
                        halt["alert"] = a
            if on_step:
                on_step(dict(rec, total_steps=total_steps))

    # On one CPU rank, 'auto' compiles once a few timed steps show that the rest of the rung
    # would take long enough to repay the compilation (see CPU_COMPILE_MIN_SECONDS).
    probe = cfg.compile == "auto" and not cuda and mode == "none"
    probe_start, compiled_at = None, (start_step if compiled is not train_model else None)
    step, final = start_step, None
    for step in range(start_step, total_steps):
        if probe and step == start_step + 2:  # the first steps warm the allocator up
            probe_start = time.perf_counter() - clock["paused"]
        elif probe and step == start_step + 2 + CPU_PROBE_STEPS:
            probe = False
            per_step = (time.perf_counter() - clock["paused"] - probe_start) / CPU_PROBE_STEPS
            if per_step * (total_steps - step) > CPU_COMPILE_MIN_SECONDS:
                compiled, compiled_at = torch.compile(train_model), step
        lr = lr_at(step, total_steps, warmup, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        loss_sum = torch.zeros((), device=ranks.device)
        for micro, (x, y) in enumerate(sampler.step(micro_batch, accum)):
            sync = micro == accum - 1 or ranks.world == 1
            if mode == "fsdp":
                model.set_requires_gradient_sync(sync)
            with (nullcontext() if sync or mode != "ddp" else train_model.no_sync()), autocast():
                _, loss = compiled(x, y)
                (loss / accum).backward()
            loss_sum += loss.detach()
        if ranks.world > 1:  # log the loss of the whole batch, not of rank 0's share
            import torch.distributed as dist

            dist.all_reduce(loss_sum)
            loss_sum /= ranks.world
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if hasattr(grad_norm, "full_tensor"):  # FSDP: a replicated DTensor
            grad_norm = grad_norm.full_tensor()
        opt.step()
        opt.zero_grad(set_to_none=True)
        done = step + 1
        # stamped when recorded: on GPU the next step cannot be launched far ahead of this one finishing
        now = time.time()
        v = None
        if done % eval_every == 0 or done == total_steps:  # every rank: each validates a share
            # the last evaluation is the result's (on the larger final sample): the log ends where the result does
            v = evaluate(model, val, seq, cfg.final_eval_tokens if done == total_steps else cfg.eval_tokens,
                         cfg.micro_batch, ranks.device, autocast, ranks)
            if done == total_steps:
                final = v
        if ranks.main:
            pending.append((done, loss_sum / accum, grad_norm.detach(), lr, now, clock["paused"], v))
            flush()
        if stop_on and _halted(halt, ranks):
            if ranks.main:
                flush(final=True)
                log.close()
            a = halt["alert"]
            raise RunHalted(f"{out.name} stopped itself at step {a.step if a else done}: "
                            f"{a.message if a else 'rank 0 saw an alert it was told to stop on'}; "
                            "no checkpoint was written after it")
        saving = done % ckpt_every == 0 or done == total_steps
        stopping = stop_after_steps is not None and done - start_step >= stop_after_steps and done < total_steps
        if saving or stopping:  # a deliberate stop saves where it is
            if ranks.main:
                flush(final=True)
            _checkpoint(ckpt, model, opt, sampler, done, cfg, ranks, sharded=mode == "fsdp")
        if done in branch_at:  # a shorter run of this configuration cools down from here
            _checkpoint(out / f"branch-{branch_at[done]}.pt", model, opt, sampler, done, cfg, ranks,
                        sharded=mode == "fsdp")
        clock["paused"] += time.time() - now  # counted against the next step's interval
        if stopping:
            if log:
                log.close()
            _join(ranks)
            return None
    if log:
        flush(final=True)
        log.close()
    result = None
    v = final if final is not None else evaluate(model, val, seq, cfg.final_eval_tokens, cfg.micro_batch, ranks.device,
                                                 autocast, ranks)
    if ranks.main:
        seconds = time.time() - t0
        tokens = total_steps * batch_tokens
        result = TrainResult(val_loss=v, val_bpb=shards.bits_per_byte(v), train_loss=last["loss"], steps=total_steps,
                             tokens=tokens, params=n_params, flops=cfg.model.flops_per_token() * tokens, seconds=seconds,
                             tokens_per_s=(tokens - resumed_from * batch_tokens) / max(seconds, 1e-9),
                             resumed_from=resumed_from,
                             extra={"batch_tokens": batch_tokens, "accum": accum, "world": ranks.world, "parallel": mode,
                                    "compiled_at_step": compiled_at,
                                    "warmup_steps": warmup, "device": ranks.device, "precision": "bf16" if use_bf16 else "fp32"})
        try:
            atomic_write_text(out / "result.json",
                              json.dumps({"config": cfg.to_dict(), "result": result.to_dict(), "shards": shards.to_dict()}, indent=1))
        except OSError as exc:
            raise InputError(f"cannot write {out / 'result.json'} ({exc}); free space and run again") from None
        if store is not None:
            _record(store, run_id or out.name, out, cfg, result)
    _join(ranks)
    return result


def _halted(halt: dict, ranks: Ranks) -> bool:
    """Whether rank 0 has seen an alert to stop on (agreed by every rank when there are several)."""
    flag = halt["alert"] is not None
    if ranks.world > 1:
        import torch.distributed as dist

        t = torch.tensor([float(flag)], device=ranks.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        flag = bool(t.item())
    return flag


def _trim_log(path: Path, step: int) -> None:
    """Drop the records an interrupted run wrote after its last checkpoint (they are trained again)."""
    if not path.is_file():
        return
    keep = []
    with path.open() as fh:
        for line in fh:
            try:
                if json.loads(line)["step"] <= step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):
                break  # a line cut by the interruption
    atomic_write_text(path, "".join(keep))


def _start_branch(path: Path, model, opt, sampler: Sampler, cfg: TrainConfig, mode: str, ranks: Ranks, out: Path,
                  step: int) -> int:
    """Load a trunk's branch checkpoint into a run that cools down from it; returns its step."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    if not path.is_file():
        raise InputError(f"{path} is missing: the trunk this rung branches from has not reached it; train the trunk "
                         "(or delete its folder to train it again)")
    state = torch.load(path, map_location="cpu" if mode == "fsdp" else ranks.device, weights_only=False)
    trunk = TrainConfig.from_dict(state["config"])
    if replace(trunk, tokens=cfg.tokens).to_dict() != cfg.to_dict():
        raise InputError(f"{path} was trained with other settings than this rung's (besides its length); "
                         "design the ladder again")
    if state["step"] != step:
        raise InputError(f"{path} is at step {state['step']}, but this rung's cooldown starts at step {step} "
                         "(the trunk ran with another batch or number of ranks); train the trunk again")
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
                   options=StateDictOptions(full_state_dict=True))
    sampler.restore(state["sampler"])
    if ranks.main:  # the shared steps, so that the rung's log is its whole curve
        log = out / "log.jsonl"
        shared = [ln for ln in (path.parent / "log.jsonl").read_text().splitlines(keepends=True)
                  if json.loads(ln)["step"] <= step] if (path.parent / "log.jsonl").is_file() else []
        if not log.is_file() or not log.read_text().strip():
            atomic_write_text(log, "".join(shared))
    return step


def _join(ranks: Ranks) -> None:
    """Ranks leave together: one that exits while rank 0 still evaluates or saves takes the group down."""
    if ranks.world > 1:
        import torch.distributed as dist

        dist.barrier()


def _checkpoint(path: Path, model, opt, sampler: Sampler, step: int, cfg: TrainConfig, ranks: Ranks, *,
                sharded: bool = False) -> None:
    """The whole state, unsharded, written by rank 0 (under FSDP every rank takes part in gathering it)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    if not (sharded or ranks.main):
        return
    model_state, opt_state = get_state_dict(model, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=sharded))
    if not ranks.main:
        return  # the ranks share one model, optimizer state and sampler state
    try:
        with atomic_path(path) as tmp:
            torch.save({"model": model_state, "optimizer": opt_state, "sampler": sampler.state(),
                        "step": step, "config": cfg.to_dict()}, tmp)
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as RuntimeError
        raise InputError(f"cannot write the checkpoint {path} at step {step} ({exc}); free space in {path.parent} "
                         "and run again: the rung resumes from its last good checkpoint") from None


def _record(store, run_id: str, out: Path, cfg: TrainConfig, result: TrainResult) -> None:
    """The rung's curve and result into the run store (loss, val_loss, val_bpb per step)."""
    rows = []
    with (out / "log.jsonl").open() as fh:
        for line in fh:
            r = json.loads(line)
            for name in ("loss", "val_loss", "val_bpb", "lr", "grad_norm", "tokens_per_s"):
                if name in r:
                    rows.append((r["step"], r["tokens"], name, r[name], r["wall_time"]))
    store.add_run(run_id, run_id=run_id, source=str(out), format="scalelab-ladder",
                  config={"train": cfg.to_dict(), "params": result.params, "tokens": result.tokens},
                  provenance={"result": result.to_dict()})
    store.log(run_id, rows)


def with_updates(cfg: TrainConfig, **changes) -> TrainConfig:
    return replace(cfg, **changes)
