"""One rung in its own process: ``python -m scalelab.ladder.worker PLAN.toml RUNG [--parallel ddp|fsdp] [--stop-on KINDS]``.

Launched by the ``gpus``, ``torchrun`` and ``slurm`` executors; under torchrun every rank
runs this and joins the process group (DDP or FSDP; gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from scalelab.ladder.data import Shards
    from scalelab.ladder.design import LadderPlan
    from scalelab.ladder.run import branching, resolve, runs_folder, train_config
    from scalelab.ladder.train import distributed_ranks, train

    plan_path, name = argv[0], argv[1]
    parallel = argv[argv.index("--parallel") + 1] if "--parallel" in argv else "auto"
    stop_on = tuple(argv[argv.index("--stop-on") + 1].split(",")) if "--stop-on" in argv else ()
    plan = LadderPlan.from_toml(plan_path)
    rung = plan.rung(name)
    shards = Shards.load(resolve(plan_path, plan.shards))
    ranks = distributed_ranks()
    train(train_config(plan, rung), shards, runs_folder(plan_path) / rung.name, ranks=ranks,
          parallel=parallel, stop_on=stop_on, **branching(plan_path, plan, rung))
    if ranks.world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
        leave()
    return 0


def leave(code: int = 0) -> None:
    """End a rank's process without the interpreter's teardown. The rung's files are written
    and closed by now; what is left to tear down is the process group's background threads,
    whose destructors sometimes abort the process at exit ("terminate called without an
    active exception", SIGABRT: on CPU, about one two-rank run in seven)."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
