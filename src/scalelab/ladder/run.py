"""Running a ladder: prepare the tokens, train every rung (skipping finished ones, resuming
interrupted ones), record each in the run store, and fit the results.

Executors:

- ``local``: rungs one after another in this process (CPU or one GPU);
- ``gpus``: one worker process per GPU (``CUDA_VISIBLE_DEVICES``), several rungs at once;
- ``torchrun``: each rung on all local GPUs (``torchrun --nproc_per_node K``), DDP when a
  replica fits one GPU, else FSDP (``parallel``); on CPU, K processes with the gloo backend;
- ``slurm``: one job per rung through ``submitit`` (``pip install submitit``).

A rung lives in ``<plan folder>/<plan name>.runs/<rung>/``: ``log.jsonl``, ``checkpoint.pt``
and, once finished, ``result.json``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from scalelab.errors import InputError
from scalelab.ladder import require_torch
from scalelab.ladder.config import PARALLEL, TrainConfig
from scalelab.ladder.data import Shards, prepare
from scalelab.ladder.design import LadderPlan, Rung

EXECUTORS = ("local", "gpus", "torchrun", "slurm")
STOP_KINDS = ("nonfinite", "divergence", "spike", "grad_norm_spike", "throughput_drop")  # what --stop-on accepts


def runs_folder(plan_path: str | Path) -> Path:
    p = Path(plan_path)
    return p.with_name(p.stem + ".runs")


def train_config(plan: LadderPlan, rung: Rung) -> TrainConfig:
    try:
        return TrainConfig(model=rung.model, tokens=rung.tokens, lr=rung.lr, batch_tokens=rung.batch_tokens,
                           micro_batch=rung.micro_batch, schedule=plan.schedule, seed=plan.seed)
    except InputError as exc:  # a plan edited by hand: say which rung
        raise InputError(f"rung {rung.name}: {exc}") from None


def branching(plan_path, plan: LadderPlan, rung: Rung) -> dict:
    """How a rung shares a WSD trunk: the branch points it saves (a trunk) or the file it
    starts from (a branch); the keyword arguments of ``train``."""
    kw = {}
    folder = runs_folder(plan_path)
    # the branches still to train (a finished one would never remove its file)
    shorter = [r.tokens for r in plan.rungs if r.trunk == rung.name and not (folder / r.name / "result.json").is_file()]
    if shorter:
        kw["save_branches"] = shorter
    if rung.trunk is not None:
        start = folder / rung.trunk / f"branch-{rung.tokens}.pt"
        if start.is_file() or not (folder / rung.trunk / "result.json").is_file():
            kw["start_from"] = start
        # else the branch trained before and its folder was removed since (its file goes once
        # it finishes): trained from the start, it is the same run, the shared steps included
    return kw


def in_training_order(plan: LadderPlan, rungs: list[Rung]) -> list[Rung]:
    """Trunks before the rungs that branch from them (a trunk not asked for is added), and
    the target last: the rungs' forecast of it can be fitted, and its run watched against
    that forecast, while it trains."""
    wanted = {r.name: r for r in rungs}
    for r in rungs:
        if r.trunk is not None and r.trunk not in wanted:
            wanted[r.trunk] = plan.rung(r.trunk)
    return sorted(wanted.values(), key=lambda r: (r.role == "target", r.trunk is not None,
                                                  plan.rungs.index(r) if r in plan.rungs else -1))


def _branch_done(plan_path, rung: Rung) -> None:
    """A finished branch no longer needs its trunk's branch file (a checkpoint's size)."""
    if rung.trunk is not None:
        (runs_folder(plan_path) / rung.trunk / f"branch-{rung.tokens}.pt").unlink(missing_ok=True)


def resolve(plan_path: str | Path, path: str) -> Path:
    """Paths in a plan are relative to the plan's folder."""
    p = Path(path)
    return p if p.is_absolute() else Path(plan_path).resolve().parent / p


def prepare_shards(plan_path, plan: LadderPlan, progress=None) -> Shards:
    return prepare(resolve(plan_path, plan.corpus), resolve(plan_path, plan.shards), tokenizer=plan.tokenizer,
                   vocab_size=plan.vocab_size, seed=plan.seed, text_col=plan.text_col, progress=progress)


def rung_status(plan_path, plan: LadderPlan, rung: Rung) -> str:
    d = runs_folder(plan_path) / rung.name
    if (d / "result.json").is_file():
        return "done"
    if (d / "checkpoint.pt").is_file():
        return "interrupted"
    return "todo"


def stale_reason(plan_path, plan: LadderPlan, rung: Rung, shards: Shards | None = None) -> str | None:
    """Why a finished rung's result no longer belongs to its plan (settings edited after it
    was trained: seed, learning rate, tokens, shape; or other tokens in ``shards``), or None.
    Settings the result does not record (written by an older version) are not compared."""
    d = runs_folder(plan_path) / rung.name / "result.json"
    try:
        saved = json.loads(d.read_text())
    except (OSError, ValueError):
        return None
    old, new = saved.get("config", {}), train_config(plan, rung).to_dict()
    diffs = [f"{k} {old[k]!r}, the plan says {new[k]!r}" for k in new
             if k in old and k != "model" and old[k] != new[k]]
    if "model" in old and old["model"] != new["model"]:
        diffs.insert(0, f"shape {_shape(old['model'])}, the plan says {_shape(new['model'])}")
    if shards is not None and "shards" in saved:
        was, now = saved["shards"], shards.to_dict()
        if any(was.get(k) != now[k] for k in ("tokenizer", "vocab_size", "train_tokens", "val_tokens",
                                               "corpus_sha256") if k in was):
            diffs.append("other tokens (the corpus, its split or the tokenizer changed)")
    return "; ".join(diffs) or None


def _shape(model: dict) -> str:
    return f"{model.get('n_layers')} x {model.get('d_model')}"


def check_stale(plan_path, plan: LadderPlan, rungs: list[Rung], shards: Shards | None = None) -> None:
    """Refuse (exit 2) when a finished rung was trained under other settings than its plan's:
    counting it as done would fit results the plan no longer describes."""
    stale = [(r, why) for r in rungs if (why := stale_reason(plan_path, plan, r, shards))]
    if stale:
        r, why = stale[0]
        more = f" (and {len(stale) - 1} more rungs)" if len(stale) > 1 else ""
        raise InputError(f"rung {r.name} was trained with other settings than the plan's: {why}{more}; to train "
                         f"again, move {runs_folder(plan_path)} (or the rung's folder) away; to keep the results, "
                         "give the plan back the settings they were trained with")


def check_replace(plan_path, plan: LadderPlan) -> None:
    """Refuse (exit 2) to write ``plan`` over the plan at ``plan_path`` when that would orphan
    a rung already trained there: one the new plan leaves out, or trains with other settings.
    A new design that keeps every finished rung as it was (more multiples, say) may replace it."""
    folder = runs_folder(plan_path)
    if not Path(plan_path).is_file() or not folder.is_dir():
        return
    by_name = {r.name: r for r in plan.all_rungs}
    finished = sorted(d.name for d in folder.iterdir() if (d / "result.json").is_file())
    for name in finished:
        rung = by_name.get(name)
        why = "the new design has no rung of that name" if rung is None else stale_reason(plan_path, plan, rung)
        if why:
            more = f" ({len(finished)} rungs are trained there)" if len(finished) > 1 else ""
            raise InputError(f"{plan_path} has trained rungs in {folder}{more}, and this design would orphan "
                             f"rung {name} ({why}); write the new design elsewhere (--out another.toml), "
                             f"or move {folder} away first")


MAX_EPOCHS = 4.0  # Muennighoff et al. 2023: up to ~4 epochs of repeated data cost little


@contextlib.contextmanager
def plan_lock(plan_path: str | Path):
    """Held while a plan's rungs train: a second ``ladder run`` of the same plan (a command
    run twice, a job submitted again) is refused at once instead of training the same rungs
    into the same files. An advisory lock on the plan file itself (nothing is written; the
    system drops it when the process ends, however it ends); where the platform has no
    ``fcntl`` (Windows), none is taken."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(plan_path, "rb") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{plan_path} is being trained by another scalelab ladder run; wait for it to finish "
                             "or stop it (its rungs resume where they were)") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _locked(run):
    """``run(plan_path, ...)`` holding :func:`plan_lock` on its plan (a plan that does not
    exist is left to ``run`` to refuse)."""
    @functools.wraps(run)
    def locked(plan_path, *args, **kwargs):
        with plan_lock(plan_path) if Path(plan_path).is_file() else contextlib.nullcontext():
            return run(plan_path, *args, **kwargs)

    return locked


@_locked
def run_ladder(plan_path: str | Path, *, executor: str = "local", nproc: int | None = None, store=None,
               include_target: bool = False, only: list[str] | None = None,
               on_step: Callable[[str, dict], None] | None = None,
               on_rung: Callable[[str, str, dict | None], None] | None = None,
               on_prepare: Callable[[str | None, float], None] | None = None,
               slurm: dict | None = None, max_epochs: float = MAX_EPOCHS, force: bool = False,
               parallel: str = "auto", stop_on: tuple[str, ...] = ()) -> dict[str, dict]:
    """Train the plan's rungs (and the target with ``include_target``); returns results by rung.

    ``store`` is a :class:`~scalelab.runs.store.RunStore`, or a path to open one at once the
    checks have passed (each finished rung is recorded there). A rung that would pass over the training split more than ``max_epochs`` times is refused
    (repeated data bends the law) unless ``force``. ``stop_on``: watch alert kinds on which a
    rung stops itself (:func:`scalelab.ladder.train.train`). ``on_prepare(what, share)`` follows
    the preparation of the tokens (reading the corpus, training a BPE, encoding), then is
    called once with ``(None, 1.0)`` when the tokens are ready."""
    if executor not in EXECUTORS:
        raise InputError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if parallel not in PARALLEL:
        raise InputError(f"--parallel {parallel!r}: choose one of {', '.join(PARALLEL)}")
    if nproc is not None and nproc < 1:
        raise InputError(f"--nproc {nproc}: give the processes per rung, 1 or more")
    unknown = [k for k in stop_on if k not in STOP_KINDS]
    if unknown:
        raise InputError(f"--stop-on {unknown[0]!r}: choose from {', '.join(STOP_KINDS)}")
    plan = LadderPlan.from_toml(plan_path)
    torch = require_torch("scalelab ladder run")
    if executor == "gpus" and not torch.cuda.is_available():
        raise InputError("--executor gpus: no CUDA GPU is visible here (check CUDA_VISIBLE_DEVICES and the driver); "
                         "use --executor local to train on the CPU")
    if executor == "slurm":
        _check_slurm()
    rungs = list(plan.rungs) + ([plan.target] if include_target and plan.target else [])
    if only:
        known = {r.name for r in rungs}
        missing = [n for n in only if n not in known]
        if missing:
            raise InputError(f"--rung {missing[0]!r} is not in the plan; rungs: {', '.join(sorted(known))}")
        rungs = [r for r in rungs if r.name in only]
    shards = prepare_shards(plan_path, plan, progress=on_prepare)
    if on_prepare:
        on_prepare(None, 1.0)
    folder = runs_folder(plan_path)
    folder.mkdir(parents=True, exist_ok=True)
    check_stale(plan_path, plan, rungs, shards)
    results: dict[str, dict] = {}
    todo = []
    for r in rungs:
        status = rung_status(plan_path, plan, r)
        if status == "done":
            results[r.name] = load_result(folder / r.name)
            if on_rung:
                on_rung(r.name, "done", results[r.name])
        else:
            todo.append(r)
    todo = [r for r in in_training_order(plan, todo) if rung_status(plan_path, plan, r) != "done"]
    over = [(r.name, r.tokens / shards.train_tokens) for r in todo if r.tokens > max_epochs * shards.train_tokens]
    if over and not force:
        name, epochs = max(over, key=lambda x: x[1])
        raise InputError(f"rung {name} would read the corpus's {shards.train_tokens:,} training tokens {epochs:.1f} times "
                         f"({len(over)} rung(s) over the limit of {max_epochs:g} epochs); use a bigger corpus, smaller "
                         "--sizes/--multiples, or --force")
    from contextlib import nullcontext

    from scalelab.runs.store import RunStore

    # the store opens only now, once every check has passed: a refused ladder writes nothing
    with RunStore(store) if isinstance(store, (str, os.PathLike)) else nullcontext(store) as store:
        if executor == "local":
            from scalelab.ladder.train import train

            for r in todo:
                if on_rung:
                    on_rung(r.name, "running", None)
                train(train_config(plan, r), shards, folder / r.name, store=store, run_id=_run_id(plan_path, r),
                      on_step=(lambda rec, name=r.name: on_step(name, with_eta(rec))) if on_step else None,
                      stop_on=stop_on, **branching(plan_path, plan, r))  # its return value is let go at once
                _branch_done(plan_path, r)
                results[r.name] = load_result(folder / r.name)
                if on_rung:
                    on_rung(r.name, "done", results[r.name])
        elif executor == "slurm":
            results.update(_slurm(plan_path, plan, todo, slurm or {}, on_rung, stop_on))
        else:
            results.update(_subprocesses(plan_path, plan, todo, executor, nproc, on_rung, on_step, parallel, stop_on))
        if store is not None and executor != "local":
            for r in todo:
                _record_finished(store, plan_path, plan, r)
    return results


def with_eta(rec: dict) -> dict:
    """A step record with ``eta_s``, the seconds the rung has left at its recent speed."""
    step, total = rec.get("step") or 0, rec.get("total_steps") or 0
    if not (step and total and rec.get("tokens_per_s")):
        return dict(rec, eta_s=None)
    return dict(rec, eta_s=(total - step) * rec["tokens"] / step / rec["tokens_per_s"])


def load_result(rung_dir: Path) -> dict:
    from scalelab.ladder.config import GPTConfig

    d = json.loads((rung_dir / "result.json").read_text())
    return d["result"] | {"params_non_embedding": GPTConfig(**d["config"]["model"]).num_params()["non_embedding"]}


def _run_id(plan_path, rung: Rung) -> str:
    return f"{Path(plan_path).stem}/{rung.name}"


def _record_finished(store, plan_path, plan, rung):
    from scalelab.ladder.train import TrainResult, _record

    d = runs_folder(plan_path) / rung.name
    if (d / "result.json").is_file():
        res = json.loads((d / "result.json").read_text())["result"]
        _record(store, _run_id(plan_path, rung), d, train_config(plan, rung), TrainResult(**res))


def worker_command(plan_path, rung: Rung, executor: str, nproc: int | None, parallel: str = "auto",
                   stop_on: tuple[str, ...] = ()) -> list[str]:
    base = ["-m", "scalelab.ladder.worker", str(plan_path), rung.name, *(["--parallel", parallel] if parallel != "auto" else []),
            *(["--stop-on", ",".join(stop_on)] if stop_on else [])]
    if executor == "torchrun":
        import torch

        k = nproc or (torch.cuda.device_count() or 2)
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={k}", *base]
    return [sys.executable, *base]


def last_record(log_path: Path) -> dict | None:
    """The last whole line of a rung's log.jsonl (read from the end: the log may be long)."""
    try:
        with log_path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            lines = fh.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(lines[1:] if len(lines) > 1 else lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def _subprocesses(plan_path, plan, todo, executor, nproc, on_rung, on_step=None, parallel="auto", stop_on=()) -> dict:
    """gpus: up to one rung per GPU at a time; torchrun: one rung at a time on all devices.
    Progress comes from the end of each running rung's log."""
    import torch

    results = {}
    folder = runs_folder(plan_path)
    slots = (torch.cuda.device_count() or 1) if executor == "gpus" else 1
    queue = list(todo)
    running: dict[int, tuple] = {}

    def ready(r: Rung) -> bool:  # a branch waits for its trunk
        return r.trunk is None or rung_status(plan_path, plan, plan.rung(r.trunk)) == "done"

    while queue or running:
        if queue and not running and not any(ready(r) for r in queue):
            raise InputError(f"rung {queue[0].name} branches from {queue[0].trunk}, which has not finished")
        while len(running) < slots and any(ready(r) for r in queue):
            r = next(r for r in queue if ready(r))
            queue.remove(r)
            slot = next(i for i in range(slots) if i not in running)
            env = dict(os.environ)
            if executor == "gpus" and torch.cuda.device_count():
                env["CUDA_VISIBLE_DEVICES"] = str(slot)
            (folder / r.name).mkdir(parents=True, exist_ok=True)
            log = (folder / r.name / "worker.log").open("ab")
            proc = subprocess.Popen(worker_command(plan_path, r, executor, nproc, parallel, stop_on), env=env, stdout=log, stderr=log)
            running[slot] = (r, proc, log)
            if on_rung:
                on_rung(r.name, "running", None)
        for slot, (r, proc, log) in list(running.items()):
            if proc.poll() is None:
                rec = last_record(folder / r.name / "log.jsonl") if on_step else None
                if rec and rec.get("step"):
                    per_step = rec["tokens"] / rec["step"]
                    on_step(r.name, with_eta(dict(rec, total_steps=max(rec["step"], -(-r.tokens // int(per_step))))))
                continue
            log.close()
            del running[slot]
            if proc.returncode != 0:
                if not (folder / r.name / "result.json").is_file():
                    raise InputError(f"rung {r.name} failed (exit {proc.returncode}); see {folder / r.name / 'worker.log'}")
                # the result is written only once every rank has trained and validated to the end:
                # a crash after it (a process group's threads torn down at exit) lost nothing
                import warnings

                from scalelab.errors import ScalelabWarning

                warnings.warn(f"rung {r.name}: its worker exited with code {proc.returncode} after the rung had finished "
                              f"(its result was written); see {folder / r.name / 'worker.log'}", ScalelabWarning,
                              stacklevel=2)
            _branch_done(plan_path, r)
            results[r.name] = load_result(folder / r.name)
            if on_rung:
                on_rung(r.name, "done", results[r.name])
        if running or queue:
            import time

            time.sleep(0.5)
    return results


def _check_slurm() -> None:
    """Refuse --executor slurm where there is no SLURM: submitit would fall back to running
    every job on this machine at once, which is not what was asked."""
    import shutil

    try:
        import submitit  # noqa: F401
    except ImportError:
        raise InputError("--executor slurm needs submitit: pip install submitit") from None
    if shutil.which("sbatch") is None:
        raise InputError("--executor slurm: no SLURM here (no sbatch on PATH), so every rung would start on this "
                         "machine at once; run from a SLURM login node, or use --executor local (or gpus)")


def _slurm(plan_path, plan, todo, options, on_rung, stop_on=()) -> dict:
    import submitit

    folder = runs_folder(plan_path)
    ex = submitit.AutoExecutor(folder=str(folder / "slurm"))
    ex.update_parameters(**{"timeout_min": 24 * 60, "gpus_per_node": 1, "tasks_per_node": 1, **options})
    results = {}
    # two waves: the rungs that start from scratch, then the branches of their trunks
    for wave in ([r for r in todo if r.trunk is None], [r for r in todo if r.trunk is not None]):
        jobs = []
        for r in wave:
            jobs.append((r, ex.submit(subprocess.run, worker_command(plan_path, r, "local", None, stop_on=stop_on), check=True)))
            if on_rung:
                on_rung(r.name, "submitted", None)
        for r, job in jobs:
            job.result()
            _branch_done(plan_path, r)
            results[r.name] = load_result(folder / r.name)
            if on_rung:
                on_rung(r.name, "done", results[r.name])
    return results
